-- Broken servers: every way an answer can go wrong ends in `nil, err` with a specific
-- code, the right `retryable`, within the configured timeout, without secrets, and the
-- same client works again afterwards. The server is spec/c/faultserver.c (built by
-- `make test`, or `make build/lua5.4/spec/faultserver`); its fault is switched with
-- GET /__fault/NAME.
local live = require "aliyun.live"
local core = require "aliyun.live.core"
local cjson = require "cjson.safe"
local helpers = require "helpers"

local monotonic = core.monotonic
local BUILD = os.getenv("BUILD") or "build/lua5.4"
local SERVER = ("%s/%s/spec/faultserver"):format(helpers.root, BUILD)

local TIMEOUT = 1          -- seconds, per attempt, for every client here
local SLACK = 2            -- what a loaded CI machine may add to it
local SECRET = "S3cr3t-Recognizable"
local TOKEN = "T0ken-Recognizable"
local STREAM = { domain = "demo.aliyundoc.com", app = "liveApp", stream = "room42" }

-- What each fault must give. keep: the server keeps the connection alive after it, so
-- the client's next call must not need a new one.
local FAULTS = {
  { fault = "reset",         code = "SDK.ConnectionError",    retryable = true },
  { fault = "reset-body",    code = "SDK.ConnectionError",    retryable = false },
  { fault = "hang",          code = "SDK.Timeout",            retryable = true, slow = true },
  { fault = "trickle",       code = "SDK.Timeout",            retryable = false, slow = true },
  { fault = "short",         code = "SDK.IncompleteResponse", retryable = false },
  { fault = "huge",          code = "SDK.ResponseTooLarge",   retryable = false },
  { fault = "huge-chunked",  code = "SDK.ResponseTooLarge",   retryable = false },
  { fault = "html502",       code = "SDK.HttpError",          retryable = true,  status = 502, keep = true },
  { fault = "text200",       code = "SDK.InvalidResponse",    retryable = false, status = 200, keep = true },
  { fault = "no-request-id", code = "SDK.InvalidResponse",    retryable = false, status = 200, keep = true },
  { fault = "xml200",        code = "SDK.InvalidResponse",    retryable = false, status = 200, keep = true },
  { fault = "bad-utf8",      code = "SDK.InvalidResponse",    retryable = false, status = 200, keep = true },
  { fault = "unknown-code",  code = "Fault.NeverSeenBefore",  retryable = false, status = 400, keep = true,
    request_id = true },
  { fault = "retry-after",   code = "ServiceUnavailable",     retryable = true,  status = 503, keep = true,
    request_id = true, retry_after = 0.3 },
  { fault = "echo",          code = "SignatureDoesNotMatch",  retryable = false, status = 400, keep = true,
    request_id = true },
}

-- Every string reachable from v (keys and values) down to `depth` levels of tables
-- (err itself is level 1, err.data level 2, what err.data holds level 3…).
local function strings(v, depth, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "string" then
    out[#out + 1] = v
  elseif type(v) == "table" and not seen[v] and depth > 0 then
    seen[v] = true
    for k, x in pairs(v) do
      strings(k, depth - 1, out, seen)
      strings(x, depth - 1, out, seen)
    end
  end
  return out
end

describe("a broken server", function()
  local srv

  lazy_setup(function()
    local f = io.open(SERVER, "rb")
    assert(f, SERVER .. " is missing: run `make " .. BUILD .. "/spec/faultserver`")
    f:close()
    srv = helpers.spawn(SERVER .. " --port 0", "listening on (http://[%d%.]+:%d+)")
    srv.url = srv.match
  end)
  lazy_teardown(function() srv:stop() end)

  local function set_fault(name, query)
    local status, body = helpers.curl(helpers.sh_quote(srv.url .. "/__fault/" .. name ..
      (query or "")))
    assert.equal(200, status, body)
  end

  local function stats()
    local status, body = helpers.curl(helpers.sh_quote(srv.url .. "/__stats"))
    assert.equal(200, status, body)
    return assert(cjson.decode(body))
  end

  local function client(extra)
    local opts = { access_key_id = "a", access_key_secret = "b", endpoint = srv.url,
                   limiter = false, retry = false, timeout = TIMEOUT,
                   connect_timeout = TIMEOUT }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return live.new(opts)
  end

  local function timed(f, ...)
    local t0 = monotonic()
    local res, err = f(...)
    return res, err, monotonic() - t0
  end

  local function assert_recovers(c)
    set_fault("ok")
    for _ = 1, 2 do
      local res, err = c:resume(STREAM)
      assert.is_nil(err)
      assert.matches("^FA17", res.request_id)
    end
  end

  local VARIANTS = {
    { method = "POST", signature = "v1" },
    { method = "GET", signature = "v3" },
  }

  for _, v in ipairs(VARIANTS) do
    describe(("(%s, %s)"):format(v.method, v.signature), function()
      for _, case in ipairs(FAULTS) do
        it(("%s → %s"):format(case.fault, case.code), function()
          local c = client { method = v.method, signature = v.signature }
          assert_recovers(c)                          -- a live keep-alive connection first
          set_fault(case.fault)
          local opened = stats().opened
          local res, err, dt = timed(c.resume, c, STREAM)
          assert.is_nil(res)
          assert.equal("table", type(err))
          assert.equal(case.code, err.code, tostring(err))
          assert.equal(case.retryable, err.retryable, tostring(err))
          assert.equal(1, err.attempts)
          if case.status then assert.equal(case.status, err.http_status) end
          if case.request_id then assert.matches("^FA17", err.request_id) end
          if case.retry_after then assert.equal(case.retry_after, err.retry_after) end
          assert.is_true(dt < TIMEOUT + SLACK, ("took %.2f s"):format(dt))
          if case.slow then assert.is_true(dt >= TIMEOUT * 0.9, ("took %.2f s"):format(dt)) end
          local line = tostring(err)
          assert.matches("^" .. case.code:gsub("%p", "%%%0") .. ": ", line)
          assert.is_nil(line:find("[\r\n]"))
          -- The same client works again, over the old connection when it survived.
          set_fault("ok")
          local ok, err2 = c:resume(STREAM)
          assert.is_nil(err2)
          assert.matches("^FA17", ok.request_id)
          local s = stats()
          if case.keep then
            assert.equal(opened, s.opened, "a complete answer must keep the connection")
          end
          assert.equal(1, s.connections)
          c:close()
        end)
      end

      it("connection refused → SDK.ConnectionFailed", function()
        local c = client { method = v.method, signature = v.signature,
                           endpoint = "http://127.0.0.1:" .. helpers.free_port() }
        local res, err, dt = timed(c.resume, c, STREAM)
        assert.is_nil(res)
        assert.equal("SDK.ConnectionFailed", err.code, tostring(err))
        assert.is_true(err.retryable)
        assert.is_nil(err.http_status)
        assert.equal(1, err.attempts)
        assert.is_true(dt < TIMEOUT + SLACK)
      end)
    end)
  end

  describe("keep-alive", function()
    it("one connection for many good answers", function()
      local c = client()
      set_fault("ok")
      for _ = 1, 10 do assert(c:resume(STREAM)) end
      local s = stats()
      assert.equal(10, s.requests)
      assert.equal(1, s.connections)
      c:close()
    end)

    it("one connection across every complete error answer", function()
      local c = client()
      assert_recovers(c)
      local opened = stats().opened
      for _, case in ipairs(FAULTS) do
        if case.keep then
          set_fault(case.fault)
          local _, err = c:resume(STREAM)
          assert.equal(case.code, err.code)
        end
      end
      assert_recovers(c)
      assert.equal(opened, stats().opened)
      c:close()
    end)

    it("recovers after every fault in a row, on one client", function()
      local c = client()
      for _, case in ipairs(FAULTS) do
        set_fault(case.fault)
        local _, err = c:resume(STREAM)
        assert.equal(case.code, err.code)
      end
      assert_recovers(c)
      c:close()
    end)
  end)

  describe("XML clients", function()
    it("accept the XML success the JSON clients refuse", function()
      local c = client { format = "XML" }
      set_fault("xml200")
      local res, err = c:resume(STREAM)
      assert.is_nil(err)
      assert.matches("^FA17", res.request_id)
      c:close()
    end)

    it("read JSON error bodies too", function()
      local c = client { format = "XML" }
      set_fault("unknown-code")
      local _, err = c:resume(STREAM)
      assert.equal("Fault.NeverSeenBefore", err.code)
      assert_recovers(c)
      c:close()
    end)

    it("refuse a JSON success", function()
      local c = client { format = "XML" }
      set_fault("no-request-id")
      local _, err = c:resume(STREAM)
      assert.equal("SDK.InvalidResponse", err.code)
      c:close()
    end)
  end)

  describe("with retries", function()
    local RETRY = { attempts = 3, base = 0.01, cap = 0.05 }

    it("503 with x-acs-retry-after: 3 attempts, each after the hinted wait", function()
      local c = client { retry = RETRY }
      set_fault("retry-after", "?retry_after=300")
      local res, err, dt = timed(c.resume, c, STREAM)
      assert.is_nil(res)
      assert.equal("ServiceUnavailable", err.code)
      assert.equal(3, err.attempts)
      assert.equal(0.3, err.retry_after)
      assert.equal(3, stats().requests)
      assert.is_true(dt >= 0.6, ("took %.3f s"):format(dt))          -- two waits of 0.3 s
      assert.is_true(dt < 0.6 + 3 * SLACK, ("took %.3f s"):format(dt))
      assert_recovers(c)
      c:close()
    end)

    it("a hint longer than the backoff cap still wins", function()
      local c = client { retry = RETRY }
      set_fault("retry-after", "?retry_after=450")
      local _, err, dt = timed(c.resume, c, STREAM)
      assert.equal(3, err.attempts)
      assert.is_true(dt >= 0.9, ("took %.3f s"):format(dt))
      c:close()
    end)

    it("a retryable transport failure is retried", function()
      local c = client { retry = RETRY }
      set_fault("html502")
      local _, err = c:resume(STREAM)
      assert.equal("SDK.HttpError", err.code)
      assert.equal(3, err.attempts)
      assert.equal(3, stats().requests)
      set_fault("reset")
      _, err = c:resume(STREAM)
      assert.equal("SDK.ConnectionError", err.code)
      assert.equal(3, err.attempts)
      assert.is_true(stats().requests >= 3)
      assert_recovers(c)
      c:close()
    end)

    it("a timeout with nothing received is retried within the timeout per attempt", function()
      local c = client { retry = RETRY }
      set_fault("hang")
      local _, err, dt = timed(c.resume, c, STREAM)
      assert.equal("SDK.Timeout", err.code)
      assert.equal(3, err.attempts)
      assert.is_true(dt < 3 * TIMEOUT + SLACK, ("took %.2f s"):format(dt))
      assert_recovers(c)
      c:close()
    end)

    it("nothing else is retried", function()
      local c = client { retry = RETRY }
      for _, case in ipairs(FAULTS) do
        if not case.retryable then
          set_fault(case.fault)
          local _, err = c:resume(STREAM)
          assert.equal(case.code, err.code)
          assert.equal(1, err.attempts, case.fault)
        end
      end
      c:close()
    end)
  end)

  describe("secrets", function()
    local forms = { SECRET, TOKEN, core.pct(SECRET), core.pct(TOKEN),
                    core.pct(core.pct(SECRET)), core.pct(core.pct(TOKEN)) }

    local function assert_clean(texts, where)
      for _, t in ipairs(texts) do
        for _, f in ipairs(forms) do
          assert.is_nil(t:find(f, 1, true), ("%s shows %q in %q"):format(where, f, t))
        end
      end
    end

    -- err's own fields and those of err.data (the decoded body) at depth `depth`.
    local function check(c, fault, query, depth)
      set_fault(fault, query)
      local res, err = c:resume(STREAM)
      assert.is_nil(res, fault)
      local texts = strings(err, depth or 2)
      texts[#texts + 1] = tostring(err)
      texts[#texts + 1] = tostring(c)
      texts[#texts + 1] = tostring(c.core)
      assert_clean(texts, fault)
      return err
    end

    -- The server echoes the request (which carries the token with v1) and even the
    -- secret itself, raw and encoded, in Message, HostId, Recommend and a nested object.
    local ECHO = "?echo=" .. core.pct(SECRET .. " " .. core.pct(SECRET) .. " " ..
      core.pct(core.pct(TOKEN)) .. " " .. TOKEN)

    for _, v in ipairs(VARIANTS) do
      it(("never show up in an error, through every fault (%s, %s)"):format(v.method,
          v.signature), function()
        local c = client { access_key_secret = SECRET, security_token = TOKEN,
                           method = v.method, signature = v.signature }
        for _, case in ipairs(FAULTS) do check(c, case.fault) end
        local err = check(c, "echo", ECHO)
        assert.equal("SignatureDoesNotMatch", err.code)
        assert.matches("server string to sign is:", err.message)
        assert.matches("***", err.message, 1, true)
        local dead = client { access_key_secret = SECRET, security_token = TOKEN,
                              endpoint = "http://127.0.0.1:" .. helpers.free_port() }
        local _, derr = dead:resume(STREAM)
        assert.equal("SDK.ConnectionFailed", derr.code)
        local texts = strings(derr, 2)
        texts[#texts + 1] = tostring(derr)
        texts[#texts + 1] = tostring(dead)
        assert_clean(texts, "refused")
        c:close()
        dead:close()
      end)
    end

    -- err.data is the whole decoded body: a secret echoed in a nested object
    -- ({"Detail": {"StringToSign": …, "List": […]}}) must be removed as well.
    it("never show up in nested fields of err.data", function()
      local c = client { access_key_secret = SECRET, security_token = TOKEN }
      check(c, "echo", ECHO, math.huge)
      c:close()
    end)
  end)
end)
