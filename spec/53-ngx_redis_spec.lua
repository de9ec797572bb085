-- The redis:// limiter store inside nginx (aliyun.live.ngx.redis): cosockets instead
-- of hiredis, so a worker never blocks on Redis. A real nginx with 2 workers
-- (spec/nginx.lua) and a real redis-server: the decision spaces slots across both
-- workers, survives a restarted Redis (NOSCRIPT), authenticates and selects a
-- database without showing the password, times out on a Redis that accepts and never
-- answers while the worker keeps serving, and holds the quota end to end.
local live = require "aliyun.live"
local core = require "aliyun.live.core"
local cjson = require "cjson.safe"
local helpers = require "helpers"
local nginx = require "nginx"

local function have_luajit_core()
  return helpers.read_file(helpers.root .. "/build/luajit/aliyun/live/core.so") ~= nil
end

-- GET /take?url=&key=&interval=&tau=&count=&window=&reserve=&max_wait=&times=&timeout=
-- → {pid, name, takes = [{a, b, wait, outcome, err}]}; a and b: ngx.now() around each.
-- GET /resume?emu=&s=&url=: a resume through live.limiter{store = url}.
local LOCATIONS = [[
location = /take { content_by_lua_block {
  local redis = require "aliyun.live.ngx.redis"
  local cjson = require "cjson"
  local q = ngx.req.get_uri_args()
  local s = assert(redis.new(q.url, { timeout = tonumber(q.timeout) }))
  local out = {}
  for i = 1, tonumber(q.times or 1) do
    ngx.update_time()
    local a = ngx.now()
    local wait, outcome = s:take(q.key, tonumber(q.interval), tonumber(q.tau or 0), tonumber(q.count or 0),
      tonumber(q.window or 1), q.reserve == "1", tonumber(q.max_wait))
    ngx.update_time()
    out[i] = { a = a, b = ngx.now(), wait = wait, outcome = outcome }
    if not wait then out[i].err = outcome end
  end
  ngx.say(cjson.encode({ pid = ngx.worker.pid(), name = tostring(s), takes = out }))
} }
location = /reset { content_by_lua_block {
  local s = assert(require("aliyun.live.ngx.redis").new(ngx.var.arg_url))
  ngx.say(tostring(s:reset(ngx.var.arg_key)))
} }
location = /resume { content_by_lua_block {
  local live = require "aliyun.live"
  local cjson = require "cjson.safe"
  -- 50 ms guard: the emulator, nginx, Redis and 90 clients share two cores here, and a
  -- request can reach the emulator that much after its slot (spec/52 says the same).
  CLIENTS = CLIENTS or {}
  local url = ngx.var.arg_url
  CLIENTS[url] = CLIENTS[url] or live.new { access_key_id = "testid", access_key_secret = "testsecret",
    endpoint = ngx.var.arg_emu, retry = { attempts = 1 },
    limiter = live.limiter { rate = 30, store = url, guard = 0.05 } }
  local res, err = CLIENTS[url]:resume { domain = "load.example.com", app = "a", stream = ngx.var.arg_s }
  ngx.say(cjson.encode(res and { RequestId = res.request_id }
    or { Code = err.code, Message = err.message }))
} }
location = /in_set {
  set_by_lua_block $out {
    local s = require("aliyun.live.ngx.redis").new(ngx.var.arg_url)
    local w, err = s:take("k", 1, 0, 0, 1, false)
    return tostring(err)
  }
  return 200 $out;
}
]]

describe("aliyun.live.ngx.redis", function()
  it("loads outside nginx and says where it runs", function()
    local redis = require "aliyun.live.ngx.redis"
    local s, err = redis.new("redis://127.0.0.1:6379")
    assert.is_nil(s)
    assert.matches("runs only inside nginx", err)
    assert.has_error(function() redis.new("redis://h:99999") end)
    assert.has_error(function() redis.new(42) end)
  end)

  it("uses the core's script, which the C store runs", function()
    local script, sha = core.limiter_script()
    assert.matches("redis.call%('TIME'%)", script)
    assert.matches("^%x+$", sha)
    assert.equal(40, #sha)
    local a = { core.redis_args(0.1, 0.05, 3, 0.3, false) }
    assert.same({ "100000", "50000", "3", "300000", "0", "-1" }, a)
    assert.same({ core.redis_check("*2\r\n:0\r\n:0\r\n", 1, 0, 1, 1, false) }, { 0, "granted" })
    local w, msg, kind = core.redis_check("*2\r\n:0\r\n:1\r\n", 1, 0, 1, 1, false)
    assert.is_nil(w)
    assert.equal("check", kind)
    assert.matches("denied with wait 0", msg)
    _, msg, kind = core.redis_check("*2\r\n:-5\r\n:0\r\n", 1, 0, 1, 1, false)
    assert.equal("reply", kind)
    assert.equal("nonsense reply to the limiter script", msg)
    _, msg, kind = core.redis_check("-NOSCRIPT No matching script\r\n", 1, 0, 1, 1, false)
    assert.equal("noscript", kind)
    _, msg, kind = core.redis_check("-ERR oops\r\n", 1, 0, 1, 1, false)
    assert.equal("server", kind)
    assert.equal("ERR oops", msg)
    _, _, kind = core.redis_check("*2\r\n:0", 1, 0, 1, 1, false)
    assert.equal("reply", kind)
    local u = core.redis_url("redis://u:p%40ss@[::1]:7000/3")
    assert.same({ "::1", 7000, 3, "u", "p@ss", "redis://u:***@[::1]:7000/3" },
      { u.host, u.port, u.db, u.user, u.password, u.name })
  end)
end)

describe("aliyun.live.ngx.redis in nginx", function()
  if not have_luajit_core() then
    it("needs build/luajit (make LUA_VERSION=5.1 LUA_PC=luajit LUA=luajit)", function()
      error("build/luajit/aliyun/live/core.so is missing")
    end)
    return
  end

  local redis, srv, emu

  lazy_setup(function()
    redis = helpers.redis_server()
    emu = helpers.emulator()
    srv = nginx.start { locations = LOCATIONS }
  end)
  lazy_teardown(function()
    if srv then srv:stop() end
    if redis then redis:stop() end
    if emu then emu:stop() end
  end)

  local function q(t)
    local parts = {}
    for k, v in pairs(t) do
      parts[#parts + 1] = k .. "=" .. tostring(v):gsub("[^%w%-_.]", function(c) return ("%%%02X"):format(c:byte()) end)
    end
    return "/take?" .. table.concat(parts, "&")
  end

  local function take(args)
    local status, out = srv:get(q(args))
    assert.equal(200, status, out .. srv:error_log())
    return assert(cjson.decode(out), out)
  end

  local function cli(port, args)
    return (helpers.run(("redis-cli -p %d %s 2>&1"):format(port, args)))
  end

  it("spaces reserved slots T apart across both workers", function()
    local T, reqs = 0.05, {}
    for i = 1, 30 do reqs[i] = q { url = redis.url, key = "spacing", interval = T, reserve = 1, times = 10 } end
    local e, pids, D = {}, {}, 0
    for _, r in ipairs(srv:parallel(reqs)) do
      assert.equal(200, r.status, r.body)
      pids[r.json.pid] = true
      for _, t in ipairs(r.json.takes) do
        assert.is_nil(t.err)
        assert.equal("granted", t.outcome)
        e[#e + 1] = t.a + t.wait
        D = math.max(D, t.b - t.a)
      end
    end
    local workers = 0
    for _ in pairs(pids) do workers = workers + 1 end
    assert.equal(2, workers)
    assert.equal(300, #e)
    table.sort(e)
    -- Each grant is within [a, b] + wait in nginx's time (ms resolution), the server
    -- deciding on its own clock: the k-th grants are T apart, within D and 2 ms.
    for k = 2, #e do
      assert.is_true(e[k] - e[k - 1] >= T - D - 0.002, ("grants %d, %d: %.4f s apart (D %.4f)")
        :format(k - 1, k, e[k] - e[k - 1], D))
    end
  end)

  it("tries, denies and resets as the C store does, on the same keys", function()
    local key = ("same-%d"):format(math.random(1e9))
    local r = take { url = redis.url, key = key, interval = 2, count = 1, window = 2 }
    assert.equal("granted", r.takes[1].outcome)
    assert.matches("^aliyun.live.Limiter %(redis://127.0.0.1:%d+/0%)$", r.name)
    -- the C store sees the grant nginx made
    local c = assert(core.limiter(redis.url))
    local w, o = c:take(key, 2, 0, 1, 2, false)
    assert.equal("denied", o)
    assert.is_true(w > 1.5 and w <= 2, tostring(w))
    r = take { url = redis.url, key = key, interval = 2, count = 1, window = 2, reserve = 1, max_wait = 0.5 }
    assert.equal("too_long", r.takes[1].outcome)
    local _, out = srv:get("/reset?url=" .. redis.url .. "&key=" .. key)
    assert.equal("true\n", out)
    assert.equal(0, (c:take(key, 2, 0, 1, 2, false)))
    c:close()
  end)

  it("sends the script again after a restart (NOSCRIPT) and a SCRIPT FLUSH", function()
    local r2 = helpers.redis_server()
    local url = r2.url .. "/1"
    assert.is_nil(take({ url = url, key = "ns", interval = 0.001, times = 3 }).takes[3].err)
    cli(r2.port, "script flush")
    local r = take { url = url, key = "ns", interval = 0.001, times = 3 }
    for i = 1, 3 do assert.is_nil(r.takes[i].err, r.takes[i].err) end
    -- a restart: pooled connections are dead, the new server has no script
    local port = r2.port
    r2:stop()
    r2 = helpers.redis_server { port = port }
    local errs, ok = 0, 0
    for _ = 1, 4 do   -- each worker may find a dead pooled connection once
      local t = take { url = url, key = "ns2", interval = 0.001, count = 1, window = 30 }.takes[1]
      if t.err then errs = errs + 1 else ok = ok + 1 end
    end
    assert.is_true(ok >= 2, ("%d errors"):format(errs))
    assert.equal("1", cli(port, "-n 1 exists aliyun-live:ns2"):match("%d+"))
    r2:stop()
  end)

  it("authenticates and selects a database, never showing the password", function()
    local r2 = helpers.redis_server { args = "--requirepass s3cr3t" }
    local good = take { url = ("redis://:s3cr3t@127.0.0.1:%d/4"):format(r2.port), key = "a", interval = 1 }
    assert.is_nil(good.takes[1].err)
    assert.not_matches("s3cr3t", good.name)
    assert.equal("1", cli(r2.port, "-a s3cr3t -n 4 exists aliyun-live:a"):match("(%d+)%s*$"))
    local bad = take { url = ("redis://:wr0ng@127.0.0.1:%d/4"):format(r2.port), key = "a", interval = 1 }
    assert.matches("^redis 127.0.0.1:%d+: AUTH: ", bad.takes[1].err)
    assert.not_matches("wr0ng", bad.takes[1].err)
    local none = take { url = r2.url, key = "a", interval = 1 }
    assert.matches("NOAUTH", none.takes[1].err)
    r2:stop()
  end)

  it("shows a server's error text as one printable line, never with the password", function()
    -- A server that repeats AUTH's argument, whole and cut, among control bytes (no
    -- newline: a cosocket line ends there, hiredis's at CRLF).
    local h = helpers.spawn(("%s %s"):format(helpers.test_host("resp_canned"), helpers.sh_quote(
      "-ERR refused s3cretPW \27[31m\255 cut s3cr\\r\\n")), "listening on (%d+)")
    local r = take { url = "redis://:s3cretPW@127.0.0.1:" .. h.match, key = "echo", interval = 1 }
    h:stop()
    assert.matches("AUTH: ERR refused %*%*%* %?%[31m%? cut %*%*%*$", r.takes[1].err)
  end)

  it("times out on a Redis that never answers, and the worker keeps serving", function()
    local r2 = helpers.redis_server()
    assert.is_nil(take({ url = r2.url, key = "bh", interval = 0.001 }).takes[1].err)
    os.execute("kill -STOP " .. r2.pid)
    local reqs = {}
    for i = 1, 8 do reqs[i] = q { url = r2.url, key = "bh" .. i, interval = 0.001, timeout = 0.5 } end
    local load = srv:parallel(reqs, { background = true })
    local worst, pings, t_end = 0, 0, core.monotonic() + 1
    while core.monotonic() < t_end do
      local t = tonumber((helpers.run(("curl -s -o /dev/null -w '%%{time_total}' %s"):format(
        helpers.sh_quote(srv.url .. "/ping")))))
      if t then pings, worst = pings + 1, math.max(worst, t) end
    end
    local results = load.wait()
    os.execute("kill -CONT " .. r2.pid)
    for _, r in ipairs(results) do
      local t = r.json.takes[1]
      assert.matches("^redis 127.0.0.1:%d+: script: timeout$", t.err)
      assert.is_true(t.b - t.a >= 0.45 and t.b - t.a < 3, tostring(t.b - t.a))
    end
    assert.is_true(pings >= 5 and worst < 0.1, ("%d pings, worst %.3f s"):format(pings, worst))
    print(("\n  nginx, black-holed redis: %d pings meanwhile, the slowest %.1f ms"):format(pings, worst * 1000))
    -- a port where nothing listens
    local dead = take { url = "redis://127.0.0.1:" .. helpers.free_port(), key = "d", interval = 1 }
    assert.matches("connect: connection refused", dead.takes[1].err)
    r2:stop()
  end)

  it("fails at once, naming the phase, where cosockets do not exist", function()
    local _, out = srv:get("/in_set?url=" .. redis.url)
    assert.matches("cosockets are not available in nginx's set phase", out)
  end)

  it("holds the quota across both workers end to end, 90 resumes at once", function()
    local url = redis.url .. "/5"
    local reqs = {}
    for i = 1, 90 do reqs[i] = ("/resume?emu=%s&url=%s&s=s%d"):format(emu.url, url, i) end
    helpers.reset(emu)
    local ok, failures = 0, {}
    for i, r in ipairs(srv:parallel(reqs, { timeout = 60 })) do
      if r.json and r.json.RequestId then ok = ok + 1
      else failures[#failures + 1] = ("%d: %s %s"):format(i, r.status, r.body) end
    end
    assert.equal(90, ok, table.concat(failures, "; "))
    local stats = helpers.stats(emu)
    local peak = stats.max_per_second["testid/ResumeLiveStream"]
    assert.is_true(peak <= 30 and peak >= 20, "max_per_second " .. tostring(peak))
    assert.is_nil(stats.codes["Throttling.User"])
    print(("\n  nginx, 2 workers, redis:// over cosockets: 90 resumes, peak %d/s"):format(peak))
  end)
end)
