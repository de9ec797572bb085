-- The async path for frame loops and event loops: callbacks exactly once, poll's bound,
-- cancellation, retries and errors, the coroutine helper, a slow STS that must not stall
-- poll(0), what a host's own event loop waits on, the quota at frame rates.
local live = require "aliyun.live"
local core = require "aliyun.live.core"
local helpers = require "helpers"

local monotonic = core.monotonic
local function stream(i) return { domain = "async.example.com", app = "a", stream = "s" .. i } end

-- A limiter at 30/s that counts its decisions (→ limiter, count()) and fails the
-- `fail_at`-th one, if given.
local function counting_limiter(fail_at)
  local inner, n = live.limiter { rate = 30, store = "local" }, 0
  local lim = { reserve = function() error("not used") end, try_send = function(_, key, rt)
    n = n + 1
    if n == fail_at then return nil, "the store hiccuped" end
    return inner:try_send(key, rt)
  end }
  return lim, function() return n end
end

describe("async", function()
  local emu

  lazy_setup(function() emu = helpers.emulator() end)
  lazy_teardown(function() emu:stop() end)
  before_each(function() helpers.reset(emu) end)

  -- retries as configured by default: the frame-rate runs must not lose a request
  local function client(extra)
    extra = extra or {}
    if extra.retry == nil then extra.retry = helpers.UNSET end
    return helpers.client(emu.url, extra)
  end

  -- poll(0) every `frame` seconds until nothing is pending; the longest poll(0).
  local function frame_loop(c, frame, limit)
    local worst, deadline = 0, monotonic() + (limit or 30)
    while c:pending() > 0 do
      assert(monotonic() < deadline, "still pending")
      local t = monotonic()
      c:poll(0)
      worst = math.max(worst, monotonic() - t)
      core.sleep(frame)
    end
    return worst
  end

  it("calls every callback exactly once, with the result or the error", function()
    local c = client { retry = { attempts = 3, base = 0.01, cap = 0.02 } }
    helpers.fault(emu, { code = "ServiceUnavailable", status = 503, count = 3 })
    local calls = {}
    for i = 1, 12 do
      c:resume_async(stream(i), function(res, err, op)
        calls[i] = (calls[i] or 0) + 1
        assert.is_true(op.done)
        assert.is_truthy(res or err)
      end)
    end
    frame_loop(c, 0.005)
    for _ = 1, 5 do c:poll(0) end
    for i = 1, 12 do assert.equal(1, calls[i]) end
    c:close()
  end)

  it("loses nothing when a logger polls from inside a request", function()
    -- The answers are held, then arrive together: one poll collects several, and the
    -- logger, run while the first is handed on, polls and collects the others.
    helpers.fault(emu, { delay = 0.2, count = 25 })
    local c
    local depth, nested = 0, 0
    c = client { concurrency = 64, logger = function()
      depth = depth + 1
      c:poll(0.05)
      depth = depth - 1
    end }
    local calls, failed = {}, 0
    for i = 1, 25 do
      c:resume_async(stream(i), function(_, err)
        calls[i] = (calls[i] or 0) + 1
        if err then failed = failed + 1 end
        if depth > 0 then nested = nested + 1 end
      end)
    end
    local deadline = monotonic() + 10
    while c:pending() > 0 and monotonic() < deadline do c:poll(0.05) end
    assert.equal(0, c:pending())
    for i = 1, 25 do assert.equal(1, calls[i]) end
    assert.equal(0, failed)
    assert.is_true(nested > 0)   -- the inner polls did collect
    c:close()
  end)

  it("sends nothing for a request cancelled or closed from one of its own hooks", function()
    local op, c, calls
    local hooks = {
      provider = function(cancel)
        local p = { name = "cancelling" }
        function p:get()
          cancel()
          return { access_key_id = "testid", access_key_secret = "testsecret" }
        end
        return { credentials = p, access_key_id = helpers.UNSET, access_key_secret = helpers.UNSET }
      end,
      limiter = function(cancel)
        return { limiter = { reserve = function() return 0 end,
                             try = function() cancel() return true end } }
      end,
    }
    for name, make in pairs(hooks) do
      for _, how in ipairs { "cancel", "close" } do
        helpers.reset(emu)
        local armed = true
        local cancel = function()
          if not armed then return end
          armed = false
          if how == "cancel" then assert.is_true(op:cancel()) else c:close() end
        end
        c = client(make(cancel))
        calls = {}
        op = c:resume_async(stream(1), function(_, err) calls[#calls + 1] = err.code end)
        local t_end = monotonic() + 0.3
        while monotonic() < t_end do c:poll(0.05) end
        local expect = how == "cancel" and "SDK.Cancelled" or "SDK.ClientClosed"
        assert.same({ expect }, calls, name .. " " .. how)
        assert.equal(0, c:pending(), name .. " " .. how)
        assert.equal(0, helpers.stats(emu).requests, name .. " " .. how .. ": sent")
        if how == "cancel" then   -- the client goes on: nothing held by the cancelled one
          local ok = 0
          for i = 1, 5 do
            c:resume_async(stream(i), function(res) if res then ok = ok + 1 end end)
          end
          while c:pending() > 0 do c:poll(0.1) end
          assert.equal(5, ok, name)
        end
        c:close()
      end
    end
  end)

  it("never waits longer than poll's timeout", function()
    helpers.fault(emu, { delay = 2 })
    local c = client()
    c:resume_async(stream(1))
    for _, t in ipairs { 0, 0.05, 0.2 } do
      local t0 = monotonic()
      assert.equal(1, c:poll(t))
      assert.is_true(monotonic() - t0 < t + 0.5, ("poll(%g) took %.3f s"):format(t, monotonic() - t0))
    end
    c:close()
  end)

  it("retries through the async path and reports the attempts", function()
    helpers.fault(emu, { code = "Throttling.User", status = 429, count = 2, retry_after = 20 })
    local c = client { retry = { attempts = 4, base = 0.01, cap = 0.02 } }
    local op = c:resume_async(stream(1))
    local res, err = op:wait(20)
    assert.is_nil(err)
    assert.truthy(res.request_id)
    assert.equal(3, op.attempts)
    c:close()
  end)

  it("yields in a coroutine until the result is there (op:await)", function()
    local c = client()
    local got
    local co = coroutine.create(function()
      local op = c:resume_async(stream(1))
      got = { op:await() }
    end)
    assert(coroutine.resume(co))
    local deadline = monotonic() + 20
    while coroutine.status(co) ~= "dead" do
      assert(monotonic() < deadline)
      c:poll(0.01)
      assert(coroutine.resume(co))
    end
    assert.truthy(got[1].request_id)
    c:close()
  end)

  it("does not stall poll(0) while STS answers slowly", function()
    helpers.fault(emu, { action = "AssumeRole", delay = 1 })
    local p = live.credentials.ram_role_arn { role_arn = "acs:ram::1234567890:role/r",
      access_key_id = "testid", access_key_secret = "testsecret", sts_endpoint = emu.url }
    local c = live.new { credentials = p, endpoint = emu.url, limiter = false }
    for i = 1, 5 do c:resume_async(stream(i)) end
    local worst = frame_loop(c, 1 / 60)
    assert.is_true(worst < 0.1, ("a poll(0) took %.3f s"):format(worst))
    assert.equal(6, helpers.stats(emu).codes.OK)   -- five resumes and one AssumeRole for all
    c:close()
  end)

  it("tells a host's own event loop what to wait on, and for how long", function()
    helpers.fault(emu, { delay = 0.3, count = 4 })   -- answers wait: transfers stay open
    local c = client()
    assert.is_nil(c:timeout())
    for i = 1, 4 do c:resume_async(stream(i)) end
    assert.equal(0, c:timeout())                   -- ready to start: poll now
    c:poll(0)
    local saw_fd = false
    local deadline = monotonic() + 20
    while c:pending() > 0 do
      assert(monotonic() < deadline)
      for _, w in ipairs(c:fds()) do
        assert.is_true(w.fd >= 0)
        assert.is_truthy(w.events == "r" or w.events == "w" or w.events == "rw")
        saw_fd = true
      end
      local t = c:timeout()
      if t then core.sleep(math.min(t, 0.01)) end
      c:poll(0)
    end
    assert.is_true(saw_fd)
    assert.is_nil(c:timeout())
    c:close()
  end)

  it("ends a credentials refresh that a cancelled request had started", function()
    -- Both ways: the request cancels itself from its provider's get(), which goes on to
    -- refresh; the host cancels the request while its refresh is in flight. Dropping it
    -- where it waited left the provider refreshing for ever: the others hung behind it.
    for _, how in ipairs { "from its hook", "while it fetches" } do
      helpers.reset(emu)
      if how == "while it fetches" then
        helpers.fault(emu, { action = "CredentialsURI", delay = 0.3, count = 1 })
      end
      local inner = live.credentials.uri { uri = emu.url .. "/__emulator/credentials" }
      local first
      local p = { name = "wrap", identity = function() return "acct" end, get = function(_, rt)
        if how == "from its hook" and not first.done then first:cancel() end
        return inner:get(rt)
      end }
      local c = client { credentials = p, access_key_id = helpers.UNSET,
                         access_key_secret = helpers.UNSET }
      first = c:resume_async(stream(1))
      local ok = 0
      for i = 2, 4 do c:resume_async(stream(i), function(res) if res then ok = ok + 1 end end) end
      if how == "while it fetches" then
        c:poll(0.05)
        assert.is_true(first:cancel())
      end
      local deadline = monotonic() + 10
      while c:pending() > 0 and monotonic() < deadline do c:poll(0.05) end
      assert.equal(3, ok, how)
      assert.is_false(inner.refreshing, how)
      assert.equal("SDK.Cancelled", first.err.code)
      c:close()
    end
  end)

  it("closing a client ends the refreshes its tasks had started, wherever they waited", function()
    -- A role's background refresh, its source provider waiting with rt.sleep (for a key
    -- being rotated, say): the client that ran it closes; another client on the provider
    -- must still get credentials. (A closed client's sleeping tasks were never resumed:
    -- the provider stayed refreshing for ever.)
    local ready = true
    local source = { get = function(_, rt)
      while not ready do rt.sleep(0.02) end
      return { access_key_id = "testid", access_key_secret = "testsecret" }
    end }
    local role = live.credentials.ram_role_arn { source = source, sts_endpoint = emu.url,
      role_arn = "acs:ram::1234567890:role/r", refresh_margin = 4000 }   -- never fresh
    local function on_role() return client { credentials = role, access_key_id = helpers.UNSET,
                                             access_key_secret = helpers.UNSET } end
    local a, b = on_role(), on_role()
    assert.truthy(a:resume_async(stream(1)):wait(5))
    ready = false
    a:resume_async(stream(2))
    a:poll(0)                       -- the background refresh waits in the source
    assert.is_true(role.refreshing)
    a:close()
    assert.is_false(role.refreshing)
    ready = true
    role:invalidate()
    assert.truthy(b:resume_async(stream(3)):wait(5))
    b:close()
  end)

  it("closing a client ends a cancelled request that slept again, and tells a host about callbacks", function()
    -- A role whose source waits (with rt.sleep) before it answers; client a's request
    -- starts its refresh, b's waits for it; a's is cancelled, unwinds, its source sleeps
    -- again; then a closes. (That sleeper was left in a's closed scheduler: the refresh
    -- never ended and b hung.)
    local source = { name = "slow-source", get = function(_, rt)
      for _ = 1, 5 do rt.sleep(0.1) end
      return { access_key_id = "testid", access_key_secret = "testsecret" }
    end }
    local role = live.credentials.ram_role_arn { source = source, sts_endpoint = emu.url,
      role_arn = "acs:ram::1234567890:role/r" }
    local function on_role() return client { credentials = role, access_key_id = helpers.UNSET,
                                             access_key_secret = helpers.UNSET } end
    local a, b = on_role(), on_role()
    local op_a = a:resume_async(stream(1))
    a:poll(0.05)
    local op_b = b:resume_async(stream(2))
    b:poll(0.05)
    assert.is_true(op_a:cancel())
    a:poll(0.05)
    a:close()
    assert.is_false(role.refreshing)
    assert.truthy(op_b:wait(5))
    b:close()
    -- a request cancelled before any poll: its callback is due, so timeout() says 0
    local c = client()
    local ran = 0
    local op = c:resume_async(stream(3), function() ran = ran + 1 end)
    assert.is_true(op:cancel())
    assert.equal(0, c:timeout())
    c:poll(0)
    assert.equal(1, ran)
    assert.is_nil(c:timeout())
    c:close()
  end)

  it("a cancelled request reserves no slot, and a group's count stays right", function()
    local reserves = 0
    local lim = { reserve = function() reserves = reserves + 1 return 0.5 end }
    local slow = { name = "slow", get = function(_, rt)
      rt.sleep(0.2)
      return { access_key_id = "testid", access_key_secret = "testsecret" }
    end }
    local c = client { credentials = slow, limiter = lim, access_key_id = helpers.UNSET,
                       access_key_secret = helpers.UNSET }
    local op = c:resume_async(stream(1))
    c:poll(0)                       -- waiting in its provider
    assert.is_true(op:cancel())
    c:poll(0.3)
    assert.equal(0, reserves)
    assert.equal(0, c:pending())
    c:close()
    -- one cancelled by another's provider while queued to run: run once, counted once
    local A, B, order, slept = nil, nil, {}, {}
    local p = { name = "p", get = function(_, rt)
      local me = c.sched.current.op
      if me == A or me == B then   -- both wake in one pass; A's hook cancels B, woken too
        if not slept[me] then
          slept[me] = true
          rt.sleep(0.05)
        end
        if me == A then assert(B:cancel()) end
      elseif me and me.tag then
        order[#order + 1] = me.tag
      end
      return { access_key_id = "testid", access_key_secret = "testsecret" }
    end }
    c = client { credentials = p, concurrency = 4, access_key_id = helpers.UNSET,
                 access_key_secret = helpers.UNSET }
    A, B = c:resume_async(stream(1)), c:resume_async(stream(2))
    while c:poll(0.1) > 0 do end
    assert.equal(0, c.sched.group.queued)
    for _, tag in ipairs { "X", "Y", "Z" } do c:resume_async(stream(tag)).tag = tag end
    while c:poll(0.1) > 0 do end
    assert.same({ "X", "Y", "Z" }, order)
    c:close()
  end)

  it("a request cancelled from its limiter's try asks no more, and poll returns", function()
    local op, n = nil, 0
    local stubborn = { reserve = function() return 0 end, try = function()
      n = n + 1
      if n == 1 then op:cancel() end
      if n > 1000 then return true end   -- (only so that a failure ends)
      return false, 0.5                  -- "not yet": a valid answer
    end }
    local c = client { limiter = stubborn }
    op = c:resume_async(stream(1))
    local t = monotonic()
    c:poll(0)
    assert.is_true(monotonic() - t < 1, "poll(0) spun")
    assert.equal(1, n)
    assert.equal(0, c:pending())
    c:close()
  end)

  it("starts every request waiting for a turn, whatever ends before taking one", function()
    local function ok_count(c, ops)
      local deadline = monotonic() + 10
      while c:pending() > 0 and monotonic() < deadline do c:poll(0.05) end
      local n = 0
      for _, op in ipairs(ops) do if op.result then n = n + 1 end end
      return n
    end
    local limiter = function() return live.limiter { rate = 30, store = "local" } end
    -- two cancelled before the first poll: the third must start
    local c = client { concurrency = 2, limiter = limiter() }
    local ops = {}
    for i = 1, 3 do ops[i] = c:resume_async(stream(i)) end
    ops[1]:cancel()
    ops[2]:cancel()
    assert.equal(1, ok_count(c, { ops[3] }))
    c:close()
    -- two that fail at their credentials (no turn taken)
    local n = 0
    local flaky = { name = "flaky", get = function()
      n = n + 1
      if n <= 2 then return nil, "the metadata service timed out" end
      return { access_key_id = "testid", access_key_secret = "testsecret" }
    end }
    c = client { concurrency = 2, limiter = limiter(), credentials = flaky,
                 access_key_id = helpers.UNSET, access_key_secret = helpers.UNSET }
    ops = {}
    for i = 1, 3 do ops[i] = c:resume_async(stream(i)) end
    assert.equal(1, ok_count(c, ops))
    c:close()
    -- the ones waiting in the limiter's line cancelled: those behind them still go
    c = client { concurrency = 2, limiter = limiter() }
    ops = {}
    for i = 1, 10 do ops[i] = c:resume_async(stream(i)) end
    while not (ops[1].done and ops[2].done) do c:poll(0.001) end
    for i = 3, 5 do ops[i]:cancel() end
    local rest = {}
    for i = 6, 10 do rest[#rest + 1] = ops[i] end
    assert.equal(5, ok_count(c, rest))
    c:close()
  end)

  it("keeps nothing of requests cancelled before they started", function()
    local c = client { concurrency = 1 }
    for _ = 1, 20 do
      local ops = {}
      for i = 1, 10 do ops[i] = c:resume_async(stream(i)) end
      for i = 1, 10 do ops[i]:cancel() end
      c:poll(0)
    end
    assert.equal(0, c:pending())
    assert.is_nil(next(c.sched.live))   -- (9 of each 10 stayed: 180 tasks, their ops)
    assert.equal(0, helpers.stats(emu).requests)
    c:close()
  end)

  it("lines up again after the limiter failed once", function()
    local lim, decisions = counting_limiter(5)
    local c = client { limiter = lim, concurrency = 256, retry = false }
    for i = 1, 300 do c:resume_async(stream(i)) end
    local t_end = monotonic() + 2
    while monotonic() < t_end do
      c:poll(0)
      core.sleep(1 / 60)
    end
    c:close()
    local sent = helpers.stats(emu).requests
    -- the line let go at the failure asks once each, then waits in line again (it went
    -- on asking at every wake-up: 22,600 decisions in 4 s)
    assert.is_true(decisions() <= 2 * sent + 300 + 20, decisions() .. " decisions for " .. sent .. " sent")
  end)

  it("sends everything one at a time while requests wait for the limiter", function()
    -- (a turn handed to a request that then waited behind the limiter's one asking was
    -- lost: with concurrency 1, the third request and all after it hung)
    local c = client { concurrency = 1, limiter = live.limiter { rate = 30, store = "local" } }
    local ok = 0
    for i = 1, 8 do c:resume_async(stream(i), function(res) if res then ok = ok + 1 end end) end
    local deadline = monotonic() + 20
    while c:pending() > 0 and monotonic() < deadline do c:poll(0.05) end
    assert.equal(8, ok)
    c:close()
  end)

  -- #timing as the frame-rate cases below (the server's count of a second).
  it("asks the limiter once or twice per request sent with 2,000 pending #timing", function()
    local lim, decisions = counting_limiter()
    local c = client { limiter = lim }
    local ok = 0
    for i = 1, 2000 do c:resume_async(stream(i), function(res) if res then ok = ok + 1 end end) end
    local worst, t_end = 0, monotonic() + 2
    while monotonic() < t_end do
      local t = monotonic()
      c:poll(0)
      worst = math.max(worst, monotonic() - t)
      core.sleep(1 / 60)
    end
    c:close()
    local stats = helpers.stats(emu)
    -- every waiting request asked at each wake-up: 146,000 decisions for 112 sent from
    -- 3,000 pending, poll(0) up to 0.8 s, 32 in a second at the server
    assert.is_true(ok >= 50, ok .. " sent")
    assert.is_true(decisions() <= 2 * stats.requests + 16, decisions() .. " decisions for "
      .. stats.requests .. " sent")
    assert.is_true(worst < 0.05, ("a poll(0) took %.3f s"):format(worst))
    assert.is_nil(stats.codes["Throttling.User"])
    assert.is_true(stats.max_per_second["testid/ResumeLiveStream"] <= 30)
  end)

  describe("the quota at frame rates", function()
    -- One request at a time (concurrency 1) at 30 fps: each starts in the poll that
    -- collects the one before, and must leave in that poll, not a frame later (which
    -- halved the rate, 14.9/s, and sent granted requests late).
    -- "irregular": frames of 17 to 50 ms, drawn at random (a fixed seed), 30 fps on average.
    for _, case in ipairs { { 30, 16, 0.95 }, { 60, 16, 0.95 }, { 240, 16, 0.95 }, { 30, 1, 0.9 },
                            { "irregular", 16, 0.93 } } do
      local fps, concurrency, share = case[1], case[2], case[3]
      -- #timing: the guard absorbs 10 ms between a slot and the arrival, which a
      -- program slowed by valgrind or ASan does not keep; make valgrind and make asan
      -- leave these out.
      it(("holds at %s fps, %d at a time: <= 30 in any second, no throttling, the quota used #timing")
          :format(fps, concurrency), function()
        local c = client { concurrency = concurrency,
                           limiter = live.limiter { rate = 30, store = "local" } }
        local sent = {}
        for i = 1, 90 do
          c:resume_async(stream(i), function(res) if res then sent[#sent + 1] = core.now() end end)
        end
        local frame = fps ~= "irregular" and 1 / fps
        local next_frame = monotonic()
        math.randomseed(7)
        while c:pending() > 0 do
          c:poll(0)
          next_frame = next_frame + (frame or 1 / 60 + math.random() * (1 / 20 - 1 / 60))
          local d = next_frame - monotonic()
          if d > 0 then core.sleep(d) end
        end
        local stats = helpers.stats(emu)
        assert.equal(90, #sent)
        assert.is_nil(stats.codes["Throttling.User"])
        assert.is_true(stats.max_per_second["testid/ResumeLiveStream"] <= 30)
        table.sort(sent)
        -- completions trail sends by a round trip; (n - 1) / span is the rate achieved
        local rate = (#sent - 1) / (sent[#sent] - sent[1])
        assert.is_true(rate >= share * 30, ("%.2f/s at %s fps"):format(rate, fps))
        print(("\n  %s fps, %d at a time: %.2f/s, %.3f of the quota, peak %d/s"):format(fps,
          concurrency, rate, rate / 30, stats.max_per_second["testid/ResumeLiveStream"]))
        c:close()
      end)
    end
  end)
end)
