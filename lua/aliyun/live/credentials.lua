--- Credential providers. A provider is an object with `:get()` → `creds` or `nil, err`,
-- where creds = { access_key_id=, access_key_secret=, security_token=?, expiration=? }
-- (expiration in Unix seconds, for temporary credentials). `name` says where the
-- credentials come from, for messages; secrets never appear in messages.
local core = require "aliyun.live.core"

local getenv = os.getenv
local setmetatable = setmetatable
local type = type
local concat = table.concat

local _M = { _VERSION = "0.1.0" }

local function cred_error(message)
  return core.error("SDK.MissingCredentials", message)
end

--- Fixed credentials.
local Static = {}
Static.__index = Static

function _M.static(access_key_id, access_key_secret, security_token)
  if type(access_key_id) ~= "string" or access_key_id == "" then
    error("credentials: access_key_id must be a non-empty string", 2)
  end
  if type(access_key_secret) ~= "string" or access_key_secret == "" then
    error("credentials: access_key_secret must be a non-empty string", 2)
  end
  if security_token ~= nil and (type(security_token) ~= "string" or security_token == "") then
    error("credentials: security_token must be a non-empty string", 2)
  end
  return setmetatable({ name = "static", creds = {
    access_key_id = access_key_id, access_key_secret = access_key_secret,
    security_token = security_token } }, Static)
end

function Static:get() return self.creds end

--- ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / ALIBABA_CLOUD_SECURITY_TOKEN, read when asked
-- (so a changed environment is seen), as the official SDKs read them.
local Env = {}
Env.__index = Env

function _M.env()
  return setmetatable({ name = "environment" }, Env)
end

function Env:get()
  local id = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID")
  local secret = getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
  if not id or id == "" then
    return nil, cred_error("ALIBABA_CLOUD_ACCESS_KEY_ID is not set")
  end
  if not secret or secret == "" then
    return nil, cred_error("ALIBABA_CLOUD_ACCESS_KEY_SECRET is not set")
  end
  local token = getenv("ALIBABA_CLOUD_SECURITY_TOKEN")
  local c = self.cached
  if not c or c.access_key_id ~= id or c.access_key_secret ~= secret
      or c.security_token ~= token then
    c = { access_key_id = id, access_key_secret = secret,
          security_token = token ~= "" and token or nil }
    self.cached = c
  end
  return c
end

--- The first provider that answers, in order; once one has answered it is asked first.
local Chain = {}
Chain.__index = Chain

function _M.chain(providers)
  if type(providers) ~= "table" or #providers == 0 then
    error("credentials.chain: expects a non-empty list of providers", 2)
  end
  for i, p in ipairs(providers) do
    if type(p) ~= "table" or type(p.get) ~= "function" then
      error(("credentials.chain: provider %d has no get method"):format(i), 2)
    end
  end
  return setmetatable({ name = "chain", providers = providers }, Chain)
end

function Chain:get()
  local last = self.last
  if last then
    local c = last:get()
    if c then return c end
  end
  local why = {}
  for _, p in ipairs(self.providers) do
    local c, err = p:get()
    if c then
      self.last = p
      return c
    end
    why[#why + 1] = (p.name or "provider") .. ": " .. (err and err.message or "no credentials")
  end
  return nil, cred_error("no credentials found (" .. concat(why, "; ") .. ")")
end

--- The default chain, as the official SDKs order it.
function _M.default()
  return _M.chain { _M.env() }
end

return _M
