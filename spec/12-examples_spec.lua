-- The examples run as a user would run them, against the emulator.
local helpers = require "helpers"

describe("examples", function()
  local emu
  lazy_setup(function() emu = helpers.emulator() end)
  lazy_teardown(function() emu:stop() end)

  local function run(script, args)
    return helpers.run(("ALIYUN_LIVE_ENDPOINT=%s ALIBABA_CLOUD_ACCESS_KEY_ID=testid "
      .. "ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret ALIBABA_CLOUD_SECURITY_TOKEN= %s %s/examples/%s %s 2>/dev/null")
      :format(emu.url, helpers.lua, helpers.root, script, args))
  end

  it("resume.lua prints the RequestId", function()
    local out, ok = run("resume.lua", "demo.aliyundoc.com liveApp room42")
    assert.is_true(ok)
    assert.matches("^resumed demo.aliyundoc.com/liveApp/room42, RequestId %x+%-", out)
  end)

  it("resume_many.lua resumes every stream, in order", function()
    local out, ok = run("resume_many.lua", "d.com app a b c d e")
    assert.is_true(ok, out)
    local names = {}
    for name in out:gmatch("(%S+)\t%x+%-[^\n]*\n") do names[#names + 1] = name end
    assert.same({ "a", "b", "c", "d", "e" }, names)
  end)

  it("game_loop.lua completes through poll(0)", function()
    local out, ok = run("game_loop.lua", "d.com app x y z")
    assert.is_true(ok, out)
    local n = 0
    for _ in out:gmatch("%S+\t%x+%-[^\n]*\n") do n = n + 1 end
    assert.equal(3, n)
  end)

  it("resume.lua explains its usage", function()
    local _, ok = run("resume.lua", "")
    assert.is_false(ok)
  end)
end)
