--- Argument parsing for the aliyun-live command.
--
-- argv → { command =, opts = { name → value | true }, positional = {…},
-- params = { {name, value}, … } } (params: the official CLI's `--DomainName D` form).
-- Options may come before or after the command, as `--name value` or `--name=value`;
-- `--` ends the options. Every mistake raises a usage error (see _M.usage), whose
-- message never repeats a value the user gave: a value may be a secret.
local type, ipairs, pairs, tonumber, tostring, error, setmetatable =
  type, ipairs, pairs, tonumber, tostring, error, setmetatable
local format, concat, floor = string.format, table.concat, math.floor

local _M = {}

local usage_mt = { __tostring = function(e) return e.message end }

--- Raise a usage error (exit status 2). cmd: the command it concerns, for the hint.
function _M.usage(message, cmd)
  error(setmetatable({ usage = true, message = message, command = cmd }, usage_mt), 0)
end
local usage = _M.usage

function _M.is_usage(e) return type(e) == "table" and e.usage == true end

-- Every option: value = placeholder for the help (nil for a flag).
local OPTIONS = {
  -- credentials and configuration, named as the official aliyun CLI names them
  profile = { value = "NAME", short = "p" },
  ["config-path"] = { value = "FILE" },
  mode = { value = "MODE" },
  ["access-key-id"] = { value = "ID" },
  ["access-key-secret"] = { value = "SECRET" },
  ["sts-token"] = { value = "TOKEN" },
  ["ram-role-arn"] = { value = "ARN" },
  ["role-session-name"] = { value = "NAME" },
  ["ram-role-name"] = { value = "NAME" },
  region = { value = "ID" },
  endpoint = { value = "URL" },
  -- requests
  signature = { value = "v1|v3" },
  format = { value = "JSON|XML" },
  ["retry-count"] = { value = "N" },
  ["connect-timeout"] = { value = "SECONDS" },
  ["read-timeout"] = { value = "SECONDS" },
  limiter = { value = "STORE" },
  rate = { value = "N" },
  ["no-limit"] = {},
  json = {},
  help = { short = "h" },
  version = {},
  -- commands' own
  domain = { value = "DOMAIN" },
  app = { value = "APP" },
  stream = { value = "STREAM" },
  from = { value = "FILE" },
  failed = { value = "FILE" },
  progress = { value = "MODE" },
  ["progress-interval"] = { value = "SECONDS" },
  concurrency = { value = "N" },
  ["resume-time"] = { value = "TIME" },
  oneshot = {},
  page = { value = "N" },
  ["page-size"] = { value = "N" },
  all = {},
  method = { value = "GET|POST" },
  timestamp = { value = "TIME" },
  nonce = { value = "NONCE" },
  ["api-version"] = { value = "YYYY-MM-DD" },
}
_M.OPTIONS = OPTIONS

local ALIASES = { timeout = "read-timeout" }   -- older name of this command
local SHORT = { p = "profile", h = "help" }

-- The options every command that talks to the service takes.
local COMMON = { "profile", "config-path", "mode", "access-key-id", "access-key-secret",
  "sts-token", "ram-role-arn", "role-session-name", "ram-role-name", "region", "endpoint",
  "signature", "format", "retry-count", "connect-timeout", "read-timeout", "limiter",
  "rate", "no-limit", "json", "help" }
_M.COMMON = COMMON

-- Commands: their own options; positional (how many words at most after the command,
-- nil = none); params (takes --Name value API parameters); common (takes COMMON).
local COMMANDS = {
  resume = { common = true, options = { "domain", "app", "stream", "from", "failed",
    "progress", "progress-interval", "concurrency" } },
  forbid = { common = true, options = { "domain", "app", "stream", "resume-time", "oneshot" } },
  blocklist = { common = true, options = { "domain", "page", "page-size", "all" } },
  call = { common = true, positional = math.huge },
  presign = { common = true, positional = math.huge,
    options = { "method", "timestamp", "nonce", "api-version" } },
  live = { common = true, positional = 1, params = true },
  help = { positional = 1, options = { "help", "json" } },
  version = { options = { "help", "json" } },
}
_M.COMMANDS = COMMANDS
_M.ORDER = { "resume", "forbid", "blocklist", "call", "presign", "live", "help", "version" }

local allowed = {}
for name, c in pairs(COMMANDS) do
  local set = {}
  for _, o in ipairs(c.options or {}) do set[o] = true end
  if c.common then for _, o in ipairs(COMMON) do set[o] = true end end
  allowed[name] = set
end

-- A word is shown in a message only when it cannot be a secret: a short lower-case word.
local function safe_word(s)
  return #s <= 24 and s:match("^[a-z][a-z%-]*$") ~= nil
end

local function option_name(a)
  local long = a:match("^%-%-([^=]+)")
  if long then return ALIASES[long] or long, true end
  local short = a:match("^%-(%a)$")
  if short then return SHORT[short], false end
end

-- Is `a` an option rather than a value (for "--name needs a value")?
local function looks_like_option(a)
  if a:sub(1, 2) == "--" and #a > 2 then
    local name = option_name(a)
    return name ~= nil and (OPTIONS[name] ~= nil or name:match("^%u") ~= nil)
  end
  return SHORT[a:match("^%-(%a)$") or ""] ~= nil
end

function _M.parse(argv)
  local opts, positional, params, seen_params = {}, {}, {}, {}
  local i, n = 1, #argv
  local only_positional = false
  while i <= n do
    local a = argv[i]
    if type(a) ~= "string" then usage(format("argument #%d is not a string", i)) end
    if only_positional or a == "-" or a:sub(1, 1) ~= "-" or a == "" then
      positional[#positional + 1] = a
    elseif a == "--" then
      only_positional = true
    else
      local name, long = option_name(a)
      local inline = long and a:match("^%-%-[^=]+=(.*)$") or nil
      if long and name:match("^%u[%w%.]*$") then
        -- --DomainName D: an API parameter (the `live` command)
        local value = inline
        if value == nil then
          value = argv[i + 1]
          if value == nil or looks_like_option(value) then
            usage(format("--%s needs a value", name))
          end
          i = i + 1
        end
        if seen_params[name] then usage(format("--%s is given twice", name)) end
        seen_params[name] = true
        params[#params + 1] = { name, value }
      else
        local spec = name and OPTIONS[name]
        if not spec then
          if long and name:match("^[%w%-]+$") and #name <= 40 then
            usage(format("unknown option --%s", name))
          end
          usage(format("argument #%d is not a known option", i))
        end
        local value = true
        if spec.value then
          value = inline
          if value == nil then
            value = argv[i + 1]
            if value == nil or looks_like_option(value) then
              usage(format("--%s needs a value (%s)", name, spec.value))
            end
            i = i + 1
          end
        elseif inline ~= nil then
          usage(format("--%s takes no value", name))
        end
        if opts[name] ~= nil then usage(format("--%s is given twice", name)) end
        opts[name] = value
      end
    end
    i = i + 1
  end

  local cmd = table.remove(positional, 1)
  if cmd == nil then
    if opts.version then return { command = "version", opts = opts, positional = {}, params = {} } end
    if opts.help then return { command = "help", opts = opts, positional = {}, params = {} } end
    usage("no command given")
  end
  local spec = COMMANDS[cmd]
  if not spec then
    if safe_word(cmd) then usage(format("unknown command '%s'", cmd)) end
    usage("unknown command (the first word that is not an option)")
  end
  for name in pairs(opts) do
    if not allowed[cmd][name] then
      usage(format("--%s does not go with '%s'", name, cmd), cmd)
    end
  end
  if #params > 0 and not spec.params then
    usage(format("--%s: API parameters (--Name value) go with 'live'; "
      .. "'call' takes Name=Value", params[1][1]), cmd)
  end
  if #positional > (spec.positional or 0) then
    usage(format("unexpected argument #%d after '%s'", (spec.positional or 0) + 2, cmd), cmd)
  end
  return { command = cmd, opts = opts, positional = positional, params = params }
end

------------------------------------------------------------- value checks --

--- The names of `names` that opts lacks, as "--a, --b", or nil.
function _M.missing(opts, names)
  local m = {}
  for _, k in ipairs(names) do
    if opts[k] == nil then m[#m + 1] = "--" .. k end
  end
  if #m > 0 then return concat(m, ", ") end
end

--- opts[name] as a number in [lo, hi] (integer when `integer`), or nil when absent.
function _M.number(opts, name, lo, hi, integer, cmd)
  local v = opts[name]
  if v == nil then return nil end
  local x = tonumber(v)
  if not x or x ~= x or x < lo or x > hi or (integer and x ~= floor(x)) then
    local what = integer and "an integer" or "a number"
    local function show(b) return b == floor(b) and format("%d", b) or format("%g", b) end
    usage(format("--%s must be %s from %s to %s", name, what, show(lo), show(hi)), cmd)
  end
  return x
end

--- opts[name] as one of the strings of `choices` (a list), or nil when absent.
function _M.choice(opts, name, choices, cmd)
  local v = opts[name]
  if v == nil then return nil end
  for _, c in ipairs(choices) do
    if v == c then return v end
  end
  usage(format("--%s must be one of %s", name, concat(choices, ", ")), cmd)
end

return _M
