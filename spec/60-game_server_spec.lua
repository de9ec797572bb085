-- The example C host (examples/game-server/, built by `make test` or `make game-server`):
-- threads with a lua_State each, a frame loop over Lua rooms, async resumes sharing one
-- quota through the `process` store — run against a private emulator. Timing is only
-- checked with wide margins (frames well under a second); what must hold exactly is
-- the work done (every resume answered once, errors counted) and the quota as the
-- server saw it.
local helpers = require "helpers"

local BUILD = os.getenv("BUILD") or "build/lua5.4"
local HOST = ("%s/%s/examples/game-server"):format(helpers.root, BUILD)
local q = helpers.sh_quote

-- Run the host with `args` (a string); env: a prefix such as "env -u LUA_PATH".
-- → output (stdout and stderr together), exit status.
local function host(args, env)
  local out = helpers.run(("%s %s %s 2>&1; echo \"__rc=$?\""):format(env or "env", q(HOST), args))
  local body, rc = out:match("^(.-)__rc=(%d+)\n?$")
  return body or out, tonumber(rc)
end

-- "name k=v k=v" lines → { name = { k = number } }.
local function figures(out)
  local t = {}
  for line in out:gmatch("[^\n]+") do
    local name, rest = line:match("^(%a+) ([%w_]+=.*)$")
    if name then
      local f = {}
      for k, v in rest:gmatch("([%w_]+)=(%S+)") do f[k] = tonumber(v) end
      t[name] = f
    end
  end
  return t
end

local function last_line(out)
  local last
  for line in out:gmatch("[^\n]+") do last = line end
  return last
end

local NO_CREDS = "env -u ALIBABA_CLOUD_ACCESS_KEY_ID -u ALIBABA_CLOUD_ACCESS_KEY_SECRET "
  .. "-u ALIBABA_CLOUD_SECURITY_TOKEN"

describe("the game-server host", function()
  local emu
  lazy_setup(function()
    local f = io.open(HOST, "rb")
    assert(f, HOST .. " is missing: build it with `make game-server` (make test does)")
    f:close()
    emu = helpers.emulator()
  end)
  lazy_teardown(function() if emu then emu:stop() end end)
  before_each(function() helpers.reset(emu) end)

  it("runs 4 threads x 300 resumes at the quota: all answered, none throttled", function()
    -- From the checkout (no LUA_PATH), credentials defaulted for the loopback emulator.
    local out, rc = host(("--endpoint %s --threads 4 --resumes 300"):format(q(emu.url)),
      NO_CREDS .. " -u LUA_PATH -u LUA_PATH_5_4 -u LUA_CPATH -u LUA_CPATH_5_4")
    assert.equal(0, rc, out)
    assert.matches("using the emulator's testid/testsecret", out, 1, true)
    local last = last_line(out)
    assert.matches("^frame p50_ms=[%d.]+ p99_ms=[%d.]+ max_ms=[%d.]+ completed=%d+ errors=%d+$", last)
    local f = figures(out)
    assert.is_table(f.idle, out)
    assert.equal(300, f.frame.completed)
    assert.equal(0, f.frame.errors)
    for _, name in ipairs { "idle", "frame" } do
      local p = f[name]
      assert.is_true(p.p50_ms > 0 and p.p50_ms <= p.p99_ms and p.p99_ms <= p.max_ms, out)
      assert.is_true(p.max_ms < 1000, name .. " frame over a second: " .. out)
    end
    -- the threads' CPU time in their frames, next to the wall-clock figures
    assert.is_table(f.cpu, out)
    for _, k in ipairs { "idle_p50_ms", "idle_p99_ms", "idle_max_ms", "frame_p50_ms", "frame_p99_ms", "frame_max_ms" } do
      assert.is_true(f.cpu[k] >= 0 and f.cpu[k] < 1000, k .. ": " .. out)
    end
    -- idle is printed first, frame last
    assert.is_true(out:find("idle p50_ms=", 1, true) < out:find("frame p50_ms=", 1, true), out)
    local stats = helpers.stats(emu)
    assert.equal(300, stats.codes.OK, out)
    assert.is_nil(stats.codes["Throttling.User"], "throttled at the server:\n" .. out)
    local peak = stats.max_per_second["testid/ResumeLiveStream"]
    assert.is_true(peak <= 30, ("%d requests in one second at the server:\n%s"):format(peak, out))
    assert.equal(300, stats.requests)   -- no retries were needed
  end)

  it("honours LUA_PATH: the library comes from it, not from the checkout", function()
    local out, rc = host(("--endpoint %s --threads 2 --resumes 4 --idle-seconds 0"):format(q(emu.url)),
      NO_CREDS .. " -u LUA_PATH_5_4 LUA_PATH=" .. q(helpers.root .. "/lua/?.lua;;"))
    assert.equal(0, rc, out)
    assert.equal(4, figures(out).frame.completed)
    -- LUA_PATH without the library: nothing is looked up in the checkout behind it
    helpers.reset(emu)
    out, rc = host(("--endpoint %s --threads 2 --resumes 4"):format(q(emu.url)),
      NO_CREDS .. " -u LUA_PATH_5_4 LUA_PATH=/nonexistent/?.lua")
    assert.equal(1, rc, out)
    assert.matches("module 'aliyun.live' not found", out, 1, true)
    assert.not_matches("\nframe ", out)
    assert.equal(0, helpers.stats(emu).requests)
  end)

  it("uses credentials from the flags, and fails (exit 1) when the server rejects them", function()
    local out, rc = host(("--endpoint %s --threads 2 --resumes 6 --idle-seconds 0 "
      .. "--access-key-id nobody --access-key-secret S3cr3t-Recognizable"):format(q(emu.url)), NO_CREDS)
    assert.equal(1, rc, out)
    local f = figures(out).frame
    assert.same({ 0, 6 }, { f.completed, f.errors })
    assert.matches("InvalidAccessKeyId.NotFound", out, 1, true)
    assert.not_matches("S3cr3t", out)
    assert.not_matches("testid/testsecret", out)
    assert.equal(6, helpers.stats(emu).codes["InvalidAccessKeyId.NotFound"])
  end)

  it("takes credentials from the environment", function()
    local out, rc = host(("--endpoint %s --threads 1 --resumes 2 --idle-seconds 0"):format(q(emu.url)),
      "env -u ALIBABA_CLOUD_SECURITY_TOKEN ALIBABA_CLOUD_ACCESS_KEY_ID=envid "
      .. "ALIBABA_CLOUD_ACCESS_KEY_SECRET=S3cr3t-Env")
    assert.equal(1, rc, out)
    assert.equal(2, figures(out).frame.errors)
    local reqs = helpers.last_requests(emu, 2)
    assert.equal("envid", reqs[1].access_key_id)
    assert.not_matches("S3cr3t", out)
  end)

  it("refuses bad usage before any request (exit 2)", function()
    local cases = {
      { "", "--endpoint URL is required" },
      { "--endpoint %s --threads 0", "--threads must be a whole number from 1 to 64" },
      { "--endpoint %s --threads 4x", "--threads must be" },
      { "--endpoint %s --resumes -1", "--resumes must be" },
      { "--endpoint %s --idle-seconds nan", "--idle-seconds must be" },
      { "--endpoint %s --bogus 1", "unknown option '--bogus'" },
      { "--endpoint %s --threads", "--threads needs a value" },
      { "--endpoint %s --access-key-id x", "go together" },
      { "--endpoint %s stray", "unexpected argument 'stray'" },
      -- not loopback and no credentials: the emulator's key is never sent elsewhere
      { "--endpoint http://192.0.2.1:9", "no credentials" },
      { "--endpoint http://127.0.0.1.example.com:9", "no credentials" },
      { "--endpoint http://127.0.0.1@192.0.2.1:9", "no credentials" },
    }
    for _, c in ipairs(cases) do
      local out, rc = host(c[1]:format(q(emu.url)), NO_CREDS .. " -u ALIYUN_LIVE_ENDPOINT")
      assert.equal(2, rc, c[1] .. ": " .. out)
      assert.matches(c[2], out, 1, true)
    end
    assert.equal(0, helpers.stats(emu).requests)
  end)

  it("stops every thread when a room script raises (exit 1, the traceback on stderr)", function()
    -- A game.server that wraps the real one and raises in its 5th loaded frame.
    local dir = ("%s/gs-scripts-%d"):format(os.getenv("ALIYUN_LIVE_TEST_TMP") or "/tmp", math.random(1e9))
    assert(os.execute("mkdir -p " .. q(dir .. "/game")))
    local f = assert(io.open(dir .. "/game/server.lua", "w"))
    f:write(([[
local real_dir = %q
package.path = real_dir .. "/?.lua;" .. package.path
local real = dofile(real_dir .. "/game/server.lua")
local new = real.new
function real.new(cfg)
  local s = new(cfg)
  local frame, n = s.frame, 0
  function s.frame(self, dt)
    if self.mode == "load" then n = n + 1 end
    if n == 5 and cfg.thread == 2 then error("the room exploded") end
    return frame(self, dt)
  end
  return s
end
return real
]]):format(helpers.root .. "/examples/game-server/lua"))
    f:close()
    local out, rc = host(("--endpoint %s --threads 3 --resumes 300 --idle-seconds 0.2 --scripts %s")
      :format(q(emu.url), q(dir)), NO_CREDS)
    os.execute("rm -rf " .. q(dir))
    assert.equal(1, rc, out)
    assert.matches("thread 2: frame: .-the room exploded", out)
    assert.matches("stack traceback", out, 1, true)
    -- the others stopped too, long before 300 resumes at 30/s could be done
    assert.is_true(helpers.stats(emu).requests < 100, out)
  end)

  it("keeps frames short while the server stalls, and gives up at --timeout (exit 1)", function()
    -- Every answer delayed 5 s: the loop must keep its frames short all the same.
    helpers.fault(emu, { action = "ResumeLiveStream", delay = 5, count = 1000 })
    local out, rc = host(("--endpoint %s --threads 2 --resumes 20 --idle-seconds 0 --timeout 2")
      :format(q(emu.url)), NO_CREDS)
    assert.equal(1, rc, out)
    assert.matches("not done after 2 s", out, 1, true)
    local f = figures(out).frame
    assert.is_table(f, out)
    assert.equal(0, f.completed)
    assert.is_true(f.max_ms < 1000, out)
  end)
end)

-- examples/event-loop/: a host that sleeps in its own poll(2) on what the client says
-- to wait on (client:fds(), client:timeout()) instead of calling poll(0) in a loop.
describe("the event-loop host", function()
  local LOOP = ("%s/%s/examples/event-loop"):format(helpers.root, BUILD)
  local emu
  lazy_setup(function() emu = helpers.emulator() end)
  lazy_teardown(function() if emu then emu:stop() end end)

  it("resumes at the quota while sleeping in poll(2): a few wake-ups per request", function()
    local env = ("LUA_PATH=%s LUA_CPATH=%s ALIBABA_CLOUD_ACCESS_KEY_ID=testid "
      .. "ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret"):format(
      q(helpers.root .. "/lua/?.lua;" .. helpers.root .. "/lua/?/init.lua;;"),
      q(helpers.root .. "/" .. BUILD .. "/?.so;;"))
    local out = helpers.run(("env %s %s --resumes 30 %s 2>&1; echo \"__rc=$?\""):format(
      env, q(LOOP), q(emu.url)))
    assert.matches("__rc=0", out)
    local w = figures(out).done
    assert.is_table(w, out)
    assert.equal(30, w.completed)
    assert.equal(0, w.errors)
    -- each request: a wait for its slot, its transfer; a host spinning on poll(0) at
    -- 1 kHz would have woken about a thousand times in this second
    assert.is_true(w.wakeups <= 10 * 30, out)
    local stats = helpers.stats(emu)
    assert.equal(30, stats.codes.OK)
    assert.is_true(stats.max_per_second["testid/ResumeLiveStream"] <= 30)
  end)
end)
