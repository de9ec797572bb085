--- Credentials from STS: a RAM role assumed with other credentials (AssumeRole), or
-- with an OIDC token (AssumeRoleWithOIDC: RRSA on Kubernetes). Both fetch through the
-- runtime of the client that asks, so they use its transport, its TLS settings and,
-- on the async scheduler, its multi handle.
local core = require "aliyun.live.core"
local cached = require "aliyun.live.credentials.cached"
local endpoint = require "aliyun.live.endpoint"
local common = require "aliyun.live.credentials.common"
local errors = require "aliyun.live.errors"
local redact = require "aliyun.live.redact"

local type, pairs, tostring, format, open, getenv, concat =
  type, pairs, tostring, string.format, io.open, os.getenv, table.concat
local raise = errors.raise
local check_opts, cred_error, runtime = common.check_opts, common.error, common.runtime

local _M = {}

local STS_VERSION = "2015-04-01"



local function session_name(fn, s)
  s = s or "aliyun-live-lua"
  if #s < 2 or #s > 64 or s:find("[^%w%.@%-_]") then
    raise("credentials." .. fn, "session_name must be 2-64 of A-Z a-z 0-9 . @ - _")
  end
  return s
end

local function duration(fn, d)
  d = d or 3600
  if d ~= d or d < 900 or d > 43200 or d % 1 ~= 0 then
    raise("credentials." .. fn, "duration must be an integer from 900 to 43200")
  end
  return d
end

-- A signer for the STS endpoint (no I/O: building it only parses the URL).
local function sts_signer(fn, url)
  local base, host = endpoint.parse(url)
  if not base then raise("credentials." .. fn, "sts_endpoint " .. host) end
  return core.signer { endpoint = base, host = host, version = STS_VERSION, format = "JSON",
                       method = "POST", signature = "v1" }, base
end


local function credentials_of(res, what)
  local c = type(res.Credentials) == "table" and res.Credentials or {}
  if type(c.AccessKeyId) ~= "string" or type(c.AccessKeySecret) ~= "string" then
    return nil, cred_error(what .. " answer has no credentials")
  end
  return { access_key_id = c.AccessKeyId, access_key_secret = c.AccessKeySecret,
           security_token = c.SecurityToken, expiration = cached.parse_time(c.Expiration) }
end

local TRANSPORT = { timeout = "number", connect_timeout = "number", proxy = "string",
                    ca_file = "string", verify = "boolean" }

local function transport_opts(opts)
  return { timeout = opts.timeout or 5, connect_timeout = opts.connect_timeout or 5,
           proxy = opts.proxy, ca_file = opts.ca_file, verify = opts.verify }
end

--------------------------------------------------------------- AssumeRole --

--- A RAM role through STS AssumeRole, signed with `source`'s credentials (a provider,
-- or access_key_id/access_key_secret[/security_token]). opts: role_arn, session_name
-- (default "aliyun-live-lua"), duration (900–43200, default 3600), policy,
-- sts_endpoint, refresh_margin; timeout, connect_timeout, proxy, ca_file, verify (used
-- only when the provider is asked directly, outside a client).
function _M.ram_role_arn(opts)
  local known = { role_arn = "string", session_name = "string", duration = "number",
    policy = "string", sts_endpoint = "string", source = "table", access_key_id = "string",
    access_key_secret = "string", security_token = "string", refresh_margin = "number" }
  for k, v in pairs(TRANSPORT) do known[k] = v end
  opts = check_opts("ram_role_arn", opts, known)
  if not opts.role_arn or not opts.role_arn:match("^acs:ram::%d+:role/.+$") then
    raise("credentials.ram_role_arn", "role_arn must look like acs:ram::<account>:role/<name>")
  end
  local source = opts.source
  if not source then
    if not (opts.access_key_id and opts.access_key_secret) then
      raise("credentials.ram_role_arn", "needs source or access_key_id/access_key_secret")
    end
    source = require("aliyun.live.credentials.static").static(opts.access_key_id,
      opts.access_key_secret, opts.security_token)
  elseif type(source.get) ~= "function" then
    raise("credentials.ram_role_arn", "source must be a provider (an object with get())")
  end
  local session = session_name("ram_role_arn", opts.session_name)
  local dur = duration("ram_role_arn", opts.duration)
  local signer = sts_signer("ram_role_arn", endpoint.sts(opts.sts_endpoint))
  local self
  local function fetch(rt)
    rt = runtime(self, rt)
    local src, err = source:get(rt)
    if not src then return nil, err end
    local params = { RoleArn = opts.role_arn, DurationSeconds = format("%d", dur),
                     RoleSessionName = session, Policy = opts.policy }
    local res
    res, err = rt.rpc("AssumeRole", params, src, signer)
    if not res then
      errors.name(err)
      err.message = "AssumeRole: " .. tostring(err.message)
      return nil, redact.error(err, redact.forms(src))   -- the source's secrets, echoed
    end
    return credentials_of(res, "AssumeRole")
  end
  -- The quota belongs to the account: the source's identity when it has one.
  local ident = type(source.identity) == "function" and source:identity() or opts.role_arn
  self = cached.new("ram_role_arn", fetch, opts.refresh_margin, ident)
  self.transport_opts = transport_opts(opts)
  return self
end

--------------------------------------------------------- AssumeRoleWithOIDC --

local function read_token(path)
  local f = open(path, "rb")
  if not f then return nil, cred_error(format("OIDC token file %s cannot be read", path)) end
  local t = f:read("*a")
  f:close()
  t = t and t:gsub("^%s+", ""):gsub("%s+$", "")
  if not t or t == "" then return nil, cred_error(format("OIDC token file %s is empty", path)) end
  if core.check_text(t) then
    return nil, cred_error(format("OIDC token file %s holds a control character", path))
  end
  return t
end

--- A RAM role through STS AssumeRoleWithOIDC (unsigned; the token proves who asks).
-- opts: role_arn, oidc_provider_arn, oidc_token_file (re-read at every refresh),
-- session_name, duration, policy, sts_endpoint, refresh_margin, and the transport
-- options of ram_role_arn. Defaults from ALIBABA_CLOUD_ROLE_ARN,
-- ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE,
-- ALIBABA_CLOUD_ROLE_SESSION_NAME.
function _M.oidc(opts)
  local known = { role_arn = "string", oidc_provider_arn = "string",
    oidc_token_file = "string", session_name = "string", duration = "number",
    policy = "string", sts_endpoint = "string", refresh_margin = "number" }
  for k, v in pairs(TRANSPORT) do known[k] = v end
  opts = check_opts("oidc", opts, known)
  local function env(name) local v = getenv(name) return v ~= "" and v or nil end
  local role_arn = opts.role_arn or env("ALIBABA_CLOUD_ROLE_ARN")
  local provider_arn = opts.oidc_provider_arn or env("ALIBABA_CLOUD_OIDC_PROVIDER_ARN")
  local token_file = opts.oidc_token_file or env("ALIBABA_CLOUD_OIDC_TOKEN_FILE")
  if not role_arn or not role_arn:match("^acs:ram::%d+:role/.+$") then
    raise("credentials.oidc", "role_arn must look like acs:ram::<account>:role/<name>")
  end
  if not provider_arn or not provider_arn:match("^acs:ram::%d+:oidc%-provider/.+$") then
    raise("credentials.oidc",
      "oidc_provider_arn must look like acs:ram::<account>:oidc-provider/<name>")
  end
  if not token_file then raise("credentials.oidc", "needs oidc_token_file") end
  local session = session_name("oidc", opts.session_name or env("ALIBABA_CLOUD_ROLE_SESSION_NAME"))
  local dur = duration("oidc", opts.duration)
  local base = select(2, sts_signer("oidc", endpoint.sts(opts.sts_endpoint)))
  local self
  local function fetch(rt)
    rt = runtime(self, rt)
    local token, err = read_token(token_file)
    if not token then return nil, err end
    local query = { Action = "AssumeRoleWithOIDC", Format = "JSON", Version = STS_VERSION,
                    Timestamp = core.timestamp() }
    local body = { RoleArn = role_arn, OIDCProviderArn = provider_arn, OIDCToken = token,
                   RoleSessionName = session, DurationSeconds = format("%d", dur),
                   Policy = opts.policy }
    local function form(t)
      local out = {}
      for k, v in pairs(t) do out[#out + 1] = core.pct(k) .. "=" .. core.pct(v) end
      table.sort(out)
      return concat(out, "&")
    end
    local status, text, ctype = rt.http { method = "POST", url = base .. "/?" .. form(query),
      headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }, body = form(body) }
    if not status then
      errors.name(text)
      text.message = "AssumeRoleWithOIDC: " .. tostring(text.message)
      return nil, text
    end
    local res, aerr = core.answer(status, text, ctype, "JSON")
    if not res then
      errors.name(aerr)
      aerr.message = "AssumeRoleWithOIDC: " .. tostring(aerr.message)
      return nil, redact.error(aerr, redact.forms(nil, { token }))
    end
    return credentials_of(res, "AssumeRoleWithOIDC")
  end
  self = cached.new("oidc", fetch, opts.refresh_margin,
    "acct:" .. role_arn:match("^acs:ram::(%d+):"))
  self.transport_opts = transport_opts(opts)
  return self
end

return _M
