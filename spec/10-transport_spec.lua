-- Transport options against real servers: HTTPS with certificate verification (the
-- emulator's --tls mode), a custom CA, verification failures, and an HTTP proxy.
local live = require "aliyun.live"
local helpers = require "helpers"

local stream = { domain = "demo.aliyundoc.com", app = "liveApp", stream = "room42" }

describe("TLS", function()
  local emu
  lazy_setup(function() emu = helpers.emulator("--tls --qps 100000") end)
  lazy_teardown(function() emu:stop() end)

  local function client(extra) return helpers.client(emu.url, extra) end

  it("serves https with a CA file", function()
    assert.matches("^https://", emu.url)
    assert.truthy(emu.ca_file)
  end)

  it("verifies the certificate with ca_file", function()
    for _, sig in ipairs { "v1", "v3" } do
      local res, err = client { ca_file = emu.ca_file, signature = sig }:resume(stream)
      assert.is_nil(err)
      assert.truthy(res.request_id)
    end
  end)

  it("fails verification without the CA, as SDK.TLSError", function()
    local res, err = client():resume(stream)
    assert.is_nil(res)
    assert.equal("SDK.TLSError", err.code)
    assert.is_false(err.retryable)
    assert.matches("certificate", err.message)
  end)

  it("fails verification when the name does not match", function()
    local res, err = client { ca_file = emu.ca_file,
                              endpoint = emu.url:gsub("127%.0%.0%.1", "localhost.localdomain") }:resume(stream)
    assert.is_nil(res)
    assert.truthy(err.code == "SDK.TLSError" or err.code == "SDK.ConnectionFailed")
  end)

  it("can be told not to verify", function()
    assert.truthy(client { verify = false }:resume(stream))
  end)
end)

describe("proxy", function()
  local emu, proxy
  lazy_setup(function()
    emu = helpers.emulator("--qps 100000")
    proxy = helpers.proxy()
  end)
  lazy_teardown(function()
    proxy:stop()
    emu:stop()
  end)

  it("sends requests through the configured proxy", function()
    local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                         endpoint = emu.url, limiter = false, proxy = proxy.url, method = "GET" }
    local res, err = c:resume(stream)
    assert.is_nil(err)
    assert.truthy(res.request_id)
    -- nginx logs in its log phase, after the answer went out: wait for the line.
    local pattern = "GET " .. emu.url:gsub("%p", "%%%0") .. "/%?"
    local log, deadline = "", require("aliyun.live.core").monotonic() + 5
    repeat
      log = helpers.read_file(proxy.log) or ""
      if log:find(pattern) then break end
      require("aliyun.live.core").sleep(0.02)
    until require("aliyun.live.core").monotonic() > deadline
    assert.matches(pattern, log)
  end)

  it("reports an unreachable proxy", function()
    local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                         endpoint = emu.url, limiter = false, retry = false,
                         proxy = "http://127.0.0.1:" .. helpers.free_port() }
    local _, err = c:resume(stream)
    assert.equal("SDK.ConnectionFailed", err.code)
  end)
end)
