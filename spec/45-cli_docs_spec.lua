-- docs/cli.md: every ```sh block runs as written, in order, in one directory, against
-- the emulator (the page's own set-up block starts one on port 8080; here the spec's
-- emulator, on a free port, stands in for it) and with `aliyun-live` on the PATH.
local helpers = require "helpers"

local q = helpers.sh_quote
local tmp = os.getenv("ALIYUN_LIVE_TEST_TMP") or "/tmp"

describe("docs/cli.md", function()
  local emu, dir

  lazy_setup(function()
    emu = helpers.emulator("")   -- the real quota, as the page describes
    dir = helpers.run("mktemp -d " .. q(tmp .. "/cli-docs-XXXXXX")):match("^(%S+)")
    os.execute("mkdir -p " .. q(dir .. "/bin"))
    local f = assert(io.open(dir .. "/bin/aliyun-live", "w"))
    f:write("#!/bin/sh\nexec ", helpers.lua, " ", q(helpers.root .. "/bin/aliyun-live"), ' "$@"\n')
    f:close()
    os.execute("chmod +x " .. q(dir .. "/bin/aliyun-live"))
  end)
  lazy_teardown(function()
    emu:stop()
    os.execute("rm -rf " .. q(dir))
  end)

  local function blocks()
    local doc = assert(helpers.read_file(helpers.root .. "/docs/cli.md"))
    local list = {}
    for b in doc:gmatch("\n```sh\n(.-)```") do list[#list + 1] = b end
    return list
  end

  it("documents every command, option and exit status the command has", function()
    local doc = helpers.read_file(helpers.root .. "/docs/cli.md")
    local args = require "aliyun.live.cli.args"
    for name in pairs(args.OPTIONS) do
      assert.truthy(doc:find("--" .. name, 1, true), "--" .. name)
    end
    for _, cmd in ipairs(args.ORDER) do
      assert.truthy(doc:find("aliyun-live " .. cmd, 1, true), cmd)
    end
    for _, status in ipairs { "| 0 |", "| 1 |", "| 2 |", "| 130 |" } do
      assert.truthy(doc:find(status, 1, true), status)
    end
  end)

  it("runs every example as written", function()
    local list = blocks()
    assert.is_true(#list >= 10, #list)
    local port = emu.url:match(":(%d+)$")
    for i, block in ipairs(list) do
      -- the set-up: this spec has started the emulator and put aliyun-live on the PATH
      local script = block:gsub("emulator/run [^\n]*\n", ""):gsub("sleep 1\n", "")
        :gsub("export PATH=%$PWD/bin:%$PATH\n", ""):gsub("127%.0%.0%.1:8080", "127.0.0.1:" .. port)
      local f = assert(io.open(dir .. "/example.sh", "w"))
      f:write(script)
      f:close()
      local r = helpers.run(("cd %s && env -u ALIYUN_LIVE_ENDPOINT -u ALIYUN_LIVE_LIMITER "
        .. "-u ALIBABA_CLOUD_ACCESS_KEY_ID -u ALIBABA_CLOUD_ACCESS_KEY_SECRET HOME=%s "
        .. "PATH=%s:$PATH bash -e -c 'if [ -f env.sh ]; then . ./env.sh; fi; . ./example.sh' >out.%d 2>err.%d; "
        .. "echo rc=$?"):format(q(dir), q(dir), q(dir .. "/bin"), i, i))
      -- the environment the set-up block exports holds for the blocks after it
      if script:find("export ALIYUN_LIVE_ENDPOINT", 1, true) then
        os.execute(("cp %s/example.sh %s/env.sh"):format(q(dir), q(dir)))
      end
      assert.equal("0", r:match("rc=(%d+)"), ("example %d:\n%s\n%s"):format(i, script,
        helpers.read_file(dir .. "/err." .. i) or ""))
    end
    -- what the examples say they print
    local function out(i) return helpers.read_file(dir .. "/out." .. i) end
    local function err(i) return helpers.read_file(dir .. "/err." .. i) end
    local rid = "%x+%-%x+%-%x+%-%x+%-%x+"
    local function find(pattern)
      for i = 1, #list do
        if list[i]:find(pattern, 1, true) then return i end
      end
    end
    assert.matches("^" .. rid .. "\n$", out(find("resume --domain demo")))
    local bulk = find("resume --from streams.csv")
    -- one line per item as it completes: the two may come in either order
    local lines = out(bulk)
    assert.matches("^[^\n]+\n[^\n]+\n$", lines)
    assert.matches("\n?" .. rid .. "\tdemo%.aliyundoc%.com\tliveApp\troom1\n", lines)
    assert.matches("\n?" .. rid .. "\tdemo%.aliyundoc%.com\tliveApp\troom 2, upstairs\n", lines)
    assert.matches("2 items in [%d.]+ s %([%d.]+/s%): 2 resumed, 0 failed", err(bulk))
    local mixed = find("mixed.csv")
    assert.matches("exit status 1\ndemo%.aliyundoc%.com,liveApp\nbad domain,liveApp,x\n$", out(mixed))
    assert.matches("line 2: SDK%.InvalidParameter: 2 fields where 3", err(mixed))
    assert.matches("4 items in [%d.]+ s %([%d.]+/s%): 2 resumed, 2 failed %(2 invalid%)", err(mixed))
    assert.matches('^{\n\t"RequestId": "' .. rid .. '"\n}\n$', out(find("live ResumeLiveStream")))
    local stats = helpers.stats(emu)
    for code in pairs(stats.codes) do assert.is_nil(code:match("^Throttling"), code) end
  end)
end)
