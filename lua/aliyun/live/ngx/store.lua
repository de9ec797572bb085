-- The `ngx:DICT` limiter store: the decision of notes/limiter-algorithm.md (GCRA plus a
-- log of the last grants) over ngx.shared[DICT], atomic across all nginx workers.
--
--   local store = require "aliyun.live.ngx.store"
--   local s = assert(store.new("aliyun_live"))          -- lua_shared_dict aliyun_live 1m;
--   local wait, outcome = s:take(key, interval, tau, count, window, reserve, max_wait)
--   -- seconds; outcome "granted" | "denied" | "too_long"; or nil, message
--
-- Atomicity without compare-and-swap: one lock per key, taken with dict:safe_add and a
-- short expiry (LOCK_TTL), so a worker that dies holding it wedges the key for that long
-- at most. The section it guards never yields (dict calls and arithmetic only); a
-- decision that finds the lock busy sleeps 1 ms at a time (ngx.sleep) for up to
-- LOCK_WAIT, then fails. Before writing, the holder checks the lock is still its own
-- (a stall longer than LOCK_TTL must not let two writers interleave) and decides again
-- if not.
--
-- Clock: CLOCK_MONOTONIC through LuaJIT's FFI rather than ngx.now(): nanoseconds
-- instead of ngx.now()'s milliseconds, immune to wall-clock steps, and the same clock
-- in every worker of the host (a shared dict never leaves its host; it survives a
-- reload, and so does the monotonic clock). Times are kept as nanosecond offsets from
-- a whole second stored with them, so doubles hold them exactly (to ±104 days of now).
--
-- State: one fixed-size binary value per key (67 doubles, 536 bytes), so an update is
-- always done in place and a full dict can never drop a key's state; written with
-- safe_set and an expiry at the moment the key becomes equivalent to an absent one.
-- A full dict ("no memory") fails the decision. Keep other users of the dict to the
-- safe_* calls: a plain set() may evict a key's state (its quota is then forgotten).
local _M = { LOCK_TTL = 0.1, LOCK_WAIT = 0.5 }

local ngx = ngx
local type, tostring, tonumber, setmetatable, pcall, error = type, tostring, tonumber, setmetatable, pcall, error
local format = string.format
local floor, ceil = math.floor, math.ceil

local RING = 64                   -- grant times kept per key
local SIZE = (3 + RING) * 8       -- base second, TAT offset, stored count, ring
local TIME_MAX = 4e18             -- ns: TATs saturate here
local SPAN_MAX = 1e18             -- ns: T, tau, W, max_wait
local PREFIX, LOCK_PREFIX = "limiter:", "limiter-lock:"

-- FFI (at require time: declarations only, no I/O). Renamed symbols so that another
-- module's clock_gettime or timespec declaration cannot clash with ours.
local ffi_ok, ffi = pcall(require, "ffi")
local C, ts, cells
if ffi_ok then
  pcall(ffi.cdef, [[
    typedef struct { long tv_sec; long tv_nsec; } aliyun_live_timespec_t;
    int aliyun_live_clock_gettime(int clk, aliyun_live_timespec_t *ts) __asm__("clock_gettime");
  ]])
  C = ffi.C
  ts = ffi.new("aliyun_live_timespec_t")
  cells = ffi.new("double[?]", 3 + RING)
else
  ffi = nil
end
local CLOCK_MONOTONIC = 1         -- Linux

local function now_parts()
  C.aliyun_live_clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec), tonumber(ts.tv_nsec)
end

--- store.clock() → seconds on the store's clock (CLOCK_MONOTONIC).
function _M.clock()
  local s, ns = now_parts()
  return s + ns / 1e9
end

--- store.state_name(key), store.lock_name(key) → the dict keys of key's state and lock
-- (for tests and tools).
function _M.state_name(key) return PREFIX .. key end
function _M.lock_name(key) return LOCK_PREFIX .. key end

-- Phases in which ngx.sleep works.
local SLEEP_PHASES = { rewrite = true, server_rewrite = true, access = true, content = true,
                       timer = true, ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true }

local Store = {}
Store.__index = Store
Store.__tostring = function(self)
  if self.closed then return "aliyun.live.Limiter (closed)" end
  return "aliyun.live.Limiter (ngx:" .. self.name .. ")"
end

--- store.new(dict_name [, {lock_ttl =, lock_wait =}]) → store | nil, message
function _M.new(name, opts)
  if type(name) ~= "string" then error("aliyun.live.ngx.store.new: the dict name must be a string", 2) end
  opts = opts or {}
  local lock_ttl, lock_wait = opts.lock_ttl or _M.LOCK_TTL, opts.lock_wait or _M.LOCK_WAIT
  if type(lock_ttl) ~= "number" or not (lock_ttl >= 0.001 and lock_ttl <= 60)
      or type(lock_wait) ~= "number" or not (lock_wait >= 0 and lock_wait <= 60) then
    error("aliyun.live.ngx.store.new: lock_ttl and lock_wait must be seconds (0.001 to 60, 0 to 60)", 2)
  end
  if type(ngx) ~= "table" or type(ngx.shared) ~= "table" and type(ngx.shared) ~= "userdata" then
    return nil, format("the ngx:%s limiter store runs only inside nginx (ngx.shared is missing)", name)
  end
  if not ffi then
    return nil, format("the ngx:%s limiter store needs LuaJIT's FFI (for CLOCK_MONOTONIC)", name)
  end
  local dict = name ~= "" and ngx.shared[name]
  if not dict then
    return nil, format("lua_shared_dict %s …; is missing from nginx.conf (the ngx:%s limiter store keeps "
      .. "its state there)", name, name)
  end
  return setmetatable({ dict = dict, name = name, lock_ttl = lock_ttl, lock_wait = lock_wait }, Store)
end

---------------------------------------------------------------- arguments --

-- Raised at the caller of take/reset; depth = calls between it and here.
local function argerror(n, msg, depth, fn)
  error(format("bad argument #%d to '%s' (%s)", n, fn or "take", msg), 2 + depth)
end

local function check_key(key, fn)
  if type(key) ~= "string" or #key < 1 or #key > 128 then argerror(1, "key must be 1 to 128 bytes", 2, fn) end
end

-- Seconds → whole nanoseconds, rounded the safe way (`up` for T and W, down for tau and
-- max_wait), within SPAN_MAX.
local function span(v, n, name, up, min)
  if type(v) ~= "number" or not (v >= min and v <= SPAN_MAX / 1e9) then
    argerror(n, format("%s must be a number of seconds from %g to 1e9", name, min), 2)
  end
  local ns = up and ceil(v * 1e9) or floor(v * 1e9)
  if up and ns < 1 then ns = 1 end
  return ns
end

---------------------------------------------------------------- state --

-- The key's state relative to second `base`: tat (nil when absent), ring (ascending),
-- stored; or false when the value is not ours.
local function decode(v, base)
  if v == nil then return nil, {}, 0 end
  if type(v) ~= "string" or #v ~= SIZE then return false end
  ffi.copy(cells, v, SIZE)
  local stored = cells[2]
  if not (stored >= 0 and stored <= RING and stored % 1 == 0) then return false end
  local shift = (cells[0] - base) * 1e9
  local ring = {}
  for i = 1, stored do ring[i] = cells[2 + i] + shift end
  return cells[1] + shift, ring, stored
end

local function encode(base, tat, ring, stored)
  cells[0], cells[1], cells[2] = base, tat, stored
  for i = 1, RING do cells[2 + i] = ring[i] or 0 end
  return ffi.string(cells, SIZE)
end

-- One decision on the state in the dict (lock held): wait_ns, outcome, or nil, message.
local function decide(self, skey, T, tau, N, W, reserve, max_wait)
  local base, now = now_parts()               -- now: ns after the second `base`
  local tat, ring, stored = decode(self.dict:get(skey), base)
  if tat == false then return nil, format("ngx:%s: the key's value in the dict is not a limiter state", self.name) end
  local t0 = now
  if tat and tat - tau > t0 then t0 = tat - tau end
  if N > 0 and stored >= N and ring[stored - N + 1] + W > t0 then t0 = ring[stored - N + 1] + W end
  if stored > 0 and ring[stored] > t0 then t0 = ring[stored] end
  local wait = t0 - now
  if wait > 0 and max_wait >= 0 and wait > max_wait then return wait, "too_long" end
  if wait > 0 and not reserve then return wait, "denied" end
  tat = ((tat and tat > t0) and tat or t0) + T
  if tat > TIME_MAX then tat = TIME_MAX end
  if stored == RING then
    for i = 1, RING - 1 do ring[i] = ring[i + 1] end
    stored = stored - 1
  end
  stored = stored + 1
  ring[stored] = t0
  -- Forgotten once TAT has passed and (with a window) the newest grant is W old.
  local until_ns = tat
  if N > 0 and t0 + W > until_ns then until_ns = t0 + W end
  local ttl = ceil((until_ns - now) / 1e6) / 1e3 + 0.001
  return wait, "granted", encode(base, tat, ring, stored), ttl
end

local function sleep_ok()
  return SLEEP_PHASES[ngx.get_phase()] == true
end

-- Runs f(…) with the key's lock held: its results, or nil, message.
local seq = 0                     -- lock tokens: worker pid and a count, unique on the host
local function locked(self, key, f, ...)
  local dict, lkey = self.dict, LOCK_PREFIX .. key
  seq = seq + 1
  local token = format("%d:%d", ngx.worker.pid(), seq)
  local give_up
  while true do
    ngx.update_time()                         -- the lock's expiry counts from now
    local ok, err = dict:safe_add(lkey, token, self.lock_ttl)
    if ok then break end
    if err ~= "exists" then
      return nil, format("ngx:%s: cannot take the key's lock: %s%s", self.name, tostring(err),
        err == "no memory" and " (the dict is full)" or "")
    end
    local t = _M.clock()
    give_up = give_up or t + self.lock_wait
    if t >= give_up or not sleep_ok() then
      return nil, format("ngx:%s: the key's lock busy for %gs (held by another worker, or left by one "
        .. "that died: it expires after %gs)", self.name, self.lock_wait, self.lock_ttl)
    end
    ngx.sleep(0.001)
  end
  -- No yield from here to the delete: the section is dict calls and arithmetic.
  local ok, a, b, c, d = pcall(f, self, lkey, token, ...)
  if dict:get(lkey) == token then dict:delete(lkey) end
  if not ok then error(a, 0) end
  return a, b, c, d
end

-- Under the lock: decide, then write unless the lock expired meanwhile (decide again).
local function take_locked(self, lkey, token, skey, ...)
  for _ = 1, 3 do
    local wait, outcome, value, ttl = decide(self, skey, ...)
    if not wait then return nil, outcome end
    if not value then return wait, outcome end
    if self.dict:get(lkey) == token then
      local ok, err = self.dict:safe_set(skey, value, ttl)
      if not ok then
        return nil, format("ngx:%s: cannot store the key's state: %s%s", self.name, tostring(err),
          err == "no memory" and " (the dict is full)" or "")
      end
      return wait, outcome
    end
  end
  return nil, format("ngx:%s: the key's lock kept expiring under this worker (stalled for over %gs)",
    self.name, self.lock_ttl)
end

--- s:take(key, interval, tau, count, window, reserve [, max_wait]) → wait, outcome | nil, message
-- Seconds in, seconds out. count 0 = no window rule (window is then ignored);
-- max_wait nil or < 0 = none.
function Store:take(key, interval, tau, count, window, reserve, max_wait)
  if self.closed then error("aliyun.live.ngx.store: the limiter is closed", 2) end
  check_key(key, "take")
  local T = span(interval, 2, "interval", true, 1e-9)
  local tau_ns = span(tau, 3, "tau", false, 0)
  if type(count) ~= "number" or count % 1 ~= 0 or count < 0 or count > RING then
    argerror(4, "count must be an integer from 0 to 64", 1)
  end
  local W = count > 0 and span(window, 5, "window", true, 1e-9) or 0
  if type(reserve) ~= "boolean" then argerror(6, "reserve must be a boolean", 1) end
  local mw = -1
  if max_wait ~= nil then
    if type(max_wait) ~= "number" or max_wait ~= max_wait then argerror(7, "max_wait must be a number", 1) end
    if max_wait >= 0 then mw = max_wait * 1e9 >= SPAN_MAX and SPAN_MAX or floor(max_wait * 1e9) end
  end
  local wait, outcome = locked(self, key, take_locked, PREFIX .. key, T, tau_ns, count, W, reserve, mw)
  if not wait then return nil, outcome end
  return wait / 1e9, outcome
end

local function reset_locked(self, lkey, token, skey)
  self.dict:delete(skey)
  return true
end

--- s:reset(key) → true | nil, message: forget the key's state.
function Store:reset(key)
  if self.closed then error("aliyun.live.ngx.store: the limiter is closed", 2) end
  check_key(key, "reset")
  return locked(self, key, reset_locked, PREFIX .. key)
end

--- s:close(): the object is unusable after (the dict and its state stay).
function Store:close() self.closed = true end

return _M
