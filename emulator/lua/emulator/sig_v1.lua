-- Signature version 1 (HMAC-SHA1, "RPC style"), recomputed from what was received:
--   every parameter but Signature (query and form body together), names and values
--   percent-encoded, sorted by encoded name, joined "name=value" with "&";
--   StringToSign = METHOD & "%2F" & encode(joined);
--   Signature = base64(HMAC-SHA1(secret .. "&", StringToSign)).
local codec = require "emulator.codec"
local crypto = require "emulator.crypto"
local errors = require "emulator.errors"

local M = {}

local REQUIRED = { "Action", "Version", "AccessKeyId", "SignatureMethod",
                   "SignatureVersion", "SignatureNonce", "Timestamp", "Signature" }

--- Common-parameter checks; returns the request's identity or nil, error.
function M.common(r)
  local p = r.params
  for _, name in ipairs(REQUIRED) do
    if p[name] == nil or p[name] == "" then return nil, errors.missing(name) end
  end
  if r.format_invalid then
    return nil, errors.invalid_parameter("Format", 'Use "JSON" or "XML".')
  end
  if p.SignatureMethod ~= "HMAC-SHA1" then
    return nil, errors.new(400, "InvalidSignatureMethod",
      ('Specified signature method "%s" is not supported: use HMAC-SHA1.'):format(p.SignatureMethod))
  end
  if p.SignatureVersion ~= "1.0" then
    return nil, errors.invalid_parameter("SignatureVersion", 'The supported version is "1.0".')
  end
  return {
    action = p.Action, version = p.Version, key_id = p.AccessKeyId,
    nonce = p.SignatureNonce, timestamp = p.Timestamp, token = p.SecurityToken,
  }
end

function M.string_to_sign(r)
  local encoded = {}
  for _, list in ipairs({ r.query_pairs, r.form_pairs }) do
    for _, pair in ipairs(list) do
      if pair[1] ~= "Signature" then
        encoded[#encoded + 1] = { codec.encode(pair[1]), codec.encode(pair[2]) }
      end
    end
  end
  table.sort(encoded, function(a, b) return a[1] < b[1] end)
  local parts = {}
  for i, e in ipairs(encoded) do parts[i] = e[1] .. "=" .. e[2] end
  return r.method .. "&%2F&" .. codec.encode(table.concat(parts, "&"))
end

--- Returns nil when the Signature matches, else SignatureDoesNotMatch.
function M.verify(r, secret)
  local sts = M.string_to_sign(r)
  local expected = crypto.hmac_sha1_base64(secret .. "&", sts)
  if expected ~= r.params.Signature then
    return errors.new(400, "SignatureDoesNotMatch",
      "Specified signature is not matched with our calculation. server string to sign is:" .. sts)
  end
  return nil
end

return M
