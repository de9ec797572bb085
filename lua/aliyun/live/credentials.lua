--- Credential providers, as the official Alibaba Cloud SDKs find credentials.
--
-- A provider is an object with `:get()` → `creds` or `nil, err`, where
-- creds = { access_key_id=, access_key_secret=, security_token=?, expiration=? }
-- (expiration in Unix seconds, for temporary credentials). Temporary credentials are
-- cached and refreshed `refresh_margin` seconds (default 180) before they expire;
-- `:invalidate()` forces the next get to refresh. `name` says where credentials come
-- from. Errors name files and lines, never a secret.
--
--   static(id, secret [, token])           fixed credentials
--   env()                                  ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN
--   profile{file=?, profile=?}             ~/.alibabacloud/credentials (INI)
--   cli{file=?, profile=?}                 ~/.aliyun/config.json (aliyun CLI)
--   ecs_role{role=?, endpoint=?, ...}      ECS instance metadata service
--   ram_role_arn{role_arn=, source=, ...}  STS AssumeRole
--   chain{p1, p2, …}, default()            the first that answers
local core = require "aliyun.live.core"
local cjson_ok, cjson = pcall(require, "cjson.safe")

local getenv, open = os.getenv, io.open
local setmetatable, type, tostring, ipairs, pairs, error, tonumber =
  setmetatable, type, tostring, ipairs, pairs, error, tonumber
local format, concat, floor = string.format, table.concat, math.floor
local now = core.now

local _M = { _VERSION = "0.1.0" }

local DEFAULT_MARGIN = 180            -- seconds before expiry to refresh (official SDKs)
local IMDS = "http://100.100.100.200" -- ECS instance metadata service
local STS = "https://sts.aliyuncs.com"

local function cred_error(message, code)
  return core.error(code or "SDK.MissingCredentials", message)
end

local function check_opts(fn, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(format("credentials.%s: expects a table", fn), 3) end
  for k, v in pairs(opts) do
    local want = known[k]
    if not want then
      error(format("credentials.%s: unknown option '%s'", fn, tostring(k)), 3)
    end
    if want ~= "any" and type(v) ~= want then
      error(format("credentials.%s: option '%s' must be a %s", fn, k, want), 3)
    end
  end
  return opts
end

-- "2024-01-01T12:00:00Z" → Unix seconds (days-from-civil; no time-zone games).
local function parse_time(s)
  local y, m, d, hh, mm, ss = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)Z$")
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss)
end
_M.parse_time = parse_time

-- A core client for the credential endpoints (metadata service, STS).
local function http_client(endpoint, opts, version)
  local base, host = endpoint:match("^(https?://([^/]+))/?$")
  if not base then error("credentials: endpoint must be scheme://host[:port]", 4) end
  return core.client {
    endpoint = base, host = host, version = version, format = "JSON", method = "POST",
    timeout = opts.timeout or 1, connect_timeout = opts.connect_timeout or 1,
    ca_file = opts.ca_file, proxy = opts.proxy, verify = opts.verify ~= false,
    user_agent = "aliyun-live-lua/" .. core._VERSION,
  }
end

---------------------------------------------------------------- static, env --

local Static = {}
Static.__index = Static

local function nonempty(fn, name, v)
  if type(v) ~= "string" or v == "" then
    error(format("credentials.%s: %s must be a non-empty string", fn, name), 3)
  end
end

function _M.static(access_key_id, access_key_secret, security_token)
  nonempty("static", "access_key_id", access_key_id)
  nonempty("static", "access_key_secret", access_key_secret)
  if security_token ~= nil then nonempty("static", "security_token", security_token) end
  return setmetatable({ name = "static", creds = {
    access_key_id = access_key_id, access_key_secret = access_key_secret,
    security_token = security_token } }, Static)
end

function Static:get() return self.creds end

local Env = {}
Env.__index = Env

--- Read when asked, so a changed environment is seen.
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
  if token == "" then token = nil end
  local c = self.cached
  if not c or c.access_key_id ~= id or c.access_key_secret ~= secret
      or c.security_token ~= token then
    c = { access_key_id = id, access_key_secret = secret, security_token = token }
    self.cached = c
  end
  return c
end

---------------------------------------------------------- temporary, cached --

-- Wraps fetch() → creds (with expiration) | nil, err in a cache that refreshes
-- `margin` seconds before expiry. While one refresh runs (a yielding transport may let
-- other coroutines in), the others keep using the still-valid credentials, so a
-- refresh happens once for all callers.
local Cached = {}
Cached.__index = Cached

local function cached(name, fetch, margin)
  return setmetatable({ name = name, fetch = fetch, margin = margin or DEFAULT_MARGIN }, Cached)
end

function Cached:get()
  local c = self.creds
  local t = now()
  if c and (not c.expiration or c.expiration - t > self.margin) then return c end
  if self.refreshing and c and (not c.expiration or c.expiration > t) then return c end
  self.refreshing = true
  local ok, fresh, err = pcall(self.fetch)
  self.refreshing = false
  if not ok then
    return nil, cred_error(format("%s: %s", self.name, tostring(fresh)), "SDK.CredentialsError")
  end
  if not fresh then return nil, err end
  self.creds = fresh
  return fresh
end

function Cached:invalidate() self.creds = nil end

-------------------------------------------------------------- ECS RAM role --

--- Credentials of the instance's RAM role from the metadata service. opts: role
-- (default: asked from the service), endpoint (default http://100.100.100.200),
-- imds_v2 (default true: fetch a session token first), timeout (1 s), refresh_margin.
function _M.ecs_role(opts)
  opts = check_opts("ecs_role", opts, { role = "string", endpoint = "string",
    imds_v2 = "boolean", timeout = "number", connect_timeout = "number",
    refresh_margin = "number", proxy = "string" })
  local base = opts.endpoint or IMDS
  local client
  local role = opts.role
  local function fetch()
    client = client or http_client(base, opts, "2016-11-01")
    local headers = {}
    if opts.imds_v2 ~= false then
      local status, body = client:http { method = "PUT", url = base .. "/latest/api/token",
        headers = { "X-aliyun-ecs-metadata-token-ttl-seconds: 21600" } }
      if not status then return nil, body end
      if status ~= 200 or body == "" then
        return nil, cred_error(format("metadata token request answered HTTP %d", status),
          "SDK.CredentialsError")
      end
      headers[1] = "X-aliyun-ecs-metadata-token: " .. body
    end
    local path = base .. "/latest/meta-data/ram/security-credentials/"
    if not role then
      local status, body = client:http { url = path, headers = headers }
      if not status then return nil, body end
      if status ~= 200 or not body:match("^[%w%-_%.]+%s*$") then
        return nil, cred_error(format("metadata role name request answered HTTP %d", status),
          "SDK.CredentialsError")
      end
      role = body:match("^(%S+)")
    end
    local status, body = client:http { url = path .. role, headers = headers }
    if not status then return nil, body end
    if status ~= 200 then
      return nil, cred_error(format("metadata credentials for role '%s' answered HTTP %d",
        role, status), "SDK.CredentialsError")
    end
    local t = client:decode(body, "JSON")
    if not t or t.Code ~= "Success" or type(t.AccessKeyId) ~= "string"
        or type(t.AccessKeySecret) ~= "string" then
      return nil, cred_error(format("metadata credentials for role '%s' are malformed", role),
        "SDK.CredentialsError")
    end
    return { access_key_id = t.AccessKeyId, access_key_secret = t.AccessKeySecret,
             security_token = t.SecurityToken, expiration = parse_time(t.Expiration) }
  end
  return cached("ecs_role", fetch, opts.refresh_margin)
end

------------------------------------------------------------ RAM role ARN --

--- Credentials of a RAM role through STS AssumeRole, signed with `source`'s
-- credentials (a provider, or access_key_id/access_key_secret). opts: role_arn,
-- session_name (default "aliyun-live-lua"), duration (900–43200, default 3600), policy,
-- sts_endpoint (default https://sts.aliyuncs.com), timeout, refresh_margin.
function _M.ram_role_arn(opts)
  opts = check_opts("ram_role_arn", opts, { role_arn = "string", session_name = "string",
    duration = "number", policy = "string", sts_endpoint = "string", source = "table",
    access_key_id = "string", access_key_secret = "string", security_token = "string",
    timeout = "number", connect_timeout = "number", refresh_margin = "number",
    proxy = "string", ca_file = "string", verify = "boolean" })
  if not opts.role_arn or not opts.role_arn:match("^acs:ram::%d+:role/.+$") then
    error("credentials.ram_role_arn: role_arn must look like acs:ram::<account>:role/<name>", 2)
  end
  local source = opts.source
  if not source then
    if not (opts.access_key_id and opts.access_key_secret) then
      error("credentials.ram_role_arn: needs source or access_key_id/access_key_secret", 2)
    end
    source = _M.static(opts.access_key_id, opts.access_key_secret, opts.security_token)
  elseif type(source.get) ~= "function" then
    error("credentials.ram_role_arn: source must be a provider", 2)
  end
  local session = opts.session_name or "aliyun-live-lua"
  if #session < 2 or #session > 64 or session:find("[^%w%.@%-_]") then
    error("credentials.ram_role_arn: session_name must be 2-64 of A-Z a-z 0-9 . @ - _", 2)
  end
  local duration = opts.duration or 3600
  if duration < 900 or duration > 43200 or duration % 1 ~= 0 then
    error("credentials.ram_role_arn: duration must be an integer from 900 to 43200", 2)
  end
  local client
  local function fetch()
    local src, err = source:get()
    if not src then return nil, err end
    client = client or http_client(opts.sts_endpoint or STS, { timeout = opts.timeout or 5,
      connect_timeout = opts.connect_timeout or 5, proxy = opts.proxy,
      ca_file = opts.ca_file, verify = opts.verify }, "2015-04-01")
    local params = { RoleArn = opts.role_arn, DurationSeconds = format("%d", duration),
                     RoleSessionName = session }
    if opts.policy then params.Policy = opts.policy end
    local res
    res, err = client:rpc("AssumeRole", params, src.access_key_id, src.access_key_secret,
      src.security_token)
    if not res then
      err.message = "AssumeRole: " .. tostring(err.message)
      return nil, err
    end
    local c = type(res.Credentials) == "table" and res.Credentials or {}
    if type(c.AccessKeyId) ~= "string" or type(c.AccessKeySecret) ~= "string" then
      return nil, cred_error("AssumeRole answer has no credentials", "SDK.CredentialsError")
    end
    return { access_key_id = c.AccessKeyId, access_key_secret = c.AccessKeySecret,
             security_token = c.SecurityToken, expiration = parse_time(c.Expiration) }
  end
  return cached("ram_role_arn", fetch, opts.refresh_margin)
end

------------------------------------------------------- configuration files --

local function home_path(rel)
  local home = getenv("HOME")
  if not home or home == "" then return nil end
  return home .. rel
end

local function read_file(path)
  local f, err = open(path, "rb")
  if not f then
    if err and err:match("No such file") then return nil, "missing" end
    return nil, "unreadable"
  end
  local text = f:read("*a")
  f:close()
  if not text then return nil, "unreadable" end
  return text
end

local function file_error(path, line, msg)
  if line then return cred_error(format("%s line %d: %s", path, line, msg), "SDK.CredentialsError") end
  return cred_error(format("%s: %s", path, msg), "SDK.CredentialsError")
end

-- The file given, else the one the environment names, else ~/rel → path, text | nil,
-- err. A default file that is missing means "no credentials here" (the chain goes on);
-- a file the user named, or one that cannot be read, is an error.
local function read_config(given, env_name, rel)
  local path = given or getenv(env_name)
  if path == "" then path = nil end
  local explicit = path ~= nil
  path = path or home_path(rel)
  if not path then return nil, cred_error("no HOME for ~" .. rel) end
  local text, why = read_file(path)
  if not text then
    if why == "missing" and not explicit then return nil, cred_error(path .. " does not exist") end
    return nil, file_error(path, nil, why == "missing" and "does not exist" or "cannot be read")
  end
  return path, text
end

-- INI: [section] and key = value lines; '#' and ';' start comments. Returns sections
-- name → { key → value, _line → line of the header, _lines → key → line }.
local function parse_ini(path, text)
  local sections, cur = {}, nil
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    line = line:gsub("\r$", ""):gsub("^%s+", ""):gsub("%s+$", "")
    if line ~= "" and not line:match("^[#;]") then
      local name = line:match("^%[%s*([^%]]-)%s*%]$")
      if name then
        if name == "" then return nil, file_error(path, n, "empty section name") end
        cur = { _line = n, _lines = {} }
        sections[name] = cur
      else
        local k, v = line:match("^([%w_%.%-]+)%s*=%s*(.-)$")
        if not k then return nil, file_error(path, n, "expected 'key = value' or '[profile]'") end
        if not cur then return nil, file_error(path, n, "'" .. k .. "' is outside any [profile]") end
        v = v:match('^"(.*)"$') or v:match("^'(.*)'$") or v
        cur[k] = v
        cur._lines[k] = n
      end
    end
  end
  return sections
end

-- A provider described by a file; a value it refuses becomes an error naming the file.
local function build(path, line, ctor, opts)
  local ok, p = pcall(ctor, opts)
  if ok then return p end
  return nil, file_error(path, line, (tostring(p):gsub("^.-credentials%.[%w_]+: ", "")))
end

local function need(path, sec, profile, keys)
  for _, k in ipairs(keys) do
    if not sec[k] or sec[k] == "" then
      return file_error(path, sec._line, format("profile '%s' has no '%s'", profile, k))
    end
  end
end

--- The shared credentials file: ~/.alibabacloud/credentials or
-- $ALIBABA_CLOUD_CREDENTIALS_FILE; profile from opts, $ALIBABA_CLOUD_PROFILE or
-- "default". Types access_key, ecs_ram_role, ram_role_arn. A missing file means "no
-- credentials here"; a broken one is an error naming the file and line.
local Profile = {}
Profile.__index = Profile

function _M.profile(opts)
  opts = check_opts("profile", opts, { file = "string", profile = "string",
    sts_endpoint = "string", metadata_endpoint = "string" })
  return setmetatable({ name = "credentials file", opts = opts }, Profile)
end

function Profile:resolve()
  local opts = self.opts
  local path, text = read_config(opts.file, "ALIBABA_CLOUD_CREDENTIALS_FILE",
    "/.alibabacloud/credentials")
  if not path then return nil, text end
  local sections, err = parse_ini(path, text)
  if not sections then return nil, err end
  local name = opts.profile or getenv("ALIBABA_CLOUD_PROFILE") or "default"
  local sec = sections[name]
  if not sec then return nil, file_error(path, nil, format("has no profile '%s'", name)) end
  local kind = sec.type or sec.enable and "access_key" or "access_key"
  if kind == "access_key" then
    err = need(path, sec, name, { "access_key_id", "access_key_secret" })
    if err then return nil, err end
    return _M.static(sec.access_key_id, sec.access_key_secret)
  elseif kind == "ecs_ram_role" then
    err = need(path, sec, name, { "role_name" })
    if err then return nil, err end
    return build(path, sec._line, _M.ecs_role,
      { role = sec.role_name, endpoint = opts.metadata_endpoint })
  elseif kind == "ram_role_arn" then
    err = need(path, sec, name, { "access_key_id", "access_key_secret", "role_arn" })
    if err then return nil, err end
    return build(path, sec._line, _M.ram_role_arn, { access_key_id = sec.access_key_id,
      access_key_secret = sec.access_key_secret, role_arn = sec.role_arn,
      session_name = sec.role_session_name, sts_endpoint = opts.sts_endpoint })
  end
  return nil, file_error(path, sec._lines.type, format("profile '%s' has unknown type '%s'",
    name, tostring(kind)))
end

-- Files are read once; the provider they describe is kept (and refreshes itself).
local function from_file_get(self)
  if not self.inner then
    local p, err = self:resolve()
    if not p then return nil, err end
    self.inner = p
  end
  return self.inner:get()
end

local function from_file_invalidate(self)
  if self.inner and self.inner.invalidate then self.inner:invalidate() end
end

Profile.get = from_file_get
Profile.invalidate = from_file_invalidate

--- The aliyun CLI's configuration: ~/.aliyun/config.json or $ALIBABA_CLOUD_CONFIG_FILE;
-- profile from opts, $ALIBABA_CLOUD_PROFILE or the file's "current". Modes AK,
-- StsToken, RamRoleArn, EcsRamRole.
local Cli = {}
Cli.__index = Cli

function _M.cli(opts)
  opts = check_opts("cli", opts, { file = "string", profile = "string",
    sts_endpoint = "string", metadata_endpoint = "string" })
  return setmetatable({ name = "aliyun CLI config", opts = opts }, Cli)
end

-- Line of a character offset, for JSON errors.
local function line_of(text, pos)
  local n = 1
  for _ in text:sub(1, pos):gmatch("\n") do n = n + 1 end
  return n
end

-- The profile the options, the environment or the file's "current" name → path, name,
-- profile table | nil, err.
local function cli_profile(opts)
  local path, text = read_config(opts.file, "ALIBABA_CLOUD_CONFIG_FILE", "/.aliyun/config.json")
  if not path then return nil, text end
  if not cjson_ok then return nil, file_error(path, nil, "lua-cjson is not available") end
  local conf, jerr = cjson.decode(text)
  if type(conf) ~= "table" then
    local at = tonumber(tostring(jerr):match("character (%d+)"))
    return nil, file_error(path, at and line_of(text, at) or nil, "malformed JSON")
  end
  local name = opts.profile or getenv("ALIBABA_CLOUD_PROFILE") or conf.current or "default"
  for _, p in ipairs(type(conf.profiles) == "table" and conf.profiles or {}) do
    if type(p) == "table" and p.name == name then return path, name, p end
  end
  return nil, file_error(path, nil, format("has no profile '%s'", name))
end

--- The profile's region_id, or nil (when it has none, or the file or profile is missing).
function Cli:region()
  local _, _, prof = cli_profile(self.opts)
  local r = type(prof) == "table" and prof.region_id
  return type(r) == "string" and r ~= "" and r or nil
end

function Cli:resolve()
  local opts = self.opts
  local path, name, prof = cli_profile(opts)
  if not path then return nil, name end
  local function missing(keys)
    for _, k in ipairs(keys) do
      if type(prof[k]) ~= "string" or prof[k] == "" then
        return file_error(path, nil, format("profile '%s' has no '%s'", name, k))
      end
    end
  end
  local mode = prof.mode or "AK"
  local err
  if mode == "AK" then
    err = missing { "access_key_id", "access_key_secret" }
    if err then return nil, err end
    return _M.static(prof.access_key_id, prof.access_key_secret)
  elseif mode == "StsToken" then
    err = missing { "access_key_id", "access_key_secret", "sts_token" }
    if err then return nil, err end
    return _M.static(prof.access_key_id, prof.access_key_secret, prof.sts_token)
  elseif mode == "RamRoleArn" then
    err = missing { "access_key_id", "access_key_secret", "ram_role_arn" }
    if err then return nil, err end
    return build(path, nil, _M.ram_role_arn, { access_key_id = prof.access_key_id,
      access_key_secret = prof.access_key_secret, role_arn = prof.ram_role_arn,
      session_name = prof.ram_session_name ~= "" and prof.ram_session_name or nil,
      sts_endpoint = opts.sts_endpoint })
  elseif mode == "EcsRamRole" then
    return build(path, nil, _M.ecs_role, {
      role = prof.ram_role_name ~= "" and prof.ram_role_name or nil,
      endpoint = opts.metadata_endpoint })
  end
  return nil, file_error(path, nil, format("profile '%s' has unsupported mode '%s'",
    name, tostring(mode)))
end

Cli.get = from_file_get
Cli.invalidate = from_file_invalidate

-------------------------------------------------------------------- chain --

local Chain = {}
Chain.__index = Chain

--- The first provider that answers, in order; once one has answered it is asked
-- first. A provider whose source exists but is broken (a malformed file) stops the
-- chain with its error rather than being skipped silently.
function _M.chain(providers)
  if type(providers) ~= "table" or #providers == 0 then
    error("credentials.chain: expects a non-empty list of providers", 2)
  end
  for i, p in ipairs(providers) do
    if type(p) ~= "table" or type(p.get) ~= "function" then
      error(format("credentials.chain: provider %d has no get method", i), 2)
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
    if err and err.code ~= "SDK.MissingCredentials" then return nil, err end
    why[#why + 1] = (err and err.message) or ((p.name or "provider") .. ": no credentials")
  end
  return nil, cred_error("no credentials found (" .. concat(why, "; ") .. ")")
end

function Chain:invalidate()
  if self.last and self.last.invalidate then self.last:invalidate() end
end

--- The default chain, in the official SDKs' order: environment, aliyun CLI config,
-- shared credentials file, and the ECS RAM role when ALIBABA_CLOUD_ECS_METADATA names
-- one (the metadata service is never probed unasked).
local EcsFromEnv = {}
EcsFromEnv.__index = EcsFromEnv

function EcsFromEnv:get()
  local role = getenv("ALIBABA_CLOUD_ECS_METADATA")
  if not role or role == "" then
    return nil, cred_error("ALIBABA_CLOUD_ECS_METADATA is not set")
  end
  if not self.inner or self.role ~= role then
    self.inner, self.role = _M.ecs_role { role = role }, role
  end
  return self.inner:get()
end

function EcsFromEnv:invalidate()
  if self.inner then self.inner:invalidate() end
end

function _M.default()
  return _M.chain { _M.env(), _M.cli(), _M.profile(),
                    setmetatable({ name = "ECS RAM role" }, EcsFromEnv) }
end

return _M
