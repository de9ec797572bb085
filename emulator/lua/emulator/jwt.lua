-- The OIDC token check of AssumeRoleWithOIDC: the token must be JWT-shaped (three
-- base64url parts: header, payload, signature), header and payload JSON objects, the
-- claims the answer reports of the right types, and `exp`, when present, in the
-- future. The signature is NOT verified (there is no identity provider to fetch keys
-- from): any issuer is trusted. Messages are the service's own where its error table
-- has one.
local jsonbody = require "emulator.jsonbody"
local errors = require "emulator.errors"

local M = {}

local MAX_TIME = 253402300799   -- 9999-12-31T23:59:59Z: the last time the answer can show

local function invalid(message)
  return errors.new(401, "AuthenticationFail.OIDCToken.Invalid", message)
end

local BAD_SHAPE = "The number of Jwt field should be divided into 3 parts with '.' ."
local BAD_BASE64 = "Cannot decode base64 encoded response(format invalided)."
local BAD_CONTENT = "The Jwt content is invalid that cannot be recognized."

-- base64url without padding (a trailing "=" or two is tolerated), as RFC 7515 writes it.
local function b64url_decode(part)
  if not part:find("^[%w%-_]+=?=?$") then return nil end
  local s = part:gsub("=+$", ""):gsub("%-", "+"):gsub("_", "/")
  local rem = #s % 4
  if rem == 1 then return nil end
  if rem > 0 then s = s .. string.rep("=", 4 - rem) end
  return ngx.decode_base64(s)
end

local function time_claim(v)
  return v == nil or (type(v) == "number" and v >= 0 and v <= MAX_TIME)
end

local function string_claim(v)
  return v == nil or type(v) == "string"
end

-- `aud` is a string or an array of strings; returns them joined by "," or false.
local function audience(v)
  if v == nil then return nil end
  if type(v) == "string" then return v end
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  if n ~= #v then return false end
  for i = 1, n do
    if type(v[i]) ~= "string" then return false end
  end
  return table.concat(v, ",")
end

--- Checks token at server time now. Returns the claims the answer reports
--- ({ sub, iss, aud (joined), exp, iat }) or nil and an API error.
function M.check(token, now)
  if token == "" then return nil, invalid("The OIDCToken can not empty.") end
  if #token < 4 or #token > 20000 then
    return nil, errors.new(400, "InvalidParameter.OIDCToken",
      "The parameter OIDCToken must be 4 to 20000 characters long.")
  end
  local h, p, sig = token:match("^([^.]*)%.([^.]*)%.([^.]*)$")
  if not h or h == "" or p == "" or sig == "" then return nil, invalid(BAD_SHAPE) end
  local header, payload = b64url_decode(h), b64url_decode(p)
  if not header or not payload or not b64url_decode(sig) then
    return nil, invalid(BAD_BASE64)
  end
  if not jsonbody.decode_object(header) then return nil, invalid(BAD_CONTENT) end
  local claims = jsonbody.decode_object(payload)
  if not claims then return nil, invalid(BAD_CONTENT) end
  local aud = audience(claims.aud)
  if aud == false or not string_claim(claims.iss) or not string_claim(claims.sub)
      or not time_claim(claims.exp) or not time_claim(claims.iat) then
    return nil, invalid(BAD_CONTENT)
  end
  if claims.exp ~= nil and claims.exp <= now then
    return nil, errors.new(401, "AuthenticationFail.OIDCToken.Expired", "This JsonWebToken is expired.")
  end
  return { sub = claims.sub, iss = claims.iss, aud = aud, exp = claims.exp, iat = claims.iat }
end

return M
