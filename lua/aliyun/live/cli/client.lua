--- The client a command uses, from its options: credentials (the official aliyun CLI's
-- flags and profiles, else the default chain), endpoint and region, timeouts, retries,
-- and the limiter that makes every aliyun-live of this user on this host share the
-- quota.
local live = require "aliyun.live"
local core = require "aliyun.live.core"
local args = require "aliyun.live.cli.args"

local getenv, pcall, ipairs, format, upper = os.getenv, pcall, ipairs, string.format, string.upper
local usage = args.usage

local _M = {}

-- Per-account quotas (requests per second) of the actions we know (shared/api §1).
_M.QUOTAS = { ResumeLiveStream = 30, ForbidLiveStream = 20, DescribeLiveStreamsBlockList = 50 }
local DEFAULT_RATE = 30

local function env(name)
  local v = getenv(name)
  if v == "" then return nil end
  return v
end

------------------------------------------------------------------ credentials --

local MODES = { "AK", "StsToken", "RamRoleArn", "EcsRamRole" }
local CREDENTIAL_FLAGS = { "access-key-id", "access-key-secret", "sts-token", "ram-role-arn",
  "role-session-name", "ram-role-name" }
local NEEDS = {
  AK = { "access-key-id", "access-key-secret" },
  StsToken = { "access-key-id", "access-key-secret", "sts-token" },
  RamRoleArn = { "access-key-id", "access-key-secret", "ram-role-arn" },
  EcsRamRole = {},
}
local MAY = { RamRoleArn = { ["role-session-name"] = true }, EcsRamRole = { ["ram-role-name"] = true } }

-- ALIBABA_CLOUD_STS_ENDPOINT: a host (HTTPS) or a URL, as the official SDKs take it.
local function sts_endpoint()
  local e = env("ALIBABA_CLOUD_STS_ENDPOINT")
  if e and not e:match("^https?://") then e = "https://" .. e end
  return e
end

--- The credential provider the options describe.
function _M.credentials(opts, cmd)
  local any_flag = false
  for _, f in ipairs(CREDENTIAL_FLAGS) do
    if opts[f] ~= nil then any_flag = true end
  end
  local mode = args.choice(opts, "mode", MODES, cmd)
  if not mode and not any_flag then
    if opts.profile or opts["config-path"] then
      return live.credentials.cli { file = opts["config-path"], profile = opts.profile }
    end
    return live.credentials.default()
  end
  if not mode then
    mode = opts["sts-token"] and "StsToken" or opts["ram-role-arn"] and "RamRoleArn"
      or (opts["ram-role-name"] and not opts["access-key-id"]) and "EcsRamRole" or "AK"
  end
  local missing = args.missing(opts, NEEDS[mode])
  if missing then usage(format("--mode %s needs %s", mode, missing), cmd) end
  local needed = {}
  for _, f in ipairs(NEEDS[mode]) do needed[f] = true end
  for _, f in ipairs(CREDENTIAL_FLAGS) do
    if opts[f] ~= nil and not needed[f] and not (MAY[mode] or {})[f] then
      usage(format("--%s does not go with --mode %s", f, mode), cmd)
    end
  end
  local id, secret = opts["access-key-id"], opts["access-key-secret"]
  if mode == "AK" then
    return live.credentials.static(id, secret)
  elseif mode == "StsToken" then
    return live.credentials.static(id, secret, opts["sts-token"])
  elseif mode == "RamRoleArn" then
    return live.credentials.ram_role_arn { access_key_id = id, access_key_secret = secret,
      role_arn = opts["ram-role-arn"], session_name = opts["role-session-name"],
      sts_endpoint = sts_endpoint() }
  end
  return live.credentials.ecs_role { role = opts["ram-role-name"] }
end

---------------------------------------------------------- endpoint, region --

--- --endpoint, else ALIYUN_LIVE_ENDPOINT; a bare HOST[:PORT] (the official CLI's form)
-- means HTTPS.
function _M.endpoint(opts, cmd)
  local e = opts.endpoint or env("ALIYUN_LIVE_ENDPOINT")
  if not e then return nil end
  local from = opts.endpoint and "--endpoint" or "ALIYUN_LIVE_ENDPOINT"
  if not e:match("^%a[%w+.-]*://") then e = "https://" .. e end
  if not (e:match("^https?://[%w%.%-_]+:?%d*/?$") or e:match("^https?://%[[%x:%.]+%]:?%d*/?$")) then
    usage(from .. " must be http(s)://HOST[:PORT] or HOST[:PORT]", cmd)
  end
  return e
end

--- --region, else ALIBABA_CLOUD_REGION_ID, else the aliyun CLI profile's region_id.
function _M.region(opts, cmd)
  local r, from = opts.region, "--region"
  if not r then r, from = env("ALIBABA_CLOUD_REGION_ID"), "ALIBABA_CLOUD_REGION_ID" end
  if not r then
    local ok, p = pcall(live.credentials.cli, { file = opts["config-path"], profile = opts.profile })
    r, from = ok and p:region() or nil, "the profile's region_id"
  end
  if r and not r:match("^[a-z]+%-[a-z0-9%-]+$") then
    usage(from .. " is not a region id such as cn-shanghai", cmd)
  end
  return r
end

-------------------------------------------------------------------- limiter --

-- Slots are spaced (1 + GUARD) / rate apart, so that a request that reaches the
-- service up to GUARD seconds after its slot still keeps every second within the
-- quota. A command that starts, sends one request and ends is late by much more than
-- a long-lived client: 16 of them starting at once on 2 cores sent their request up
-- to 50 ms after its slot (the library's own guard is 10 ms). 100 ms costs 9 % of
-- the quota and kept `xargs -P 16` clear of throttling even on a loaded host.
_M.GUARD = 0.1

local function store_ok(s)
  return s == "local" or s == "process" or s:match("^shm:[%w%-_%.]+$") ~= nil
    or s:match("^redis://.") ~= nil
end

--- The limiter for `action`, or false with --no-limit; nil, err when its store cannot
-- be opened. Default store: ALIYUN_LIVE_LIMITER, else the host-wide shm:cli-<uid>.
function _M.limiter(opts, action, cmd)
  local rate = args.number(opts, "rate", 0.001, 100000, false, cmd)
  if opts["no-limit"] then
    if opts.limiter or rate then usage("--no-limit does not go with --limiter or --rate", cmd) end
    return false
  end
  local store = opts.limiter or env("ALIYUN_LIVE_LIMITER") or format("shm:cli-%d", core.getuid())
  if not store_ok(store) then
    -- never repeat the value: a Redis URL may hold a password
    usage((opts.limiter and "--limiter" or "ALIYUN_LIVE_LIMITER") .. " must be local, process, "
      .. "shm:NAME or redis://[USER:PASSWORD@]HOST[:PORT][/DB]", cmd)
  end
  local lim, err = live.limiter { rate = rate or _M.QUOTAS[action] or DEFAULT_RATE,
    store = store, guard = _M.GUARD }
  if not lim then return nil, err end
  return lim
end

--------------------------------------------------------------------- client --

--- A client for `action` → client, provider | nil, err (the limiter's store failed).
function _M.new(opts, action, cmd)
  local provider = _M.credentials(opts, cmd)
  local retry
  local count = args.number(opts, "retry-count", 0, 100, true, cmd)
  if count then retry = count == 0 and false or { attempts = count + 1 } end
  local signature = opts.signature and opts.signature:lower()
  local fmt = opts.format and upper(opts.format)
  if signature and signature ~= "v1" and signature ~= "v3" then
    usage("--signature must be v1 or v3", cmd)
  end
  if fmt and fmt ~= "JSON" and fmt ~= "XML" then usage("--format must be JSON or XML", cmd) end
  local client_opts = {
    credentials = provider,
    endpoint = _M.endpoint(opts, cmd),
    region = _M.region(opts, cmd),
    signature = signature,
    format = fmt,
    timeout = args.number(opts, "read-timeout", 0.001, 3600, false, cmd),
    connect_timeout = args.number(opts, "connect-timeout", 0.001, 3600, false, cmd),
    retry = retry,
  }
  local lim, err = _M.limiter(opts, action, cmd)
  if lim == nil then return nil, err end
  client_opts.limiter = lim
  return live.new(client_opts), provider
end

return _M
