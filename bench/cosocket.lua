-- Inside nginx (OpenResty's Lua module on its LuaJIT, the core built in build/luajit):
-- sequential resumes per second through the cosocket transport and through the libcurl
-- transport (which blocks its worker: fine for a benchmark, not for a server), limiter
-- and retries off, against the fixed-body server FIXED_URL. One private nginx with one
-- worker (spec/nginx.lua), one client per transport kept across requests, rounds
-- alternating; the ratio is the median of the rounds' ratios.
local nginx = require "nginx"

local fixed = assert(os.getenv("FIXED_URL"))
local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS") or "11")
local N = tonumber(os.getenv("BENCH_CALLS") or "4000")
local function out(name, value, fmt)
  print(("%s: " .. (fmt or "%.0f")):format(name, value))
end

local srv = nginx.start { workers = 1, log_level = "warn", env = { FIXED_URL = fixed },
  locations = [[
    location = /bench {
      content_by_lua_block {
        local live = require "aliyun.live"
        local core = require "aliyun.live.core"
        local t, n = ngx.var.arg_t, tonumber(ngx.var.arg_n)
        local clients = package.loaded["bench.clients"] or {}
        package.loaded["bench.clients"] = clients
        local c = clients[t]
        if not c then
          c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                         endpoint = os.getenv("FIXED_URL"), limiter = false, retry = false,
                         transport = t }
          clients[t] = c
        end
        local stream = { domain = "demo.aliyundoc.com", app = "liveApp", stream = "room42" }
        local t0 = core.monotonic()
        for _ = 1, n do
          local res, err = c:resume(stream)
          if not res then ngx.say("error: ", tostring(err)) return end
        end
        ngx.say(("rate %.0f"):format(n / (core.monotonic() - t0)))
      }
    }
  ]] }

local function rate(t, n)
  local status, body = srv:get(("/bench?t=%s&n=%d"):format(t, n), "--max-time 600")
  local r = status == 200 and body and body:match("rate (%d+)")
  if not r then
    srv:stop()
    error(("nginx /bench?t=%s: %s %s\n%s"):format(t, tostring(status), tostring(body),
      srv:error_log()))
  end
  return tonumber(r)
end

local stats = require "stats"
local median = stats.median

rate("ngx", 1000)
rate("curl", 1000)
local cos, cur, ratios = {}, {}, {}
for r = 1, ROUNDS do
  cos[r], cur[r] = rate("ngx", N), rate("curl", N)
  ratios[r] = cos[r] / cur[r]
end
srv:stop()
out("cosocket_resume_per_second", median(cos))
out("cosocket_curl_resume_per_second", median(cur))
out("cosocket_vs_curl_ratio", median(ratios), "%.3f")
table.sort(ratios)   -- how noisy: the middle half of the rounds
print(("cosocket_vs_curl_ratio_q1_q3: %.3f..%.3f"):format(stats.quartiles(ratios)))
