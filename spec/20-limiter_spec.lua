-- The rate limiter: GCRA on an injected clock (the `local` store, the only one that
-- takes one), the stores (process across threads, shm across processes — one of them
-- killed holding the lock —, redis across objects and processes) with GCRA and the
-- window log, fail-open, the adaptive rate, option checks. The stores one by one (the
-- window log's decisions, bounds, hostile files and replies): spec/22.
--
-- Spacing is asserted from recorded grant times, never from wall-clock totals: a grant
-- time is either the clock value the limiter was given, or the [before, after] interval
-- around the call that got it (which only widens under load, in the safe direction).
local core = require "aliyun.live.core"
local throttle = require "aliyun.live.throttle"
local helpers = require "helpers"

local LUA = os.getenv("LUA") or "lua5.4"
-- helpers run children without the sanitizer runtime preloaded into this Lua; workers
-- that load our (sanitized) module need it back.
local PRELOAD = os.getenv("LD_PRELOAD")
local WORKER_LUA = PRELOAD and PRELOAD ~= ""
  and ("env LD_PRELOAD=%s %s"):format(helpers.sh_quote(PRELOAD), LUA) or LUA
local EPS = 2e-9                      -- printing times with %.9f

local function interval(rate) return math.ceil(1e9 / rate) / 1e9 end

-- A GCRA-only decision as rate and burst (no window rule): wait, plus false when the
-- wait passes max_wait; nil, err when the store failed.
local function take(lim, key, rate, burst, reserve, now, max_wait)
  local T = interval(rate)
  local w, outcome = lim:take(key, T, (burst - 1) * T, 0, 0, reserve, max_wait, now)
  if w and outcome == "too_long" then return w, false end
  return w, outcome
end

local function unique(prefix)
  return ("%s_%d_%d"):format(prefix, math.floor(core.now() * 1000) % 100000000, math.random(1e6))
end

local function shm_file(name) return "/dev/shm/aliyun-live-" .. name end

-- Smallest gap between sorted times.
local function min_gap(times)
  local s = {}
  for i = 1, #times do s[i] = times[i] end
  table.sort(s)
  local m = math.huge
  for i = 2, #s do m = math.min(m, s[i] - s[i - 1]) end
  return m, s
end

-- Grants known only as [before, after] intervals: two grants g_i < g_j at least T apart
-- imply a_j - b_i >= T. Returns the smallest such separation over all pairs.
local function min_separation(pairs_)
  local m = math.huge
  for i = 1, #pairs_ do
    for j = i + 1, #pairs_ do
      local bi, ai, bj, aj = pairs_[i][1], pairs_[i][2], pairs_[j][1], pairs_[j][2]
      m = math.min(m, math.max(aj - bi, ai - bj))
    end
  end
  return m
end

-- At most `n` grants in any `window`, for grants known as [before, after] spans: the
-- k-th smallest `after` is at or past the k-th grant and the k-th smallest `before` at
-- or before it, so A[i + n] - B[i] >= window holds whenever the grants keep the rule.
-- Returns the smallest A[i + n] - B[i].
local function min_window(spans, n)
  local A, B = {}, {}
  for i, sp in ipairs(spans) do B[i], A[i] = sp[1], sp[2] end
  table.sort(A)
  table.sort(B)
  local m = math.huge
  for i = 1, #spans - n do m = math.min(m, A[i + n] - B[i]) end
  return m
end

-- "T0 1.5 2.5" / "G 1.5:1.6 …" lines → list of numbers or of {before, after}.
local function parse_grants(text, tag)
  local times, spans, lines = {}, {}, 0
  for line in text:gmatch("[^\n]+") do
    if line:match("^" .. tag) then
      lines = lines + 1
      for tok in line:gmatch("%S+") do
        local b, a = tok:match("^([%d%.]+):([%d%.]+)$")
        if b then spans[#spans + 1] = { tonumber(b), tonumber(a) }
        elseif tonumber(tok) then times[#times + 1] = tonumber(tok) end
      end
    end
  end
  return times, spans, lines
end

local test_host = helpers.test_host

-- The worker run by separate processes: takes N grants of KEY from STORE (interval T,
-- tolerance TAU, at most CNT per window W), starting at the monotonic instant START,
-- and prints "ready", the grants as "before:after" spans, then "done". Waits for the
-- shm lock up to 60 s (a spec holds it on purpose).
local WORKER = [[
local cpath, store, key, n, T, tau, cnt, W, start = ...
package.cpath = cpath
n, T, tau, cnt, W, start = tonumber(n), tonumber(T), tonumber(tau), tonumber(cnt),
  tonumber(W), tonumber(start)
local core = require "aliyun.live.core"
local lim = assert(core.limiter(store, store:match("^shm:") and { lock_timeout = 60 } or nil))
io.stdout:setvbuf("no")
print("ready")
local fmt, out = string.format, {}
local deadline = start + 60
while core.monotonic() < start do core.sleep(0.001) end
while #out < n do
  local now = core.monotonic()
  if now > deadline then error("no progress after 60 s") end
  local w = assert(lim:take(key, T, tau, cnt, W, false))
  if w == 0 then out[#out + 1] = fmt("%.9f:%.9f", now, core.monotonic()) end
end
print("G " .. table.concat(out, " "))
print("done")
]]

local worker_file
local function worker_path()
  if not worker_file then
    worker_file = os.tmpname()
    local f = assert(io.open(worker_file, "w"))
    f:write(WORKER)
    f:close()
  end
  return worker_file
end

-- Start `count` worker processes; returns their helpers.spawn handles (each "ready").
-- p: { T =, tau =, n =, W = } (tau, n, W default to 0: GCRA spacing only).
local function start_workers(count, store, key, per, p, start)
  local hs = {}
  for i = 1, count do
    hs[i] = helpers.spawn(("%s %s %s %s %s %d %.9f %.9f %d %.9f %.6f"):format(WORKER_LUA,
      worker_path(), helpers.sh_quote(package.cpath), helpers.sh_quote(store),
      helpers.sh_quote(key), per, p.T, p.tau or 0, p.n or 0, p.W or 0, start), "ready", 20)
  end
  return hs
end

-- Wait for every worker's "done" (at most `timeout` seconds); returns their output.
local function collect(hs, timeout)
  local deadline = core.monotonic() + (timeout or 60)
  local text = {}
  for i, h in ipairs(hs) do
    while not h.output():match("\ndone\n") do
      if not helpers.alive(h.pid) or core.monotonic() > deadline then
        error(("worker %d did not finish: %s"):format(i, h.output()))
      end
      core.sleep(0.01)
    end
    text[#text + 1] = h.output()
  end
  return table.concat(text, "\n")
end

-- A fake clock whose sleep advances it.
local function fake_clock(t0)
  local c = { t = t0 or 1000, slept = {} }
  function c.clock() return c.t end
  function c.sleep(s) c.slept[#c.slept + 1] = s; c.t = c.t + s end
  return c
end

lazy_teardown(function()
  if worker_file then os.remove(worker_file) end
end)

------------------------------------------------------------------ core.limiter ---

describe("core.limiter GCRA on an injected clock", function()
  local shm_name = unique("gcra")
  -- Only the private store takes an injected clock (spec/22: the others refuse it and
  -- decide the same on their own clocks).
  local specs = { "local" }

  lazy_teardown(function() os.remove(shm_file(shm_name)) end)

  for _, spec in ipairs(specs) do
    describe(spec, function()
      local lim, key
      before_each(function()
        lim = assert(core.limiter(spec))
        key = unique("k")
      end)
      after_each(function() lim:close() end)

      it("reserves slots exactly 1/rate apart", function()
        for k = 0, 9 do
          assert.near(k * 0.1, take(lim, key, 10, 1, true, 500), 1e-9)
        end
        -- rate 30: T rounded up to whole nanoseconds, never below 1/30
        local key2 = key .. "/30"
        for k = 0, 29 do
          assert.near(k * interval(30), take(lim, key2, 30, 1, true, 500), 1e-12)
        end
        assert.is_true(interval(30) >= 1 / 30)
      end)

      it("refuses without reserving when reserve is false", function()
        assert.equal(0, take(lim, key, 10, 1, false, 500))
        assert.near(0.1, take(lim, key, 10, 1, false, 500), 1e-9)
        assert.near(0.1, take(lim, key, 10, 1, false, 500), 1e-9)   -- nothing was taken
        assert.near(0.05, take(lim, key, 10, 1, false, 500.05), 1e-9)
        assert.equal(0, take(lim, key, 10, 1, false, 500.1))
        assert.near(0.1, take(lim, key, 10, 1, false, 500.1), 1e-9)
      end)

      it("lets a burst go back to back, then spaces, and refills when idle", function()
        for _ = 1, 3 do assert.equal(0, take(lim, key, 10, 3, false, 500)) end
        assert.near(0.1, take(lim, key, 10, 3, false, 500), 1e-9)
        assert.near(0.1, take(lim, key, 10, 3, true, 500), 1e-9)     -- reserved
        assert.near(0.2, take(lim, key, 10, 3, true, 500), 1e-9)
        -- idle for a while: the full burst again, not more
        for _ = 1, 3 do assert.equal(0, take(lim, key, 10, 3, false, 510)) end
        assert.is_true(take(lim, key, 10, 3, false, 510) > 0)
      end)

      it("takes nothing when the wait passes max_wait", function()
        assert.equal(0, take(lim, key, 10, 1, true, 500, 0.15))
        assert.near(0.1, take(lim, key, 10, 1, true, 500, 0.15), 1e-9)
        local w, ok = take(lim, key, 10, 1, true, 500, 0.15)
        assert.near(0.2, w, 1e-9)
        assert.is_false(ok)
        -- nothing was reserved: the same slot is still the next one
        assert.near(0.2, (take(lim, key, 10, 1, true, 500, 0.2)), 1e-9)
        assert.near(0.3, (take(lim, key, 10, 1, true, 500)), 1e-9)
        -- max_wait 0 with a free slot still takes it
        assert.equal(0, take(lim, key .. "x", 10, 1, true, 500, 0))
      end)

      it("keeps keys independent", function()
        assert.equal(0, take(lim, key .. "/a", 10, 1, false, 500))
        assert.equal(0, take(lim, key .. "/b", 10, 1, false, 500))
        assert.is_true(take(lim, key .. "/a", 10, 1, false, 500) > 0)
        assert.is_true(take(lim, key .. "/b", 10, 1, false, 500) > 0)
        assert.equal(0, take(lim, key .. "/c", 10, 1, false, 500))
      end)

      it("applies a rate change from the next slot on", function()
        assert.equal(0, take(lim, key, 10, 1, true, 500))
        -- the slot granted at rate 10 reserved 0.1 s; the one after is 1/5 further
        assert.near(0.1, take(lim, key, 5, 1, true, 500), 1e-9)
        assert.near(0.3, take(lim, key, 5, 1, true, 500), 1e-9)
        assert.near(0.5, take(lim, key, 100, 1, true, 500), 1e-9)
        assert.near(0.51, take(lim, key, 100, 1, true, 500), 1e-9)
      end)

      it("forgets a key on reset", function()
        assert.equal(0, take(lim, key, 1, 1, false, 500))
        assert.is_true(take(lim, key, 1, 1, false, 500) > 0)
        assert.is_true(lim:reset(key))
        assert.equal(0, take(lim, key, 1, 1, false, 500))
        assert.is_true(lim:reset(key .. "never-seen"))
      end)

      it("uses its own clock when none is given", function()
        assert.equal(0, take(lim, key, 2, 1, false))
        local w = take(lim, key, 2, 1, false)
        assert.is_true(w > 0 and w <= 0.5, tostring(w))
      end)
    end)
  end

  it("shares the process store between objects, not the local one", function()
    local key = unique("shared")
    local p1, p2 = core.limiter("process"), core.limiter("process")
    local l1, l2 = core.limiter("local"), core.limiter("local")
    assert.equal(0, take(p1, key, 1, 1, false))
    assert.is_true(take(p2, key, 1, 1, false) > 0)
    p1:close()
    p2:close()
    -- the state outlives the objects
    local p3 = core.limiter("process")
    assert.is_true(take(p3, key, 1, 1, false) > 0)
    p3:close()
    assert.equal(0, take(l1, key, 1, 1, false, 10))
    assert.equal(0, take(l2, key, 1, 1, false, 10))
  end)

  it("checks its arguments", function()
    local lim = core.limiter("local")
    assert.has_error(function() lim:take("", 1, 0, 0, 0, false) end)
    assert.has_error(function() lim:take(("x"):rep(129), 1, 0, 0, 0, false) end)
    assert.equal(0, (lim:take(("x"):rep(128), 1, 0, 0, 0, false)))
    assert.has_error(function() lim:take({}, 1, 0, 0, 0, false) end)
    assert.has_error(function() lim:take("k", 0, 0, 0, 0, false) end)
    assert.has_error(function() lim:take("k", -1, 0, 0, 0, false) end)
    assert.has_error(function() lim:take("k", 0 / 0, 0, 0, 0, false) end)
    assert.has_error(function() lim:take("k", 2e9, 0, 0, 0, false) end)
    assert.has_error(function() lim:take("k", 1, -0.5, 0, 0, false) end)
    assert.has_error(function() lim:take("k", 1, 0, 65, 1, false) end)
    assert.has_error(function() lim:take("k", 1, 0, 1.5, 1, false) end)
    assert.has_error(function() lim:take("k", 1, 0, 1, 0, false) end)   -- a window for N
    assert.has_error(function() lim:take("k", 1, 0, 0, 0, "yes") end)
    assert.has_error(function() lim:take("k", 1, 0, 0, 0, false, "soon") end)
    assert.has_error(function() lim:take("k", 1, 0, 0, 0, false, nil, "now") end)
    assert.has_error(function() core.limiter("memcached://x") end)
    assert.has_error(function() core.limiter("shm:") end)
    assert.has_error(function() core.limiter("shm:a/b") end)
    assert.has_error(function() core.limiter("shm:" .. ("n"):rep(65)) end)
    assert.has_error(function() core.limiter("redis://") end)
    assert.has_error(function() core.limiter("redis://h:0") end)
    assert.has_error(function() core.limiter("redis://h:99999") end)
    assert.has_error(function() core.limiter("redis://h:1/x") end)
    assert.has_error(function() core.limiter("redis://pw@h:1") end)
    assert.has_error(function() core.limiter("local", { timeout = "1" }) end)
    assert.has_error(function() core.limiter("local", { slots = 1.5 }) end)
    lim:close()
  end)

  it("closes idempotently, refuses use after close, and is collected", function()
    local lim = core.limiter("local")
    assert.matches("aliyun.live.Limiter %(local%)", tostring(lim))
    lim:close()
    lim:close()
    assert.equal("aliyun.live.Limiter (closed)", tostring(lim))
    assert.has_error(function() take(lim, "k", 1, 1, false) end, nil)
    local weak = setmetatable({}, { __mode = "v" })
    weak[1] = core.limiter("shm:" .. shm_name)
    weak[2] = core.limiter("redis://127.0.0.1:1")
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
    assert.is_nil(weak[2])
    if _VERSION == "Lua 5.4" then
      local f = assert(load([[
        local core, name = ...
        local l <close> = core.limiter(name)
        return l
      ]]))
      assert.equal("aliyun.live.Limiter (closed)", tostring(f(core, "shm:" .. shm_name)))
      -- and the Lua limiter of throttle.limiter, its store with it
      local g = assert(load([[
        local throttle, name = ...
        local l <close> = throttle.limiter { store = name }
        return l
      ]]))
      local lim = g(throttle, "shm:" .. shm_name)
      assert.is_true(lim.closed)
      assert.equal("aliyun.live.Limiter (closed)", tostring(lim.store))
    end
  end)

  it("keeps memory bounded: expired keys make room, live ones are evicted", function()
    local lim = core.limiter("local")
    -- 200000 keys, each expired by the time the next arrives
    for i = 1, 200000 do
      assert.equal(0, take(lim, "k" .. i, 1, 1, false, i))
    end
    -- live keys past the cap: the ones that expire soonest make room (spec/22)
    local live = core.limiter("local")
    for i = 1, 70000 do
      assert.equal(0, take(live, "k" .. i, 1e-3, 1, false, 1 + i * 1e-6))
    end
    assert.is_true(take(live, "k70000", 1e-3, 1, false, 2) > 0)   -- still known
    lim:close()
    live:close()
  end)
end)

------------------------------------------------------------------------- shm ---

describe("shm store", function()
  local names = {}
  local function name()
    local n = unique("shm")
    names[#names + 1] = n
    return n
  end
  lazy_teardown(function()
    for _, n in ipairs(names) do os.remove(shm_file(n)) end
  end)

  it("creates a file-backed mapping shared by objects of one process", function()
    local n = name()
    local a = assert(core.limiter("shm:" .. n))
    local b = assert(core.limiter("shm:" .. n))
    assert.is_truthy(io.open(shm_file(n)))
    assert.equal(0, take(a, "k", 1, 1, false))
    assert.is_true(take(b, "k", 1, 1, false) > 0)
    a:close()
    b:close()
  end)

  it("reports a full table, and makes room once keys expire", function()
    local lim = assert(core.limiter("shm:" .. name(), { slots = 8 }))
    -- 7 keys live for 2 s (filling them takes far less)
    for i = 1, 7 do assert.equal(0, take(lim, "k" .. i, 0.5, 1, false)) end
    local w, err = take(lim, "k8", 0.5, 1, false)
    assert.is_nil(w)
    assert.matches("table is full", err)
    core.sleep(2.1)
    assert.equal(0, take(lim, "k8", 0.5, 1, false))   -- the others expired
    lim:close()
  end)

  it("refuses a file of another layout without touching it", function()
    local n = name()
    local content = "ALVLIMIT" .. string.rep("\255", 4096)
    local f = assert(io.open(shm_file(n), "wb"))
    f:write(content)
    f:close()
    os.execute("chmod 600 " .. shm_file(n))
    local lim, err = core.limiter("shm:" .. n)
    assert.is_nil(lim)
    assert.matches("incompatible", err)
    local l2, err2 = throttle.limiter{ store = "shm:" .. n }
    assert.is_nil(l2)
    assert.equal("SDK.LimiterUnavailable", err2.code)
    assert.equal(content, helpers.read_file(shm_file(n)))
  end)

  it("refuses a non-empty file without its header, initializes an empty one", function()
    local n = name()
    local f = assert(io.open(shm_file(n), "wb"))
    f:write(string.rep("\0", 100))
    f:close()
    os.execute("chmod 600 " .. shm_file(n))
    local lim, err = core.limiter("shm:" .. n)
    assert.is_nil(lim)
    assert.matches("not a limiter store", err)
    assert.equal(string.rep("\0", 100), helpers.read_file(shm_file(n)))
    f = assert(io.open(shm_file(n), "wb"))
    f:close()
    lim = assert(core.limiter("shm:" .. n))
    assert.equal(0, take(lim, "k", 1, 1, false))
    lim:close()
  end)

  it("spaces grants across 4 processes", function()
    local n, rate, per = name(), 400, 25
    local start = core.monotonic() + 1
    local hs = start_workers(4, "shm:" .. n, "k", per, { T = interval(rate) }, start)
    local _, spans, lines = parse_grants(collect(hs), "G")
    assert.equal(4, lines)
    assert.equal(4 * per, #spans)
    assert.is_true(min_separation(spans) >= interval(rate) - EPS)
  end)

  it("keeps at most N grants in any window across 3 processes", function()
    -- GCRA alone would let ~200 through at once (tau 1 s at 5 ms); the window log 4 per 0.3 s
    local n, per = name(), 4
    local start = core.monotonic() + 1
    local p = { T = 0.005, tau = 1, n = 4, W = 0.3 }
    local hs = start_workers(3, "shm:" .. n, "k", per, p, start)
    local _, spans = parse_grants(collect(hs), "G")
    assert.equal(3 * per, #spans)
    assert.is_true(min_window(spans, 4) >= 0.3 - EPS, tostring(min_window(spans, 4)))
  end)

  it("survives a process killed while holding the lock", function()
    local n, rate, per = name(), 400, 20
    assert(core.limiter("shm:" .. n)):close()          -- created, not by the holder
    local holder = helpers.spawn(test_host("shm_hold") .. " " .. n .. " die", "locked", 20)
    local start = core.monotonic() + 0.3
    local hs = start_workers(3, "shm:" .. n, "k", per, { T = interval(rate) }, start)
    core.sleep(0.5)
    -- nobody got past the held lock
    for _, h in ipairs(hs) do assert.is_nil(h.output():match("done")) end
    os.execute("kill -KILL " .. holder.pid)
    local _, spans, lines = parse_grants(collect(hs, 60), "G")
    assert.equal(3, lines)
    assert.equal(3 * per, #spans)
    assert.is_true(min_separation(spans) >= interval(rate) - EPS)
    -- and the store still works in this process
    local lim = assert(core.limiter("shm:" .. n))
    assert.equal(0, take(lim, "other", 1, 1, false))
    lim:close()
  end)
end)

--------------------------------------------------------------------- process ---

describe("process store across threads", function()
  local host
  lazy_setup(function() host = test_host("threads") end)

  -- p: { T =, tau =, n =, W = } as for the workers.
  local function run(store, mode, n, p, threads)
    local out, ok = helpers.run(("%s %s %s %s %d %d %s %.9f %.9f %d %.9f 2>&1"):format(host,
      helpers.sh_quote(package.cpath), helpers.sh_quote(store), unique("t"), threads or 4, n,
      mode, p.T, p.tau or 0, p.n or 0, p.W or 0))
    assert(ok, out)
    return out
  end

  it("never grants two slots closer than 1/rate (store clock)", function()
    local _, spans, lines = parse_grants(run("process", "try_clock", 20, { T = interval(1000) }), "T")
    assert.equal(4, lines)
    assert.equal(80, #spans)
    assert.is_true(min_separation(spans) >= interval(1000) - EPS)
  end)

  it("reserves distinct slots exactly 1/rate apart (reserve, store clock)", function()
    local T = interval(1000)
    local _, spans = parse_grants(run("process", "reserve_clock", 50, { T = T }), "T")
    assert.equal(200, #spans)
    assert.is_true(min_separation(spans) >= T - EPS)
    -- one contiguous schedule: nothing skipped (as far as the spans can tell)
    local lo, hi = math.huge, -math.huge
    for _, sp in ipairs(spans) do lo, hi = math.min(lo, sp[2]), math.max(hi, sp[1]) end
    assert.is_true(hi - lo <= 199 * T + EPS, ("%.9f"):format(hi - lo))
  end)

  it("keeps at most N grants in any window, reserving or trying", function()
    local p = { T = 0.0005, tau = 0, n = 5, W = 0.05 }
    local _, spans = parse_grants(run("process", "reserve_clock", 10, p), "T")
    assert.equal(40, #spans)
    assert.is_true(min_window(spans, 5) >= 0.05 - EPS)
    p.tau = 1                      -- GCRA alone would grant 2000 at once
    _, spans = parse_grants(run("process", "try_clock", 3, p), "T")
    assert.equal(12, #spans)
    assert.is_true(min_window(spans, 5) >= 0.05 - EPS)
  end)

  it("detects overlapping grants when the store is not shared (control)", function()
    -- Each thread's own `local` store (injected clock): the same checks must fail.
    local times = parse_grants(run("local", "try", 30, { T = interval(1000) }), "T")
    assert.equal(120, #times)
    assert.is_true(min_gap(times) < interval(1000) - EPS)
  end)

  it("lets a child fork()ed while other threads decide decide too", function()
    -- Without fork handling a child inherits the lock held by a deciding thread: it
    -- hangs (the host kills it after 5 s and stops).
    local out = run("process", "fork", 100, { T = 1e-6 }, 2)
    assert.matches("F forks=100 ok=100", out)
    for i = 0, 1 do
      local takes = tonumber(out:match("T" .. i .. " (%d+)"))
      assert.is_true(takes and takes > 0, out)
    end
  end)
end)

------------------------------------------------------------------------ redis ---

describe("redis store", function()
  local redis, url
  lazy_setup(function()
    redis = helpers.redis_server()
    url = redis.url .. "/3"
  end)
  lazy_teardown(function() if redis then redis:stop() end end)

  local function cli(args)
    return helpers.run(("redis-cli -p %d %s 2>&1"):format(redis.port, args))
  end

  it("spaces slots across two limiter objects", function()
    local key = unique("r")
    local a, b = assert(core.limiter(url)), assert(core.limiter(url))
    local waits = {}
    for i = 1, 6 do
      waits[i] = assert(take(i % 2 == 1 and a or b, key, 5, 1, true))
    end
    assert.equal(0, waits[1])
    for i = 2, 6 do
      local d = waits[i] - waits[i - 1]
      -- 0.2 s apart on the server's clock, minus the time between the calls
      assert.is_true(d <= 0.2 + 1e-6 and d > 0.1, ("step %d: %.6f"):format(i, d))
    end
    assert.is_true(take(b, key, 5, 1, false) > 0.9)
    a:close()
    b:close()
  end)

  it("uses the server's TIME and refuses the caller's clock", function()
    local key = unique("r")
    local a, b = assert(core.limiter(url)), assert(core.limiter(url))
    assert.equal(0, take(a, key, 1, 1, false))
    assert.is_true(take(b, key, 1, 1, false) > 0.5)
    -- a caller claiming another time cannot shift the shared schedule
    assert.has_error(function() b:take(key, 1, 0, 0, 0, false, nil, 1e8) end,
      "bad argument #8 to 'take' (now is only accepted by the local store (a shared table "
      .. "must keep one clock))")
    a:close()
    b:close()
  end)

  it("stores prefixed keys that expire, and re-sends a flushed script", function()
    local key = unique("r")
    local lim = assert(core.limiter(redis.url))
    assert.equal(0, take(lim, key, 0.5, 1, false))
    local ttl = tonumber((cli("pttl aliyun-live:" .. key)))
    assert.is_true(ttl ~= nil and ttl >= 1 and ttl <= 2001, tostring(ttl))
    cli("script flush")
    assert.near(2, assert(take(lim, key, 0.5, 1, true)), 0.5)
    assert.is_true(lim:reset(key))
    assert.equal("0", (cli("exists aliyun-live:" .. key)):match("%d+"))
    -- max_wait
    assert.equal(0, take(lim, key, 1, 1, true, nil, 0.5))
    local w, ok = take(lim, key, 1, 1, true, nil, 0.5)
    assert.is_true(w > 0.5)
    assert.is_false(ok)
    lim:close()
  end)

  it("spaces grants across 2 processes", function()
    local rate, per = 100, 15
    local start = core.monotonic() + 1
    local hs = start_workers(2, url, unique("r"), per, { T = interval(rate) }, start)
    local _, spans, lines = parse_grants(collect(hs), "G")
    assert.equal(2, lines)
    assert.equal(2 * per, #spans)
    -- µs on the server; 50 µs for clock slew between the server's and our clock
    assert.is_true(min_separation(spans) >= interval(rate) - 5e-5)
  end)

  it("returns nil, err when the server is down, and reconnects after", function()
    local port = helpers.free_port()
    local lim = assert(core.limiter(("redis://127.0.0.1:%d"):format(port)))
    local w, err = take(lim, "k", 1, 1, false)
    assert.is_nil(w)
    assert.matches("127.0.0.1:" .. port, err)
    local r2 = helpers.redis_server{ port = port }
    assert.equal(0, take(lim, "k", 1, 1, false))
    r2:stop()
    w, err = take(lim, "k", 1, 1, false)
    assert.is_nil(w)
    assert.is_string(err)
    lim:close()
  end)

  it("times out on a server that does not answer, then recovers", function()
    local lim = assert(core.limiter(url, { timeout = 0.3 }))
    assert.equal(0, take(lim, unique("r"), 1000, 1, false))
    os.execute("kill -STOP " .. redis.pid)
    local ok, w, err = pcall(take, lim, unique("r"), 1000, 1, false)
    os.execute("kill -CONT " .. redis.pid)
    assert.is_true(ok)
    assert.is_nil(w)
    assert.matches("timed out", err)
    assert.equal(0, take(lim, unique("r"), 1000, 1, false))
    lim:close()
  end)

  it("authenticates, selects a database, and never shows the password", function()
    local r = helpers.redis_server{ args = "--requirepass s3cr3t" }
    local port = r.port
    local good = assert(core.limiter(("redis://:s3cr3t@127.0.0.1:%d/2"):format(port)))
    local user = assert(core.limiter(("redis://default:s3cr3t@127.0.0.1:%d/2"):format(port)))
    local bad = assert(core.limiter(("redis://:wr%%6Fng@127.0.0.1:%d"):format(port)))
    assert.equal(("aliyun.live.Limiter (redis://:***@127.0.0.1:%d/2)"):format(port), tostring(good))
    assert.not_matches("s3cr3t", tostring(user))
    assert.equal(0, take(good, "k", 1, 1, false))
    assert.is_true(take(user, "k", 1, 1, false) > 0)
    local w, err = take(bad, "k", 1, 1, false)
    assert.is_nil(w)
    assert.matches("AUTH", err)
    assert.not_matches("wrong", err)
    assert.not_matches("wr%%6Fng", err)
    local _, l = helpers.run(("redis-cli -p %d -a s3cr3t -n 2 exists aliyun-live:k 2>/dev/null"):format(port))
    assert.is_true(l)
    good:close()
    user:close()
    bad:close()
    r:stop()
  end)

  describe("through throttle.limiter", function()
    it("fails with SDK.LimiterUnavailable when the store is down", function()
      local lim = throttle.limiter{ store = ("redis://127.0.0.1:%d"):format(helpers.free_port()) }
      local ok, err = lim:try("k")
      assert.is_nil(ok)
      assert.equal("SDK.LimiterUnavailable", err.code)
      assert.matches("SDK.LimiterUnavailable", tostring(err))
      ok, err = lim:acquire("k")
      assert.is_nil(ok)
      assert.equal("SDK.LimiterUnavailable", err.code)
      lim:close()
    end)

    it("falls back to a local limiter with one warning when fail_open", function()
      local warnings, slept = {}, {}
      local lim = throttle.limiter{
        store = ("redis://:pw@127.0.0.1:%d"):format(helpers.free_port()),
        rate = 1, guard = 0, fail_open = true,
        sleep = function(x) slept[#slept + 1] = x end,
        on_warning = function(m) warnings[#warnings + 1] = m end,
      }
      local t0 = core.monotonic()
      assert.is_true(lim:try("k"))
      local ok, wait = lim:try("k")
      local el = core.monotonic() - t0
      assert.is_false(ok)
      assert.is_true(wait > 1 - el - 1e-9 and wait <= 1, tostring(wait))
      assert.is_true(lim:acquire("k"))
      assert.is_true(slept[1] > 0 and slept[1] <= 1, tostring(slept[1]))
      core.sleep(1.05)                                 -- the store is retried: still down
      ok, wait = lim:try("k")
      assert.is_false(ok)                              -- the fallback's reserved slot
      assert.is_true(wait > 0 and wait <= 1, tostring(wait))
      assert.equal(1, #warnings)
      assert.matches("limiting locally", warnings[1])
      assert.not_matches(":pw@", warnings[1])
      assert.not_matches("pw", tostring(lim))
      lim:close()
    end)

    it("reserves through the store for two limiter objects", function()
      local key = unique("r")
      local slept = {}
      local function sleep(x) slept[#slept + 1] = x end
      local a = throttle.limiter{ store = url, rate = 5, sleep = sleep }
      local b = throttle.limiter{ store = url, rate = 5, sleep = sleep }
      assert.is_true(a:acquire(key))
      assert.is_true(b:acquire(key))
      assert.is_true(a:acquire(key))
      -- no sleep for the first; then the server's schedule, 1.01/5 s apart
      assert.equal(2, #slept)
      assert.is_true(slept[1] > 0.1 and slept[1] <= 1.01 / 5 + 1e-6, tostring(slept[1]))
      assert.is_true(slept[2] - slept[1] > 0.1 and slept[2] - slept[1] <= 1.01 / 5 + 1e-6)
      a:close()
      b:close()
    end)
  end)
end)

--------------------------------------------------------------------- throttle ---

describe("throttle.limiter", function()
  it("rejects unknown options and wrong types, naming the option", function()
    local function raises(f, pattern)
      local ok, e = pcall(f)
      assert.is_false(ok)
      assert.matches(pattern, tostring(e))
      assert.matches("20%-limiter_spec%.lua", tostring(e))   -- the caller's line
    end
    raises(function() throttle.limiter{ rat = 30 } end, "aliyun%.live%.limiter: unknown option 'rat'")
    for opt, v in pairs { rate = "30", burst = true, store = 1, fail_open = "yes", sleep = 1,
                          clock = {}, adaptive = 0, on_warning = "x", lock_timeout = "1" } do
      raises(function() throttle.limiter{ [opt] = v } end, "option '" .. opt .. "' must be a")
    end
    for _, store in ipairs{ "process", "shm:x", "redis://127.0.0.1:1" } do
      raises(function() throttle.limiter{ clock = os.time, store = store } end,
        "option 'clock' works only with store \"local\"")
    end
    assert.has_error(function() throttle.limiter("fast") end)
    assert.has_error(function() throttle.limiter{ rate = 0 } end)
    assert.has_error(function() throttle.limiter{ burst = 0 } end)
    assert.has_error(function() throttle.limiter{ guard = -0.1 } end)
    assert.has_error(function() throttle.limiter{ guard = 2 } end)
    assert.has_error(function() throttle.limiter{ store = "disk" } end)
    -- a malformed store and a clock answering nonsense: named, at the caller's line
    for store, why in pairs { ["shm:bad name"] = "shm store name must be",
                              ["redis://u:s3cret@h:99999"] = "redis URL port must be",
                              ["redis://s3cret@h"] = "redis URL credentials must be" } do
      raises(function() throttle.limiter{ store = store } end,
        "^[^\n]-: aliyun%.live%.limiter: option 'store': " .. why)
      assert.not_matches("s3cret", select(2, pcall(throttle.limiter, { store = store })))
    end
    local odd = throttle.limiter{ clock = function() return 0 / 0 end }
    raises(function() odd:try("k") end, "aliyun%.live%.limiter: option 'clock' returned")
    assert.has_error(function() throttle.limiter{ slots = 3 } end)
    assert.has_error(function() throttle.limiter{ timeout = 0 } end)
    assert.has_error(function() throttle.limiter{ lock_timeout = 0 } end)
    local lim = throttle.limiter()
    raises(function() lim:try(1) end, "limiter key must be a string")
    assert.has_error(function() lim:acquire("k", -1) end)
    assert.has_error(function() lim:feedback("k", "slow") end)
    lim:close()
  end)

  it("defaults to 30/s with a 10 ms guard on a local store", function()
    local c = fake_clock()
    local lim = throttle.limiter{ clock = c.clock, sleep = c.sleep }
    assert.equal(30, lim:rate("k"))
    assert.is_true(lim:acquire("k"))
    assert.is_true(lim:acquire("k"))
    assert.near(1.01 / 30, c.slept[1], 1e-8)
    -- try_send (a request that leaves when granted) tolerates 50 ms of lateness (one
    -- more back to back), then spaces; plain try does not
    assert.is_true(lim:try_send("k2"))
    assert.is_true(lim:try_send("k2"))
    local ok, wait = lim:try_send("k2")
    assert.is_false(ok)
    assert.near(2 * 1.01 / 30 - 0.05, wait, 1e-8)
    assert.is_true(lim:try("k3"))
    ok, wait = lim:try("k3")
    assert.is_false(ok)
    assert.near(1.01 / 30, wait, 1e-8)
    assert.matches("local, 30/s", tostring(lim))
    lim:close()
  end)

  it("acquire reserves and sleeps; at most `rate` arrive in any second despite jitter",
  function()
    local c = fake_clock()
    local lim = throttle.limiter{ rate = 30, clock = c.clock, sleep = c.sleep }
    local grants = {}
    for i = 1, 300 do
      assert.is_true(lim:acquire("k"))
      grants[i] = c.t
    end
    for i = 1, 300 - 30 do
      -- 31 consecutive grants span more than 1 + guard seconds, so even if the first
      -- arrives `guard` late and the last on time, no 1-second window holds 31.
      assert.is_true(grants[i + 30] - grants[i] >= 1 + 0.010 - 1e-9)
    end
    -- utilization: at least 99% of the quota
    assert.is_true(299 / (grants[300] - grants[1]) >= 0.99 * 30)
    lim:close()
  end)

  it("try and try_send never wait and never take a refused slot", function()
    local c = fake_clock()
    local lim = throttle.limiter{ rate = 10, guard = 0, clock = c.clock, sleep = c.sleep }
    assert.is_true(lim:try_send("k"))
    for _ = 1, 3 do
      local ok, wait = lim:try_send("k")
      assert.is_false(ok)
      assert.near(0.05, wait, 1e-9)                    -- T = 0.1 less 50 ms tolerance
      ok, wait = lim:try("k")
      assert.is_false(ok)
      assert.near(0.1, wait, 1e-9)                     -- T, no tolerance
    end
    assert.equal(0, #c.slept)
    c.t = c.t + 0.05
    assert.is_true(lim:try_send("k"))
    lim:close()
  end)

  it("try_send keeps at most `rate` grants in any 1 + guard seconds, however late it polls",
  function()
    -- A game loop at 30 fps whose frames run late by 0..33 ms: each frame tries once.
    local c = fake_clock()
    local lim = throttle.limiter{ rate = 30, clock = c.clock, sleep = c.sleep }
    local grants, frame, seed = {}, 0, 7
    while #grants < 300 do
      frame = frame + 1
      seed = (seed * 1103515245 + 12345) % 2147483648   -- fixed lateness, no math.random
      c.t = 1000 + frame / 30 + seed / 2147483648 * 0.033
      if lim:try_send("k") then grants[#grants + 1] = c.t end
    end
    for i = 1, #grants - 30 do
      assert.is_true(grants[i + 30] - grants[i] >= 1.01 - 1e-9,
        ("grants %d..%d within %.4f s"):format(i, i + 30, grants[i + 30] - grants[i]))
    end
    -- and still close to the quota: >= 90% of 30/s at this polling rate
    assert.is_true(299 / (grants[300] - grants[1]) >= 27)
    lim:close()
  end)

  it("acquire with max_wait fails with SDK.LimiterTimeout and reserves nothing", function()
    local c = fake_clock()
    local lim = throttle.limiter{ rate = 10, guard = 0, clock = c.clock, sleep = c.sleep }
    assert.is_true(lim:acquire("k", 0.05))
    local ok, err = lim:acquire("k", 0.05)
    assert.is_nil(ok)
    assert.equal("SDK.LimiterTimeout", err.code)
    assert.is_false(err.retryable)
    assert.matches("max_wait", tostring(err))
    assert.equal(0, #c.slept)
    assert.is_true(lim:acquire("k", 0.1))             -- the same slot, still free
    assert.near(0.1, c.slept[1], 1e-9)
    lim:close()
  end)

  it("shares a process store between limiter objects", function()
    local key = unique("p")
    local a = throttle.limiter{ store = "process", rate = 1, guard = 0 }
    local b = throttle.limiter{ store = "process", rate = 1, guard = 0 }
    assert.is_true(a:try(key))
    local ok, wait = b:try(key)                        -- ~1 s away: no timing to lose
    assert.is_false(ok)
    assert.is_true(wait > 0.5, tostring(wait))
    a:close()
    b:close()
  end)

  it("fails open when the store cannot be opened at all", function()
    local name = unique("bad")
    local f = assert(io.open(shm_file(name), "wb"))
    f:write("ALVLIMIT", string.rep("\255", 4096))
    f:close()
    local warnings = {}
    local lim = throttle.limiter{ store = "shm:" .. name, fail_open = true, rate = 1,
      on_warning = function(m) warnings[#warnings + 1] = m end }
    os.remove(shm_file(name))
    assert.is_true(lim:try("k"))
    assert.is_false((lim:try("k")))
    assert.equal(1, #warnings)
    lim:close()
  end)

  describe("adaptive rate", function()
    it("cuts by 15 % on throttling, once per second, down to the floor", function()
      local c = fake_clock()
      local lim = throttle.limiter{ rate = 30, guard = 0, clock = c.clock, sleep = c.sleep }
      assert.equal(25.5, lim:feedback("k", "throttled"))
      -- a burst of throttles for requests sent before the cut counts once
      assert.equal(25.5, lim:feedback("k", "throttled"))
      c.t = c.t + 0.999
      assert.equal(25.5, lim:feedback("k", "throttled"))
      c.t = c.t + 0.002
      assert.near(25.5 * 0.85, lim:feedback("k", "throttled"), 1e-12)
      for _ = 1, 40 do
        c.t = c.t + 2
        lim:feedback("k", "throttled")
      end
      assert.equal(1, lim:rate("k"))
      assert.equal(30, lim:rate("other"))              -- per key
    end)

    it("spaces requests at the reduced rate", function()
      local c = fake_clock()
      local lim = throttle.limiter{ rate = 10, guard = 0, clock = c.clock, sleep = c.sleep }
      assert.is_true(lim:acquire("k"))                 -- at 10/s: the next slot in 0.1 s
      lim:feedback("k", "throttled")                   -- 8.5/s
      assert.is_true(lim:acquire("k"))
      assert.is_true(lim:acquire("k"))
      -- the slot granted at 10/s is 0.1 s away; the one after is 1/8.5 s further
      assert.equal(2, #c.slept)
      assert.near(0.1, c.slept[1], 1e-9)
      assert.near(1 / 8.5, c.slept[2], 1e-9)
      lim:close()
    end)

    it("recovers additively: +0.5/s per second's worth of successes", function()
      local c = fake_clock()
      local lim = throttle.limiter{ rate = 30, clock = c.clock, sleep = c.sleep }
      assert.equal(25.5, lim:feedback("k", "throttled"))
      assert.near(25.5 + 0.5 / 25.5, lim:feedback("k", "ok"), 1e-12)
      -- about 26 successes (one second's worth at ~25.5/s) raise the rate by 0.5/s
      local n = 1
      while lim:rate("k") < 26 do
        lim:feedback("k", "ok")
        n = n + 1
      end
      assert.is_true(n >= 25 and n <= 27, tostring(n))
      -- and all the way back, capped at the configured rate
      for _ = 1, 1000 do lim:feedback("k", "ok") end
      assert.equal(30, lim:rate("k"))
      assert.is_nil(lim.keys["k"])                     -- forgotten at full rate
      lim:close()
    end)

    it("can be turned off", function()
      local lim = throttle.limiter{ rate = 30, adaptive = false }
      assert.equal(30, lim:feedback("k", "throttled"))
      assert.equal(30, lim:rate("k"))
      lim:close()
    end)

    it("keeps a floor of the configured rate when that is below 1/s", function()
      local c = fake_clock()
      local lim = throttle.limiter{ rate = 0.5, clock = c.clock }
      assert.equal(0.5, lim:feedback("k", "throttled"))
      lim:close()
    end)
  end)
end)
