--- Credentials described by files: the shared credentials file (INI,
-- ~/.alibabacloud/credentials) and the aliyun CLI's configuration
-- (~/.aliyun/config.json). A file is read once; the provider it describes is kept (and
-- refreshes itself). Errors name the file and the line, never the file's content.
local errors = require "aliyun.live.errors"

local type, pairs, ipairs, tostring, format, getenv, open, setmetatable, tonumber =
  type, pairs, ipairs, tostring, string.format, os.getenv, io.open, setmetatable, tonumber
local raise = errors.raise

local _M = {}

local function cred_error(message, code)
  return errors.new(code or "SDK.MissingCredentials", message)
end

local function file_error(path, line, msg)
  if line then return cred_error(format("%s line %d: %s", path, line, msg), "SDK.CredentialsError") end
  return cred_error(format("%s: %s", path, msg), "SDK.CredentialsError")
end

local function check_opts(fn, opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then raise("credentials." .. fn, "expects a table") end
  local known = { file = 1, profile = 1, sts_endpoint = 1, metadata_endpoint = 1 }
  for k, v in pairs(opts) do
    if not known[k] then raise("credentials." .. fn, format("unknown option '%s'", tostring(k))) end
    if type(v) ~= "string" then raise("credentials." .. fn, format("option '%s' must be a string", k)) end
  end
  return opts
end

-- The file given, else the one the environment names, else ~/rel → path, text | nil,
-- err. A default file that is missing means "no credentials here" (the chain goes on);
-- a file the user named, or one that cannot be read, is an error.
local function read_config(given, env_name, rel)
  local path = given or getenv(env_name)
  if path == "" then path = nil end
  local explicit = path ~= nil
  if not path then
    local home = getenv("HOME")
    if not home or home == "" then return nil, cred_error("no HOME for ~" .. rel) end
    path = home .. rel
  end
  local f, why = open(path, "rb")
  local text = f and f:read("*a")
  if f then f:close() end
  if not text then
    local missing = not f and tostring(why):match("No such file")
    if missing and not explicit then return nil, cred_error(path .. " does not exist") end
    return nil, file_error(path, nil, missing and "does not exist" or "cannot be read")
  end
  return path, text
end

-- INI: [section] and key = value lines; '#' and ';' start comments. Returns sections
-- name → { key → value, _line → line of the header, _lines → key → line }.
local function parse_ini(path, text)
  local sections, cur, n = {}, nil, 0
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
        if not cur then return nil, file_error(path, n, "a key outside any [profile]") end
        v = v:match('^"(.*)"$') or v:match("^'(.*)'$") or v
        cur[k] = v
        cur._lines[k] = n
      end
    end
  end
  return sections
end

-- A provider built from a file's values; a value its constructor refuses becomes an
-- error naming the file (the constructor's message names options, not values).
local function build(path, line, ctor, opts)
  local ok, p = pcall(ctor, opts)
  if ok then return p end
  return nil, file_error(path, line, (tostring(p):gsub("^.-aliyun%.live%.credentials%.[%w_]+: ", "")))
end

local function need(path, line, t, profile, keys)
  for _, k in ipairs(keys) do
    if type(t[k]) ~= "string" or t[k] == "" then
      return file_error(path, line, format("profile '%s' has no '%s'", profile, k))
    end
  end
end

local function nonempty(v) return v ~= "" and v or nil end

local function providers() return require "aliyun.live.credentials" end

-- Files are read once; the provider they describe is kept (and refreshes itself).
local FromFile = {}
FromFile.__index = FromFile

function FromFile:get(rt)
  if not self.inner then
    local p, err = self:resolve()
    if not p then return nil, err end
    self.inner = p
  end
  return self.inner:get(rt)
end

function FromFile:invalidate()
  if self.inner and self.inner.invalidate then self.inner:invalidate() end
end

function FromFile:identity()
  if not self.inner then
    local p = self:resolve()
    if not p then return nil end
    self.inner = p
  end
  return self.inner.identity and self.inner:identity()
end

---------------------------------------------------- shared credentials file --

local Profile = setmetatable({}, { __index = FromFile })
Profile.__index = Profile

--- ~/.alibabacloud/credentials or $ALIBABA_CLOUD_CREDENTIALS_FILE; profile from opts,
-- $ALIBABA_CLOUD_PROFILE or "default". Types access_key, ecs_ram_role, ram_role_arn,
-- oidc_role_arn.
function _M.profile(opts)
  return setmetatable({ name = "credentials file", opts = check_opts("profile", opts) }, Profile)
end

function Profile:resolve()
  local opts, cr = self.opts, providers()
  local path, text = read_config(opts.file, "ALIBABA_CLOUD_CREDENTIALS_FILE",
    "/.alibabacloud/credentials")
  if not path then return nil, text end
  local sections, err = parse_ini(path, text)
  if not sections then return nil, err end
  local name = opts.profile or nonempty(getenv("ALIBABA_CLOUD_PROFILE")) or "default"
  local sec = sections[name]
  if not sec then return nil, file_error(path, nil, format("has no profile '%s'", name)) end
  local kind, line = sec.type or "access_key", sec._line
  if kind == "access_key" then
    err = need(path, line, sec, name, { "access_key_id", "access_key_secret" })
    if err then return nil, err end
    return build(path, line, function() return cr.static(sec.access_key_id, sec.access_key_secret) end)
  elseif kind == "ecs_ram_role" then
    err = need(path, line, sec, name, { "role_name" })
    if err then return nil, err end
    return build(path, line, cr.ecs_role, { role = sec.role_name, endpoint = opts.metadata_endpoint })
  elseif kind == "ram_role_arn" then
    err = need(path, line, sec, name, { "access_key_id", "access_key_secret", "role_arn" })
    if err then return nil, err end
    return build(path, line, cr.ram_role_arn, { access_key_id = sec.access_key_id,
      access_key_secret = sec.access_key_secret, role_arn = sec.role_arn,
      session_name = nonempty(sec.role_session_name), sts_endpoint = opts.sts_endpoint })
  elseif kind == "oidc_role_arn" then
    err = need(path, line, sec, name, { "role_arn", "oidc_provider_arn", "oidc_token_file_path" })
    if err then return nil, err end
    return build(path, line, cr.oidc, { role_arn = sec.role_arn,
      oidc_provider_arn = sec.oidc_provider_arn, oidc_token_file = sec.oidc_token_file_path,
      session_name = nonempty(sec.role_session_name), sts_endpoint = opts.sts_endpoint })
  end
  return nil, file_error(path, sec._lines.type, format("profile '%s' has an unknown type "
    .. "(expected access_key, ecs_ram_role, ram_role_arn or oidc_role_arn)", name))
end

------------------------------------------------------------- aliyun CLI config --

local Cli = setmetatable({}, { __index = FromFile })
Cli.__index = Cli

--- ~/.aliyun/config.json or $ALIBABA_CLOUD_CONFIG_FILE; profile from opts,
-- $ALIBABA_CLOUD_PROFILE or the file's "current". Modes AK, StsToken, RamRoleArn,
-- EcsRamRole, OIDC.
function _M.cli(opts)
  return setmetatable({ name = "aliyun CLI config", opts = check_opts("cli", opts) }, Cli)
end

local function line_of(text, pos)
  local n = 1
  for _ in text:sub(1, pos):gmatch("\n") do n = n + 1 end
  return n
end

-- → path, profile name, profile table | nil, err.
local function cli_profile(opts)
  local path, text = read_config(opts.file, "ALIBABA_CLOUD_CONFIG_FILE", "/.aliyun/config.json")
  if not path then return nil, text end
  local ok, cjson = pcall(require, "cjson.safe")
  if not ok then return nil, file_error(path, nil, "lua-cjson is not available") end
  local conf, jerr = cjson.decode(text)
  if type(conf) ~= "table" then
    local at = tonumber(tostring(jerr):match("character (%d+)"))
    return nil, file_error(path, at and line_of(text, at) or nil, "malformed JSON")
  end
  local name = opts.profile or nonempty(getenv("ALIBABA_CLOUD_PROFILE"))
    or (type(conf.current) == "string" and conf.current) or "default"
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
  local opts, cr = self.opts, providers()
  local path, name, prof = cli_profile(opts)
  if not path then return nil, name end
  local mode, err = prof.mode or "AK", nil
  local function str(k) return type(prof[k]) == "string" and nonempty(prof[k]) or nil end
  if mode == "AK" or mode == "StsToken" then
    err = need(path, nil, prof, name, mode == "AK" and { "access_key_id", "access_key_secret" }
      or { "access_key_id", "access_key_secret", "sts_token" })
    if err then return nil, err end
    return build(path, nil, function()
      return cr.static(prof.access_key_id, prof.access_key_secret, mode == "StsToken" and prof.sts_token or nil)
    end)
  elseif mode == "RamRoleArn" then
    err = need(path, nil, prof, name, { "access_key_id", "access_key_secret", "ram_role_arn" })
    if err then return nil, err end
    return build(path, nil, cr.ram_role_arn, { access_key_id = prof.access_key_id,
      access_key_secret = prof.access_key_secret, role_arn = prof.ram_role_arn,
      session_name = str("ram_session_name"), sts_endpoint = opts.sts_endpoint })
  elseif mode == "EcsRamRole" then
    return build(path, nil, cr.ecs_role, { role = str("ram_role_name"),
      endpoint = opts.metadata_endpoint })
  elseif mode == "OIDC" then
    err = need(path, nil, prof, name, { "ram_role_arn", "oidc_provider_arn", "oidc_token_file" })
    if err then return nil, err end
    return build(path, nil, cr.oidc, { role_arn = prof.ram_role_arn,
      oidc_provider_arn = prof.oidc_provider_arn, oidc_token_file = prof.oidc_token_file,
      session_name = str("role_session_name"), sts_endpoint = opts.sts_endpoint })
  end
  return nil, file_error(path, nil, format("profile '%s' has an unsupported mode (expected "
    .. "AK, StsToken, RamRoleArn, EcsRamRole or OIDC)", name))
end

return _M
