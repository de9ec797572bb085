-- aliyun-live resume --from against the emulator: at the quota, API errors, a failure
-- every request would share, Ctrl-C in the middle, and the progress on a terminal
-- (a pseudo-terminal from script(1)) and elsewhere.
local helpers = require "helpers"
local core = require "aliyun.live.core"

local q = helpers.sh_quote
local bin = helpers.cli_bin
local tmp = os.getenv("ALIYUN_LIVE_TEST_TMP") or "/tmp"

local UNSET = helpers.cli_clean_env   -- none of the user's configuration

local function lines_of(s)
  local t = {}
  for l in (s or ""):gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

describe("aliyun-live bulk resume", function()
  local emu, dir, store

  lazy_setup(function()
    emu = helpers.emulator("--qps 100000")
    dir = helpers.run("mktemp -d " .. q(tmp .. "/cli-bulk-XXXXXX")):match("^(%S+)")
    store = ("cli-spec-%d"):format(math.random(1e9))   -- this spec's own host-wide store
  end)
  lazy_teardown(function()
    emu:stop()
    os.execute("rm -rf " .. q(dir) .. " /dev/shm/aliyun-live-" .. store)
  end)
  before_each(function() helpers.reset(emu) end)

  local function write_items(name, n, prefix)
    local t = {}
    for i = 1, n do t[i] = ("demo.aliyundoc.com,app,%s%d\n"):format(prefix or "s", i) end
    local f = assert(io.open(dir .. "/" .. name, "wb"))
    f:write(table.concat(t))
    f:close()
  end

  local function command(args, env, url)
    return ("%s HOME=%s ALIYUN_LIVE_LIMITER=shm:%s ALIBABA_CLOUD_ACCESS_KEY_ID=testid "
      .. "ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret %s %s %s %s --endpoint %s")
      :format(UNSET, q(dir), store, env or "", helpers.lua, bin, args, url or emu.url)
  end

  local function run(args, env, url)
    local r = helpers.run(("cd %s && %s >out 2>err </dev/null; echo rc=$?")
      :format(q(dir), command(args, env, url)))
    return helpers.read_file(dir .. "/out"), helpers.read_file(dir .. "/err"),
      tonumber(r:match("rc=(%d+)"))
  end

  -- Start in the background; returns pid and a function that waits for the exit status.
  local function start(args, name)
    local base = dir .. "/" .. name
    os.execute(("unset LD_PRELOAD; cd %s && (sh -c %s >%s.out 2>%s.err </dev/null; echo $? >%s.rc) &")
      :format(q(dir), q("echo $$ >" .. base .. ".pid; exec " .. command(args)), base, base, base))
    local deadline = core.monotonic() + 10
    local pid
    repeat
      pid = tonumber(helpers.read_file(base .. ".pid") or "")
      if not pid then core.sleep(0.01) end
    until pid or core.monotonic() > deadline
    assert(pid, "did not start")
    local function wait(timeout)
      local until_t = core.monotonic() + (timeout or 60)
      while core.monotonic() < until_t do
        local rc = tonumber(helpers.read_file(base .. ".rc") or "")
        if rc then return rc end
        core.sleep(0.02)
      end
      error("did not end")
    end
    return pid, wait, base
  end

  local function ok_streams(emulator)
    local seen = {}
    for _, r in ipairs(helpers.last_requests(emulator or emu, 1000)) do
      if r.action == "ResumeLiveStream" and r.code == "OK" then seen[r.params.StreamName] = true end
    end
    return seen
  end

  it("runs at the quota: no throttled answer, every item once", function()
    local strict = helpers.emulator("")   -- the real limit: 30 per second
    write_items("q.csv", 90)
    local t0 = core.monotonic()
    local out, err, status = run("resume --from q.csv --progress none", nil, strict.url)
    local elapsed = core.monotonic() - t0
    assert.equal(0, status, err)
    assert.equal(90, #lines_of(out))
    local stats = helpers.stats(strict)
    strict:stop()
    assert.equal(90, stats.requests)
    assert.equal(90, stats.codes.OK)
    assert.is_true(stats.max_per_second["testid/ResumeLiveStream"] <= 30)
    assert.is_true(elapsed >= 2.5, elapsed)   -- 89 intervals of 1/30 s: the quota, not more
    assert.matches("90 items in [%d.]+ s %([%d.]+/s%): 90 resumed, 0 failed\n", err)
  end)

  it("API errors fail their items only, and the failed file takes them again", function()
    write_items("e.csv", 20)
    helpers.fault(emu, { action = "ResumeLiveStream", code = "InvalidDomain.NotFound",
      status = 404, count = 2 })
    local out, err, status = run("resume --from e.csv --failed f.csv --rate 100 --progress none")
    assert.equal(1, status, err)
    assert.equal(18, #lines_of(out))
    local _, nerr = err:gsub("aliyun%-live: line %d+ %(demo%.aliyundoc%.com/app/s%d+%): "
      .. "InvalidDomain%.NotFound: [^\n]*RequestId %x+%-[^\n]*\n", "")
    assert.equal(2, nerr, err)
    assert.matches("18 resumed, 2 failed\n", err)
    local failed = lines_of(helpers.read_file(dir .. "/f.csv"))
    assert.equal(2, #failed)
    out, err, status = run("resume --from f.csv --failed f.csv --rate 100 --progress none")
    assert.equal(0, status, err)
    assert.equal(2, #lines_of(out))
    local all = ok_streams()
    for i = 1, 20 do assert.truthy(all["s" .. i], i) end
  end)

  it("retries what may be retried, unless told not to", function()
    write_items("r.csv", 10)
    -- two faults: even when both hit one item, its third attempt gets through
    helpers.fault(emu, { action = "ResumeLiveStream", code = "ServiceUnavailable", count = 2 })
    local _, err, status = run("resume --from r.csv --rate 100 --progress none --retry-count 2")
    assert.equal(0, status, err)
    assert.equal(2, helpers.stats(emu).codes.ServiceUnavailable)
    helpers.reset(emu)
    helpers.fault(emu, { action = "ResumeLiveStream", code = "ServiceUnavailable", count = 2 })
    _, err, status = run("resume --from r.csv --rate 100 --progress none --retry-count 0")
    assert.equal(1, status)
    assert.matches("8 resumed, 2 failed\n", err)
  end)

  it("stops at the first failure that every request would share", function()
    write_items("a.csv", 200)
    local out, err, status = run("resume --from a.csv --failed f.csv --rate 100 --progress none",
      "ALIBABA_CLOUD_ACCESS_KEY_SECRET=wrong")
    assert.equal(1, status)
    assert.equal("", out)
    assert.matches("stopped after [%d.]+ s: SignatureDoesNotMatch fails every request: ", err)
    local started = helpers.stats(emu).requests
    assert.is_true(started >= 1 and started <= 16, started)
    local nstarted = tonumber(err:match("(%d+) not started"))
    assert.equal(200 - started, nstarted)
    assert.equal(200, #lines_of(helpers.read_file(dir .. "/f.csv")))   -- all still to do
    assert.is_nil(err:find("wrong", 1, true))
  end)

  local function interrupt(signal)
    write_items("big.csv", 200)
    local pid, wait, base = start("resume --from big.csv --failed left.csv --rate 100 "
      .. "--progress lines --progress-interval 0.2", "int-" .. signal)
    finally(function()   -- only while it still runs: a pid that ended may be someone else's
      if not helpers.read_file(base .. ".rc") then os.execute(("kill -KILL %d 2>/dev/null"):format(pid)) end
    end)
    -- wait for some results, then stop it the way Ctrl-C does
    local deadline = core.monotonic() + 30
    while #lines_of(helpers.read_file(base .. ".out")) < 20 and core.monotonic() < deadline do
      core.sleep(0.01)
    end
    os.execute(("kill -%s %d"):format(signal, pid))
    local status = wait(30)
    local out, err = helpers.read_file(base .. ".out"), helpers.read_file(base .. ".err")
    assert.equal(130, status, err)

    local summary = err:match("aliyun%-live: resume: (interrupted by [^\n]*)\n")
    assert.truthy(summary, err)
    assert.matches("^interrupted by SIG" .. signal .. " after", summary)
    local done, total = summary:match(": (%d+) of (%d+) items: ")
    local n_ok = tonumber(summary:match("(%d+) resumed"))
    local n_failed = tonumber(summary:match("(%d+) failed"))
    local n_flight = tonumber(summary:match("(%d+) in flight") or "0")
    local n_later = tonumber(summary:match("(%d+) not started") or "0")
    assert.equal(200, tonumber(total))
    assert.equal(tonumber(done), n_ok + n_failed)
    assert.equal(200, n_ok + n_failed + n_flight + n_later)
    assert.is_true(n_later > 0, summary)   -- it did stop in the middle

    -- stdout has exactly the resumed items; the failed file exactly the others
    local resumed = {}
    for _, l in ipairs(lines_of(out)) do
      local s = assert(l:match("^%x+%-%x+%-%x+%-%x+%-%x+\tdemo%.aliyundoc%.com\tapp\t(s%d+)$"), l)
      resumed[s] = true
    end
    assert.equal(n_ok, #lines_of(out))
    local left = {}
    for _, l in ipairs(lines_of(helpers.read_file(dir .. "/left.csv"))) do
      local s = assert(l:match("^demo%.aliyundoc%.com,app,(s%d+)$"), l)
      assert.is_nil(resumed[s], s)
      left[s] = true
    end
    assert.equal(200 - n_ok, #lines_of(helpers.read_file(dir .. "/left.csv")))
    assert.matches(("%d items to do again written to left%%.csv"):format(200 - n_ok), err)
    -- what the server resumed: every resumed item, plus at most the ones in flight
    local server, extra = ok_streams(), 0
    for s in pairs(resumed) do assert.truthy(server[s], s) end
    for s in pairs(server) do
      if not resumed[s] then
        assert.truthy(left[s], s)
        extra = extra + 1
      end
    end
    assert.is_true(extra <= n_flight, extra .. " > " .. n_flight)

    -- fed back, the failed file finishes the job
    local out2, err2, status2 = run("resume --from left.csv --failed left.csv --rate 300 --progress none")
    assert.equal(0, status2, err2)
    for _, l in ipairs(lines_of(out2)) do resumed[l:match("\t(s%d+)$")] = true end
    for i = 1, 200 do assert.truthy(resumed["s" .. i], i) end
    assert.equal("", helpers.read_file(dir .. "/left.csv"))
  end

  it("Ctrl-C stops cleanly: what was done, failed, in flight, not started; exit 130", function()
    interrupt("INT")
  end)

  it("SIGTERM stops the same way", function()
    interrupt("TERM")
  end)

  it("Ctrl-C does not wait for a server that stalls", function()
    write_items("stall.csv", 5)
    helpers.fault(emu, { action = "ResumeLiveStream", delay = 30, count = 5 })
    local pid, wait, base = start("resume --from stall.csv --failed stall-left.csv", "stall")
    finally(function()
      if not helpers.read_file(base .. ".rc") then os.execute(("kill -KILL %d 2>/dev/null"):format(pid)) end
    end)
    local deadline = core.monotonic() + 10
    while helpers.stats(emu).requests < 1 and core.monotonic() < deadline do core.sleep(0.02) end
    core.sleep(0.3)
    local t0 = core.monotonic()
    os.execute(("kill -INT %d"):format(pid))
    local status = wait(20)
    assert.is_true(core.monotonic() - t0 < 5)
    assert.equal(130, status)
    local err = helpers.read_file(base .. ".err")
    local n_flight = tonumber(err:match("(%d+) in flight"))
    local n_later = tonumber(err:match("(%d+) not started") or "0")
    assert.matches("0 resumed, 0 failed", err)
    assert.is_true(n_flight >= 1, err)
    assert.equal(5, n_flight + n_later)
    assert.equal(5, #lines_of(helpers.read_file(dir .. "/stall-left.csv")))
  end)

  it("draws a progress bar on a terminal", function()
    write_items("p.csv", 40)
    local f = assert(io.open(dir .. "/p.csv", "ab"))
    f:write("bad line\n")
    f:close()
    local r = helpers.run(("cd %s && script -qfec %s /dev/null >pty.out </dev/null; echo rc=$?")
      :format(q(dir), q(command("resume --from p.csv --rate 60"))))
    assert.equal(1, tonumber(r:match("rc=(%d+)")))   -- the bad line failed
    local screen = helpers.read_file(dir .. "/pty.out")
    -- frames redrawn in place: "\r[===>   ] 12/41  29% 30.0/s ETA 0:01 ...\27[K"
    local frames = 0
    for frame in screen:gmatch("\r(%[[=> ]+%][^\r\n]-)\27%[K") do
      assert.matches("^%[=*>? *%] +%d+/41 +%d+%% [%d.%-]+/s ETA [%d:?]+", frame)
      frames = frames + 1
    end
    assert.is_true(frames >= 5, screen)
    assert.matches("%] +%d+/41 +%d+%% [%d.]+/s ETA %d+:%d%d 1 error\27%[K", screen)
    assert.matches("aliyun%-live: resume: 41 items in [%d.]+ s %([%d.]+/s%): 40 resumed, 1 failed %(1 invalid%)", screen)
  end)

  it("writes plain progress lines elsewhere, or none", function()
    write_items("l.csv", 40)
    local _, err, status = run("resume --from l.csv --rate 40 --progress-interval 0.2")
    assert.equal(0, status, err)
    assert.is_nil(err:find("[\r\27]"))
    local progress = 0
    for l in err:gmatch("aliyun%-live: resume: (%d+/40 [^\n]*)\n") do
      assert.matches("^%d+/40 +%d+%% [%d.%-]+/s ETA [%d:?]+$", l)
      progress = progress + 1
    end
    assert.is_true(progress >= 3, err)
    _, err, status = run("resume --from l.csv --rate 100 --progress none --progress-interval 0.05")
    assert.equal(0, status)
    assert.is_nil(err:find("/40 "))
    assert.equal(1, #lines_of(err))   -- the summary
  end)
end)
