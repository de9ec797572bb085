-- Client overhead against a fixed-body keep-alive server (FIXED_URL), each figure next
-- to its plain-libcurl baseline (CURL_LOOP) measured in the same run: resident memory
-- after 1,000 and 100,000 calls (first, in a fresh heap); presign cost through Lua;
-- sequential resume with the default method (POST, parameters in a form body) and with
-- GET; 16 in flight with resume_many. The baseline sends what the client sends — the
-- same method, header lines, user agent, and a body or URL of the same length, signed
-- once by the client's own signer — so the ratios compare the same bytes on the wire.
-- Rounds alternate between the client and the baseline; each ratio is the median of the
-- rounds' ratios, so a noisy moment hits both sides of one round rather than one side of
-- the figure. CPU per call is user + sys of each process over its round (os.clock here:
-- CLOCK_PROCESS_CPUTIME_ID; getrusage in curl_loop).
local live = require "aliyun.live"
local core = require "aliyun.live.core"

local base, curl_loop = assert(os.getenv("FIXED_URL")), assert(os.getenv("CURL_LOOP"))
local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS") or "15")
local N = tonumber(os.getenv("BENCH_CALLS") or "4000")
local monotonic, clock = core.monotonic, os.clock
local function out(name, value, fmt)
  print(("%s: " .. (fmt or "%.0f")):format(name, value))
end

-- The public API with its defaults, limiter and retries off (the server is not the API).
local function client(extra)
  local opts = { access_key_id = "testid", access_key_secret = "testsecret", endpoint = base,
                 limiter = false, retry = false }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return live.new(opts)
end
local stream = { domain = "demo.aliyundoc.com", app = "liveApp", stream = "room42" }
local params = { AppName = "liveApp", DomainName = "demo.aliyundoc.com",
                 LiveStreamType = "publisher", StreamName = "room42" }

local median = require("stats").median

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

------------------------------------------------------------- the baselines --

local function sh(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- curl_loop's arguments for sending what client c sends: one request signed by c's
-- signer (so the same header lines, and a body or URL of the same length as every call's).
local function wire_args(c, cfg)
  local method, url, headers, body = c.signer:sign("ResumeLiveStream", params, "testid",
    "testsecret")
  local a = { "-X", method, "-A", sh(cfg.user_agent), "-H", sh("Expect:") }
  for k, v in pairs(headers) do a[#a + 1] = "-H"; a[#a + 1] = sh(k .. ": " .. v) end
  if method ~= "GET" then a[#a + 1] = "-d"; a[#a + 1] = sh(body) end
  a[#a + 1] = sh(url)
  return table.concat(a, " ")
end

-- One run of the baseline → calls/s, CPU µs per call.
local function curl_run(args, n, k, wait)
  local cmd = ("%s -k %d -w %s %s %d"):format(curl_loop, k or 1, wait or "poll", args, n)
  local p = assert(io.popen(cmd))
  local text = p:read("*a")
  p:close()
  local rate, cpu = text:match("calls_per_second: (%d+)"), text:match("cpu_us_per_call: ([%d.]+)")
  assert(rate and cpu, "curl_loop failed: " .. text)
  return tonumber(rate), tonumber(cpu)
end

local quartiles = require("stats").quartiles

-- Alternating rounds of `sides` (name → function() → calls/s, CPU µs per call); prints
-- each side's median rate and CPU, and the medians of the per-round ratios asked for.
local function compare(prefix, sides, ratios)
  local rate, cpu = {}, {}
  for _, s in ipairs(sides) do rate[s[1]], cpu[s[1]] = {}, {} end
  for r = 1, ROUNDS do
    for _, s in ipairs(sides) do rate[s[1]][r], cpu[s[1]][r] = s[2]() end
  end
  for _, s in ipairs(sides) do
    out(prefix .. "_" .. s[1] .. "_per_second", median(rate[s[1]]))
    out(prefix .. "_" .. s[1] .. "_cpu_us_per_call", median(cpu[s[1]]), "%.1f")
  end
  for _, q in ipairs(ratios) do
    local name, a, b, kind = q[1], q[2], q[3], q[4]
    local per = {}
    for r = 1, ROUNDS do
      per[r] = kind == "cpu" and cpu[a][r] - cpu[b][r] or rate[a][r] / rate[b][r]
    end
    out(name, median(per), kind == "cpu" and "%.1f" or "%.3f")
    table.sort(per)   -- how noisy: the middle half of the rounds
    local f = kind == "cpu" and "%.1f" or "%.3f"
    print(("%s_q1_q3: " .. f .. ".." .. f):format(name, quartiles(per)))
  end
end

-- A sequential round of client c: calls/s and CPU µs per call.
local function seq_round(c, n)
  return function()
    local t0, c0 = monotonic(), clock()
    for _ = 1, n do c:resume(stream) end
    local cpu = clock() - c0
    return n / (monotonic() - t0), cpu * 1e6 / n
  end
end

-- Sequential, the default method (POST with a form body) and GET (a signed URL per call),
-- each against its baseline, the four sides alternating: also how GET compares with POST
-- in our client and in plain libcurl.
do
  local post, get = client(), client { method = "GET" }
  for _ = 1, 1000 do assert(post:resume(stream)); assert(get:resume(stream)) end
  local post_args, get_args = wire_args(post, post), wire_args(get, get)
  compare("seq", {
    { "resume", seq_round(post, N) },
    { "curl", function() return curl_run(post_args, N) end },
    { "get_resume", seq_round(get, N) },
    { "get_curl", function() return curl_run(get_args, N) end },
  }, {
    { "seq_ratio", "resume", "curl" },
    { "cpu_us_per_call_over_curl", "resume", "curl", "cpu" },
    { "seq_get_ratio", "get_resume", "get_curl" },
    { "cpu_us_per_call_over_curl_get", "get_resume", "get_curl", "cpu" },
    { "seq_get_vs_post_resume", "get_resume", "resume" },
    { "seq_get_vs_post_curl", "get_curl", "curl" },
  })
  post:close()
  get:close()
end

-- 16 in flight: resume_many against plain curl-multi (curl_multi_perform +
-- curl_multi_poll, the usual loop) and against the socket_action loop our driver uses.
do
  local c = client()
  local list = {}
  for i = 1, N do list[i] = stream end
  c:resume_many(list, { concurrency = 16 })
  local args = wire_args(c, c)
  compare("inflight16", {
    { "resume", function()
      local t0, c0 = monotonic(), clock()
      local _, summary = c:resume_many(list, { concurrency = 16 })
      local cpu = clock() - c0
      assert(summary.ok == N, "resume_many failed")
      return N / (monotonic() - t0), cpu * 1e6 / N
    end },
    { "curl", function() return curl_run(args, N, 16, "poll") end },
    { "curl_socket", function() return curl_run(args, N, 16, "socket") end },
  }, {
    { "inflight16_ratio", "resume", "curl" },
    { "inflight16_socket_ratio", "resume", "curl_socket" },
    { "inflight16_cpu_us_per_call_over_curl", "resume", "curl", "cpu" },
  })
  c:close()
end
