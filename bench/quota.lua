-- Staying under the quota, against the emulator at --qps 30 (EMU_URL): one client; 4
-- processes sharing shm:; 4 processes on two "hosts" sharing one Redis (REDIS_A and
-- REDIS_B are the same server at two addresses). For each: utilization (calls per
-- second achieved / 30), the emulator's max_per_second, and throttling errors.
local core = require "aliyun.live.core"
local cjson = require "cjson"

local emu = assert(os.getenv("EMU_URL"))
local lua = os.getenv("LUA") or "lua5.4"
local QUOTA, CALLS = 30, 600
local function out(name, value, fmt) print(("%s: " .. (fmt or "%d")):format(name, value)) end

local function control(method, path)
  local p = assert(io.popen(("curl -s -X %s '%s%s'"):format(method, emu, path)))
  local body = p:read("*a")
  p:close()
  return cjson.decode(body)
end

-- A worker: `n` resumes through a limiter on `store`; prints first/last send times
-- (wall clock) and how many succeeded / were throttled.
local WORKER = [[
  local live = require "aliyun.live"
  local core = require "aliyun.live.core"
  local emu, store, n, tag = ...
  local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
    endpoint = emu, retry = false, method = "GET",
    limiter = store ~= "default" and live.limiter { rate = 30, store = store } or nil }
  local ok, throttled, first, last = 0, 0
  for i = 1, tonumber(n) do
    local res, err = c:resume { domain = "bench.com", app = tag, stream = "s" .. i }
    -- the send time: the limiter let the call go just now (the answer takes ~1 ms)
    last = core.now()
    first = first or last
    if res then ok = ok + 1 elseif err.code:match("^Throttling") then throttled = throttled + 1 end
  end
  print(("done %.6f %.6f %d %d"):format(first, last, ok, throttled))
]]

local function run_case(name, workers)
  control("POST", "/__emulator/reset")
  local procs = {}
  for i, w in ipairs(workers) do
    local cmd = ("%s - %s %s %d w%d <<'LUA'\n%s\nLUA"):format(lua, emu, w.store, w.n, i, WORKER)
    procs[i] = assert(io.popen(cmd))
  end
  local first, last, ok, throttled = math.huge, 0, 0, 0
  for _, p in ipairs(procs) do
    local line = p:read("*a")
    p:close()
    local f, l, o, t = line:match("done (%S+) (%S+) (%d+) (%d+)")
    assert(f, "worker failed: " .. line)
    first, last = math.min(first, tonumber(f)), math.max(last, tonumber(l))
    ok, throttled = ok + tonumber(o), throttled + tonumber(t)
  end
  local stats = control("GET", "/__emulator/stats")
  local calls = ok + throttled
  -- calls per second over the span of the run, first call to last
  local rate = (calls - 1) / (last - first)
  out(name .. "_utilization", rate / QUOTA, "%.3f")
  out(name .. "_max_per_second", stats.max_per_second["testid/ResumeLiveStream"] or 0)
  out(name .. "_throttled", stats.codes["Throttling.User"] or 0)
  out(name .. "_calls", calls)
end

local shm = "bench" .. math.floor(core.now() * 1000) % 1000000
run_case("quota_1client", { { store = "default", n = CALLS } })
local four = {}
for i = 1, 4 do four[i] = { store = "shm:" .. shm, n = CALLS / 4 } end
run_case("quota_4proc_shm", four)
os.remove("/dev/shm/aliyun-live-" .. shm)
local fleet = {}
for i = 1, 4 do fleet[i] = { store = os.getenv(i <= 2 and "REDIS_A" or "REDIS_B"), n = CALLS / 4 } end
run_case("quota_2hosts_redis", fleet)
