-- The error model: shape, printing, secrets kept out, and resources released.
local live = require "aliyun.live"
local core = require "aliyun.live.core"
local helpers = require "helpers"

local SECRET = "S3cr3t-Value/+=-Recognizable"
local TOKEN = "T0ken-Value/+=-Recognizable-STS"

describe("errors", function()
  local emu

  lazy_setup(function() emu = helpers.emulator("--qps 100000") end)
  lazy_teardown(function() emu:stop() end)

  it("print as one line with code, message, status and RequestId", function()
    local c = live.new { access_key_id = "nobody", access_key_secret = "x",
                         endpoint = emu.url, limiter = false, retry = false }
    local _, err = c:resume { domain = "d.com", app = "a", stream = "s" }
    local line = tostring(err)
    assert.matches("^InvalidAccessKeyId%.NotFound: .+ %(HTTP 404, RequestId %x+%-[%x%-]+%)$", line)
    assert.equal(err.request_id, line:match("RequestId ([%x%-]+)%)$"))
  end)

  it("core.error makes errors of the same shape", function()
    local e = core.error("SDK.Example", "two\nlines", { http_status = 503, retryable = true })
    assert.same({ kind = "sdk", code = "SDK.Example", message = "two\nlines", http_status = 503,
                  retryable = true }, setmetatable(e, nil) and e)
    assert.equal("SDK.Example: two lines (HTTP 503)",
      tostring(setmetatable(e, getmetatable(core.error("a", "b")))))
  end)

  it("print as one line whatever the server put in code, message or RequestId", function()
    local e = core.error("A\nB", "line1\r\nline2\0")
    e.request_id = "R\n1"
    e.http_status = 400
    assert.equal("A B: line1  line2  (HTTP 400, RequestId R 1)", tostring(e))
  end)

  it("never show the secret or the token, even when the server echoes them", function()
    -- A wrong secret with a token: SignatureDoesNotMatch carries the server's string to
    -- sign, which contains the (encoded) token.
    local logged = {}
    local c = live.new { access_key_id = "testid", access_key_secret = SECRET,
                         security_token = TOKEN, endpoint = emu.url, limiter = false,
                         retry = false, logger = function(_, line) logged[#logged + 1] = line end }
    local calls = {
      function() return c:resume { domain = "d.com", app = "a", stream = "s" } end,
      function() return c:forbid { domain = "d.com", app = "a", stream = "s" } end,
      function() return c:call("NoSuchAction", {}) end,
      function() return c:resume { domain = "d.com", app = "a", stream = "" } end,
    }
    local dead = live.new { access_key_id = "testid", access_key_secret = SECRET,
                            security_token = TOKEN, limiter = false, retry = false,
                            endpoint = "http://127.0.0.1:" .. helpers.free_port() }
    calls[#calls + 1] = function() return dead:resume { domain = "d.com", app = "a", stream = "s" } end
    local forms = { SECRET, TOKEN, core.pct(SECRET), core.pct(TOKEN),
                    core.pct(core.pct(SECRET)), core.pct(core.pct(TOKEN)) }
    for i, f in ipairs(calls) do
      local res, err = f()
      assert.is_nil(res, "call " .. i)
      local texts = { tostring(err), tostring(c), tostring(dead) }
      for _, v in pairs(err) do texts[#texts + 1] = tostring(v) end
      if type(err.data) == "table" then
        for _, v in pairs(err.data) do texts[#texts + 1] = tostring(v) end
      end
      for _, l in ipairs(logged) do texts[#texts + 1] = l end
      for _, t in ipairs(texts) do
        for _, s in ipairs(forms) do
          assert.is_nil(t:find(s, 1, true), ("call %d leaks %q in %q"):format(i, s, t))
        end
      end
    end
    -- The server did echo it: the redaction is what kept it out.
    local echoed = helpers.last_requests(emu, 5)
    assert.truthy(#echoed > 0)
  end)
end)

describe("client lifetime", function()
  it("close is idempotent; a closed client answers SDK.ClientClosed and says it is closed", function()
    local c = live.new { access_key_id = "a", access_key_secret = "b", limiter = false }
    c:close()
    c:close()
    local res, err = c:resume { domain = "d.com", app = "a", stream = "s" }
    assert.is_nil(res)
    assert.equal("SDK.ClientClosed", err.code)
    assert.is_nil(c:resume_async { domain = "d.com", app = "a", stream = "s" })
    assert.matches("closed", tostring(c))
  end)

  it("clients are collected", function()
    local weak = setmetatable({}, { __mode = "v" })
    for i = 1, 50 do
      weak[i] = live.new { access_key_id = "a", access_key_secret = "b", limiter = false }
    end
    collectgarbage()
    collectgarbage()
    assert.is_nil(next(weak))
  end)

  if _VERSION == "Lua 5.4" then
    it("closes with <close>", function()
      local f = assert(load([[
        local live = ...
        local core
        do
          local c <close> = live.new { access_key_id = "a", access_key_secret = "b", limiter = false }
          core = c
        end
        return tostring(core)
      ]]))
      assert.matches("closed", f(live))
    end)
  end
end)
