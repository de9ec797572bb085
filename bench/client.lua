-- Client overhead against a fixed-body keep-alive server (FIXED_URL), each figure next
-- to its plain-libcurl baseline (CURL_LOOP) measured in the same run:
--   presign cost through Lua; sequential resume calls/s; 16 in flight with resume_many;
--   resident memory after 1,000 and 100,000 calls.
local live = require "aliyun.live"
local core = require "aliyun.live.core"

local url, curl_loop = assert(os.getenv("FIXED_URL")), assert(os.getenv("CURL_LOOP"))
local monotonic = core.monotonic
local function out(name, value, fmt) print(("%s: " .. (fmt or "%.0f")):format(name, value)) end

local function client(extra)
  local opts = { access_key_id = "testid", access_key_secret = "testsecret", endpoint = url,
                 limiter = false }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return live.new(opts)
end
local stream = { domain = "demo.aliyundoc.com", app = "liveApp", stream = "room42" }

-- Best of `rounds` runs of `n` calls of f, in seconds per call.
local function best(rounds, n, f)
  local b = math.huge
  for _ = 1, rounds do
    local t0 = monotonic()
    for _ = 1, n do f() end
    b = math.min(b, (monotonic() - t0) / n)
  end
  return b
end

-- presign through Lua.
do
  local c = client()
  local params = { AppName = "liveApp", DomainName = "demo.aliyundoc.com",
                   LiveStreamType = "publisher", StreamName = "room42" }
  for _, sig in ipairs { "v1", "v3" } do
    local opts = { signature = sig }
    out("presign_" .. sig .. "_lua_ns", best(5, 50000, function()
      c:presign("ResumeLiveStream", params, opts)
    end) * 1e9)
  end
end

-- The same signed URL the client would send, so both sides do the same HTTP work.
local signed = client():presign("ResumeLiveStream", { AppName = "liveApp",
  DomainName = "demo.aliyundoc.com", LiveStreamType = "publisher", StreamName = "room42" },
  { method = "GET" }).url

local function curl_rate(n, k)
  local p = assert(io.popen(("%s '%s' %d %d"):format(curl_loop, signed, n, k or 1)))
  local text = p:read("*a")
  p:close()
  return (assert(tonumber(text:match("calls_per_second: (%d+)")), text))
end

-- Sequential: one client, limiter off (the server is not the Live API).
do
  local c = client { method = "GET" }
  local n = 20000
  for _ = 1, 1000 do assert(c:resume(stream)) end
  local rounds, mine, theirs = 3, 0, 0
  for _ = 1, rounds do   -- interleaved, so both see the same machine
    local t0 = monotonic()
    for _ = 1, n do c:resume(stream) end
    mine = math.max(mine, n / (monotonic() - t0))
    theirs = math.max(theirs, curl_rate(n))
  end
  out("seq_resume_per_second", mine)
  out("seq_curl_per_second", theirs)
  out("seq_ratio", mine / theirs, "%.3f")
end

-- 16 in flight: resume_many against a plain curl multi loop.
do
  local c = client { method = "GET" }
  local n = 20000
  local list = {}
  for i = 1, n do list[i] = stream end
  c:resume_many({ stream }, { concurrency = 16 })
  local mine, theirs = 0, 0
  for _ = 1, 3 do
    local t0 = monotonic()
    local _, summary = c:resume_many(list, { concurrency = 16 })
    assert(summary.ok == n, "resume_many failed")
    mine = math.max(mine, n / (monotonic() - t0))
    theirs = math.max(theirs, curl_rate(n, 16))
  end
  out("inflight16_resume_per_second", mine)
  out("inflight16_curl_per_second", theirs)
  out("inflight16_ratio", mine / theirs, "%.3f")
end

-- Resident memory after 1,000 and after 100,000 sequential calls.
do
  local function rss_kib()
    local f = assert(io.open("/proc/self/statm"))
    local pages = tonumber(f:read("*a"):match("^%d+%s+(%d+)"))
    f:close()
    return pages * 4
  end
  local c = client { method = "GET" }
  for _ = 1, 1000 do assert(c:resume(stream)) end
  collectgarbage()
  local a = rss_kib()
  for _ = 1, 99000 do c:resume(stream) end
  collectgarbage()
  local b = rss_kib()
  out("rss_kib_after_1000_calls", a)
  out("rss_kib_after_100000_calls", b)
  out("rss_growth_kib", b - a)
end
