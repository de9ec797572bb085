-- What an outside attack on the client found (issue 9), one regression spec per hole:
-- requests lost to a raising callback, timeouts that meant "forever", secrets in
-- errors, header injection and NUL truncation, numbers C could not hold, and hooks
-- (providers, limiters) that break their contract.
local live = require "aliyun.live"
local core = require "aliyun.live.core"
local helpers = require "helpers"

local STREAM = { domain = "demo.aliyundoc.com", app = "liveApp", stream = "room42" }
local function stream(i) return { domain = "demo.aliyundoc.com", app = "app", stream = "s" .. i } end
local THIS_FILE = "31%-hardening_spec%.lua"

-- poll until nothing is pending, failing the spec instead of hanging when something
-- stays pending for ever
local function drain(c, seconds)
  local deadline = core.monotonic() + (seconds or 20)
  while c:pending() > 0 do
    assert(core.monotonic() < deadline, "requests stayed pending")
    local ok = pcall(c.poll, c, 0.05)
    if not ok then end   -- a raising callback: keep draining
  end
end

describe("hardening", function()
  local emu

  lazy_setup(function() emu = helpers.emulator("--qps 100000") end)
  lazy_teardown(function() emu:stop() end)
  before_each(function() helpers.reset(emu) end)

  local function client(extra) return helpers.client(emu.url, extra) end
  local UNSET = helpers.UNSET

  describe("async callbacks", function()
    it("a raising callback loses no request, and the next batch runs", function()
      local c = client()
      local calls, raised = {}, 0
      for i = 1, 8 do
        assert(c:resume_async(stream(i), function(res, err)
          calls[i] = (calls[i] or 0) + 1
          if i == 1 then error("callback 1 fails") end
        end))
      end
      local deadline = core.monotonic() + 20
      while c:pending() > 0 do
        assert(core.monotonic() < deadline, "requests stayed pending")
        local ok, e = pcall(c.poll, c, 0.05)
        if not ok then
          raised = raised + 1
          assert.matches("callback 1 fails", tostring(e))
        end
      end
      assert.equal(1, raised)
      for i = 1, 8 do assert.equal(1, calls[i]) end          -- each exactly once
      local entries, summary = c:resume_many({ stream(9), stream(10) })
      assert.same({ ok = 2, failed = 0 }, summary)
      assert.is_true(entries[1].ok)
      c:close()
    end)

    it("an aborted batch's on_progress never fires again", function()
      local c = client()
      local fired = 0
      local ok, e = pcall(c.resume_many, c, { stream(1), stream(2), stream(3), stream(4) },
        { concurrency = 1, on_progress = function(done)
          fired = fired + 1
          if done == 1 then error("stop here") end
        end })
      assert.is_false(ok)
      assert.matches("stop here", tostring(e))
      local after = fired                        -- what ran before resume_many raised
      assert(c:resume_async(stream(5)))
      drain(c)
      assert.equal(after, fired)                 -- later polls fire nothing of that batch
      assert.equal(0, c:pending())
      c:close()
    end)

    it("a closed client refuses new requests, and closing inside a callback is safe", function()
      local c = client()
      local got = {}
      for i = 1, 6 do
        c:resume_async(stream(i), function(res, err)
          got[#got + 1] = res and "ok" or err.code
          if #got == 1 then c:close() end
        end)
      end
      drain(c)
      assert.equal(6, #got)
      for i = 2, 6 do assert.is_truthy(got[i] == "ok" or got[i] == "SDK.ClientClosed") end
      assert.equal(0, c:poll(0))
      local op, err = c:resume_async(stream(7))
      assert.is_nil(op)
      assert.equal("SDK.ClientClosed", err.code)
    end)

    it("cancel ends a request once, with SDK.Cancelled, and frees its transfer", function()
      helpers.fault(emu, { delay = 2 })
      local c = client()
      local got = {}
      local op = c:resume_async(STREAM, function(res, err) got[#got + 1] = err and err.code end)
      c:poll(0.05)                                  -- the transfer is in flight now
      assert.equal(1, c.ccl:inflight())
      assert.is_true(op:cancel())
      assert.is_false(op:cancel())
      assert.equal(0, c.ccl:inflight())
      assert.equal(0, c:pending())
      c:poll(0)
      assert.same({ "SDK.Cancelled" }, got)
      c:close()
    end)
  end)

  describe("timeouts", function()
    it("refuses timeouts libcurl would read as 'none', and numbers C cannot hold", function()
      for _, o in ipairs {
        { timeout = 0.0004 }, { connect_timeout = 0.0004 }, { timeout = 0 }, { timeout = 1e300 },
        { connect_timeout = 0 / 0 }, { timeout = math.huge }, { max_body = 1e300 },
        { max_body = 2 ^ 63 }, { max_body = 0.5 }, { concurrency = 1e300 },
      } do
        local ok, e = pcall(client, o)
        local name = next(o)
        assert.is_false(ok, name)
        assert.matches("'" .. name .. "'", tostring(e))
        assert.matches(THIS_FILE, tostring(e))   -- blamed on the caller, not the library
      end
      -- the providers' timeouts too, named in the message
      for ctor, o in pairs { ecs_role = { timeout = 1e300 },
                             uri = { timeout = 1e300, uri = "http://127.0.0.1:1/" } } do
        local ok, e = pcall(live.credentials[ctor], o)
        assert.is_false(ok)
        assert.matches("'timeout' must be between", tostring(e))
      end
      assert.has_error(function()
        live.credentials.ram_role_arn { role_arn = "acs:ram::1:role/r", access_key_id = "a",
          access_key_secret = "b", duration = 1e300 }
      end)
      assert.has_error(function() core.timestamp(1e300) end)
      assert.has_error(function() core.timestamp(-1e300) end)
      assert.has_error(function() core.timestamp(0 / 0) end)
    end)

    it("a sub-millisecond timeout that is allowed still ends", function()
      helpers.fault(emu, { delay = 3 })
      local c = client { timeout = 0.001 }
      local t = core.monotonic()
      local _, err = c:resume(STREAM)
      assert.equal("SDK.Timeout", err.code)
      assert.is_true(core.monotonic() - t < 2)
    end)

    it("poll(math.huge) returns when the work is done", function()
      local c = client()
      assert.equal(0, c:poll(math.huge))            -- nothing pending: at once
      c:resume_async(STREAM)
      local t = core.monotonic()
      assert.equal(0, c:poll(math.huge))
      assert.is_true(core.monotonic() - t < 10)
      c:close()
    end)
  end)

  describe("secrets", function()
    it("an STS echo of the source's token never reaches the caller (ram_role_arn)", function()
      -- temporary source credentials with a wrong secret: STS answers
      -- SignatureDoesNotMatch with its string to sign, the source's token inside
      local sts = live.credentials.ram_role_arn { role_arn = "acs:ram::1234567890:role/r",
        access_key_id = "testid", access_key_secret = "testsecret", sts_endpoint = emu.url }
      local src = assert(sts:get())
      local p = live.credentials.ram_role_arn { role_arn = "acs:ram::1234567890:role/r",
        access_key_id = src.access_key_id, access_key_secret = "wrong",
        security_token = src.security_token, sts_endpoint = emu.url }
      local _, err = client({ access_key_id = UNSET, access_key_secret = UNSET, credentials = p })
        :resume(STREAM)
      assert.equal("SignatureDoesNotMatch", err.code)
      local text = tostring(err) .. " " .. require("cjson").encode(setmetatable(err, nil))
      local tok = src.security_token
      for _, form in ipairs { tok, core.pct(tok), core.pct(core.pct(tok)), tok:sub(1, 40) } do
        assert.is_nil(text:find(form, 1, true), "token leaked")
      end
      assert.matches("%*%*%*", err.message)
    end)

    it("redacts every form a server can echo a secret in", function()
      local redact = require "aliyun.live.redact"
      local tok = "CAIS+tok/en==" .. ("x"):rep(40) .. "END"
      local forms = redact.forms { access_key_secret = "abc", security_token = tok }
      local lower = function(s) return (s:gsub("%%%x%x", string.lower)) end
      local echoes = {
        tok, core.pct(tok), core.pct(core.pct(tok)), lower(core.pct(tok)),
        lower(core.pct(core.pct(tok))), (tok:gsub("%+", " ")),
        (tok:gsub("%+", "-"):gsub("/", "_"):gsub("=+$", "")), tok:sub(1, 40), tok:sub(1, 13),
      }
      for _, e in ipairs(echoes) do
        local out = redact.string("before " .. e .. " after", forms)
        assert.equal("before *** after", out, e)
      end
      assert.equal("key=*** ok", redact.string("key=abc ok", forms))   -- 3 bytes: still
      assert.equal("fabcd", redact.string("fabcd", forms))              -- but not inside words
    end)

    it("refuses control characters and NUL in every credential and header value, before any I/O", function()
      for _, o in ipairs {
        { access_key_id = "testid\r\nX-Smuggled: 1" }, { access_key_id = "testid\0junk" },
        { security_token = "tok\r\n\r\nGET /smuggled HTTP/1.1" }, { user_agent = "ua\r\nX: y" },
        { access_key_secret = "s\0" }, { proxy = "http://p\r\n" },
      } do
        assert.has_error(function() client(o) end)
      end
      local function provider(creds) return { name = "evil", get = function() return creds end } end
      for _, creds in ipairs {
        { access_key_id = "testid\0junk", access_key_secret = "testsecret" },
        { access_key_id = "testid", access_key_secret = "testsecret", security_token = "a\r\nb" },
        { access_key_id = "testid", access_key_secret = "" },
      } do
        local _, err = client({ credentials = provider(creds), access_key_id = UNSET,
                                access_key_secret = UNSET }):resume(STREAM)
        assert.equal("SDK.CredentialsError", err.code)
        assert.matches("'evil'", err.message)
        assert.is_nil(err.message:find("junk", 1, true))
      end
      assert.has_error(function() live.limiter { store = "shm:a\0b" } end)
      assert.equal(0, helpers.stats(emu).requests)
    end)

    it("sends a body with a NUL in it whole (the core's raw HTTP, the providers' path)", function()
      local c = client()
      local status = c.ccl:http { method = "POST", url = emu.url .. "/",
        headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
        body = "Action=ResumeLiveStream&Tail=x\0y&After=z" }
      assert.equal(400, status)   -- unsigned: refused, but logged with every field
      local got = helpers.last_requests(emu, 1)[1]
      assert.equal("x\0y", got.params.Tail)
      assert.equal("z", got.params.After)
      c:close()
    end)
  end)

  describe("hooks that break their contract", function()
    local function with_provider(p) return client { credentials = p, access_key_id = UNSET,
                                                    access_key_secret = UNSET } end

    it("a logger that raises: the call goes on, sync and async, and nothing is lost", function()
      local c = client { logger = function() error("logger boom") end }
      assert.truthy(c:resume(STREAM))
      local got = {}
      for i = 1, 5 do c:resume_async(stream(i), function(res) got[#got + 1] = res ~= nil end) end
      drain(c)
      assert.same({ true, true, true, true, true }, got)
      assert.equal(0, c:pending())
      assert.equal(6, helpers.stats(emu).requests)
      c:close()
    end)

    it("credential providers: an error naming the provider, sync and async", function()
      for _, get in ipairs {
        function() return 42 end, function() return {} end, function() error("boom") end,
        function() return nil, "plain string" end, function() return nil end,
      } do
        local c = with_provider { name = "custom", get = get }
        local _, err = c:resume(STREAM)
        assert.is_truthy(err.code == "SDK.CredentialsError" or err.code == "SDK.MissingCredentials")
        assert.matches("custom", err.message)
        local op = assert(c:resume_async(STREAM))
        drain(c)
        assert.is_truthy(op.done and op.err and op.err.code:match("^SDK%."))
        c:close()
      end
    end)

    it("limiters: SDK.LimiterUnavailable, never a raw error or a stuck call", function()
      for _, reserve in ipairs {
        function() return {} end, function() return "busy" end, function() return nil, "busy" end,
        function() return -1 end, function() return 0 / 0 end, function() error("boom") end,
      } do
        local c = client { limiter = { reserve = reserve } }
        local _, err = c:resume(STREAM)
        assert.equal("SDK.LimiterUnavailable", err.code)
        c:close()
      end
      assert.has_error(function() client { limiter = { acquire = function() return true end } } end)
      local lim = live.limiter { rate = 30 }
      lim:close()
      local _, err = client({ limiter = lim }):resume(STREAM)   -- returns, does not raise
      assert.equal("SDK.LimiterUnavailable", err.code)
      assert.matches("closed", tostring(lim))
      assert.equal(0, helpers.stats(emu).requests)
    end)
  end)

  describe("the quota key", function()
    it("survives credential rotation and can be set", function()
      local keys = {}
      local lim = { reserve = function(_, key) keys[#keys + 1] = key return 0 end }
      local p = live.credentials.ram_role_arn { role_arn = "acs:ram::1234567890:role/r",
        access_key_id = "testid", access_key_secret = "testsecret", sts_endpoint = emu.url }
      local c = client { credentials = p, access_key_id = UNSET, access_key_secret = UNSET,
                         limiter = lim }
      assert(c:resume(STREAM))
      p:invalidate()                                    -- a new temporary AccessKeyId
      assert(c:resume(STREAM))
      assert.equal("testid/ResumeLiveStream", keys[1])
      assert.equal(keys[1], keys[2])
      local c2 = client { limiter = lim, quota_key = "acct-42" }
      assert(c2:resume(STREAM))
      assert.equal("acct-42/ResumeLiveStream", keys[3])
    end)
  end)

  describe("V3 with STS credentials", function()
    it("signs and sends x-acs-accesskey-id beside the token, as the official SDKs", function()
      local p = live.credentials.ram_role_arn { role_arn = "acs:ram::1234567890:role/r",
        access_key_id = "testid", access_key_secret = "testsecret", sts_endpoint = emu.url }
      local c = client { credentials = p, access_key_id = UNSET, access_key_secret = UNSET,
                         signature = "v3" }
      assert(c:resume(STREAM))
      local pre = c:presign("ResumeLiveStream", { DomainName = "d.com" })
      local creds = assert(p:get())
      assert.equal(creds.access_key_id, pre.headers["x-acs-accesskey-id"])
      assert.matches("x%-acs%-accesskey%-id;", pre.authorization)
    end)
  end)

  describe("bounded memory", function()
    it("does not keep every action name it was ever given", function()
      local c = client()
      collectgarbage()
      local before = collectgarbage("count")
      for i = 1, 20000 do c:presign("Action" .. i, {}) end
      collectgarbage()
      assert.is_true(collectgarbage("count") - before < 1024, "grew by over 1 MiB")
    end)
  end)

  describe("instance metadata", function()
    it("is never fetched through a proxy", function()
      local script = ([[
        local live = require "aliyun.live"
        local c = assert(live.credentials.ecs_role { endpoint = %q }:get())
        print(c.access_key_id)
      ]]):format(emu.url)
      local out, ok = helpers.run(("http_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 "
        .. "all_proxy=http://127.0.0.1:9 %s -e %s 2>&1"):format(helpers.lua, helpers.sh_quote(script)))
      assert.is_true(ok, out)
      assert.matches("^STS%.", out)
    end)
  end)

  describe("errors", function()
    it("point at the caller's line, with public names", function()
      local c = client()
      local ok, e = pcall(c.resume, c, { domain = 1, app = "a", stream = "s" })
      assert.is_false(ok)
      assert.matches(THIS_FILE, e)
      assert.matches("aliyun%.live%.resume:", e)
      ok, e = pcall(c.presign, c, "bad action")
      assert.matches(THIS_FILE, e)
      ok, e = pcall(live.limiter, { rate = "x" })
      assert.matches(THIS_FILE, e)
      assert.is_nil(tostring(e):find("bad self", 1, true))
      c:close()
      assert.matches("closed", tostring(c))
    end)

    it("name the byte of a bad domain, and refuse trailing dots and lone hyphens", function()
      local c = client()
      for d, byte in pairs { ["a..b"] = 3, ["a.com."] = 7, ["-"] = 1, ["-a.com"] = 1,
                             ["a-.com"] = 2, [".a.com"] = 1 } do
        local _, err = c:resume { domain = d, app = "a", stream = "s" }
        assert.equal("SDK.InvalidParameter", err.code, d)
        assert.matches("%(byte " .. byte .. "%)", err.message, 1)
      end
      assert.equal(0, helpers.stats(emu).requests)
    end)
  end)

  describe("retry jitter", function()
    it("differs between processes that seed math.random alike", function()
      local script = [[
        math.randomseed(1)
        local p = require("aliyun.live.retry").new { attempts = 10, base = 1, cap = 1 }
        local out = {}
        for i = 1, 5 do
          out[i] = ("%.9f"):format(p:decide(1, { code = "InternalError", kind = "api" }, 0))
        end
        print(table.concat(out, " "))
      ]]
      local cmd = ("%s -e %s"):format(helpers.lua, helpers.sh_quote(script))
      local a = helpers.run(cmd)
      local b = helpers.run(cmd)
      assert.matches("^%d", a)
      assert.are_not.equal(a, b)
    end)
  end)
end)

describe("a response header of 200 KB", function()
  it("is SDK.ResponseTooLarge, not out of memory", function()
    local server = ("%s/%s/spec/faultserver"):format(helpers.root, os.getenv("BUILD") or "build/lua5.4")
    local srv = helpers.spawn(server .. " --port 0 --fault huge-header",
      "listening on (http://[%d%.]+:%d+)")
    local c = live.new { access_key_id = "a", access_key_secret = "b", endpoint = srv.match,
                         limiter = false, retry = false }
    local _, err = c:resume(STREAM)
    assert.equal("SDK.ResponseTooLarge", err.code)
    assert.matches("header", err.message)
    srv:stop()
  end)
end)
