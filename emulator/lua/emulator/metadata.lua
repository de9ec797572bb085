-- The ECS instance metadata service, as far as RAM-role credentials go:
--   PUT /latest/api/token                        (X-aliyun-ecs-metadata-token-ttl-seconds)
--   GET /latest/meta-data/ram/security-credentials/        -> role name
--   GET /latest/meta-data/ram/security-credentials/<role>  -> temporary credentials
-- A token that is sent must be valid (else 401); with --imds-token-required one must
-- be sent. The credentials are issued for the default account and are reused until
-- half of their lifetime is gone, like the real service rotating them ahead of expiry.
local render = require "emulator.render"
local response = require "emulator.response"
local clock = require "emulator.clock"
local config = require "emulator.config"
local keys = require "emulator.keys"
local crypto = require "emulator.crypto"

local M = {}

local CREDS_PREFIX = "/latest/meta-data/ram/security-credentials/"
local MAX_TOKEN_TTL = 21600

local tokens = {}     -- token -> expiry (server clock)
local token_count = 0
-- Live session tokens kept at most (each PUT makes one); beyond, the one closest to
-- its expiry is dropped, so a loop of PUTs cannot grow memory without bound.
local MAX_TOKENS = 10000
local current = nil   -- { key, role, ttl, updated }

local function text(status, body)
  response.send(status, "text/plain;charset=utf-8", body)
end

local function issue_token()
  local ttl = ngx.req.get_headers()["x-aliyun-ecs-metadata-token-ttl-seconds"]
  if type(ttl) ~= "string" or not ttl:match("^%d+$") or tonumber(ttl) < 1
      or tonumber(ttl) > MAX_TOKEN_TTL then
    return text(400, "X-aliyun-ecs-metadata-token-ttl-seconds must be an integer from 1 to 21600\n")
  end
  local now = clock.now()
  local soonest, soonest_at
  for t, expires in pairs(tokens) do
    if expires <= now then
      tokens[t] = nil
      token_count = token_count - 1
    elseif not soonest_at or expires < soonest_at then
      soonest, soonest_at = t, expires
    end
  end
  if token_count >= MAX_TOKENS then
    tokens[soonest] = nil
    token_count = token_count - 1
  end
  local token = crypto.random_base64(33):gsub("[+/=]", "x")
  tokens[token] = now + tonumber(ttl)
  token_count = token_count + 1
  return text(200, token)
end

local function credentials(role)
  local now = clock.now()
  local ttl = config.metadata_ttl
  if not current or current.role ~= role or current.ttl ~= ttl
      or current.key.expires - now <= ttl / 2 then
    current = { key = keys.issue(keys.default_owner(), ttl, now), role = role, ttl = ttl,
                updated = now }
  end
  local k = current.key
  response.send(200, response.JSON_TYPE, render.json(render.obj(
    "AccessKeyId", k.id,
    "AccessKeySecret", k.secret,
    "Expiration", clock.format_iso(k.expires),
    "SecurityToken", k.token,
    "LastUpdated", clock.format_iso(current.updated),
    "Code", "Success")))
end

function M.reset_credentials() current = nil end

function M.handle(path, method)
  if path == "/latest/api/token" then
    if method ~= "PUT" then return text(405, "use PUT\n") end
    return issue_token()
  end
  if method ~= "GET" then return text(405, "use GET\n") end

  local token = ngx.req.get_headers()["x-aliyun-ecs-metadata-token"]
  if type(token) == "table" then token = token[1] end
  if token ~= nil then
    local expires = tokens[token]
    if not expires or expires <= clock.now() then
      return text(401, "invalid or expired metadata token\n")
    end
  elseif config.imds_token_required then
    return text(401, "a metadata token is required (X-aliyun-ecs-metadata-token)\n")
  end

  if path == CREDS_PREFIX or path .. "/" == CREDS_PREFIX then
    return text(200, config.ecs_role)
  end
  if path:sub(1, #CREDS_PREFIX) == CREDS_PREFIX then
    local role = path:sub(#CREDS_PREFIX + 1)
    if role == config.ecs_role then return credentials(role) end
  end
  return text(404, "Not Found\n")
end

return M
