-- aliyun-live: the official aliyun CLI's credential and request flags, profiles and
-- their region, and what each command prints (plain, --json, the `live` form), also
-- when stdout cannot take it.
local helpers = require "helpers"
local live = require "aliyun.live"
local cjson = require "cjson"

local q = helpers.sh_quote
local bin = helpers.cli_bin
local tmp = os.getenv("ALIYUN_LIVE_TEST_TMP") or "/tmp"

local UNSET = helpers.cli_clean_env .. " -u ALIBABA_CLOUD_ACCESS_KEY_ID -u ALIBABA_CLOUD_ACCESS_KEY_SECRET"

local ENV_KEYS = "ALIBABA_CLOUD_ACCESS_KEY_ID=testid ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret"
local RID = "%x+%-%x+%-%x+%-%x+%-%x+"

describe("aliyun-live options and output", function()
  local emu, home

  lazy_setup(function()
    emu = helpers.emulator("--qps 100000")
    home = helpers.run("mktemp -d " .. q(tmp .. "/cli-opts-XXXXXX")):match("^(%S+)")
    os.execute("mkdir -p " .. q(home .. "/.aliyun"))
    local f = assert(io.open(home .. "/.aliyun/config.json", "w"))
    f:write(cjson.encode { current = "main", profiles = {
      { name = "main", mode = "AK", access_key_id = "testid", access_key_secret = "testsecret",
        region_id = "us-east-1" },
      { name = "bad", mode = "AK", access_key_id = "testid", access_key_secret = "nope",
        region_id = "cn-shanghai" },
    } })
    f:close()
    f = assert(io.open(home .. "/other.json", "w"))
    f:write(cjson.encode { current = "x", profiles = {
      { name = "x", mode = "AK", access_key_id = "testid", access_key_secret = "testsecret" } } })
    f:close()
  end)
  lazy_teardown(function()
    emu:stop()
    os.execute("rm -rf " .. q(home))
  end)
  before_each(function() helpers.reset(emu) end)

  -- run(args [, env [, redirect]]) → stdout, stderr, status. No credentials in the
  -- environment unless env gives them; HOME holds the aliyun CLI config above.
  local function run(args, env, redirect)
    local out = ("%s/cli-%d"):format(tmp, math.random(1e9))
    local r = helpers.run(("%s HOME=%s ALIYUN_LIVE_LIMITER=local %s %s %s %s %s 2>%s.err </dev/null; echo rc=$?")
      :format(UNSET, q(home), env or "", helpers.lua, bin, args, redirect or (">" .. out), out))
    local stdout, stderr = helpers.read_file(out) or "", helpers.read_file(out .. ".err")
    os.remove(out) os.remove(out .. ".err")
    return stdout, stderr, tonumber(r:match("rc=(%d+)"))
  end
  local function at(args) return args .. " --endpoint " .. emu.url end
  local RESUME = "resume --domain demo.aliyundoc.com --app app --stream s1"

  local function last() return helpers.last_requests(emu)[1] end

  describe("credentials", function()
    it("--access-key-id/--access-key-secret win over the environment", function()
      local out, err, status = run(at(RESUME .. " --access-key-id testid --access-key-secret testsecret"),
        "ALIBABA_CLOUD_ACCESS_KEY_ID=other ALIBABA_CLOUD_ACCESS_KEY_SECRET=wrong")
      assert.equal(0, status, err)
      assert.equal(out, last().request_id .. "\n")
      assert.equal("testid", last().access_key_id)
    end)

    it("--mode StsToken (also implied by --sts-token), and a bad token never printed", function()
      local creds = assert(live.credentials.ram_role_arn { access_key_id = "testid",
        access_key_secret = "testsecret", role_arn = "acs:ram::1234567890123456:role/cli",
        sts_endpoint = emu.url }:get())
      for _, mode in ipairs { "--mode StsToken ", "" } do
        local _, err, status = run(at(RESUME .. " " .. mode .. "--access-key-id " .. creds.access_key_id
          .. " --access-key-secret " .. creds.access_key_secret .. " --sts-token "
          .. q(creds.security_token)))
        assert.equal(0, status, err)
        assert.equal(creds.access_key_id, last().access_key_id)
      end
      local bad = creds.security_token:sub(1, -5) .. "AAAA"
      local _, err, status = run(at(RESUME .. " --access-key-id " .. creds.access_key_id
        .. " --access-key-secret " .. creds.access_key_secret .. " --sts-token " .. q(bad)))
      assert.equal(1, status)
      assert.matches("^aliyun%-live: InvalidSecurityToken[%w.]*: [^\n]*\n$", err)
      assert.is_nil(err:find(bad, 1, true))
      assert.is_nil(err:find(creds.access_key_secret, 1, true))
    end)

    it("--mode RamRoleArn assumes the role through ALIBABA_CLOUD_STS_ENDPOINT", function()
      local _, err, status = run(at(RESUME .. " --mode RamRoleArn --access-key-id testid "
        .. "--access-key-secret testsecret --ram-role-arn acs:ram::1234567890123456:role/cli "
        .. "--role-session-name cli-spec"), "ALIBABA_CLOUD_STS_ENDPOINT=" .. emu.url)
      assert.equal(0, status, err)
      local reqs = helpers.last_requests(emu, 2)
      assert.equal("AssumeRole", reqs[1].action)
      assert.equal("cli-spec", reqs[1].params.RoleSessionName)
      assert.equal("ResumeLiveStream", reqs[2].action)
      assert.matches("^STS%.", reqs[2].access_key_id)
      -- implied by --ram-role-arn; a malformed ARN is a usage error
      _, err, status = run(at(RESUME .. " --access-key-id testid --access-key-secret testsecret "
        .. "--ram-role-arn arn:aws:iam::1:role/x"), "ALIBABA_CLOUD_STS_ENDPOINT=" .. emu.url)
      assert.equal(2, status)
      assert.matches("role_arn must look like", err)
    end)

    it("refuses flags the mode does not use", function()
      for _, args in ipairs {
        "--mode EcsRamRole --access-key-id x",
        "--mode AK --access-key-id a --access-key-secret b --sts-token t",
        "--mode StsToken --access-key-id a --access-key-secret b --sts-token t --ram-role-name r",
        "--access-key-id a --access-key-secret b --role-session-name s",
      } do
        local _, err, status = run(at(RESUME .. " " .. args))
        assert.equal(2, status, args)
        assert.matches("does not go with %-%-mode", err, 1, false, args)
      end
      assert.equal(0, helpers.stats(emu).requests)
    end)

    it("--profile/-p and --config-path choose an aliyun CLI profile", function()
      local _, err, status = run(at(RESUME))   -- the config's current profile
      assert.equal(0, status, err)
      _, err, status = run(at(RESUME .. " -p main"))
      assert.equal(0, status, err)
      _, err, status = run(at(RESUME .. " --profile bad"))
      assert.equal(1, status)
      assert.matches("^aliyun%-live: SignatureDoesNotMatch: ", err)
      _, err, status = run(at(RESUME .. " --profile nowhere"))
      assert.equal(1, status)
      assert.matches("^aliyun%-live: SDK%.CredentialsError: [^\n]*nowhere", err)
      _, err, status = run(at(RESUME .. " --config-path " .. q(home .. "/other.json")))
      assert.equal(0, status, err)
      _, err, status = run(at(RESUME .. " --config-path " .. q(home .. "/missing.json")))
      assert.equal(1, status)
      assert.matches("missing%.json", err)
    end)

    it("the region: --region, else ALIBABA_CLOUD_REGION_ID, else the profile's region_id", function()
      local function host(args, env)
        local out, err, status = run("presign ResumeLiveStream DomainName=d.com " .. args, env)
        assert.equal(0, status, err)
        return out:match("^(https?://[^/]+)/")
      end
      -- presign sends nothing: these are the endpoints the region selects
      assert.equal("https://live.ap-southeast-1.aliyuncs.com", host(""))          -- main: us-east-1
      assert.equal("https://live.aliyuncs.com", host("-p bad"))                   -- cn-shanghai
      assert.equal("https://live.aliyuncs.com", host("--region cn-beijing"))
      assert.equal("https://live.ap-southeast-1.aliyuncs.com", host("-p bad", "ALIBABA_CLOUD_REGION_ID=eu-west-1"))
      assert.equal("https://live.aliyuncs.com", host("--region cn-beijing", "ALIBABA_CLOUD_REGION_ID=eu-west-1"))
      -- an endpoint wins; a bare host (the official CLI's form) means HTTPS
      assert.equal("https://127.0.0.1:9", host("--endpoint 127.0.0.1:9"))
      assert.equal("http://127.0.0.1:9", host("", "ALIYUN_LIVE_ENDPOINT=http://127.0.0.1:9"))
    end)
  end)

  describe("requests", function()
    it("--signature v3 and --format XML", function()
      local out, err, status = run(at(RESUME .. " --signature v3 --format XML --json"), ENV_KEYS)
      assert.equal(0, status, err)
      assert.equal("v3", last().signature_version)
      assert.equal(last().request_id, cjson.decode(out).RequestId)
    end)

    it("API errors: one line naming the code and the RequestId, exit 1", function()
      helpers.fault(emu, { action = "ResumeLiveStream", code = "InvalidDomain.NotFound", status = 404 })
      local out, err, status = run(at(RESUME .. " --json"), ENV_KEYS)
      assert.equal(1, status)
      assert.equal("", out)
      assert.matches("^aliyun%-live: InvalidDomain%.NotFound: [^\n]*RequestId " .. RID .. "[^\n]*\n$", err)
    end)

    it("network failures and --read-timeout, --connect-timeout, --retry-count", function()
      local out, err, status = run(RESUME .. " --endpoint http://127.0.0.1:" .. helpers.free_port()
        .. " --connect-timeout 2", ENV_KEYS)
      assert.equal(1, status)
      assert.equal("", out)
      assert.matches("^aliyun%-live: SDK%.[%w.]+: [^\n]*\n$", err)
      helpers.fault(emu, { action = "ResumeLiveStream", delay = 5 })
      local t0 = require("aliyun.live.core").monotonic()
      _, err, status = run(at(RESUME .. " --read-timeout 0.3 --retry-count 0"), ENV_KEYS)
      assert.equal(1, status)
      assert.matches("^aliyun%-live: SDK%.[%w.]+: [^\n]*\n$", err)
      assert.is_true(require("aliyun.live.core").monotonic() - t0 < 4)
    end)
  end)

  describe("output", function()
    it("resume and forbid print the RequestId, plain or as JSON", function()
      local out, err, status = run(at(RESUME), ENV_KEYS)
      assert.equal(0, status, err)
      assert.equal(last().request_id .. "\n", out)
      out, err, status = run(at("forbid --domain demo.aliyundoc.com --app app --stream f1 --oneshot --json"), ENV_KEYS)
      assert.equal(0, status, err)
      assert.equal('{"RequestId":"' .. last().request_id .. '"}\n', out)
      assert.equal("yes", last().params.Oneshot)
    end)

    it("blocklist: one page or --all of them", function()
      for i = 1, 7 do
        local _, err, status = run(at("forbid --domain b.com --app app --stream b" .. i), ENV_KEYS)
        assert.equal(0, status, err)
      end
      local out, err, status = run(at("blocklist --domain b.com --page 2 --page-size 3"), ENV_KEYS)
      assert.equal(0, status, err)
      assert.equal("b.com/app/b4\nb.com/app/b5\nb.com/app/b6\n", out)
      out = run(at("blocklist --domain b.com --page 3 --page-size 3 --json"), ENV_KEYS)
      local page = cjson.decode(out)
      assert.same({ "b.com/app/b7" }, page.StreamUrls)
      assert.equal(3, page.PageNum)
      assert.equal(7, page.TotalNum)
      assert.matches("^" .. RID .. "$", page.RequestId)
      out, err, status = run(at("blocklist --domain b.com --all --page-size 3"), ENV_KEYS)
      assert.equal(0, status, err)
      assert.equal(7, select(2, out:gsub("\n", "")))
      out = run(at("blocklist --domain b.com --all --page-size 3 --json"), ENV_KEYS)
      local all = cjson.decode(out)
      assert.equal(7, #all.StreamUrls)
      assert.equal(7, all.TotalNum)
      assert.equal(3, #all.RequestIds)
      out = run(at("blocklist --domain empty.com --json"), ENV_KEYS)
      assert.matches('"StreamUrls":%[%]', out)   -- a list, even when empty
    end)

    it("call prints Name=value lines or JSON", function()
      run(at("forbid --domain c.com --app app --stream c1"), ENV_KEYS)
      local out, err, status = run(at("call DescribeLiveStreamsBlockList DomainName=c.com PageSize=5"), ENV_KEYS)
      assert.equal(0, status, err)
      assert.matches("^RequestId=" .. RID .. "\n", out)
      assert.matches("\nStreamUrls%.StreamUrl%[1%]=c%.com/app/c1\n", out)
      assert.matches("\nPageSize=5\n", out)
      out = run(at("call DescribeLiveStreamsBlockList DomainName=c.com --json"), ENV_KEYS)
      local t = cjson.decode(out)
      assert.same({ "c.com/app/c1" }, t.StreamUrls.StreamUrl)
      assert.is_nil(t.request_id)
    end)

    it("presign prints what the library signs", function()
      local client = live.new { access_key_id = "testid", access_key_secret = "testsecret",
        endpoint = emu.url, limiter = false }
      local params = { DomainName = "d.com", AppName = "a", StreamName = "s p", LiveStreamType = "publisher" }
      local opts = { timestamp = "2024-01-01T12:00:00Z", nonce = "n-1" }
      local args = "presign ResumeLiveStream DomainName=d.com AppName=a 'StreamName=s p' "
        .. "LiveStreamType=publisher --timestamp 2024-01-01T12:00:00Z --nonce n-1"
      local out, err, status = run(at(args), ENV_KEYS)
      assert.equal(0, status, err)
      assert.equal(client:presign("ResumeLiveStream", params, opts).url .. "\n", out)
      opts.signature = "v3"
      local v3 = client:presign("ResumeLiveStream", params, opts)
      out = run(at(args .. " --signature v3"), ENV_KEYS)
      local lines = {}
      for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.equal(v3.url, lines[1])
      local n = 0
      for k, v in pairs(v3.headers) do
        n = n + 1
        assert.truthy(out:find("\n" .. k .. ": " .. v .. "\n", 1, true), k)
      end
      assert.equal(n + 1, #lines)
      local j = cjson.decode((run(at(args .. " --signature v3 --json"), ENV_KEYS)))
      assert.equal(v3.signature, j.signature)
      assert.equal(v3.canonical_request, j.canonical_request)
      -- no credentials (nor a config file): an error, not a raise
      _, err, status = run(at(args), "HOME=/nonexistent")
      assert.equal(1, status)
      assert.matches("^aliyun%-live: SDK%.MissingCredentials: ", err)
    end)

    it("the official form: aliyun-live live ACTION --Name Value, indented JSON", function()
      local out, err, status = run(at("live ResumeLiveStream --DomainName demo.aliyundoc.com "
        .. "--AppName app --StreamName s1 --LiveStreamType publisher"), ENV_KEYS)
      assert.equal(0, status, err)
      assert.equal('{\n\t"RequestId": "' .. last().request_id .. '"\n}\n', out)
      out, err, status = run(at("live ForbidLiveStream --DomainName=l.com --AppName app "
        .. "--StreamName l1 --LiveStreamType publisher --Oneshot no --json"), ENV_KEYS)
      assert.equal(0, status, err)
      assert.equal('{"RequestId":"' .. last().request_id .. '"}\n', out)
      assert.equal("no", last().params.Oneshot)
      out, err, status = run(at("live DescribeLiveStreamsBlockList --DomainName l.com --PageSize 10"), ENV_KEYS)
      assert.equal(0, status, err)
      local t = cjson.decode(out)
      assert.same({ "l.com/app/l1" }, t.StreamUrls.StreamUrl)
      assert.equal(10, t.PageSize)
      -- an action this library does not know goes as given
      _, err, status = run(at("live DescribeLiveStreamsNotifyUrlConfig --DomainName l.com"), ENV_KEYS)
      assert.equal(1, status)
      assert.matches("^aliyun%-live: InvalidAction%.NotFound: ", err)
      assert.equal("DescribeLiveStreamsNotifyUrlConfig", last().action)
    end)

    it("a failed write of the output exits 1 and says what was lost", function()
      local _, err, status = run(at(RESUME), ENV_KEYS, ">/dev/full")
      assert.equal(1, status)
      local id = last().request_id
      assert.equal("OK", last().code)
      assert.matches("^aliyun%-live: cannot write to stdout %([^)]*%): the stream was resumed, RequestId "
        .. id:gsub("%-", "%%-") .. "\n$", err)
      _, err, status = run(at(RESUME), ENV_KEYS, ">&-")
      assert.equal(1, status)
      assert.matches("^aliyun%-live: cannot write to stdout %(", err)
      assert.equal("OK", last().code)
      _, err, status = run(at("blocklist --domain b.com --json"), ENV_KEYS, ">/dev/full")
      assert.equal(1, status)
      assert.matches("cannot write to stdout", err)
      local f = assert(io.open(home .. "/two.csv", "w"))
      f:write("d.com,a,w1\nd.com,a,w2\n")
      f:close()
      _, err, status = run(at("resume --from " .. q(home .. "/two.csv") .. " --progress none"), ENV_KEYS, ">/dev/full")
      assert.equal(1, status)
      assert.matches("2 resumed, 0 failed", err)
      assert.matches("cannot write to stdout %([^)]*%): some RequestIds were lost", err)
    end)
  end)
end)
