-- Cost of one limiter decision per store: prints `limiter_<store>_ns: <ns>` lines.
-- Redis is measured against REDIS_URL when that is set (a round trip per decision).
--   LUA_CPATH="build/lua5.4/?.so;;" lua5.4 bench/limiter.lua
local core = require "aliyun.live.core"

local monotonic = core.monotonic

-- ns per take() on `store`: slots 1 ns apart, so that every decision is a grant and
-- writes the state (the expensive path), the best of `rounds` rounds of `n` calls.
-- take(key, interval, tau, count, window, reserve), as throttle.lua calls it.
local T = 1e-9
local function measure(store, n, rounds)
  local lim = assert(core.limiter(store))
  local key = ("bench/%d"):format(math.random(1e9))
  for _ = 1, math.min(n, 1000) do assert(lim:take(key, T, 1, 1, T, false)) end   -- warm up
  local best = math.huge
  for _ = 1, rounds do
    local t0 = monotonic()
    for _ = 1, n do lim:take(key, T, 1, 1, T, false) end
    best = math.min(best, (monotonic() - t0) / n * 1e9)
  end
  lim:reset(key)
  lim:close()
  return best
end

math.randomseed(os.time())
local shm_name = ("bench%d"):format(math.random(1e9))

local results = {
  { "local", measure("local", 200000, 5) },
  { "process", measure("process", 200000, 5) },
  { "shm", measure("shm:" .. shm_name, 200000, 5) },
}
os.remove("/dev/shm/aliyun-live-" .. shm_name)

local url = os.getenv("REDIS_URL")
if url and url ~= "" then
  results[#results + 1] = { "redis", measure(url, 5000, 3) }
end

for _, r in ipairs(results) do
  print(("limiter_%s_ns: %.0f"):format(r[1], r[2]))
end
