--- The options of live.new: checked once, turned into the client's configuration.
-- A wrong type, an unknown name or an out-of-range value raises, naming the option.
local core = require "aliyun.live.core"
local endpoint = require "aliyun.live.endpoint"
local errors = require "aliyun.live.errors"
local retry = require "aliyun.live.retry"
local validate = require "aliyun.live.validate"

local type, pairs, tostring, format, gsub = type, pairs, tostring, string.format, string.gsub
local raise = errors.raise

local _M = {}

_M.API_VERSION = "2016-11-01"

local TYPES = {
  access_key_id = "string", access_key_secret = "string", security_token = "string",
  credentials = "table", endpoint = "string", region = "string", signature = "string",
  format = "string", method = "string", timeout = "number", connect_timeout = "number",
  retry = "table|false", limiter = "table|false", max_body = "number", verify = "boolean",
  ca_file = "string", proxy = "string", user_agent = "string", logger = "function",
  quota_key = "string", concurrency = "number", transport = "string",
}

local function check_types(opts)
  for k, v in pairs(opts) do
    local want = TYPES[k]
    if not want then raise("new", format("unknown option '%s'", tostring(k))) end
    local t = type(v)
    if not (t == want or (want == "table|false" and (t == "table" or v == false))) then
      raise("new", format("option '%s' must be a %s, got %s", k, (gsub(want, "|", " or ")), t))
    end
  end
end

--- Whether this code runs inside nginx's Lua module, where cosockets exist.
function _M.in_nginx()
  local ngx = rawget(_G, "ngx")
  return type(ngx) == "table" and type(ngx.socket) == "table" and type(ngx.config) == "table"
    and ngx.config.ngx_lua_version ~= nil
end

local function provider_of(opts, credentials)
  local p = opts.credentials
  if p ~= nil then
    if type(p.get) ~= "function" then
      raise("new", "option 'credentials' must be a provider (an object with get())")
    end
    if opts.access_key_id or opts.access_key_secret or opts.security_token then
      raise("new", "give either 'credentials' or access_key_id/access_key_secret, not both")
    end
    return p
  end
  if opts.access_key_id or opts.access_key_secret then
    if not (opts.access_key_id and opts.access_key_secret) then
      raise("new", "'access_key_id' and 'access_key_secret' go together")
    end
    for _, k in pairs { "access_key_id", "access_key_secret", "security_token" } do
      if opts[k] then validate.header_value("new", k, opts[k]) end
    end
    return credentials.static(opts.access_key_id, opts.access_key_secret, opts.security_token)
  end
  if opts.security_token then
    raise("new", "'security_token' needs 'access_key_id' and 'access_key_secret'")
  end
  return credentials.default()
end

local function limiter_of(opts, transport, default_limiter)
  local lim = opts.limiter
  if lim == false then return nil end
  if lim == nil then return default_limiter(transport) end
  if type(lim.reserve) ~= "function" then
    raise("new", "option 'limiter' must be a limiter (live.limiter{…}, or an object with "
      .. "reserve(key) and optionally try(key) and feedback(key, what)) or false")
  end
  return lim
end

--- opts → configuration. `credentials` is the providers module; `default_limiter(t)`
-- makes the default limiter for transport t.
function _M.check(opts, credentials, default_limiter)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then raise("new", "expects a table of options") end
  check_types(opts)
  local cfg = {}
  cfg.provider = provider_of(opts, credentials)

  local url = opts.endpoint
  if not url and opts.region then
    if not endpoint.is_region(opts.region) then
      raise("new", "option 'region' is not a region id such as 'cn-shanghai'")
    end
    url = endpoint.REGIONS[opts.region]
  end
  local base, host, scheme, hostname, port = endpoint.parse(url or endpoint.DEFAULT)
  if not base then raise("new", "option 'endpoint' " .. host) end
  cfg.endpoint, cfg.host, cfg.scheme, cfg.hostname, cfg.port = base, host, scheme, hostname, port

  cfg.signature = validate.enum("new", "signature", opts.signature, { v1 = 1, v3 = 1 }) or "v1"
  cfg.format = validate.enum("new", "format", opts.format, { JSON = 1, XML = 1 }) or "JSON"
  cfg.method = validate.enum("new", "method", opts.method, { GET = 1, POST = 1 }) or "POST"
  cfg.timeout_ms = validate.timeout_ms("new", "timeout", opts.timeout, 10)
  cfg.connect_timeout_ms = validate.timeout_ms("new", "connect_timeout", opts.connect_timeout, 5)
  cfg.max_body = opts.max_body == nil and 1024 * 1024
    or validate.integer("new", "max_body", opts.max_body, 1, 1024 * 1024 * 1024)
  cfg.concurrency = opts.concurrency == nil and 16
    or validate.integer("new", "concurrency", opts.concurrency, 1, 256)
  cfg.verify = opts.verify ~= false
  cfg.ca_file = opts.ca_file and validate.header_value("new", "ca_file", opts.ca_file)
  cfg.proxy = opts.proxy and validate.header_value("new", "proxy", opts.proxy)
  cfg.user_agent = opts.user_agent and validate.header_value("new", "user_agent", opts.user_agent)
  if opts.quota_key ~= nil then
    validate.header_value("new", "quota_key", opts.quota_key)
    if #opts.quota_key < 1 or #opts.quota_key > 90 then
      raise("new", "option 'quota_key' must be 1 to 90 bytes")
    end
    cfg.quota_key = opts.quota_key
  end
  cfg.retry = retry.new(opts.retry)
  cfg.logger = opts.logger

  local t = opts.transport
  if t == nil then t = _M.in_nginx() and "ngx" or "curl" end
  if t ~= "curl" and t ~= "ngx" then raise("new", "option 'transport' must be \"curl\" or \"ngx\"") end
  if t == "ngx" and not _M.in_nginx() then
    raise("new", "option 'transport' \"ngx\" needs nginx's Lua module (OpenResty)")
  end
  if t == "ngx" and cfg.ca_file then
    raise("new", "option 'ca_file' cannot be honoured by cosockets: name the CA file in "
      .. "nginx.conf with lua_ssl_trusted_certificate instead")
  end
  if t == "ngx" and cfg.proxy then
    raise("new", "option 'proxy' is not supported by the cosocket transport")
  end
  cfg.transport = t
  cfg.limiter = limiter_of(opts, t, default_limiter)
  cfg.user_agent = cfg.user_agent or format("aliyun-live-lua/%s (%s) %s", core._VERSION,
    rawget(_G, "jit") and rawget(_G, "jit").version or _VERSION,
    t == "curl" and ("libcurl/" .. core.curl_version()) or "ngx_lua")
  return cfg
end

return _M
