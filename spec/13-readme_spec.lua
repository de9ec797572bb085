-- The README's examples work as written: the script example (Lua and shell), the
-- command-line lines, each against the emulator the spec starts (standing in for the
-- `emulator/run --port 8080 &` line), from a shell in the checkout.
local helpers = require "helpers"

local q = helpers.sh_quote

local function readme() return assert(helpers.read_file(helpers.root .. "/README.md")) end

-- The fenced blocks of a section (from its "## Title" to the next "## ").
local function blocks(title, lang)
  local text = readme()
  local start = assert(text:find("\n## " .. title .. "\n", 1, true), title)
  local stop = text:find("\n## ", start + 1, true) or #text
  local out = {}
  for body in text:sub(start, stop):gmatch("```" .. lang .. "\n(.-)```") do out[#out + 1] = body end
  return out
end

describe("README", function()
  local emu, port

  lazy_setup(function()
    emu = helpers.emulator()
    port = emu.url:match(":(%d+)$")
  end)
  lazy_teardown(function() emu:stop() end)

  local function sh(script)
    script = script:gsub("emulator/run %-%-port 8080 &[^\n]*\n", ""):gsub("127%.0%.0%.1:8080", "127.0.0.1:" .. port)
    return helpers.run(("cd %s && env -u LUA_PATH -u LUA_CPATH -u ALIYUN_LIVE_ENDPOINT bash -e -c %s 2>&1")
      :format(q(helpers.root), q(script)))
  end

  it("runs the script example, the Lua and the shell lines", function()
    local lua = blocks("In a script", "lua")[1]
    local out, ok = helpers.run(("cd %s && %s -e %s 2>&1"):format(q(helpers.root), helpers.lua,
      q((lua:gsub("127%.0%.0%.1:8080", "127.0.0.1:" .. port)))))
    assert.is_true(ok, out)
    assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+\n$", out)
    out, ok = sh(blocks("In a script", "sh")[1])
    assert.is_true(ok, out)
    assert.matches("resumed demo%.aliyundoc%.com/liveApp/room42, RequestId %x+", out)
  end)

  it("runs the command-line lines with the checkout's bin/", function()
    local lines = blocks("From the shell", "sh")[1]
    local first = assert(lines:match("(aliyun%-live resume %-%-domain[^\n]*)"))
    local out, ok = sh(("export ALIYUN_LIVE_ENDPOINT=http://127.0.0.1:8080 "
      .. "ALIBABA_CLOUD_ACCESS_KEY_ID=testid ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret\n"
      .. "PATH=$PWD/bin:$PATH; %s"):format(first))
    assert.is_true(ok, out)
    assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+\n$", out)
    local official = assert(lines:match("(aliyun%-live live ResumeLiveStream[^\n]*)"))
    out, ok = sh(("export ALIYUN_LIVE_ENDPOINT=http://127.0.0.1:8080 "
      .. "ALIBABA_CLOUD_ACCESS_KEY_ID=testid ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret\n"
      .. "PATH=$PWD/bin:$PATH; %s"):format(official:gsub(" D ", " demo.aliyundoc.com ")
        :gsub(" A ", " liveApp "):gsub(" S ", " room42 ")))
    assert.is_true(ok, out)
    assert.matches("RequestId", out)
  end)
end)
