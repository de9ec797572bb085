-- The aliyun-live command against the emulator.
local helpers = require "helpers"

describe("aliyun-live command", function()
  local emu
  lazy_setup(function() emu = helpers.emulator("--qps 100000") end)
  lazy_teardown(function() emu:stop() end)

  local bin = helpers.root .. "/bin/aliyun-live"
  local function run(args, env)
    local out = ("%s/cli-%d.out"):format(os.getenv("ALIYUN_LIVE_TEST_TMP") or "/tmp", math.random(1e9))
    local _, ok = helpers.run(("env -u ALIYUN_LIVE_ENDPOINT ALIBABA_CLOUD_ACCESS_KEY_ID=testid "
      .. "ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret %s %s %s %s 2>%s.err >%s")
      :format(env or "", helpers.lua, bin, args, out, out))
    local stdout, stderr = helpers.read_file(out), helpers.read_file(out .. ".err")
    os.remove(out) os.remove(out .. ".err")
    return stdout, stderr, ok
  end

  it("resume prints the RequestId and exits 0", function()
    local out, err, ok = run("resume --domain demo.aliyundoc.com --app liveApp --stream room42 --endpoint " .. emu.url)
    assert.is_true(ok, err)
    assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+\n$", out)
    assert.equal("", err)
    assert.equal(out:sub(1, -2), helpers.last_requests(emu)[1].request_id)
  end)

  it("takes the endpoint from ALIYUN_LIVE_ENDPOINT", function()
    local out, _, ok = run("resume --domain d.com --app a --stream 's p a c e'", "ALIYUN_LIVE_ENDPOINT=" .. emu.url)
    assert.is_true(ok)
    assert.matches("^%x+%-", out)
    assert.equal("s p a c e", helpers.last_requests(emu)[1].params.StreamName)
  end)

  it("forbid and blocklist", function()
    local _, err, ok = run("forbid --domain cli.com --app a --stream x --endpoint " .. emu.url)
    assert.is_true(ok, err)
    local out
    out, err, ok = run("blocklist --domain cli.com --endpoint " .. emu.url)
    assert.is_true(ok, err)
    assert.equal("cli.com/a/x\n", out)
  end)

  it("fails with one line naming the error code", function()
    local out, err, ok = run("resume --domain d.com --app a --stream s --endpoint " .. emu.url,
      "ALIBABA_CLOUD_ACCESS_KEY_SECRET=wrong")
    assert.is_false(ok)
    assert.equal("", out)
    assert.matches("^aliyun%-live: SignatureDoesNotMatch: [^\n]*\n$", err)
  end)

  it("reports usage errors with exit status 2", function()
    for _, args in ipairs { "", "resume --domain d.com --app a", "launch", "resume --colour red",
                            "resume --domain d.com --app a --stream ''" } do
      local out, err, ok = run(args .. " --endpoint " .. emu.url)
      assert.is_false(ok, args)
      assert.equal("", out)
      assert.matches("^aliyun%-live: SDK%.InvalidParameter: [^\n]*\n$", err)
    end
    local _, ok = helpers.run(("%s %s resume 2>/dev/null; test $? -eq 2"):format(helpers.lua, bin))
    assert.is_true(ok)
  end)

  it("prints help and version", function()
    local out, _, ok = run("--help")
    assert.is_true(ok)
    assert.matches("usage: aliyun%-live COMMAND", out)
    out = run("--version")
    assert.matches("^aliyun%-live %d+%.%d+%.%d+\n$", out)
  end)
end)
