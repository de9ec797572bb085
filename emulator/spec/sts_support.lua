-- Spec support for AssumeRoleWithOIDC and the credentials URI: JWT-shaped tokens
-- (encoded with the base64 command-line tool) and requests sent the way the
-- official credentials SDKs send them (no AccessKey, no signature).
local S = require "support"

local T = {}

T.ROLE = "acs:ram::1234567890123456:role/OidcRole"
T.PROVIDER = "acs:ram::1234567890123456:oidc-provider/TestOidcIdp"

--- base64url without padding, as JWTs write it.
function T.b64url(s)
  local f = S.tmpfile(s)
  local out = S.sh("base64 -w0 " .. S.q(f) .. " | tr '+/' '-_' | tr -d '='")
  os.remove(f)
  return out
end

--- A JWT-shaped token: header.payload.signature (the signature is random bytes:
--- the emulator does not verify it). payload: a table (JSON-encoded) or a string.
function T.jwt(payload, header)
  local h = header or S.json.encode({ alg = "RS256", kid = "spec-key", typ = "JWT" })
  local p = type(payload) == "string" and payload or S.json.encode(payload)
  local sig = S.sh("head -c 64 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='")
  return T.b64url(h) .. "." .. T.b64url(p) .. "." .. sig
end

--- Claims of a valid token at epoch seconds `now` (default: this machine's clock).
function T.claims(now, extra)
  now = math.floor(now or os.time())
  local c = { iss = "https://oidc.example.com", sub = "system:serviceaccount:live:ops",
              aud = "sts.aliyuncs.com", iat = now, exp = now + 3600 }
  for k, v in pairs(extra or {}) do c[k] = v or nil end
  return c
end

--- Sends AssumeRoleWithOIDC. opts: emu, token, params (override/remove with false),
--- style: "go" (POST, common parameters in the query, the rest in a form body;
--- the default), "python" (GET, everything in the query), "java" (POST like go, no
--- Timestamp); format (default JSON), timestamp.
function T.oidc(opts)
  local emu = opts.emu
  local body = {
    RoleArn = T.ROLE, OIDCProviderArn = T.PROVIDER, OIDCToken = opts.token or nil,
    RoleSessionName = "spec-oidc", DurationSeconds = "3600",
  }
  for k, v in pairs(opts.params or {}) do body[k] = v or nil end
  local query = { Action = "AssumeRoleWithOIDC", Version = "2015-04-01",
                  Format = opts.format or "JSON", Timestamp = opts.timestamp or S.iso() }
  local style = opts.style or "go"
  if style == "java" then query.Timestamp = nil end
  if style == "python" then
    for k, v in pairs(body) do query[k] = v end
    return S.http({ url = emu.url .. "/?" .. S.encode_query(query) })
  end
  return S.http({ method = "POST", url = emu.url .. "/?" .. S.encode_query(query),
                  body = S.encode_query(body),
                  headers = { { "Content-Type", "application/x-www-form-urlencoded" } } })
end

--- Credentials of a successful AssumeRoleWithOIDC, as v1 signing options.
function T.oidc_key(emu)
  local res = T.oidc({ emu = emu, token = T.jwt(T.claims()) })
  assert(res.status == 200, "AssumeRoleWithOIDC failed: " .. tostring(res.body))
  local c = res.json.Credentials
  return { key_id = c.AccessKeyId, secret = c.AccessKeySecret, token = c.SecurityToken }
end

--- GET /__emulator/credentials.
function T.uri(emu)
  return S.http({ url = emu.url .. "/__emulator/credentials" })
end

return T
