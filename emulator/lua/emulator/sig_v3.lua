-- Signature V3 (ACS3-HMAC-SHA256), recomputed from the raw request:
--   CanonicalRequest = METHOD \n / \n CanonicalQuery \n CanonicalHeaders \n
--                      SignedHeaders \n HashedPayload
--   StringToSign     = "ACS3-HMAC-SHA256\n" .. hex(SHA256(CanonicalRequest))
--   Signature        = hex(HMAC-SHA256(secret, StringToSign))
-- The canonical query is the URL query only (decoded, re-encoded, sorted); form-body
-- parameters reach the signature through the hashed payload.
local codec = require "emulator.codec"
local crypto = require "emulator.crypto"
local errors = require "emulator.errors"

local M = {}

local ALGORITHM = "ACS3-HMAC-SHA256"
local REQUIRED_HEADERS = { "x-acs-action", "x-acs-version", "x-acs-date",
                           "x-acs-signature-nonce", "x-acs-content-sha256" }

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local function incomplete(why)
  return errors.new(400, "IncompleteSignature",
    "The request signature does not conform to Aliyun standards: " .. why)
end

--- Splits "ACS3-HMAC-SHA256 Credential=id,SignedHeaders=a;b,Signature=hex".
local function parse_authorization(auth)
  local rest = auth:match("^%s*" .. ALGORITHM:gsub("%-", "%%-") .. "%s+(.-)%s*$")
  if not rest then return nil, incomplete("the Authorization header is malformed.") end
  local fields = {}
  for part in rest:gmatch("[^,]+") do
    local k, v = part:match("^%s*([%w]+)%s*=%s*(.-)%s*$")
    if k then fields[k] = v end
  end
  for _, k in ipairs({ "Credential", "SignedHeaders", "Signature" }) do
    if not fields[k] or fields[k] == "" then
      return nil, incomplete(("the Authorization header has no %s."):format(k))
    end
  end
  return fields
end

--- Common checks; returns the request's identity or nil, error.
function M.common(r)
  local auth, err = parse_authorization(r.headers["authorization"])
  if not auth then return nil, err end
  for _, name in ipairs(REQUIRED_HEADERS) do
    local v = r.headers[name]
    if v == nil or v == "" then return nil, errors.missing(name) end
  end
  local h = r.headers
  return {
    action = h["x-acs-action"], version = h["x-acs-version"], key_id = auth.Credential,
    nonce = h["x-acs-signature-nonce"], timestamp = h["x-acs-date"],
    token = h["x-acs-security-token"], auth = auth,
  }
end

local function canonical_query(pairs_list)
  local encoded = {}
  for _, pair in ipairs(pairs_list) do
    encoded[#encoded + 1] = { codec.encode(pair[1]), codec.encode(pair[2]) }
  end
  table.sort(encoded, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  local parts = {}
  for i, e in ipairs(encoded) do parts[i] = e[1] .. "=" .. e[2] end
  return table.concat(parts, "&")
end

--- Verifies the signature; returns nil when it matches, else an error.
function M.verify(r, id, secret)
  -- Which headers are signed: every x-acs-* header sent, and host, must be.
  local signed, seen = {}, {}
  for name in id.auth.SignedHeaders:gmatch("[^;]+") do
    name = trim(name):lower()
    if name ~= "" and not seen[name] then
      seen[name] = true
      signed[#signed + 1] = name
    end
  end
  if not seen.host then return incomplete('SignedHeaders must include "host".') end
  local unsigned = {}
  for name in pairs(r.headers) do
    if name:find("^x%-acs%-") and not seen[name] then unsigned[#unsigned + 1] = name end
  end
  if #unsigned > 0 then
    table.sort(unsigned)
    return incomplete("SignedHeaders must include every x-acs-* header; missing: " ..
      table.concat(unsigned, ", ") .. ".")
  end
  table.sort(signed)

  local claimed = r.headers["x-acs-content-sha256"]
  local actual = crypto.sha256_hex(r.body)
  if claimed:lower() ~= actual then
    return errors.new(400, "SignatureDoesNotMatch",
      "The x-acs-content-sha256 header does not match the SHA-256 of the request body: server body hash is:" .. actual)
  end

  local header_lines = {}
  for i, name in ipairs(signed) do
    header_lines[i] = name .. ":" .. trim(r.headers[name] or "") .. "\n"
  end
  local canonical_request = table.concat({
    r.method,
    "/",
    canonical_query(r.query_pairs),
    table.concat(header_lines),
    table.concat(signed, ";"),
    claimed,
  }, "\n")
  local string_to_sign = ALGORITHM .. "\n" .. crypto.sha256_hex(canonical_request)
  local expected = crypto.hmac_sha256_hex(secret, string_to_sign)
  if expected ~= id.auth.Signature:lower() then
    return errors.new(400, "SignatureDoesNotMatch",
      "Specified signature is not matched with our calculation. server canonical request is:" ..
      canonical_request .. " server string to sign is:" .. string_to_sign)
  end
  return nil
end

return M
