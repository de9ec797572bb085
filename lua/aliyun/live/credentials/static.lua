--- Fixed credentials and the environment (ALIBABA_CLOUD_ACCESS_KEY_ID,
-- ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALIBABA_CLOUD_SECURITY_TOKEN), as the official SDKs.
local errors = require "aliyun.live.errors"

local setmetatable, type, getenv, format = setmetatable, type, os.getenv, string.format

local _M = {}

local Static = {}
Static.__index = Static

local function nonempty(name, v)
  if type(v) ~= "string" or v == "" then
    errors.raise("credentials.static", format("%s must be a non-empty string", name))
  end
end

function _M.static(access_key_id, access_key_secret, security_token)
  nonempty("access_key_id", access_key_id)
  nonempty("access_key_secret", access_key_secret)
  if security_token ~= nil then nonempty("security_token", security_token) end
  -- fixed: get() only ever answers self.creds, so the engine reads it without a call.
  return setmetatable({ name = "static", fixed = true, creds = {
    access_key_id = access_key_id, access_key_secret = access_key_secret,
    security_token = security_token } }, Static)
end

function Static:get() return self.creds end
function Static:identity() return self.creds.access_key_id end

local Env = {}
Env.__index = Env

--- Read when asked, so a changed environment is seen.
function _M.env()
  return setmetatable({ name = "environment" }, Env)
end

local function missing(what)
  return errors.new("SDK.MissingCredentials", what .. " is not set")
end

function Env:get()
  local id = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID")
  local secret = getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
  if not id or id == "" then return nil, missing("ALIBABA_CLOUD_ACCESS_KEY_ID") end
  if not secret or secret == "" then return nil, missing("ALIBABA_CLOUD_ACCESS_KEY_SECRET") end
  local token = getenv("ALIBABA_CLOUD_SECURITY_TOKEN")
  if token == "" then token = nil end
  local c = self.cached
  if not c or c.access_key_id ~= id or c.access_key_secret ~= secret
      or c.security_token ~= token then
    c = { access_key_id = id, access_key_secret = secret, security_token = token }
    self.cached = c
  end
  return c
end

function Env:identity()
  local id = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID")
  return id ~= "" and id or nil
end

return _M
