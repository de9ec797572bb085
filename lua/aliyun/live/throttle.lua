--[[
aliyun.live.throttle — the client-side rate limiter (re-exported as `live.limiter`).

    local throttle = require "aliyun.live.throttle"
    local lim = throttle.limiter{ rate = 30, store = "shm:myapp" }
    local ok, err  = lim:acquire("LTAI…/ResumeLiveStream")       -- waits for a slot
    local ok, wait = lim:try("LTAI…/ResumeLiveStream")           -- true | false, seconds
    local wait, err = lim:reserve("LTAI…/ResumeLiveStream")      -- slot taken, send in `wait` s

The Live API allows 30 calls per second per account and operation; one key
("AccessKeyId/Action", built by the client) stands for one such quota. The algorithm is
GCRA (src/limiter.c): one "theoretical arrival time" per key, exact spacing, `burst` as
a separate knob. acquire() *reserves* the next slot and sleeps until it, so concurrent
callers are spaced exactly without retry loops; try() never waits.

Options (unknown names raise; a wrong type raises naming the option):
  rate        requests per second per key (30)
  burst       slots that may go back to back after an idle period (1)
  store       where the state lives (all sharing one store share each key's quota):
                "local"            this limiter object only (default)
                "process"          every lua_State and thread of the process
                "shm:NAME"         every process of the host (/dev/shm/aliyun-live-NAME)
                "redis://[USER:PASSWORD@]HOST[:PORT][/DB]"  a fleet; the server's clock
  guard       seconds of delivery jitter to absorb (0.010). Slots are spaced
              (1 + guard) / rate apart instead of 1 / rate: a 1-second window of
              *arrivals* at the server then maps to at most 1 + guard seconds of
              *grants*, which hold at most `rate` slots, so a request delayed by up to
              `guard` after its slot (scheduling, network) still cannot make the server
              see more than `rate` in any 1-second window. Utilization stays
              1 / (1 + guard) (0.990 by default). With burst > 1 a window may hold
              burst - 1 more, as asked.
  fail_open   when the store fails (Redis down…), decide with a local limiter of the
              same rate instead of failing; the first failure is reported once through
              on_warning (or io.stderr), and the store is tried again after 1 second
              (false: acquire/try return nil, err with code SDK.LimiterUnavailable)
  on_warning  function(message) for that warning
  sleep       function(seconds) used by acquire (core.sleep; OpenResty: ngx.sleep)
  clock       function() → seconds, replacing the clock of a "local" store (tests); any
              other store raises (a shared table keeps the store's one clock)
  adaptive    follow feedback() (true)
  timeout     Redis connect and command timeout in seconds (1)
  slots       shm table size in keys when the store is created (4096)

Adaptive rate (AIMD, per key, kept in this limiter object — not in the store):
  feedback(key, "throttled")  halves the key's rate, but not below min(1, rate) per
                              second. Several throttles within one slot interval at
                              the current rate (1 / rate seconds, as measured by the
                              clock) count as one: they answer requests that were sent
                              before the cut, at the old rate.
  feedback(key, "ok")         adds 1 / current_rate to the key's rate, i.e. +1 request/s
                              for every second's worth of successful requests (TCP's
                              congestion avoidance), up to the configured rate; a key
                              back at full rate is forgotten, so the table only holds
                              keys that are slowed down.
  rate(key)                   the key's current rate.
All sharers of a store use the rate their own limiter object computed for the key; a
cut therefore spaces this object's requests further apart, others follow their own
feedback.

Errors (the second return value) are tables made by core.error: `code` is
SDK.LimiterUnavailable (the store failed, fail_open off) or SDK.LimiterTimeout (the slot
is further away than acquire's max_wait; nothing was reserved).
]]

local core = require "aliyun.live.core"

local type, pairs, tostring, error, setmetatable = type, pairs, tostring, error, setmetatable
local floor, max, min = math.floor, math.max, math.min
local io = io

local core_limiter, core_error, core_sleep, monotonic =
  core.limiter, core.error, core.sleep, core.monotonic

local _M = { _VERSION = "0.1.0" }

local Limiter = {}
local mt = { __index = Limiter }

local DECREASE = 0.5          -- multiplicative decrease on "throttled"
local STORE_RETRY = 1.0       -- seconds on the local fallback before retrying the store

local OPTION_TYPES = {
  rate = "number", burst = "number", store = "string", guard = "number",
  fail_open = "boolean", on_warning = "function", sleep = "function",
  clock = "function", adaptive = "boolean", timeout = "number", slots = "number",
}

local function check_store(s)
  return s == "local" or s == "process" or s:sub(1, 4) == "shm:" or s:sub(1, 8) == "redis://"
end

local function warn(self, message)
  if self.warned then return end
  self.warned = true
  message = "aliyun.live limiter: " .. message
  if self.on_warning then
    self.on_warning(message)
  else
    io.stderr:write(message, "\n")
  end
end

--- throttle.limiter(opts) → limiter | nil, err
-- Raises on bad options. Returns nil, err (SDK.LimiterUnavailable) when the store cannot
-- be opened and fail_open is off; Redis is only reached at the first decision.
function _M.limiter(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then error("limiter options must be a table", 2) end
  for k, v in pairs(opts) do
    local want = OPTION_TYPES[k]
    if not want then error(("unknown limiter option '%s'"):format(tostring(k)), 2) end
    if type(v) ~= want then error(("limiter option '%s' must be a %s"):format(k, want), 2) end
  end
  local rate, burst, guard = opts.rate or 30, opts.burst or 1, opts.guard or 0.010
  if not (rate >= 1e-6 and rate <= 1e9) then
    error("limiter option 'rate' must be between 1e-6 and 1e9 (per second)", 2)
  end
  if not (burst >= 1 and burst <= 1e6) then
    error("limiter option 'burst' must be between 1 and 1e6", 2)
  end
  if not (guard >= 0 and guard <= 1) then
    error("limiter option 'guard' must be between 0 and 1 (seconds)", 2)
  end
  if opts.timeout ~= nil and not (opts.timeout > 0 and opts.timeout <= 3600) then
    error("limiter option 'timeout' must be between 0 and 3600 (seconds)", 2)
  end
  if opts.slots ~= nil and not (opts.slots >= 8 and opts.slots <= 1048576
                                and opts.slots == floor(opts.slots)) then
    error("limiter option 'slots' must be an integer between 8 and 1048576", 2)
  end
  local store = opts.store or "local"
  if not check_store(store) then
    error("limiter option 'store' must be \"local\", \"process\", \"shm:NAME\" or "
          .. "\"redis://HOST:PORT[/DB]\"", 2)
  end
  if opts.clock ~= nil and store ~= "local" then
    error("limiter option 'clock' is only for store = \"local\" (a shared store keeps "
          .. "its own clock)", 2)
  end

  local self = setmetatable({
    rate_max = rate,
    burst = burst,
    guard = guard,
    floor = min(1, rate),
    fail_open = opts.fail_open == true,
    on_warning = opts.on_warning,
    sleep = opts.sleep or core_sleep,
    clock = opts.clock,
    adaptive = opts.adaptive ~= false,
    keys = {},            -- key → { rate =, cut_at = } for keys below rate_max
  }, mt)

  local handle, err = core_limiter(store, { timeout = opts.timeout, slots = opts.slots })
  if handle then
    self.store = handle
    self.store_name = tostring(handle):match("%((.*)%)$")
  elseif not self.fail_open then
    return nil, core_error("SDK.LimiterUnavailable", "rate limiter store: " .. err)
  else
    warn(self, "store unavailable, limiting locally: " .. err)
    self.store_name = store:match("^[^:]*")   -- never a URL: it may hold a password
  end
  return self
end

local function now_of(self)
  local clock = self.clock
  if clock then return clock() end
  return monotonic()
end

-- One decision at `rate` (before the guard), from the store or, when it fails and
-- fail_open is on, from the local fallback. GCRA spaces slots T = (1 + guard) / rate
-- apart with tolerance tau = (burst - 1)·T (send-time tries: at least ASYNC_TAU), and
-- the window log allows N = min(64, max(1, floor(rate))) grants in any W = N·T.
-- Returns wait (seconds), plus false when the wait passes max_wait (nothing taken);
-- nil, err (an error table) when the store failed.
local ASYNC_TAU = 0.05
local function take(self, key, rate, reserve, max_wait)
  local now = self.clock and self.clock() or nil
  local T = (1 + self.guard) / rate
  local tau = (self.burst - 1) * T
  if not reserve and tau < ASYNC_TAU then tau = ASYNC_TAU end
  if tau > 1e9 then tau = 1e9 end   -- the store's bound (~31 years)
  local N = min(64, max(1, floor(rate)))
  local W = N * T
  local store = self.store
  local wait, outcome
  if store and not (self.retry_at and now_of(self) < self.retry_at) then
    wait, outcome = store:take(key, T, tau, N, W, reserve, max_wait, now)
    if wait then
      self.retry_at = nil
      if outcome == "too_long" then return wait, false end
      return wait
    end
    if not self.fail_open then
      return nil, core_error("SDK.LimiterUnavailable", "rate limiter store: " .. outcome)
    end
    warn(self, "store failed, limiting locally: " .. outcome)
    self.retry_at = now_of(self) + STORE_RETRY
  end
  local fallback = self.fallback
  if not fallback then
    fallback = core_limiter("local")
    self.fallback = fallback
  end
  wait, outcome = fallback:take(key, T, tau, N, W, reserve, max_wait, now)
  if not wait then return nil, core_error("SDK.LimiterUnavailable", "rate limiter: " .. outcome) end
  if outcome == "too_long" then return wait, false end
  return wait
end

local function check_key(key)
  if type(key) ~= "string" then error("limiter key must be a string", 3) end
end

--- limiter:rate(key) → the key's current rate (per second, before the guard).
function Limiter:rate(key)
  local st = self.keys[key]
  return st and st.rate or self.rate_max
end

--- limiter:acquire(key [, max_wait]) → true | nil, err
-- Reserves the key's next slot and sleeps until it. With max_wait (seconds), a slot
-- further away than that is not reserved: nil, err with code SDK.LimiterTimeout.
function Limiter:acquire(key, max_wait)
  check_key(key)
  if max_wait ~= nil and not (type(max_wait) == "number" and max_wait >= 0) then
    error("max_wait must be a number >= 0", 2)
  end
  local wait, flag = take(self, key, self:rate(key), true, max_wait)
  if not wait then return nil, flag end
  if flag == false then
    return nil, core_error("SDK.LimiterTimeout",
      ("rate limiter: the next slot for %s is %.3f s away, over max_wait %.3f s")
      :format(key, wait, max_wait))
  end
  if wait > 0 then self.sleep(wait) end
  return true
end

--- limiter:reserve(key) → seconds | nil, err
-- Reserves the key's next slot without waiting and says how far away it is: the caller
-- must not send before then. For callers that wait in their own loop (client:poll).
function Limiter:reserve(key)
  check_key(key)
  local wait, err = take(self, key, self:rate(key), true)
  if not wait then return nil, err end
  return wait
end

--- limiter:try(key) → true | false, seconds_to_wait | nil, err
function Limiter:try(key)
  check_key(key)
  local wait, err = take(self, key, self:rate(key), false)
  if not wait then return nil, err end
  if wait > 0 then return false, wait end
  return true
end

--- limiter:feedback(key, "throttled" | "ok") → the key's rate afterwards
function Limiter:feedback(key, what)
  check_key(key)
  if what ~= "throttled" and what ~= "ok" then
    error("feedback must be \"throttled\" or \"ok\"", 2)
  end
  if not self.adaptive then return self.rate_max end
  local keys = self.keys
  local st = keys[key]
  if what == "throttled" then
    local now = now_of(self)
    local r = st and st.rate or self.rate_max
    if st and now - st.cut_at < 1 / r then return r end
    r = max(r * DECREASE, self.floor)
    if not st then
      st = {}
      keys[key] = st
    end
    st.rate, st.cut_at = r, now
    return r
  end
  if not st then return self.rate_max end
  local r = st.rate + 1 / st.rate
  if r >= self.rate_max then
    keys[key] = nil
    return self.rate_max
  end
  st.rate = r
  return r
end

--- limiter:reset(key) → true | nil, err — forget the key's slots and adaptive rate.
function Limiter:reset(key)
  check_key(key)
  self.keys[key] = nil
  if self.fallback then self.fallback:reset(key) end
  if not self.store then return true end
  local ok, err = self.store:reset(key)
  if not ok then return nil, core_error("SDK.LimiterUnavailable", "rate limiter store: " .. err) end
  return true
end

--- limiter:close() — release the store (idempotent; the object is unusable after).
function Limiter:close()
  if self.store then self.store:close() end
  if self.fallback then self.fallback:close() end
end

function mt.__tostring(self)
  return ("aliyun.live.limiter (%s, %g/s)"):format(self.store_name or "?", self.rate_max)
end

return _M
