-- aliyun-live: usage errors, help, exit statuses, and no secret in any message.
local helpers = require "helpers"

local q = helpers.sh_quote
local bin = helpers.cli_bin
local tmp = os.getenv("ALIYUN_LIVE_TEST_TMP") or "/tmp"

local UNSET = helpers.cli_clean_env   -- none of the user's configuration

describe("aliyun-live usage", function()
  local emu, home

  lazy_setup(function()
    emu = helpers.emulator("--qps 100000")
    home = helpers.run("mktemp -d " .. q(tmp .. "/cli-home-XXXXXX")):match("^(%S+)")
  end)
  lazy_teardown(function()
    emu:stop()
    os.execute("rm -rf " .. q(home))
  end)

  -- run(args [, env]) → stdout, stderr, exit status. args: shell words, already quoted.
  local function run(args, env)
    local out = ("%s/cli-%d"):format(tmp, math.random(1e9))
    local r = helpers.run(("%s HOME=%s ALIYUN_LIVE_LIMITER=local ALIBABA_CLOUD_ACCESS_KEY_ID=testid "
      .. "ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret %s %s %s %s >%s 2>%s.err </dev/null; echo rc=$?")
      :format(UNSET, q(home), env or "", helpers.lua, bin, args, out, out))
    local stdout, stderr = helpers.read_file(out), helpers.read_file(out .. ".err")
    os.remove(out) os.remove(out .. ".err")
    return stdout, stderr, tonumber(r:match("rc=(%d+)"))
  end

  local function usage_error(args, pattern)
    local out, err, status = run(args)
    assert.equal(2, status, args .. ": " .. err)
    assert.equal("", out, args)
    assert.matches("^aliyun%-live: SDK%.InvalidParameter: [^\n]*\n$", err, 1, false, args)
    if pattern then assert.matches(pattern, err, 1, false, args) end
    return err
  end

  it("resume names every missing flag at once, in a fixed order", function()
    for _ = 1, 3 do
      usage_error("resume", "missing %-%-domain, %-%-app, %-%-stream %(see 'aliyun%-live help resume'%)")
    end
    usage_error("resume --stream s", "missing %-%-domain, %-%-app %(")
    usage_error("resume --app a --domain d.com", "missing %-%-stream %(")
    usage_error("forbid --app a", "missing %-%-domain, %-%-stream %(")
    usage_error("blocklist", "missing %-%-domain")
    usage_error("live ResumeLiveStream --StreamName s",
      "missing %-%-DomainName, %-%-AppName, %-%-LiveStreamType %(")
  end)

  it("refuses malformed command lines with status 2 and one line on stderr", function()
    local cases = {
      { "", "no command given" },
      { "launch", "unknown command 'launch'" },
      { "resume --colour red", "unknown option %-%-colour" },
      { "resume --domain", "%-%-domain needs a value" },
      { "resume --domain --app a --stream s", "%-%-domain needs a value" },
      { "resume --domain d.com --app a --stream s --=x", "argument #8 is not a known option" },
      { "resume --domain d.com --app a --stream s -x", "argument #8 is not a known option" },
      { "resume --domain d.com --app a -- --stream s", "unexpected argument" },
      { "resume --domain d.com --domain e.com --app a --stream s", "%-%-domain is given twice" },
      { "resume --json=yes --domain d.com --app a --stream s", "%-%-json takes no value" },
      { "call DescribeLiveStreamsBlockList --domain d.com", "%-%-domain does not go with 'call'" },
      { "resume --DomainName d.com", "go with 'live'" },
      { "resume --domain d.com --app a --stream s extra", "unexpected argument" },
      { "call", "needs an ACTION" },
      { "call describe", "ACTION must be" },
      { "call DescribeLiveStreamsBlockList DomainName", "not Name=Value" },
      { "call DescribeLiveStreamsBlockList A=1 A=2", "A is given twice" },
      { "live ResumeLiveStream --DomainName d.com --AppName a --StreamName s --LiveStreamType pull",
        "LiveStreamType must be publisher" },
      { "resume --domain d.com --app a --stream s --retry-count 1.5", "retry%-count must be an integer" },
      { "resume --domain d.com --app a --stream s --read-timeout 0", "read%-timeout must be" },
      { "resume --domain d.com --app a --stream s --connect-timeout 1e999", "connect%-timeout must be" },
      { "resume --domain d.com --app a --stream s --timeout -1", "read%-timeout must be" },
      -- (under 1 ms libcurl's timeout would have been 0: no timeout at all)
      { "resume --domain d.com --app a --stream s --timeout 0.0001", "read%-timeout must be" },
      { "resume --domain d.com --app a --stream s --connect-timeout 0.0004", "connect%-timeout must be" },
      { "resume --domain d.com --app a --stream s --signature v2", "signature must be v1 or v3" },
      { "resume --domain d.com --app a --stream s --format yaml", "format must be JSON or XML" },
      { "resume --domain d.com --app a --stream s --mode Magic", "mode must be one of" },
      { "resume --domain d.com --app a --stream s --endpoint ftp://x", "endpoint must be" },
      { "resume --domain d.com --app a --stream s --region Mars", "region is not a region id" },
      { "resume --domain d.com --app a --stream s --no-limit --rate 5", "no%-limit does not go" },
      { "resume --domain d.com --app a --stream s --limiter memcached://x", "limiter must be" },
      { "resume --domain d.com --app a --stream s --failed f.csv", "failed goes with %-%-from" },
      { "resume --from - --domain d.com", "from does not go with" },
      { "resume --from /nonexistent/x.csv", "cannot read" },
      { "blocklist --domain d.com --all --page 2", "all does not go with %-%-page" },
      { "blocklist --domain d.com --page-size 3001", "page%-size must be an integer from 1 to 3000" },
    }
    for _, c in ipairs(cases) do
      usage_error(c[1] .. (c[1]:find("--endpoint", 1, true) and "" or " --endpoint " .. emu.url), c[2])
    end
    usage_error("help nothing", "no help on that")
    assert.equal(0, helpers.stats(emu).requests)   -- nothing was sent
  end)

  it("invalid values exit 2 whoever finds them, before anything is sent", function()
    helpers.reset(emu)
    local cases = {
      { "resume --domain 'a b' --app a --stream s", "%-%-domain is not a domain name" },
      { "resume --domain d.com --app a --stream ''", "%-%-stream must not be empty" },
      { "resume --domain d.com --app a --stream \"$(printf 's\\001')\"", "%-%-stream contains a control" },
      { "resume --domain d.com --app a --stream \"$(printf '\\377')\"", "%-%-stream is not valid UTF%-8" },
      { "forbid --domain d.com --app a --stream s --resume-time soon", "%-%-resume%-time must be" },
      { "live ResumeLiveStream --DomainName 'a b' --AppName a --StreamName s --LiveStreamType publisher",
        "%-%-DomainName is not a domain name" },
      { "call ResumeLiveStream \"DomainName=$(printf 'a\\001')\"", "control character" },
      { "presign ResumeLiveStream --timestamp yesterday", "timestamp" },
    }
    for _, c in ipairs(cases) do usage_error(c[1] .. " --endpoint " .. emu.url, c[2]) end
    assert.equal(0, helpers.stats(emu).requests)
  end)

  it("never repeats a secret in a usage error", function()
    local secret = "Zq9SECRETvalue0123456789abcdef"
    for _, args in ipairs {
      "--access-key-id testid " .. secret .. " resume --domain d.com --app a --stream s",
      "resume --domain d.com --app a --stream s --access-key-secrett=" .. secret,
      "resume --domain d.com --app a --stream s --access-key-secret " .. secret,   -- no id
      "resume --domain d.com --app a --stream s --retry-count " .. secret,
      "resume --domain d.com --app a --stream s --limiter 'redis://u:" .. secret .. "@h:port'",
      "resume --domain d.com --app a --stream s --region " .. secret,
      "resume --domain d.com --app a --stream s --endpoint 'http://u:" .. secret .. "@h'",
      "resume --domain d.com --app a --stream s --mode " .. secret,
      "resume --domain d.com --app a --stream s --sts-token " .. secret .. " --mode AK "
        .. "--access-key-id i --access-key-secret " .. secret,
      "resume --domain d.com --app a --stream s --mode RamRoleArn --access-key-id i "
        .. "--access-key-secret " .. secret .. " --ram-role-arn " .. secret,
      secret,
      "call X " .. secret,
    } do
      local err = usage_error(args)
      assert.is_nil(err:find(secret, 1, true), err)
      assert.is_nil(err:find("SECRET", 1, true), err)
    end
  end)

  it("a limiter store that fails is named without its password, status 1", function()
    local out, err, status = run("resume --domain d.com --app a --stream s --endpoint " .. emu.url
      .. " --limiter redis://user:Pw0SECRETpw@127.0.0.1:" .. helpers.free_port())
    assert.equal(1, status)
    assert.equal("", out)
    assert.matches("^aliyun%-live: SDK%.LimiterUnavailable: [^\n]*\n$", err)
    assert.is_nil(err:find("SECRET", 1, true))
  end)

  it("help, help COMMAND, COMMAND --help and -h", function()
    local out, err, status = run("help")
    assert.equal(0, status, err)
    assert.matches("^usage: aliyun%-live COMMAND", out)
    for _, cmd in ipairs { "resume", "forbid", "blocklist", "call", "presign", "live" } do
      assert.matches("Commands:.*\n  " .. cmd .. " ", out)
      local a = run("help " .. cmd)
      assert.matches("^usage: aliyun%-live " .. cmd, a)
      assert.equal(a, (run(cmd .. " --help")))
      assert.equal(a, (run(cmd .. " -h")))
      assert.equal(a, (run("--help " .. cmd)))
      if cmd ~= "call" and cmd ~= "presign" and cmd ~= "live" then
        assert.matches("%-%-profile NAME", a)   -- the common options are listed
      end
    end
    assert.equal(out, (run("--help")))
    assert.equal(out, (run("-h")))
    -- --help wins over everything else and sends nothing
    helpers.reset(emu)
    out, err, status = run("resume --domain d.com --app a --stream s --help --endpoint " .. emu.url)
    assert.equal(0, status)
    assert.matches("^usage: aliyun%-live resume", out)
    assert.equal(0, helpers.stats(emu).requests)
  end)

  it("prints its version", function()
    local out, _, status = run("--version")
    assert.equal(0, status)
    assert.matches("^aliyun%-live %d+%.%d+%.%d+\n$", out)
    assert.equal(out, (run("version")))
    out = run("version --json")
    assert.matches('^{"Version":"%d+%.%d+%.%d+"}\n$', out)
  end)
end)
