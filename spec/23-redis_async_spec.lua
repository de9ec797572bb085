-- The Redis store's non-blocking decisions (src/limiter/redis_async.c through
-- lim:send/pump/collect/forget/wait_info): the same decision and the same reply checks
-- as take, against a real redis-server; nothing waits, whatever the server does: one
-- that accepts and never answers (SIGSTOP), a port where nothing listens, a restart
-- mid-run (NOSCRIPT), a refused AUTH, a host name lookup that hangs; a fork.
local core = require "aliyun.live.core"
local helpers = require "helpers"

local monotonic = core.monotonic

local function unique(p) return ("%s-%d-%d"):format(p, os.time(), math.random(1e9)) end

-- This thread's voluntary context switches: it waited for something (poll with a
-- timeout, a blocking read or connect, a lock).
local function switches()
  local f = io.open("/proc/thread-self/status")
  if not f then return 0 end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("\nvoluntary_ctxt_switches:%s*(%d+)")) or 0
end

-- Run f() and say how long it took and whether it waited.
local function timed(f, ...)
  local v0 = switches()
  local t0 = monotonic()
  local a, b, c = f(...)
  local dt = monotonic() - t0
  return dt, switches() > v0, a, b, c
end

-- The calls of one store, watched: none may wait (a voluntary context switch), none may
-- spin (50 ms of CPU time; more under a sanitizer or valgrind). A call's real work is
-- well under 1 ms, but on a loaded 2-CPU machine its CPU time read 2.7-3.2 ms now and
-- then, which a 2 ms bound took for a failure; a spin costs far more. Wall time is only
-- kept: the machine is shared, and a call it does not run for a while has not waited.
local function watcher()
  local w = { worst = 0, calls = 0 }
  function w.call(f, ...)
    local c0 = os.clock()
    local dt, waited, a, b, c = timed(f, ...)
    local cpu = os.clock() - c0
    w.calls = w.calls + 1
    assert(not waited or helpers.valgrind, "a store call waited")
    assert(cpu <= 0.05 * helpers.slowdown, ("a store call worked %.3f ms"):format(cpu * 1000))
    if dt > w.worst then w.worst = dt end
    return a, b, c
  end
  return w
end

-- Pump and collect until every ticket is answered (polling the store's descriptor as
-- an event loop would); → { [ticket] = { wait, outcome } }.
local function settle(store, tickets, limit, w)
  local got, left = {}, #tickets
  local deadline = monotonic() + (limit or 10)
  local call = w and w.call or function(f, ...) return f(...) end
  while left > 0 do
    assert(monotonic() < deadline, left .. " decisions still pending")
    call(store.pump, store)
    for _, t in ipairs(tickets) do
      if not got[t] then
        local a, b = call(store.collect, store, t)
        if a ~= "pending" then
          got[t] = { a, b }
          left = left - 1
        end
      end
    end
    if left > 0 then core.sleep(0.001) end
  end
  return got
end

describe("redis store, non-blocking", function()
  local redis
  lazy_setup(function() redis = helpers.redis_server() end)
  lazy_teardown(function() if redis then redis:stop() end end)

  local function cli(port, args)
    return (helpers.run(("redis-cli -p %d %s 2>&1"):format(port, args)))
  end

  it("says which stores decide at once, and refuses them the non-blocking calls", function()
    local l = core.limiter("local")
    assert.is_false(l:is_async())
    local ok, err = pcall(l.send, l, "k", 1, 0, 0, 1, false)
    assert.is_false(ok)
    assert.matches("this store decides at once: use take", err)
    assert.has_error(function() l:pump() end)
    l:close()
    local s = assert(core.limiter(redis.url))
    assert.is_true(s:is_async())
    assert.same({ nil, nil, nil }, { s:wait_info() })   -- nothing sent: nothing to wait on
    assert.has_error(function() s:send("", 1, 0, 0, 1, false) end)
    assert.has_error(function() s:send("k", 0, 0, 0, 1, false) end)
    assert.has_error(function() s:send("k", 1, 0, 65, 1, false) end)
    assert.has_error(function() s:send("k", 1, 0, 0, 1, "no") end)
    assert.has_error(function() s:collect(0) end)
    ok, err = pcall(s.collect, s, 12345)
    assert.is_false(ok)
    assert.matches("no such ticket %(already collected or forgotten%?%)", err)
    s:close()
    assert.has_error(function() s:send("k", 1, 0, 0, 1, false) end)
  end)

  it("makes the decision take makes, on the same keys, many in flight at once", function()
    local key = unique("a")
    local s, sync = assert(core.limiter(redis.url .. "/2")), assert(core.limiter(redis.url .. "/2"))
    local w = watcher()
    local tickets, t0 = {}, monotonic()
    for i = 1, 200 do tickets[i] = assert(w.call(s.send, s, key, 0.01, 0, 0, 1, true)) end
    local fd, ev, secs = s:wait_info()           -- (answers may all be in already)
    if fd then assert.is_true(fd % 1 == 0 and fd >= 0 and (ev == "r" or ev == "w" or ev == "rw")) end
    if secs then assert.is_true(secs > 0.5 and secs <= 1, tostring(secs)) end   -- 1 s deadlines
    local got = settle(s, tickets, 10, w)
    local elapsed = monotonic() - t0
    -- reserved slots T apart on the server's clock (each wait counts from its own
    -- decision, a little later than the one before): 200 slots span 1.99 s
    local waits = {}
    for i, t in ipairs(tickets) do
      assert.equal("granted", got[t][2], tostring(got[t][2]))
      waits[i] = got[t][1]
    end
    table.sort(waits)
    assert.equal(0, waits[1])
    assert.is_true(waits[#waits] >= 1.99 - elapsed - 1e-3, ("%.4f after %.4f s"):format(waits[#waits], elapsed))
    -- the synchronous path sees the non-blocking one's grants
    local after = sync:take(key, 0.01, 0, 0, 1, true)
    assert.is_true(after >= 2 - (monotonic() - t0) - 1e-3, tostring(after))
    assert.same({ nil, nil, nil }, { select(3, s:wait_info()) })   -- no deadline left
    assert.is_false(pcall(s.collect, s, tickets[1]))               -- an answer uses it up
    -- denied, too_long, a window
    local t = { s:send(key .. "w", 10, 0, 2, 10, false), s:send(key .. "w", 10, 5, 2, 10, false),
                s:send(key .. "w", 10, 20, 2, 10, false), s:send(key .. "w", 10, 0, 2, 10, true, 1) }
    got = settle(s, t)
    assert.same("granted", got[t[1]][2])
    assert.same("denied", got[t[2]][2])
    assert.same("granted", got[t[3]][2])      -- tau 20 lets it in; now 2 grants in the window
    assert.same("too_long", got[t[4]][2])
    s:close()
    sync:close()
  end)

  it("never waits on a Redis that accepts and never answers: each decision fails at its deadline", function()
    local r2 = helpers.redis_server()
    local s = assert(core.limiter(r2.url, { timeout = 0.3 }))
    settle(s, { s:send("k", 1, 0, 0, 1, false) })            -- connected
    os.execute("kill -STOP " .. r2.pid)
    local w = watcher()
    local t0 = monotonic()
    local tickets = {}
    for i = 1, 5 do tickets[i] = assert(w.call(s.send, s, "k" .. i, 1, 0, 0, 1, false)) end
    local fd, ev, secs = s:wait_info()
    assert.is_truthy(fd)
    assert.is_truthy(ev)
    assert.is_true(secs > 0.2 and secs <= 0.3, tostring(secs))
    local got = settle(s, tickets, 10, w)
    local took = monotonic() - t0
    os.execute("kill -CONT " .. r2.pid)
    for _, t in ipairs(tickets) do
      assert.is_nil(got[t][1])
      assert.matches("^redis 127.0.0.1:%d+: script: timed out$", got[t][2])
    end
    assert.is_true(took >= 0.29 and took < 2, tostring(took))
    assert.is_true(w.calls > 50)
    -- the next decision reconnects to the server that answers again
    local t = s:send("k-after", 1, 0, 0, 1, false)
    assert.equal(0, settle(s, { t })[t][1])
    s:close()
    r2:stop()
  end)

  it("fails at once where nothing listens, and reconnects when something does", function()
    local port = helpers.free_port()
    local s = assert(core.limiter("redis://127.0.0.1:" .. port))
    local w = watcher()
    local t = w.call(s.send, s, "k", 1, 0, 0, 1, false)
    local got = settle(s, { t }, 2, w)[t]
    assert.is_nil(got[1])
    assert.matches("^redis 127.0.0.1:" .. port .. ": connect: Connection refused$", got[2])
    local r2 = helpers.redis_server { port = port }
    t = s:send("k", 1, 0, 0, 1, false)
    assert.equal(0, settle(s, { t })[t][1])
    r2:stop()
    s:close()
  end)

  it("survives a restart mid-run: what was in flight fails, the next one sends the script", function()
    local r2 = helpers.redis_server()
    local port = r2.port
    local s = assert(core.limiter(r2.url .. "/1"))
    settle(s, { s:send("k", 0.001, 0, 0, 1, false) })
    os.execute("kill -STOP " .. r2.pid)
    local lost = s:send("k", 0.001, 0, 0, 1, false)
    s:pump()
    r2:stop("KILL")                            -- it dies with the decision unanswered
    local got = settle(s, { lost })[lost]
    assert.is_nil(got[1])
    assert.matches("^redis 127.0.0.1:%d+: script: ", got[2])
    r2 = helpers.redis_server { port = port }
    assert.matches("0", cli(port, "script exists " .. select(2, core.limiter_script())))
    local t = { s:send("k2", 0.001, 0, 1, 30, false), s:send("k3", 0.001, 0, 1, 30, false) }
    got = settle(s, t)
    assert.equal("granted", got[t[1]][2], tostring(got[t[1]][2]))
    assert.equal("granted", got[t[2]][2], tostring(got[t[2]][2]))
    assert.equal("1", cli(port, "-n 1 exists aliyun-live:k2"):match("%d+"))
    -- and once more after SCRIPT FLUSH
    cli(port, "script flush")
    local f = s:send("k4", 0.001, 0, 1, 30, false)
    assert.equal("granted", settle(s, { f })[f][2])
    s:close()
    r2:stop()
  end)

  it("authenticates and selects, failing every decision behind a refused AUTH", function()
    local r2 = helpers.redis_server { args = "--requirepass s3cr3t" }
    local good = assert(core.limiter(("redis://:s3cr3t@127.0.0.1:%d/3"):format(r2.port)))
    local bad = assert(core.limiter(("redis://:wr0ng@127.0.0.1:%d/3"):format(r2.port)))
    local none = assert(core.limiter(r2.url))
    local t = good:send("k", 5, 0, 0, 1, false)
    assert.equal("granted", settle(good, { t })[t][2])
    assert.equal("1", cli(r2.port, "-a s3cr3t -n 3 exists aliyun-live:k 2>/dev/null"):match("(%d+)%s*$"))
    local b = { bad:send("k", 5, 0, 0, 1, false), bad:send("k", 5, 0, 0, 1, false) }
    local got = settle(bad, b)
    for _, x in ipairs(b) do
      assert.is_nil(got[x][1])
      assert.matches("^redis 127.0.0.1:%d+: AUTH: ", got[x][2])
      assert.not_matches("wr0ng", got[x][2])
    end
    local n = none:send("k", 5, 0, 0, 1, false)
    assert.matches("NOAUTH", settle(none, { n })[n][2])
    good:close()
    bad:close()
    none:close()
    r2:stop()
  end)

  it("checks every reply as take does", function()
    local host = helpers.root .. "/" .. (os.getenv("BUILD") or "build/lua5.4") .. "/spec/resp_canned"
    local cases = {
      { "*2\\r\\n:9223372036854775807\\r\\n:0\\r\\n", true, "nonsense reply to the limiter script" },
      { "*1\\r\\n:0\\r\\n", true, "nonsense reply to the limiter script" },
      { "*2\\r\\n:0\\r\\n:1\\r\\n", false, "nonsense reply %(denied with wait 0%), not trusted" },
      { "*2\\r\\n:100\\r\\n:0\\r\\n", false, "nonsense reply %(granted a later slot without reserve%)" },
      { "-ERR something\\r\\n", false, "^redis 127.0.0.1:%d+: ERR something$" },
    }
    for _, c in ipairs(cases) do
      local h = helpers.spawn(("%s %s"):format(host, helpers.sh_quote(c[1])), "listening on (%d+)")
      local s = assert(core.limiter("redis://127.0.0.1:" .. h.match))
      local t = s:send("k", 1, 0, 1, 1, c[2])
      local got = settle(s, { t })[t]
      assert.is_nil(got[1])
      assert.matches(c[3], got[2])
      s:close()
      h:stop()
    end
  end)

  it("forgets tickets nobody will collect, and bounds those in flight", function()
    local r2 = helpers.redis_server()
    local s = assert(core.limiter(r2.url))
    settle(s, { s:send("k", 1, 0, 0, 1, false) })
    os.execute("kill -STOP " .. r2.pid)
    local tickets, last, err = {}, nil, nil
    for i = 1, 1100 do
      last, err = s:send("k" .. i, 1, 0, 0, 1, false)
      if not last then break end
      tickets[i] = last
    end
    assert.equal(1024, #tickets)
    assert.matches("more than 1024 decisions in flight or uncollected", err)
    for i = 1, 1000 do s:forget(tickets[i]) end
    assert.is_false(pcall(s.collect, s, tickets[1]))
    assert.truthy(s:send("again", 1, 0, 0, 1, false))
    os.execute("kill -CONT " .. r2.pid)
    s:close()                                  -- with decisions in flight
    r2:stop()
  end)

  it("resolves a host name without blocking", function()
    local s = assert(core.limiter(("redis://localhost:%d"):format(redis.port)))
    local w = watcher()
    local t = w.call(s.send, s, "k", 1, 0, 0, 1, false)
    assert.equal("granted", settle(s, { t }, 5, w)[t][2])
    s:close()
  end)

  it("gives up on a host name lookup that hangs, at the deadline, never waiting", function()
    local _, can = helpers.run("unshare -m true 2>/dev/null")
    if not can then
      pending("needs unshare -m (root) for a resolver that hangs")
      return
    end
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir .. " && mkfifo " .. dir .. "/hosts")
    local f = assert(io.open(dir .. "/nsswitch.conf", "w"))
    f:write("hosts: files\n")
    f:close()
    local file = dir .. "/child.lua"
    f = assert(io.open(file, "w"))
    f:write("package.cpath = ", ("%q"):format(package.cpath), "\n", [[
      local core = require "aliyun.live.core"
      local s = assert(core.limiter("redis://stuck-name:6379", { timeout = 0.5 }))
      local t0, worst = core.monotonic(), 0
      local t = s:send("k", 1, 0, 0, 1, false)
      local a, b
      repeat
        local c0 = core.monotonic()
        s:pump()
        a, b = s:collect(t)
        worst = math.max(worst, core.monotonic() - c0)
        core.sleep(0.002)
      until a ~= "pending"
      print(a, b)
      print("took", core.monotonic() - t0, "worst", worst)
      assert(io.open("/etc/hosts", "w")):close()   -- let the lookup end before exit
      core.sleep(0.2)
      s:close()
    ]])
    f:close()
    local lua, asan = helpers.lua, os.getenv("ASAN_OPTIONS")
    if asan then lua = ("env ASAN_OPTIONS=%s:detect_leaks=0 %s"):format(asan, lua) end   -- as in spec/22
    local out, ok = helpers.run(("timeout 30 unshare -m sh -c %s 2>&1"):format(helpers.sh_quote(
      ("mount --bind %s/hosts /etc/hosts && mount --bind %s/nsswitch.conf /etc/nsswitch.conf"
       .. " && %s %s"):format(dir, dir, lua, file))))
    os.execute("rm -rf " .. dir)
    assert.is_true(ok, out)
    assert.matches("nil\tredis stuck%-name:6379: resolve: timed out", out)
    local took, worst = out:match("took\t([%d.e-]+)\tworst\t([%d.e-]+)")
    assert.is_true(tonumber(took) >= 0.45 and tonumber(took) < 5, out)
    assert.is_true(tonumber(worst) < 0.05, out)   -- a lookup is polled, never waited for
  end)

  it("in a forked child, fails what it inherited in flight and decides on its own connection", function()
    local luajit_core = helpers.root .. "/build/luajit/aliyun/live/core.so"
    if not helpers.read_file(luajit_core) then error("build/luajit is missing (make test builds it)") end
    local r2 = helpers.redis_server()
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write([[
      package.cpath = ... .. "/build/luajit/?.so;" .. package.cpath
      local url, rpid = select(2, ...)
      local ffi = require "ffi"
      ffi.cdef "int fork(void); int waitpid(int pid, int *status, int options); void _exit(int);"
      local core = require "aliyun.live.core"
      local s = assert(core.limiter(url))
      local function settle(t)
        for _ = 1, 5000 do
          s:pump()
          local a, b = s:collect(t)
          if a ~= "pending" then return a, b end
          core.sleep(0.001)
        end
        return "still pending"
      end
      print("first", settle(s:send("k", 0.001, 0, 0, 1, false)))
      os.execute("kill -STOP " .. rpid)
      local inflight = s:send("k", 0.001, 0, 0, 1, false)
      s:pump()
      local pid = ffi.C.fork()
      if pid == 0 then
        print("child inherited", settle(inflight))
        os.execute("kill -CONT " .. rpid)
        print("child own", settle(s:send("c", 0.001, 0, 0, 1, false)))
        io.stdout:flush()
        ffi.C._exit(0)
      end
      ffi.C.waitpid(pid, nil, 0)
      print("parent inherited", settle(inflight))
    ]])
    f:close()
    local out = helpers.run(("cd %s && luajit %s %s %s %d 2>&1"):format(helpers.sh_quote(helpers.root),
      file, helpers.sh_quote(helpers.root), r2.url, r2.pid))
    os.remove(file)
    os.execute("kill -CONT " .. r2.pid)
    r2:stop()
    assert.matches("first\t0\tgranted", out)
    assert.matches("child inherited\tnil\tredis 127.0.0.1:%d+: the process forked", out)
    assert.matches("child own\t0\tgranted", out)
    assert.matches("parent inherited\t0\tgranted", out)
  end)
end)
