-- Client overhead against a fixed-body keep-alive server (FIXED_URL), each figure next
-- to its plain-libcurl baseline (CURL_LOOP) measured in the same run: resident memory
-- after 1,000 and 100,000 calls (first, in a fresh heap); presign cost through Lua;
-- sequential resume calls/s; 16 in flight with resume_many. Rounds alternate between
-- the client and the baseline; each ratio is the median of the rounds' ratios, so a
-- noisy moment hits both sides of one round rather than one side of the figure.
local live = require "aliyun.live"
local core = require "aliyun.live.core"

local base, curl_loop = assert(os.getenv("FIXED_URL")), assert(os.getenv("CURL_LOOP"))
local monotonic = core.monotonic
local function out(name, value, fmt) print(("%s: " .. (fmt or "%.0f")):format(name, value)) end

local function client(extra)
  local opts = { access_key_id = "testid", access_key_secret = "testsecret", endpoint = base,
                 limiter = false, method = "GET" }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return live.new(opts)
end
local stream = { domain = "demo.aliyundoc.com", app = "liveApp", stream = "room42" }
local params = { AppName = "liveApp", DomainName = "demo.aliyundoc.com",
                 LiveStreamType = "publisher", StreamName = "room42" }

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) / 2] or (t[n / 2] + t[n / 2 + 1]) / 2
end

-- Resident memory after 1,000 and after 100,000 sequential calls.
do
  local function rss_kib()
    local f = assert(io.open("/proc/self/statm"))
    local pages = tonumber(f:read("*a"):match("^%d+%s+(%d+)"))
    f:close()
    return pages * 4
  end
  local c = client()
  for _ = 1, 1000 do assert(c:resume(stream)) end
  collectgarbage()
  local a = rss_kib()
  for _ = 1, 99000 do c:resume(stream) end
  collectgarbage()
  local b = rss_kib()
  c:close()
  out("rss_kib_after_1000_calls", a)
  out("rss_kib_after_100000_calls", b)
  out("rss_growth_kib", b - a)
end

-- presign through Lua: the best of several rounds (no baseline: pure CPU).
do
  local c = client()
  for _, sig in ipairs { "v1", "v3" } do
    local opts = { signature = sig }
    local best = math.huge
    for _ = 1, 7 do
      local t0 = monotonic()
      for _ = 1, 50000 do c:presign("ResumeLiveStream", params, opts) end
      best = math.min(best, (monotonic() - t0) / 50000)
    end
    out("presign_" .. sig .. "_lua_ns", best * 1e9)
  end
end

-- The same signed URL the client sends, so both sides do the same HTTP work.
local signed = client():presign("ResumeLiveStream", params, { method = "GET" }).url

local function curl_rate(n, k)
  local p = assert(io.popen(("%s '%s' %d %d"):format(curl_loop, signed, n, k or 1)))
  local text = p:read("*a")
  p:close()
  return (assert(tonumber(text:match("calls_per_second: (%d+)")), text))
end

local function compare(name, rounds, mine_fn, theirs_fn)
  local mine, theirs, ratios = {}, {}, {}
  for r = 1, rounds do
    mine[r], theirs[r] = mine_fn(), theirs_fn()
    ratios[r] = mine[r] / theirs[r]
  end
  out(name .. "_resume_per_second", median(mine))
  out(name .. "_curl_per_second", median(theirs))
  out(name .. "_ratio", median(ratios), "%.3f")
end

-- Sequential: one client, limiter off (the server is not the Live API).
do
  local c = client()
  local n = 10000
  for _ = 1, 1000 do assert(c:resume(stream)) end
  compare("seq", 7, function()
    local t0 = monotonic()
    for _ = 1, n do c:resume(stream) end
    return n / (monotonic() - t0)
  end, function() return curl_rate(n) end)
end

-- 16 in flight: resume_many against a plain curl multi loop.
do
  local c = client()
  local n = 10000
  local list = {}
  for i = 1, n do list[i] = stream end
  c:resume_many(list, { concurrency = 16 })
  compare("inflight16", 7, function()
    local t0 = monotonic()
    local _, summary = c:resume_many(list, { concurrency = 16 })
    assert(summary.ok == n, "resume_many failed")
    return n / (monotonic() - t0)
  end, function() return curl_rate(n, 16) end)
end
