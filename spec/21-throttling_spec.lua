-- The client under the API's quota, against the emulator enforcing it (30/s per
-- AccessKeyId and Action): the default limiter, retries with backoff, adaptive rate,
-- and many requests in flight.
local live = require "aliyun.live"
local core = require "aliyun.live.core"
local helpers = require "helpers"

local function stream(i) return { domain = "demo.aliyundoc.com", app = "app", stream = "s" .. i } end

describe("throttling", function()
  local emu

  lazy_setup(function() emu = helpers.emulator("--qps 30") end)
  lazy_teardown(function() emu:stop() end)
  before_each(function() helpers.reset(emu) end)

  local function client(extra)
    local opts = { access_key_id = "testid", access_key_secret = "testsecret", endpoint = emu.url }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return live.new(opts)
  end

  local function max_per_second(action)
    return helpers.stats(emu).max_per_second["testid/" .. (action or "ResumeLiveStream")] or 0
  end

  it("a client stays under the quota by default, with no throttling", function()
    local c = client { retry = false }
    for i = 1, 45 do
      local res, err = c:resume(stream(i))
      assert.is_nil(err)
      assert.truthy(res.request_id)
    end
    local stats = helpers.stats(emu)
    assert.equal(45, stats.codes.OK)
    assert.is_nil(stats.codes["Throttling.User"])
    assert.is_true(max_per_second() <= 30)
    assert.is_true(max_per_second() >= 25)   -- and it uses the quota
  end)

  it("clients of one process share the quota (process store)", function()
    local a, b = client { retry = false }, client { retry = false }
    for i = 1, 20 do
      assert(a:resume(stream(i)))
      assert(b:resume(stream(i)))
    end
    assert.is_nil(helpers.stats(emu).codes["Throttling.User"])
    assert.is_true(max_per_second() <= 30)
  end)

  it("without a limiter the emulator throttles, and the error says so", function()
    local c = client { limiter = false, retry = false }
    local throttled
    for i = 1, 40 do
      local _, err = c:resume(stream(i))
      if err then throttled = err break end
    end
    assert.truthy(throttled)
    assert.equal("Throttling.User", throttled.code)
    assert.equal(429, throttled.http_status)
    assert.is_true(throttled.retryable)
    assert.is_true(throttled.retry_after > 0 and throttled.retry_after <= 1)
  end)

  it("retries throttling after the server's hint, whatever the status", function()
    local strict = helpers.emulator("--qps 5 --throttle-status 400")
    local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                         endpoint = strict.url, limiter = false,
                         retry = { attempts = 10, base = 0.01, cap = 0.05, deadline = 10 } }
    for i = 1, 12 do
      local res, err = c:resume(stream(i))
      assert.is_nil(err)
      assert.truthy(res.request_id)
    end
    local stats = select(2, helpers.control(strict, "GET", "/__emulator/stats"))
    assert.equal(12, stats.codes.OK)
    assert.truthy(stats.codes["Throttling.User"] > 0)
    strict:stop()
  end)

  describe("retries", function()
    it("retry 503s with a fresh nonce and timestamp each time", function()
      helpers.fault(emu, { action = "ResumeLiveStream", code = "ServiceUnavailable", status = 503, count = 2 })
      local res, err = client { retry = { attempts = 3, base = 0.01, cap = 0.02 } }:resume(stream(1))
      assert.is_nil(err)
      assert.truthy(res.request_id)
      local reqs = helpers.last_requests(emu, 3)
      assert.equal(3, #reqs)
      local nonces = {}
      for _, r in ipairs(reqs) do
        assert.is_nil(nonces[r.nonce])
        nonces[r.nonce] = true
      end
    end)

    it("give up after the attempts, saying how many were made", function()
      helpers.fault(emu, { code = "InternalError", status = 500, count = 5 })
      local res, err = client { retry = { attempts = 2, base = 0.01, cap = 0.02 } }:resume(stream(1))
      assert.is_nil(res)
      assert.equal("InternalError", err.code)
      assert.equal(2, err.attempts)
      assert.equal(2, helpers.stats(emu).requests)
    end)

    it("do not retry errors that cannot succeed", function()
      local res, err = client { access_key_secret = "wrong" }:resume(stream(1))
      assert.is_nil(res)
      assert.equal(1, err.attempts)
      assert.equal(1, helpers.stats(emu).requests)
    end)

    it("wait at least the server's x-acs-retry-after", function()
      helpers.fault(emu, { code = "Throttling.User", status = 429, count = 1, retry_after = 400 })
      local t = core.monotonic()
      assert(client { retry = { attempts = 2, base = 0.001, cap = 0.002 } }:resume(stream(1)))
      assert.is_true(core.monotonic() - t >= 0.4)
    end)

    it("stop at the deadline", function()
      helpers.fault(emu, { code = "ServiceUnavailable", status = 503, count = 50 })
      local t = core.monotonic()
      local _, err = client { retry = { attempts = 50, base = 0.2, cap = 0.2, deadline = 0.5 } }:resume(stream(1))
      assert.equal("ServiceUnavailable", err.code)
      assert.is_true(err.attempts < 50)
      assert.is_true(core.monotonic() - t < 0.5 + 0.5)
      helpers.control(emu, "DELETE", "/__emulator/faults")
    end)

    it("draw full-jitter delays within [0, min(cap, base·2^(n-1))], at least the hint", function()
      local retry = require "aliyun.live.retry"
      local policy = retry.new { attempts = 10, base = 0.1, cap = 0.5, deadline = 100 }
      local busy = function(extra)
        local e = { code = "ServiceUnavailable", kind = "api", http_status = 503 }
        for k, v in pairs(extra or {}) do e[k] = v end
        return e
      end
      for n = 1, 6 do
        local bound = math.min(0.5, 0.1 * 2 ^ (n - 1))
        for _ = 1, 200 do
          local d = policy:decide(n, busy(), 0)
          assert.is_true(d >= 0 and d <= bound)
        end
        local hinted = busy { headers = { ["x-acs-retry-after"] = "700" } }
        assert.is_true(policy:decide(n, hinted, 0) >= 0.7)
        assert.equal(0.7, hinted.retry_after)
      end
      assert.is_nil(policy:decide(10, busy(), 0))                     -- attempts used up
      local e = { code = "SignatureDoesNotMatch", kind = "api", http_status = 400 }
      assert.is_nil(policy:decide(1, e, 0))
      assert.is_false(e.retryable)
      -- at or past the deadline no wait fits, whatever the draw (this once depended on it)
      for _ = 1, 200 do assert.is_nil(policy:decide(1, busy(), 100)) end
    end)

    it("follow one decision table, from the facts of the failure", function()
      local retry = require "aliyun.live.retry"
      local function retryable(err, refreshed)
        retry.new { attempts = 2 }:decide(1, err, 0, refreshed)
        return err.retryable
      end
      assert.is_true(retryable { code = "Throttling.User", kind = "api", http_status = 429 })
      assert.is_true(retryable { code = "Throttling", kind = "api", http_status = 400 })
      assert.is_true(retryable { code = "InternalError", kind = "api", http_status = 500 })
      assert.is_true(retryable { code = "SignatureNonceUsed", kind = "api", http_status = 400 })
      assert.is_true(retryable { code = "Odd.Code", kind = "api", http_status = 503 })
      assert.is_true(retryable { code = "SDK.HttpError", kind = "http", http_status = 502 })
      assert.is_false(retryable { code = "SDK.HttpError", kind = "http", http_status = 404 })
      assert.is_true(retryable { code = "InvalidSecurityToken.Expired", kind = "api" })
      assert.is_false(retryable({ code = "InvalidSecurityToken.Expired", kind = "api" }, true))
      assert.is_true(retryable { code = "SDK.ConnectionFailed", kind = "connect" })
      assert.is_true(retryable { code = "SDK.Timeout", kind = "timeout", answered = false })
      assert.is_false(retryable { code = "SDK.Timeout", kind = "timeout", answered = true })
      assert.is_false(retryable { code = "SDK.ConnectionError", kind = "recv", answered = true })
      assert.is_false(retryable { code = "SDK.InvalidResponse", kind = "invalid", http_status = 200 })
      assert.is_false(retryable { code = "SDK.TLSError", kind = "tls" })
    end)
  end)

  describe("adaptive rate", function()
    it("slows down when throttled and recovers on success", function()
      local lim = live.limiter { rate = 30 }
      assert.equal(30, lim:rate("k"))
      lim:feedback("k", "throttled")
      assert.equal(25.5, lim:rate("k"))                               -- a 15 % cut
      lim:feedback("k", "throttled")                                  -- within a second: the same cut
      assert.equal(25.5, lim:rate("k"))
      lim:feedback("k", "ok")
      assert.near(25.5 + 0.5 / 25.5, lim:rate("k"), 1e-9)            -- +0.5/s per second's worth
      for _ = 1, 400 do lim:feedback("k", "ok") end
      assert.equal(30, lim:rate("k"))
    end)

    it("ends with few errors when another tool takes part of the quota", function()
      -- Another process uses 12/s of the same key for the whole test.
      local other = helpers.spawn(("%s -e %s"):format(helpers.lua, helpers.sh_quote(([[
        local live = require "aliyun.live"
        local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
          endpoint = %q, limiter = live.limiter { rate = 12 }, retry = false }
        print("started") io.stdout:flush()
        for i = 1, 12 * 8 do c:resume { domain = "other.com", app = "a", stream = "o" .. i } end
      ]]):format(emu.url))), "started")
      local c = client { limiter = live.limiter { rate = 30 },
                         retry = { attempts = 5, base = 0.05, cap = 1 } }
      local failures = 0
      for i = 1, 90 do
        local _, err = c:resume(stream(i))
        if err then failures = failures + 1 end
      end
      other:stop()
      local codes = helpers.stats(emu).codes
      assert.equal(0, failures)
      -- Without adaptation about a third of these 90 calls would be refused.
      assert.is_true((codes["Throttling.User"] or 0) <= 20, tostring(codes["Throttling.User"]))
    end)
  end)

  describe("many in flight", function()
    it("resume_many resumes every item once, in order, at the quota", function()
      local list = {}
      for i = 1, 75 do list[i] = stream(i) end
      list[10] = { domain = "demo.aliyundoc.com", app = "app", stream = "" }
      local progress = {}
      local t = core.monotonic()
      local entries, summary = client():resume_many(list, { concurrency = 8,
        on_progress = function(done, total, i, entry)
          progress[#progress + 1] = done
          assert.equal(75, total)
          assert.equal(entry, entries and entries[i] or entry)
        end })
      local elapsed = core.monotonic() - t
      assert.equal(75, #entries)
      assert.same({ ok = 74, failed = 1 }, summary)
      assert.equal("SDK.InvalidParameter", entries[10].err.code)
      assert.equal(75, #progress)
      assert.equal(75, progress[75])
      local ids = {}
      for i, e in ipairs(entries) do
        if i ~= 10 then
          assert.is_true(e.ok)
          assert.is_nil(ids[e.result.request_id])
          ids[e.result.request_id] = true
        end
      end
      local stats = helpers.stats(emu)
      assert.equal(74, stats.codes.OK)
      assert.equal(74, stats.requests)             -- the bad item was never sent
      assert.is_true(max_per_second() <= 30)
      assert.is_true(elapsed > 2)                   -- 74 at 30/s cannot be faster
      local per_stream = {}
      for _, r in ipairs(helpers.last_requests(emu, 100)) do
        local s = r.params.StreamName
        per_stream[s] = (per_stream[s] or 0) + 1
      end
      for i = 1, 75 do
        if i ~= 10 then assert.equal(1, per_stream["s" .. i]) end
      end
    end)

    it("resume_many retries failures without resending successes", function()
      helpers.fault(emu, { action = "ResumeLiveStream", code = "ServiceUnavailable", status = 503, count = 4 })
      local list = {}
      for i = 1, 20 do list[i] = stream(i) end
      local entries, summary = client { retry = { attempts = 6, base = 0.01, cap = 0.05 } }
        :resume_many(list, { concurrency = 4 })
      assert.same({ ok = 20, failed = 0 }, summary)
      local oks = {}
      for _, r in ipairs(helpers.last_requests(emu, 100)) do
        if r.code == "OK" then oks[r.params.StreamName] = (oks[r.params.StreamName] or 0) + 1 end
      end
      for i = 1, 20 do assert.equal(1, oks["s" .. i]) end
      local retried = 0
      for _, e in ipairs(entries) do if e.attempts > 1 then retried = retried + 1 end end
      assert.is_true(retried >= 1)
    end)

    it("resume_async completes through poll(0) calls that never block", function()
      local c = client()
      local done = {}
      for i = 1, 10 do
        assert(c:resume_async(stream(i), function(res, err) done[#done + 1] = res and res.request_id or err end))
      end
      assert.equal(10, c:pending())
      local polls, slowest = 0, 0
      local deadline = core.monotonic() + 10
      while c:poll(0) > 0 and core.monotonic() < deadline do
        polls = polls + 1
        local t = core.monotonic()
        c:poll(0)
        slowest = math.max(slowest, core.monotonic() - t)
        core.sleep(0.002)   -- the host's frame
      end
      assert.equal(10, #done)
      assert.equal(0, c:pending())
      assert.is_true(polls > 10)
      assert.is_true(slowest < 0.05)
      for _, v in ipairs(done) do assert.is_string(v) end
    end)

    it("a client runs one batch after another", function()
      local c = client { limiter = false }
      for round = 1, 3 do
        local list = {}
        for i = 1, 5 do list[i] = stream(round * 10 + i) end
        local _, summary = c:resume_many(list, { concurrency = 2 })
        assert.same({ ok = 5, failed = 0 }, summary)
      end
      assert.equal(0, c:pending())
    end)

    it("checks its arguments", function()
      local c = client()
      assert.has_error(function() c:resume_many("x") end)
      assert.has_error(function() c:resume_many({}, { concurrency = 0 }) end)
      assert.has_error(function() c:resume_many({}, { parallel = 2 }) end)
      assert.has_error(function() c:resume_many({ "x" }) end)
      assert.has_error(function() c:resume_async(stream(1), "not a function") end)
      assert.has_error(function() c:poll(-1) end)
      local entries, summary = c:resume_many({})
      assert.same({}, entries)
      assert.same({ ok = 0, failed = 0 }, summary)
    end)
  end)
end)
