--- The first provider that answers, and the default chain of the official SDKs.
local errors = require "aliyun.live.errors"

local type, ipairs, setmetatable, getenv, format, concat =
  type, ipairs, setmetatable, os.getenv, string.format, table.concat

local _M = {}

local Chain = {}
Chain.__index = Chain

--- The first provider that answers, in order; once one has answered it is asked
-- first. A provider whose source exists but is broken (a malformed file) stops the
-- chain with its error rather than being skipped silently.
function _M.chain(providers)
  if type(providers) ~= "table" or #providers == 0 then
    errors.raise("credentials.chain", "expects a non-empty list of providers")
  end
  for i, p in ipairs(providers) do
    if type(p) ~= "table" or type(p.get) ~= "function" then
      errors.raise("credentials.chain", format("provider %d has no get method", i))
    end
  end
  return setmetatable({ name = "chain", providers = providers }, Chain)
end

function Chain:get(rt)
  local last = self.last
  if last then
    local c, err = last:get(rt)
    if c then return c end
    if err and err.code ~= "SDK.MissingCredentials" then return nil, err end
  end
  local why = {}
  for _, p in ipairs(self.providers) do
    if p ~= last then
      local c, err = p:get(rt)
      if c then
        self.last = p
        return c
      end
      if type(err) == "table" and err.code ~= "SDK.MissingCredentials" then return nil, err end
      why[#why + 1] = type(err) == "table" and err.message or ((p.name or "provider") .. ": no credentials")
    end
  end
  return nil, errors.new("SDK.MissingCredentials", "no credentials found (" .. concat(why, "; ") .. ")")
end

function Chain:invalidate()
  if self.last and self.last.invalidate then self.last:invalidate() end
end

function Chain:identity()
  local p = self.last
  return p and type(p.identity) == "function" and p:identity() or nil
end

-- A provider that exists only when environment variables name it, made when first
-- asked and again when they change.
local FromEnv = {}
FromEnv.__index = FromEnv

local function from_env(name, names, make)
  return setmetatable({ name = name, names = names, make = make }, FromEnv)
end

function FromEnv:get(rt)
  local vals = {}
  for i, n in ipairs(self.names) do
    local v = getenv(n)
    if not v or v == "" then
      return nil, errors.new("SDK.MissingCredentials", n .. " is not set")
    end
    vals[i] = v
  end
  local sig = concat(vals, "\0")
  if not self.inner or self.sig ~= sig then
    local ok, p = pcall(self.make, vals)
    if not ok then
      return nil, errors.new("SDK.CredentialsError", format("%s: %s", self.name,
        (tostring(p):gsub("^.-aliyun%.live%.credentials%.[%w_]+: ", ""))))
    end
    self.inner, self.sig = p, sig
  end
  return self.inner:get(rt)
end

function FromEnv:invalidate()
  if self.inner and self.inner.invalidate then self.inner:invalidate() end
end

function FromEnv:identity()
  return self.inner and self.inner.identity and self.inner:identity()
end

--- The default chain, in the official SDKs' order: environment, OIDC (the
-- ALIBABA_CLOUD_ROLE_ARN / _OIDC_PROVIDER_ARN / _OIDC_TOKEN_FILE trio), aliyun CLI
-- config, shared credentials file, the ECS RAM role when ALIBABA_CLOUD_ECS_METADATA
-- names one (the metadata service is never probed unasked), and the credentials URI
-- when ALIBABA_CLOUD_CREDENTIALS_URI is set.
function _M.default(cr)
  return _M.chain {
    cr.env(),
    from_env("OIDC", { "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
      "ALIBABA_CLOUD_OIDC_TOKEN_FILE" }, function(v)
        return cr.oidc { role_arn = v[1], oidc_provider_arn = v[2], oidc_token_file = v[3] }
      end),
    cr.cli(),
    cr.profile(),
    from_env("ECS RAM role", { "ALIBABA_CLOUD_ECS_METADATA" }, function(v)
      return cr.ecs_role { role = v[1] }
    end),
    from_env("credentials URI", { "ALIBABA_CLOUD_CREDENTIALS_URI" }, function(v)
      return cr.uri { uri = v[1] }
    end),
  }
end

return _M
