-- aliyun.live.ngx.store, the `ngx:DICT` limiter store, inside a real nginx with 2
-- workers (spec/nginx.lua): concurrent handlers in both workers share one key's quota
-- exactly, as notes/limiter-algorithm.md decides it.
local helpers = require "helpers"
local nginx = require "nginx"
local cjson = require "cjson.safe"

-- GET /take?key=&interval=&tau=&count=&window=&reserve=&max_wait=&times=&dict=
-- → {pid, takes = [{a, b, wait, outcome, err}]}: `times` takes in a row (yielding in
-- between), a and b the store's clock just before and after each.
-- GET /hold?key=&ttl=: a lock left as a holder that died would leave it, then one take.
-- GET /die?key=: take the key's lock as a decision would, then SIGKILL this worker.
local LOCATIONS = [[
location = /take { content_by_lua_block {
  local store = require "aliyun.live.ngx.store"
  local cjson = require "cjson"
  local q = ngx.req.get_uri_args()
  local s = assert(store.new(q.dict or "lim"))
  if q.hold then ngx.update_time() assert(ngx.shared[q.dict or "lim"]:safe_add(store.lock_name(q.key), "dead", tonumber(q.hold))) end
  local out = {}
  for i = 1, tonumber(q.times or 1) do
    local a = store.clock()
    local wait, outcome = s:take(q.key, tonumber(q.interval), tonumber(q.tau or 0), tonumber(q.count or 0),
      tonumber(q.window), q.reserve == "1", tonumber(q.max_wait))
    local b = store.clock()
    out[i] = { a = a, b = b, wait = wait, outcome = outcome }
    if not wait then out[i].err = outcome end
    ngx.sleep(0)
  end
  ngx.say(cjson.encode({ pid = ngx.worker.pid(), takes = out }))
} }
location = /die { content_by_lua_block {
  local store = require "aliyun.live.ngx.store"
  local ffi = require "ffi"
  pcall(ffi.cdef, "int kill(int pid, int sig); int getpid(void);")
  assert(ngx.shared.lim:safe_add(store.lock_name(ngx.var.arg_key), "dying", store.LOCK_TTL))
  ffi.C.kill(ffi.C.getpid(), 9)
} }
location = /script { content_by_lua_block {
  ngx.req.read_body()
  local f = assert(loadstring(ngx.req.get_body_data()))
  local ok, res = pcall(f)
  ngx.say(require("cjson").encode({ ok = ok, res = res }))
} }
]]

describe("aliyun.live.ngx.store", function()
  it("loads outside nginx and says where it runs", function()
    local store = require "aliyun.live.ngx.store"
    local s, err = store.new("aliyun_live")
    assert.is_nil(s)
    assert.matches("runs only inside nginx", err)
    assert.has_error(function() store.new(42) end)
  end)
end)

describe("aliyun.live.ngx.store in nginx", function()
  local srv

  lazy_setup(function()
    srv = nginx.start { locations = LOCATIONS, shared_dicts = { lim = "1m", tiny = "32k" } }
  end)
  lazy_teardown(function() srv:stop() end)

  local function q(t)
    local parts = {}
    for k, v in pairs(t) do
      parts[#parts + 1] = k .. "=" .. tostring(v):gsub("[^%w%-_.]", function(c) return ("%%%02X"):format(c:byte()) end)
    end
    return "/take?" .. table.concat(parts, "&")
  end

  -- Runs Lua in a handler; returns what it returned.
  local function script(code)
    local status, res = srv:post("/script", code)
    assert.equal(200, status, tostring(res))
    assert.is_true(res.ok, tostring(res.res))
    return res.res
  end

  -- `n` requests at once, `times` takes each; every take, and the set of workers.
  local function burst(n, args)
    local reqs = {}
    for i = 1, n do reqs[i] = q(args) end
    local takes, pids = {}, {}
    for _, r in ipairs(srv:parallel(reqs)) do
      assert.equal(200, r.status, r.body)
      pids[r.json.pid] = true
      for _, t in ipairs(r.json.takes) do takes[#takes + 1] = t end
    end
    local workers = 0
    for _ in pairs(pids) do workers = workers + 1 end
    return takes, workers
  end

  -- Grant times, sorted: each in [a + wait, b + wait]; e = a + wait is at most D early,
  -- so the k-th smallest e is within D of the k-th grant.
  local function grants(takes)
    local e, D = {}, 0
    for _, t in ipairs(takes) do
      assert.is_nil(t.err)
      if t.outcome == "granted" then
        e[#e + 1] = t.a + t.wait
        if t.b - t.a > D then D = t.b - t.a end
      end
    end
    table.sort(e)
    return e, D + 1e-6
  end

  it("spaces reserved slots T apart across both workers", function()
    local T = 0.05
    local takes, workers = burst(40, { key = "spacing", interval = T, reserve = 1, times = 20 })
    assert.equal(2, workers)
    local e, D = grants(takes)
    assert.equal(800, #e)
    for k = 2, #e do
      assert.is_true(e[k] - e[k - 1] >= T - D, ("grants %d, %d: %.6f s apart (D %.6f)"):format(k - 1, k,
        e[k] - e[k - 1], D))
    end
    assert.is_true(e[#e] - e[1] >= 799 * T - D)
  end)

  it("never more than N in any window W", function()
    local N, W = 5, 0.5
    local takes = burst(6, { key = "window", interval = 0.001, tau = 10, count = N, window = W, reserve = 1,
                             times = 5 })
    local e, D = grants(takes)
    assert.equal(30, #e)
    for k = 1, #e - N do
      assert.is_true(e[k + N] - e[k] >= W - D, ("grants %d and %d are %.6f s apart"):format(k, k + N,
        e[k + N] - e[k]))
    end
  end)

  it("tries: exactly one grant per interval, exactly N per window, among 800 at once", function()
    local takes = burst(40, { key = "try-gcra", interval = 30, times = 20 })
    local granted = 0
    for _, t in ipairs(takes) do
      if t.outcome == "granted" then
        granted = granted + 1
        assert.equal(0, t.wait)
      else
        assert.equal("denied", t.outcome)
        assert.is_true(t.wait > 0 and t.wait <= 30)
      end
    end
    assert.equal(1, granted)
    takes = burst(40, { key = "try-window", interval = 1e-6, tau = 100, count = 7, window = 30, times = 20 })
    granted = 0
    for _, t in ipairs(takes) do if t.outcome == "granted" then granted = granted + 1 end end
    assert.equal(7, granted)
  end)

  it("reserve vs try, too_long, tau, reset", function()
    local r = script [[
      local s = require("aliyun.live.ngx.store").new("lim")
      local out = {}
      local function t(...) local w, o = s:take(...) out[#out + 1] = { w, o } end
      t("rv", 10, 0, 0, nil, false)          -- 1: granted now
      t("rv", 10, 0, 0, nil, false)          -- 2: denied, ~10
      t("rv", 10, 0, 0, nil, false, 1)       -- 3: too_long
      t("rv", 10, 0, 0, nil, true, 5)        -- 4: too_long, reserving nothing
      t("rv", 10, 0, 0, nil, true)           -- 5: granted in ~10
      t("rv", 10, 0, 0, nil, false)          -- 6: denied, ~20
      t("rv", 10, 0, 0, nil, true, 25)       -- 7: granted in ~20
      out[#out + 1] = { s:reset("rv") }      -- 8
      t("rv", 10, 0, 0, nil, false)          -- 9: granted now
      for _ = 1, 3 do t("burst", 1, 2, 0, nil, false) end   -- 10-12: a burst of 3
      t("burst", 1, 2, 0, nil, false)        -- 13: denied, ~1
      t("rv", 10, 0, 0, nil, false, -1)      -- 14: negative max_wait = none: denied
      return out
    ]]
    local function near(x, want) return math.abs(x - want) < 0.1 end
    assert.same({ 0, "granted" }, r[1])
    assert.equal("denied", r[2][2])
    assert.is_true(near(r[2][1], 10))
    assert.equal("too_long", r[3][2])
    assert.equal("too_long", r[4][2])
    assert.is_true(near(r[4][1], 10))
    assert.equal("granted", r[5][2])
    assert.is_true(near(r[5][1], 10))
    assert.equal("denied", r[6][2])
    assert.is_true(near(r[6][1], 20))
    assert.equal("granted", r[7][2])
    assert.is_true(near(r[7][1], 20))
    assert.same({ true }, r[8])
    assert.same({ 0, "granted" }, r[9])
    for i = 10, 12 do assert.same({ 0, "granted" }, r[i]) end
    assert.equal("denied", r[13][2])
    assert.is_true(near(r[13][1], 1))
    assert.equal("denied", r[14][2])
  end)

  it("keys are binary-safe and separate; the state expires when it is forgotten", function()
    local r = script [[
      local store = require "aliyun.live.ngx.store"
      local s = store.new("lim")
      local a = { s:take("k\0a", 10, 0, 0, nil, false) }
      local b = { s:take("k\0b", 10, 0, 0, nil, false) }
      local c = { s:take("k\0a", 10, 0, 0, nil, false) }
      s:take("ttl-gcra", 0.3, 0, 0, nil, true)
      s:take("ttl-window", 0.001, 0, 1, 2, true)
      local d = ngx.shared.lim
      return { a, b, c[2], d:ttl(store.state_name("ttl-gcra")), d:ttl(store.state_name("ttl-window")),
               tostring(s), #d:get(store.state_name("k\0a")) }
    ]]
    assert.same({ 0, "granted" }, r[1])
    assert.same({ 0, "granted" }, r[2])
    assert.equal("denied", r[3])
    assert.is_true(r[4] > 0.25 and r[4] <= 0.31, r[4])
    assert.is_true(r[5] > 1.9 and r[5] <= 2.01, r[5])
    assert.equal("aliyun.live.Limiter (ngx:lim)", r[6])
    assert.equal(536, r[7])
  end)

  it("a lock left by a dead holder expires; a live one that stays is reported", function()
    local store = require "aliyun.live.ngx.store"
    -- A lock as a holder that died would leave it: the take waits for its expiry.
    local res = cjson.decode((select(2, srv:get(q { key = "dead", interval = 1, hold = store.LOCK_TTL }))))
    local t = res.takes[1]
    assert.equal("granted", t.outcome, t.err)
    assert.is_true(t.b - t.a >= store.LOCK_TTL - 0.01, ("waited %.3f s"):format(t.b - t.a))
    assert.is_true(t.b - t.a < store.LOCK_WAIT, ("waited %.3f s"):format(t.b - t.a))
    -- A worker really dies holding a key's lock; every worker can take the key soon after.
    helpers.curl(helpers.sh_quote(srv.url .. "/die?key=killed"))
    local ok = 0
    for _ = 1, 4 do
      res = cjson.decode((select(2, srv:get(q { key = "killed", interval = 0.001, reserve = 1 },
        "-H 'Connection: close'"))))
      if res.takes[1].outcome == "granted" then ok = ok + 1 end
    end
    assert.equal(4, ok)
    assert.matches("exited on signal 9", srv:error_log())
    -- A lock held longer than LOCK_WAIT: the take gives up and says why.
    res = cjson.decode((select(2, srv:get(q { key = "busy", interval = 1, hold = 5 }))))
    t = res.takes[1]
    assert.is_nil(t.wait)
    assert.matches("ngx:lim: the key's lock busy for 0.5s", t.err)
    assert.is_true(t.b - t.a >= store.LOCK_WAIT - 0.01 and t.b - t.a < store.LOCK_WAIT + 1)
  end)

  it("a full dict fails the decision and says so", function()
    local r = script [[
      local store = require "aliyun.live.ngx.store"
      local d = ngx.shared.tiny
      local s = assert(store.new("tiny"))
      local before = { s:take("kept", 10, 0, 0, nil, false) }
      local i = 0                            -- every slab size class used up
      for _, size in ipairs { 4000, 2000, 1000, 500, 250, 120, 60, 30, 1 } do
        repeat i = i + 1 until not d:safe_set("fill" .. i, ("x"):rep(size))
      end
      local full = { s:take("new-key", 1, 0, 0, nil, false) }
      local kept = { s:take("kept", 10, 0, 0, nil, false) }
      d:flush_all()
      d:flush_expired()
      local after = { s:take("new-key", 1, 0, 0, nil, false) }
      return { before, full, after, kept, i }
    ]]
    assert.same({ 0, "granted" }, r[1])
    assert.equal(cjson.null, r[2][1])
    assert.matches("ngx:tiny: cannot .*: no memory %(the dict is full%)", r[2][2])
    assert.same({ 0, "granted" }, r[3])
    assert.not_equal("granted", r[4][2], "a full dict must not lose a key's state")
    assert.is_true(r[5] > 10)
  end)

  it("refuses bad arguments, a closed store and a missing dict", function()
    local r = script [[
      local store = require "aliyun.live.ngx.store"
      local s = store.new("lim")
      local errs = {}
      for i, args in ipairs {
        { "", 1, 0, 0, nil, true }, { ("k"):rep(129), 1, 0, 0, nil, true }, { 5, 1, 0, 0, nil, true },
        { "k", 0, 0, 0, nil, true }, { "k", -1, 0, 0, nil, true }, { "k", 1, -1, 0, nil, true },
        { "k", 1, 0, 65, 1, true }, { "k", 1, 0, 1.5, 1, true }, { "k", 1, 0, 3, nil, true },
        { "k", 1, 0, 3, 0, true }, { "k", 1, 0, 0, nil, nil }, { "k", 1, 0, 0, nil, true, "x" },
        { "k", 0 / 0, 0, 0, nil, true }, { "k", 1e10, 0, 0, nil, true } } do
        local ok, err = pcall(s.take, s, unpack(args, 1, 7))
        errs[i] = not ok and err or "no error"
      end
      local missing = { store.new("nope") }
      ngx.shared.lim:set(store.state_name("foreign"), "not ours")
      local foreign = { s:take("foreign", 1, 0, 0, nil, true) }
      local rok, rerr = pcall(s.reset, s, "")
      s:close()
      local ok, closed = pcall(s.take, s, "k", 1, 0, 0, nil, true)
      return { errs, missing, closed, tostring(s), foreign, rerr }
    ]]
    for _, e in ipairs(r[1]) do assert.matches("bad argument #%d to 'take'", e) end
    assert.matches("key must be 1 to 128 bytes", r[1][1])
    assert.matches("count must be an integer", r[1][7])
    assert.matches("window must be", r[1][9])
    assert.equal(cjson.null, r[2][1])
    assert.equal("lua_shared_dict nope …; is missing from nginx.conf (the ngx:nope limiter store keeps its "
      .. "state there)", r[2][2])
    assert.matches("the limiter is closed", r[3])
    assert.equal("aliyun.live.Limiter (closed)", r[4])
    assert.equal(cjson.null, r[5][1])
    assert.equal("ngx:lim: the key's value in the dict is not a limiter state", r[5][2])
    assert.matches("bad argument #1 to 'reset' %(key must be 1 to 128 bytes%)", r[6])
  end)
end)
