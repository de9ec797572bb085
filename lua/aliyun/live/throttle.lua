--[[--
aliyun.live.throttle — the client-side rate limiter (re-exported as `live.limiter`).

    local lim = live.limiter{ rate = 30, store = "shm:myapp" }
    local wait, err = lim:reserve(key)    -- a slot is taken; send in `wait` seconds
    local ok, wait  = lim:try(key)        -- true | false, seconds (nothing taken)
    local ok, err   = lim:acquire(key)    -- reserve, then wait with the limiter's sleeper

The Live API allows 30 calls per second per account and operation; a key ("<account>/
<Action>", built by the client) stands for one such quota. A limiter never sleeps on
its own: it says how long to wait, and the caller's runtime waits (nanosleep, ngx.sleep,
or the host's frame loop). Every store makes the same decision (src/limiter/): GCRA
spaces slots (1 + guard)/rate apart, and a log of the last grants keeps any window of
(1 + guard) s to the quota even when requests leave late (an async host that polls at
30 fps sends up to a frame after its slot).

Options (unknown names raise; a wrong type or range raises naming the option):
  rate        requests per second per key (30)
  burst       slots that may go back to back after an idle period (1)
  store       where the state lives (all sharing one store share each key's quota):
                "local"            this limiter object only (default)
                "process"          every lua_State and thread of the process
                "shm:NAME"         every process of the host (/dev/shm/aliyun-live-NAME)
                "redis://[USER:PASSWORD@]HOST[:PORT][/DB]"  a fleet; the server's clock
                                   (asked without blocking by async requests, and
                                   over cosockets inside nginx)
                "ngx:DICT"         every nginx worker (ngx.shared.DICT; inside nginx)
  guard       seconds of delivery jitter to absorb (0.010); utilization 1/(1 + guard)
  fail_open   when the store fails (Redis down…), decide with a local limiter of the
              same rate for a second, then try the store again; the first failure is
              reported once through on_warning (or io.stderr). Otherwise calls fail
              with SDK.LimiterUnavailable.
  on_warning  function(message) for that warning
  sleep       function(seconds) that acquire waits with (default: ngx.sleep inside
              nginx, else a nanosecond sleep)
  clock       function() → seconds, replacing the store's clock ("local" store only:
              an injected clock must never feed a shared table)
  adaptive    follow feedback() (true)
  timeout     Redis connect and command timeout in seconds (1); an async request's
              decision fails at this deadline
  slots       shm table size in keys when the store is created (4096)
  lock_timeout  shm: the longest wait for a holder of the lock (2 s; a stopped process
              holding it then gives SDK.LimiterUnavailable instead of a hang)

Adaptive rate (AIMD, per key, kept in this object): feedback(key, "throttled") cuts
the key's rate by 15 % (throttles within a second of a cut count as one: they answer
requests sent before it), feedback(key, "ok") adds 0.5 request/s per second of
successes, up to `rate` — so a quota shared with tools we do not control is mostly
used, with few throttled answers.
@module aliyun.live.throttle
]]
local core = require "aliyun.live.core"
local errors = require "aliyun.live.errors"

local type, pairs, tostring, setmetatable, format = type, pairs, tostring, setmetatable,
  string.format
local floor, max, min = math.floor, math.max, math.min
local monotonic = core.monotonic
local raise = errors.raise
local answers = require "aliyun.live.throttle.store_answers"
local checked, take_async = answers.checked, answers.take_async

local _M = { _VERSION = "0.2.0" }

local Limiter = {}
local mt = { __index = Limiter, __name = "aliyun.live.Limiter" }

local DECREASE = 0.85         -- multiplicative decrease on "throttled"
local INCREASE = 0.5          -- requests/s added per second of successes
local HOLD = 1.0              -- seconds after a cut during which throttles count as one
local STORE_RETRY = 1.0       -- seconds on the local fallback before retrying the store
local SEND_TOLERANCE = 0.05   -- s: how early a send-time try may take its slot
local MAX_WINDOW = 64         -- grants a store logs per key

local TYPES = {
  rate = "number", burst = "number", store = "string", guard = "number",
  fail_open = "boolean", on_warning = "function", sleep = "function",
  clock = "function", adaptive = "boolean", timeout = "number", slots = "number",
  lock_timeout = "number",
}

local function unavailable(msg)
  return errors.new("SDK.LimiterUnavailable", "rate limiter: " .. msg)
end

local function warn(self, message)
  if self.warned then return end
  self.warned = true
  message = "aliyun.live limiter: " .. message
  if self.on_warning then pcall(self.on_warning, message) else io.stderr:write(message, "\n") end
end

local function default_sleep()
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.sleep) == "function" then return ngx.sleep end
  return core.sleep
end

-- The store handle for `spec`: a C store, ngx.shared inside nginx, and inside nginx
-- Redis over cosockets (hiredis would block the worker).
local function open_store(spec, opts)
  if spec:sub(1, 4) == "ngx:" then
    local ok, ngx_store = pcall(require, "aliyun.live.ngx.store")
    if not ok then return nil, "the ngx: store needs nginx's Lua module" end
    return ngx_store.new(spec:sub(5))
  end
  if spec:sub(1, 8) == "redis://" and require("aliyun.live.options").in_nginx() then
    return require("aliyun.live.ngx.redis").new(spec, { timeout = opts.timeout })
  end
  return core.limiter(spec, { timeout = opts.timeout, slots = opts.slots,
                              lock_timeout = opts.lock_timeout })
end

--- throttle.limiter(opts) → limiter | nil, err
-- Raises on bad options. Returns nil, err (SDK.LimiterUnavailable) when the store cannot
-- be opened and fail_open is off; Redis is only reached at the first decision.
function _M.limiter(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then raise("limiter", "options must be a table") end
  for k, v in pairs(opts) do
    local want = TYPES[k]
    if not want then raise("limiter", format("unknown option '%s'", tostring(k))) end
    if type(v) ~= want then raise("limiter", format("option '%s' must be a %s", k, want)) end
  end
  local rate, burst, guard = opts.rate or 30, opts.burst or 1, opts.guard or 0.010
  if not (rate >= 1e-6 and rate <= 1e9) then
    raise("limiter", "option 'rate' must be between 1e-6 and 1e9 (per second)")
  end
  if not (burst >= 1 and burst <= 1e6) then raise("limiter", "option 'burst' must be between 1 and 1e6") end
  if not (guard >= 0 and guard <= 1) then raise("limiter", "option 'guard' must be between 0 and 1 (seconds)") end
  if opts.timeout ~= nil and not (opts.timeout > 0 and opts.timeout <= 3600) then
    raise("limiter", "option 'timeout' must be between 0 and 3600 (seconds)")
  end
  if opts.lock_timeout ~= nil and not (opts.lock_timeout > 0 and opts.lock_timeout <= 3600) then
    raise("limiter", "option 'lock_timeout' must be between 0 and 3600 (seconds)")
  end
  if opts.slots ~= nil and not (opts.slots >= 8 and opts.slots <= 1048576 and opts.slots % 1 == 0) then
    raise("limiter", "option 'slots' must be an integer between 8 and 1048576")
  end
  local store = opts.store or "local"
  if store:find("%z") or not (store == "local" or store == "process" or store:sub(1, 4) == "shm:"
      or store:sub(1, 8) == "redis://" or store:sub(1, 4) == "ngx:") then
    raise("limiter", "option 'store' must be \"local\", \"process\", \"shm:NAME\", "
      .. "\"redis://HOST:PORT[/DB]\" or \"ngx:DICT\"")
  end
  if opts.clock and store ~= "local" then
    raise("limiter", "option 'clock' works only with store \"local\" (a shared store keeps one time base)")
  end

  local self = setmetatable({
    rate_max = rate, burst = burst, guard = guard, floor = min(1, rate),
    fail_open = opts.fail_open == true, on_warning = opts.on_warning,
    sleep = opts.sleep or default_sleep(), clock = opts.clock,
    adaptive = opts.adaptive ~= false,
    keys = {},            -- key → { rate =, cut_at = } for keys below rate_max
  }, mt)
  -- A malformed store (the core raises on it) is the caller's mistake, named as such.
  local opened, handle, err = pcall(open_store, store, opts)
  if not opened then
    raise("limiter", "option 'store': " .. tostring(handle):gsub("^[^\n]-:%d+: ", ""))
  end
  if handle then
    self.store = handle
    self.async = type(handle.is_async) == "function" and handle:is_async() or nil
    self.store_name = tostring(handle):match("%((.*)%)$") or store:match("^[^:]*")
  elseif not self.fail_open then
    return nil, unavailable("store: " .. tostring(err))
  else
    warn(self, "store unavailable, limiting locally: " .. tostring(err))
    self.store_name = store:match("^[^:]*")   -- never a URL: it may hold a password
  end
  return self
end

-- The limiter's time: its own clock's (checked: a clock answering nonsense is a bug of
-- the caller's, named) or the monotonic one.
local function now_of(self)
  local clock = self.clock
  if not clock then return monotonic() end
  local t = clock()
  if type(t) ~= "number" or not (t > -1e9 and t < 1e9) then
    raise("limiter", format("option 'clock' returned %s, not seconds (a finite number "
      .. "between -1e9 and 1e9)", type(t) == "number" and tostring(t) or "a " .. type(t)))
  end
  return t
end

-- One decision at `rate` from the store or, when it fails and fail_open is on, from
-- the local fallback. rt: the caller's runtime, when it can wait for an answer
-- (rt.decide) and the request leaves as soon as it is granted. → wait, outcome | nil, err
local function take(self, key, rate, reserve, tau, max_wait, rt)
  if self.closed then return nil, unavailable("the limiter is closed") end
  local T = (1 + self.guard) / rate
  local N = min(MAX_WINDOW, max(1, floor(rate)))
  tau = max(tau or 0, (self.burst - 1) * T)
  local now = self.clock and now_of(self) or nil
  local store = self.store
  if store and not (self.retry_at and now_of(self) < self.retry_at) then
    local wait, outcome
    if rt and rt.decide and self.async and not reserve then
      wait, outcome = take_async(self, store, key, T, tau, N, max_wait, rt)
    else
      wait, outcome = checked(store:take(key, T, tau, N, N * T, reserve, max_wait, now))
    end
    if wait and not reserve and outcome == "granted" and wait ~= 0 then
      wait, outcome = nil, "nonsense reply from the store"
    end
    if wait then
      self.retry_at = nil
      return wait, outcome
    end
    if not self.fail_open then return nil, unavailable("store: " .. outcome) end
    warn(self, "store failed, limiting locally: " .. outcome)
    self.retry_at = now_of(self) + STORE_RETRY
  end
  local fallback = self.fallback
  if not fallback then
    fallback = core.limiter("local")
    self.fallback = fallback
  end
  return checked(fallback:take(key, T, tau, N, N * T, reserve, max_wait, now))
end

local function check_key(fn, key)
  if type(key) ~= "string" or key == "" or #key > 128 then
    raise(fn, "limiter key must be a string of 1 to 128 bytes")
  end
end

--- limiter:rate(key) → the key's current rate (per second, before the guard).
function Limiter:rate(key)
  local st = self.keys[key]
  return st and st.rate or self.rate_max
end

--- limiter:reserve(key) → seconds | nil, err — takes the key's next slot without
-- waiting and says how far away it is: the caller must not send before then.
function Limiter:reserve(key)
  check_key("limiter:reserve", key)
  local wait, err = take(self, key, self:rate(key), true)
  if not wait then return nil, err end
  return wait
end

--- limiter:try(key) → true | false, seconds_to_wait | nil, err — nothing is taken
-- unless the slot is free now.
function Limiter:try(key)
  check_key("limiter:try", key)
  local wait, outcome = take(self, key, self:rate(key), false)
  if not wait then return nil, outcome end
  if outcome ~= "granted" then return false, wait end
  return true
end

--- limiter:try_send(key [, rt]) → as try, for a request that leaves the moment it is
-- granted (the async scheduler): it may take its slot a little early, so a host that
-- polls at frame rate keeps a smooth pace; the window log keeps the quota exact. With
-- the runtime rt of an async scheduler (rt.decide), a Redis store is asked without
-- blocking: the request waits for the answer as it waits for a transfer.
function Limiter:try_send(key, rt)
  check_key("limiter:try_send", key)
  local wait, outcome = take(self, key, self:rate(key), false, SEND_TOLERANCE, nil, rt)
  if not wait then return nil, outcome end
  if outcome ~= "granted" then return false, wait end
  return true
end

--- limiter:acquire(key [, max_wait]) → true | nil, err — reserves the key's next slot
-- and waits for it with the limiter's sleeper. With max_wait (seconds), a slot further
-- away than that is not reserved: nil, err with code SDK.LimiterTimeout.
function Limiter:acquire(key, max_wait)
  check_key("limiter:acquire", key)
  if max_wait ~= nil and not (type(max_wait) == "number" and max_wait >= 0 and max_wait < 1e9) then
    raise("limiter:acquire", "max_wait must be a number of seconds >= 0")
  end
  local wait, outcome = take(self, key, self:rate(key), true, nil, max_wait)
  if not wait then return nil, outcome end
  if outcome == "too_long" then
    return nil, errors.new("SDK.LimiterTimeout", format("rate limiter: the next slot for %s "
      .. "is %.3f s away, over max_wait %.3f s", key, wait, max_wait))
  end
  if wait > 0 then self.sleep(wait) end
  return true
end

--- limiter:feedback(key, "throttled" | "ok") → the key's rate afterwards
function Limiter:feedback(key, what)
  check_key("limiter:feedback", key)
  if what ~= "throttled" and what ~= "ok" then
    raise("limiter:feedback", "what must be \"throttled\" or \"ok\"")
  end
  if not self.adaptive then return self.rate_max end
  local keys = self.keys
  local st = keys[key]
  if what == "throttled" then
    local now = now_of(self)
    local r = st and st.rate or self.rate_max
    if st and now - st.cut_at < HOLD then return r end
    r = max(r * DECREASE, self.floor)
    if not st then
      st = {}
      keys[key] = st
    end
    st.rate, st.cut_at = r, now
    return r
  end
  if not st then return self.rate_max end
  local r = st.rate + INCREASE / st.rate
  if r >= self.rate_max then
    keys[key] = nil
    return self.rate_max
  end
  st.rate = r
  return r
end

--- limiter:reset(key) → true | nil, err — forget the key's slots and adaptive rate.
function Limiter:reset(key)
  check_key("limiter:reset", key)
  if self.closed then return nil, unavailable("the limiter is closed") end
  self.keys[key] = nil
  if self.fallback then self.fallback:reset(key) end
  if not self.store then return true end
  local ok, err = self.store:reset(key)
  if not ok then return nil, unavailable("store: " .. tostring(err)) end
  return true
end

--- limiter:close() — release the store (idempotent; decisions fail afterwards).
function Limiter:close()
  if self.closed then return end
  self.closed = true
  if self.store then self.store:close() end
  if self.fallback then self.fallback:close() end
end
mt.__close = Limiter.close

function mt.__tostring(self)
  return format("aliyun.live.limiter (%s, %g/s%s)", self.store_name or "?", self.rate_max,
    self.closed and ", closed" or "")
end

return _M
