-- live.resume and the default client: configured from the environment, as the
-- official SDKs are. Each case runs in a child Lua so its environment is its own.
local helpers = require "helpers"

describe("live.resume (module level)", function()
  local emu

  lazy_setup(function() emu = helpers.emulator("--qps 100000") end)
  lazy_teardown(function() emu:stop() end)

  local function lua(env, code)
    local assigns = {}
    for k, v in pairs(env) do assigns[#assigns + 1] = k .. "=" .. helpers.sh_quote(v) end
    return helpers.run(("env -u ALIBABA_CLOUD_ACCESS_KEY_ID -u ALIBABA_CLOUD_ACCESS_KEY_SECRET "
      .. "-u ALIBABA_CLOUD_SECURITY_TOKEN -u ALIYUN_LIVE_ENDPOINT %s %s -e %s 2>&1")
      :format(table.concat(assigns, " "), helpers.lua, helpers.sh_quote(code)))
  end

  local resume = [[
    local live = require "aliyun.live"
    local res, err = live.resume { domain = "demo.aliyundoc.com", app = "liveApp", stream = "room42" }
    if res then print("OK " .. res.request_id) else print("ERR " .. err.code .. " " .. tostring(err)) end
  ]]

  it("takes credentials and endpoint from the environment", function()
    local out = lua({ ALIBABA_CLOUD_ACCESS_KEY_ID = "testid",
                      ALIBABA_CLOUD_ACCESS_KEY_SECRET = "testsecret",
                      ALIYUN_LIVE_ENDPOINT = emu.url }, resume)
    assert.matches("^OK %x+%-", out)
    local req = helpers.last_requests(emu)[1]
    assert.equal("testid", req.params.AccessKeyId)
    assert.equal("ResumeLiveStream", req.action)
  end)

  it("sends ALIBABA_CLOUD_SECURITY_TOKEN as SecurityToken", function()
    local out = lua({ ALIBABA_CLOUD_ACCESS_KEY_ID = "testid",
                      ALIBABA_CLOUD_ACCESS_KEY_SECRET = "testsecret",
                      ALIBABA_CLOUD_SECURITY_TOKEN = "some-token",
                      ALIYUN_LIVE_ENDPOINT = emu.url }, resume)
    -- testid is a permanent key: the emulator refuses a token with it, which proves
    -- the token was sent.
    assert.matches("^ERR InvalidSecurityToken", out)
    assert.not_matches("some%-token", out)
  end)

  it("reports missing credentials without any request", function()
    local before = helpers.stats(emu).requests
    local out = lua({ ALIYUN_LIVE_ENDPOINT = emu.url, HOME = "/nonexistent" }, resume)
    assert.matches("^ERR SDK.MissingCredentials", out)
    assert.matches("ALIBABA_CLOUD_ACCESS_KEY_ID", out)
    assert.equal(before, helpers.stats(emu).requests)
  end)

  it("reuses one default client while the endpoint stays the same", function()
    local out = lua({ ALIBABA_CLOUD_ACCESS_KEY_ID = "testid",
                      ALIBABA_CLOUD_ACCESS_KEY_SECRET = "testsecret",
                      ALIYUN_LIVE_ENDPOINT = emu.url }, [[
      local live = require "aliyun.live"
      local a = live.default_client()
      local b = live.default_client()
      print(a == b, a.endpoint)
    ]])
    assert.equal("true\t" .. emu.url .. "\n", out)
  end)
end)
