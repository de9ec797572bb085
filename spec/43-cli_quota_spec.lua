-- Many aliyun-live processes at once hold the account's quota together: by default
-- through the host-wide shm store of the user, or through Redis when told to.
local helpers = require "helpers"

local q = helpers.sh_quote
local bin = helpers.cli_bin
local tmp = os.getenv("ALIYUN_LIVE_TEST_TMP") or "/tmp"

local UNSET = helpers.cli_clean_env   -- none of the user's configuration

local function count_lines(s)
  local n = 0
  for l in (s or ""):gmatch("[^\n]+") do
    assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+", l)
    n = n + 1
  end
  return n
end

describe("parallel aliyun-live processes", function()
  local emu, dir

  lazy_setup(function()
    emu = helpers.emulator("")   -- the service's limit: 30 per second per account
    dir = helpers.run("mktemp -d " .. q(tmp .. "/cli-quota-XXXXXX")):match("^(%S+)")
  end)
  lazy_teardown(function()
    emu:stop()
    os.execute("rm -rf " .. q(dir))
  end)
  before_each(function() helpers.reset(emu) end)

  local function cli(env)
    return ("%s HOME=%s ALIBABA_CLOUD_ACCESS_KEY_ID=testid ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret "
      .. "%s %s %s"):format(UNSET, q(dir), env or "", helpers.lua, bin)
  end

  -- seq 1 n | xargs -P p: one `aliyun-live resume` per stream → exit status, stdout, stderr.
  local function xargs(n, p, env, extra)
    local r = helpers.run(("cd %s && seq 1 %d | xargs -P %d -I{} %s resume --domain demo.aliyundoc.com "
      .. "--app app --stream s{} --endpoint %s %s >xout 2>xerr; echo rc=$?")
      :format(q(dir), n, p, cli(env), emu.url, extra or ""))
    return tonumber(r:match("rc=(%d+)")), helpers.read_file(dir .. "/xout"),
      helpers.read_file(dir .. "/xerr")
  end

  local function assert_at_quota(n)
    local stats = helpers.stats(emu)
    assert.equal(n, stats.requests, require("cjson").encode(stats))
    assert.equal(n, stats.codes.OK)
    for code in pairs(stats.codes) do assert.is_nil(code:match("^Throttling"), code) end
    assert.is_true(stats.max_per_second["testid/ResumeLiveStream"] <= 30)
  end

  it("xargs -P 16 over 90 streams: 0 failures, 0 throttled, with the default limiter", function()
    local status, out, err = xargs(90, 16)
    assert.equal(0, status, err)
    assert.equal("", err)
    assert.equal(90, count_lines(out))
    assert_at_quota(90)
  end)

  it("a bulk run and single commands share the default limiter", function()
    local items = {}
    for i = 1, 60 do items[i] = ("demo.aliyundoc.com,app,bulk%d\n"):format(i) end
    local f = assert(io.open(dir .. "/b.csv", "wb"))
    f:write(table.concat(items))
    f:close()
    local r = helpers.run(("cd %s && { %s resume --from b.csv --progress none --endpoint %s "
      .. ">bout 2>berr & seq 1 30 | xargs -P 8 -I{} %s resume --domain demo.aliyundoc.com "
      .. "--app app --stream s{} --endpoint %s >xout 2>xerr; x=$?; wait $!; echo rc=$x,$?; }")
      :format(q(dir), cli(), emu.url, cli(), emu.url))
    assert.equal("rc=0,0", r:match("rc=%d+,%d+"), helpers.read_file(dir .. "/berr"))
    assert.equal(60, count_lines(helpers.read_file(dir .. "/bout")))
    assert.equal(30, count_lines(helpers.read_file(dir .. "/xout")))
    assert_at_quota(90)
  end)

  it("--limiter and ALIYUN_LIVE_LIMITER share one through Redis", function()
    local redis = helpers.redis_server()
    finally(function() redis:stop() end)
    local status, out, err = xargs(45, 16, "ALIYUN_LIVE_LIMITER=" .. redis.url)
    assert.equal(0, status, err)
    assert.equal(45, count_lines(out))
    assert_at_quota(45)
    helpers.reset(emu)
    status, out, err = xargs(45, 16, nil, "--limiter " .. redis.url)
    assert.equal(0, status, err)
    assert.equal(45, count_lines(out))
    assert_at_quota(45)
  end)
end)
