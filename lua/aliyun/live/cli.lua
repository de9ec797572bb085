--- The `aliyun-live` command.
--
--   aliyun-live resume    --domain D --app A --stream S [options]
--   aliyun-live forbid    --domain D --app A --stream S [--resume-time T] [--oneshot] [options]
--   aliyun-live blocklist --domain D [--page N --page-size N] [options]
--
-- Options: --endpoint URL, --region ID, --signature v1|v3, --format JSON|XML,
-- --timeout S, --no-limit, --help, --version. Credentials come from the default chain
-- (environment, aliyun CLI config, ~/.alibabacloud/credentials, ECS role).
-- Success prints the RequestId (blocklist: one stream per line) and exits 0; a failure
-- prints one line naming the error code on stderr and exits 1 (2 for usage errors).
local live = require "aliyun.live"

local _M = {}

local USAGE = [[
usage: aliyun-live resume    --domain D --app A --stream S [options]
       aliyun-live forbid    --domain D --app A --stream S [--resume-time T] [--oneshot] [options]
       aliyun-live blocklist --domain D [--page N] [--page-size N] [options]
options: --endpoint URL  --region ID  --signature v1|v3  --format JSON|XML
         --timeout SECONDS  --no-limit  --help  --version
environment: ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET,
             ALIBABA_CLOUD_SECURITY_TOKEN, ALIYUN_LIVE_ENDPOINT
]]

local COMMANDS = {
  resume = { domain = true, app = true, stream = true },
  forbid = { domain = true, app = true, stream = true, ["resume-time"] = true, oneshot = "flag" },
  blocklist = { domain = true, page = true, ["page-size"] = true },
}
local COMMON = { endpoint = true, region = true, signature = true, format = true,
                 timeout = true, ["no-limit"] = "flag" }

local function parse(argv)
  local cmd = argv[1]
  if cmd == "--help" or cmd == "-h" then return nil, "help" end
  if cmd == "--version" then return nil, "version" end
  local known = COMMANDS[cmd or ""]
  if not known then return nil, cmd and ("unknown command '" .. cmd .. "'") or "no command" end
  local opts, i = {}, 2
  while i <= #argv do
    local a = argv[i]
    local name, value = a:match("^%-%-([%w%-]+)=(.*)$")
    name = name or a:match("^%-%-([%w%-]+)$")
    if name == "help" then return nil, "help" end
    local kind = name and (known[name] or COMMON[name])
    if not kind then return nil, "unknown option '" .. a .. "'" end
    if kind == "flag" then
      if value then return nil, "--" .. name .. " takes no value" end
      opts[name] = true
    else
      if not value then
        i = i + 1
        value = argv[i]
        if value == nil then return nil, "--" .. name .. " needs a value" end
      end
      opts[name] = value
    end
    i = i + 1
  end
  for name, kind in pairs(known) do
    if kind == true and opts[name] == nil and (cmd ~= "forbid" or name ~= "resume-time")
        and (cmd ~= "blocklist" or name == "domain") then
      return nil, "missing --" .. name
    end
  end
  return cmd, opts
end

local function number(opts, name)
  local v = opts[name]
  if v == nil then return nil end
  local n = tonumber(v)
  if not n then error({ usage = "--" .. name .. " must be a number" }) end
  return n
end

local function run(cmd, opts, out)
  local endpoint = opts.endpoint or os.getenv("ALIYUN_LIVE_ENDPOINT")
  local client_opts = {
    endpoint = endpoint ~= "" and endpoint or nil,
    region = opts.region, signature = opts.signature, format = opts.format,
    timeout = number(opts, "timeout"),
  }
  if opts["no-limit"] then client_opts.limiter = false end
  local client = live.new(client_opts)
  local res, err
  if cmd == "resume" then
    res, err = client:resume { domain = opts.domain, app = opts.app, stream = opts.stream }
  elseif cmd == "forbid" then
    local rt = opts["resume-time"]
    res, err = client:forbid { domain = opts.domain, app = opts.app, stream = opts.stream,
      resume_time = rt and (tonumber(rt) or rt), oneshot = opts.oneshot }
  else
    res, err = client:blocklist { domain = opts.domain, page = number(opts, "page"),
      page_size = number(opts, "page-size") }
    if res then
      for _, url in ipairs(res.streams) do out:write(url, "\n") end
      return res
    end
  end
  if res then out:write(res.request_id, "\n") end
  return res, err
end

--- main(argv [, out, errout]) → exit status.
function _M.main(argv, out, errout)
  out, errout = out or io.stdout, errout or io.stderr
  local cmd, opts = parse(argv or {})
  if not cmd then
    if opts == "help" then out:write(USAGE) return 0 end
    if opts == "version" then out:write("aliyun-live ", live._VERSION, "\n") return 0 end
    errout:write("aliyun-live: SDK.InvalidParameter: ", opts, " (see --help)\n")
    return 2
  end
  local ok, res, err = pcall(run, cmd, opts, out)
  if not ok then
    local msg = type(res) == "table" and res.usage or tostring(res):gsub("^[^:]*:%d+: ", "")
    errout:write("aliyun-live: SDK.InvalidParameter: ", (tostring(msg):gsub("\n.*", "")), "\n")
    return 2
  end
  if not res then
    errout:write("aliyun-live: ", (tostring(err):gsub("[\r\n]", " ")), "\n")
    return 1
  end
  return 0
end

return _M
