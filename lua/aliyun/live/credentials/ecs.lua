--- Credentials of the instance's RAM role from the ECS metadata service, and from a
-- credentials URI (ALIBABA_CLOUD_CREDENTIALS_URI), both over plain HTTP GETs through
-- the asking client's runtime. Metadata requests never go through a proxy.
local core = require "aliyun.live.core"
local cached = require "aliyun.live.credentials.cached"
local common = require "aliyun.live.credentials.common"
local errors = require "aliyun.live.errors"

local type, pairs, tostring, format = type, pairs, tostring, string.format
local raise = errors.raise
local check_opts, cred_error, runtime = common.check_opts, common.error, common.runtime

local _M = {}

local IMDS = "http://100.100.100.200"




local function ms(fn, name, v, default)
  return require("aliyun.live.validate").timeout_ms("credentials." .. fn, name, v, default)
end

-- A JSON credentials document (metadata service and credentials URI share the shape).
local function parse_doc(text, what)
  local t = core.decode(text, "JSON")
  if type(t) ~= "table" or t.Code ~= "Success" or type(t.AccessKeyId) ~= "string"
      or type(t.AccessKeySecret) ~= "string" then
    return nil, cred_error(what .. " are malformed")
  end
  return { access_key_id = t.AccessKeyId, access_key_secret = t.AccessKeySecret,
           security_token = t.SecurityToken, expiration = cached.parse_time(t.Expiration) }
end

local function failed(err, what)
  errors.name(err)
  err.message = what .. ": " .. tostring(err.message)
  return nil, err
end

--- opts: role (default: asked from the service), endpoint (default
-- http://100.100.100.200), imds_v2 (default true: fetch a session token first),
-- timeout (1 s), refresh_margin.
function _M.ecs_role(opts)
  opts = check_opts("ecs_role", opts, { role = "string", endpoint = "string",
    imds_v2 = "boolean", timeout = "number", connect_timeout = "number",
    refresh_margin = "number" })
  local base = (opts.endpoint or IMDS):gsub("/$", "")
  if not base:match("^https?://[^/]+$") then
    raise("credentials.ecs_role", "endpoint must be scheme://host[:port]")
  end
  local timeout = ms("ecs_role", "timeout", opts.timeout, 1)
  local role = opts.role
  local self
  local function get(rt, url, headers, method)
    return rt.http { method = method or "GET", url = url, headers = headers,
                     timeout_ms = timeout, no_proxy = true }
  end
  local function fetch(rt)
    rt = runtime(self, rt)
    local headers = {}
    if opts.imds_v2 ~= false then
      local status, body = get(rt, base .. "/latest/api/token",
        { ["X-aliyun-ecs-metadata-token-ttl-seconds"] = "21600" }, "PUT")
      if not status then return failed(body, "metadata token request") end
      if status ~= 200 or body == "" or core.check_text(body) then
        return nil, cred_error(format("metadata token request answered HTTP %d", status))
      end
      headers["X-aliyun-ecs-metadata-token"] = body
    end
    local path = base .. "/latest/meta-data/ram/security-credentials/"
    if not role then
      local status, body = get(rt, path, headers)
      if not status then return failed(body, "metadata role name request") end
      if status ~= 200 or not body:match("^[%w%-_%.]+%s*$") then
        return nil, cred_error(format("metadata role name request answered HTTP %d", status))
      end
      role = body:match("^(%S+)")
    end
    local status, body = get(rt, path .. role, headers)
    if not status then return failed(body, "metadata credentials request") end
    if status ~= 200 then
      return nil, cred_error(format("metadata credentials for role '%s' answered HTTP %d",
        role, status))
    end
    return parse_doc(body, format("metadata credentials for role '%s'", role))
  end
  self = cached.new("ecs_role", fetch, opts.refresh_margin,
    opts.role and ("ecs:" .. opts.role) or nil)
  self.transport_opts = { timeout = opts.timeout or 1, connect_timeout = opts.connect_timeout or 1 }
  return self
end

--- Credentials served at a URL (the official SDKs' credentials URI provider): GET uri →
-- {"Code": "Success", "AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"}.
-- opts: uri (default ALIBABA_CLOUD_CREDENTIALS_URI), timeout (5 s), refresh_margin.
function _M.uri(opts)
  opts = check_opts("uri", opts, { uri = "string", timeout = "number",
    connect_timeout = "number", refresh_margin = "number", proxy = "string",
    ca_file = "string", verify = "boolean" })
  local uri = opts.uri or os.getenv("ALIBABA_CLOUD_CREDENTIALS_URI")
  if not uri or not uri:match("^https?://[^/%s]+") or core.check_text(uri) then
    raise("credentials.uri", "uri must be an http:// or https:// URL")
  end
  local timeout = ms("uri", "timeout", opts.timeout, 5)
  local self
  local function fetch(rt)
    rt = runtime(self, rt)
    local status, body = rt.http { url = uri, timeout_ms = timeout }
    if not status then return failed(body, "credentials URI") end
    if status ~= 200 then
      return nil, cred_error(format("credentials URI answered HTTP %d", status))
    end
    return parse_doc(body, "credentials from the credentials URI")
  end
  self = cached.new("credentials URI", fetch, opts.refresh_margin, "uri:" .. uri)
  self.transport_opts = { timeout = opts.timeout or 5, connect_timeout = opts.connect_timeout or 5,
    proxy = opts.proxy, ca_file = opts.ca_file, verify = opts.verify }
  return self
end

return _M
