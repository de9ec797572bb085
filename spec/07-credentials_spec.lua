-- Credential providers end to end: files, environment, STS AssumeRole and the ECS
-- metadata service of the emulator, refresh before expiry, and the default chain.
local live = require "aliyun.live"
local cr = require "aliyun.live.credentials"
local core = require "aliyun.live.core"
local cjson = require "cjson"
local helpers = require "helpers"

local tmp = os.getenv("ALIYUN_LIVE_TEST_TMP") or "/tmp"
local seq = 0
local function write(text, name)
  seq = seq + 1
  local path = ("%s/cred-%d-%s"):format(tmp, seq, name or "file")
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

local SECRET = "Sup3rSecretValueNeverPrinted"
local stream = { domain = "demo.aliyundoc.com", app = "app", stream = "s" }

-- A child Lua with exactly this environment (no inherited credentials).
local function lua(env, code)
  local assigns = {}
  for k, v in pairs(env) do assigns[#assigns + 1] = k .. "=" .. helpers.sh_quote(v) end
  return helpers.run(("env -i PATH=\"$PATH\" LUA_PATH=\"$LUA_PATH\" LUA_CPATH=\"$LUA_CPATH\" %s %s -e %s 2>&1")
    :format(table.concat(assigns, " "), helpers.lua, helpers.sh_quote(code)))
end

describe("credentials", function()
  local emu

  lazy_setup(function() emu = helpers.emulator("--qps 100000") end)
  lazy_teardown(function() emu:stop() end)
  before_each(function() helpers.reset(emu) end)

  local function resume_with(provider, extra)
    local opts = { credentials = provider, endpoint = emu.url, limiter = false, retry = false }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return live.new(opts):resume(stream)
  end

  local function count(action)
    local n = 0
    for _, r in ipairs(helpers.last_requests(emu, 1000)) do
      if r.action == action then n = n + 1 end
    end
    return n
  end

  describe("parse_time", function()
    it("reads UTC timestamps exactly", function()
      assert.equal(1704110400, cr.parse_time("2024-01-01T12:00:00Z"))
      assert.equal(0, cr.parse_time("1970-01-01T00:00:00Z"))
      assert.equal(951782400, cr.parse_time("2000-02-29T00:00:00Z"))
      assert.is_nil(cr.parse_time("2024-01-01 12:00:00"))
    end)
  end)

  describe("static", function()
    it("refuses empty values", function()
      assert.has_error(function() cr.static("", "s") end)
      assert.has_error(function() cr.static("a", nil) end)
      assert.has_error(function() cr.static("a", "s", "") end)
    end)
  end)

  describe("shared credentials file", function()
    it("reads an access_key profile, the one named by opts", function()
      local path = write(("# comment\n[default]\naccess_key_id = nobody\naccess_key_secret = x\n\n"
        .. "[prod]\ntype = access_key\naccess_key_id = testid\naccess_key_secret = testsecret\n"))
      local res, err = resume_with(cr.profile { file = path, profile = "prod" })
      assert.is_nil(err)
      assert.truthy(res.request_id)
      local _, err2 = resume_with(cr.profile { file = path })
      assert.equal("InvalidAccessKeyId.NotFound", err2.code)
    end)

    it("reads ram_role_arn profiles through STS", function()
      local path = write(("[default]\ntype = ram_role_arn\naccess_key_id = testid\n"
        .. "access_key_secret = testsecret\nrole_arn = acs:ram::1234567890:role/live-ops\n"
        .. "role_session_name = spec\n"))
      local res, err = resume_with(cr.profile { file = path, sts_endpoint = emu.url })
      assert.is_nil(err)
      assert.truthy(res.request_id)
      local req = helpers.last_requests(emu)[1]
      assert.matches("^STS%.", req.access_key_id)
      assert.equal(1, count("AssumeRole"))
    end)

    it("reads ecs_ram_role profiles through the metadata service", function()
      local path = write("[default]\ntype = ecs_ram_role\nrole_name = EcsRamRoleTest\n")
      local res, err = resume_with(cr.profile { file = path, metadata_endpoint = emu.url })
      assert.is_nil(err)
      assert.truthy(res.request_id)
    end)

    local function fails(provider, pattern)
      local c, err = provider:get()
      assert.is_nil(c)
      assert.matches(pattern, err.message)
      assert.is_nil(err.message:find(SECRET, 1, true))
      return err
    end

    it("names the file when it is missing or unreadable", function()
      local err = fails(cr.profile { file = tmp .. "/no-such-file" }, "no%-such%-file: does not exist")
      assert.equal("SDK.CredentialsError", err.code)
      fails(cr.profile { file = tmp }, ": cannot be read")
    end)

    it("names the file and line of a malformed line, without echoing it", function()
      local path = write("[default]\naccess_key_id = testid\n" .. SECRET .. "\n")
      fails(cr.profile { file = path }, "line 3: expected 'key = value'")
      -- a name is content too: a secret pasted as a key name must not come back
      path = write(SECRET .. " = x\n")
      fails(cr.profile { file = path }, "line 1: a key outside any %[profile%]")
    end)

    it("names the file and line of a profile missing a key", function()
      local path = write("\n\n[default]\naccess_key_id = testid\n")
      fails(cr.profile { file = path }, "line 3: profile 'default' has no 'access_key_secret'")
      path = write("[default]\naccess_key_secret = " .. SECRET .. "\n")
      fails(cr.profile { file = path }, "profile 'default' has no 'access_key_id'")
      path = write("[default]\ntype = " .. SECRET .. "\n")
      fails(cr.profile { file = path }, "line 2: profile 'default' has an unknown type %(expected")
      path = write("[other]\naccess_key_id = a\naccess_key_secret = b\n")
      fails(cr.profile { file = path }, "has no profile 'default'")
      path = write("\n[default]\ntype = ram_role_arn\naccess_key_id = a\naccess_key_secret = b\n"
        .. "role_arn = arn-of-nothing\n")
      fails(cr.profile { file = path }, "line 2: role_arn must look like acs:ram::<account>:role/<name>")
    end)
  end)

  describe("aliyun CLI config", function()
    local function config(profiles, current)
      return write(cjson.encode { current = current or "default", profiles = profiles }, "config.json")
    end

    it("reads AK, StsToken, RamRoleArn and EcsRamRole profiles", function()
      local path = config({
        { name = "default", mode = "AK", access_key_id = "testid", access_key_secret = "testsecret" },
        { name = "sts", mode = "StsToken", access_key_id = "testid",
          access_key_secret = "testsecret", sts_token = "tok" },
        { name = "role", mode = "RamRoleArn", access_key_id = "testid",
          access_key_secret = "testsecret", ram_role_arn = "acs:ram::1:role/r",
          ram_session_name = "spec" },
        { name = "ecs", mode = "EcsRamRole", ram_role_name = "EcsRamRoleTest" },
      })
      assert.truthy(resume_with(cr.cli { file = path }))
      local _, err = resume_with(cr.cli { file = path, profile = "sts" })
      assert.matches("^InvalidSecurityToken", err.code)   -- the token was sent
      assert.truthy(resume_with(cr.cli { file = path, profile = "role", sts_endpoint = emu.url }))
      assert.truthy(resume_with(cr.cli { file = path, profile = "ecs", metadata_endpoint = emu.url }))
    end)

    it("uses the file's current profile", function()
      local path = config({
        { name = "a", mode = "AK", access_key_id = "nobody", access_key_secret = "x" },
        { name = "b", mode = "AK", access_key_id = "testid", access_key_secret = "testsecret" },
      }, "b")
      assert.truthy(resume_with(cr.cli { file = path }))
    end)

    it("names the file and line of malformed JSON", function()
      local path = write('{\n  "current": "default",\n  "profiles": [\n    {"name": ' .. SECRET .. '}\n  ]\n}\n')
      local _, err = cr.cli { file = path }:get()
      assert.matches(path:gsub("%p", "%%%0") .. " line 4: malformed JSON", err.message)
      assert.is_nil(err.message:find(SECRET, 1, true))
    end)

    it("names missing keys and unsupported modes", function()
      local path = config({ { name = "default", mode = "AK", access_key_id = "x" } })
      local _, err = cr.cli { file = path }:get()
      assert.matches("profile 'default' has no 'access_key_secret'", err.message)
      path = config({ { name = "default", mode = SECRET } })
      _, err = cr.cli { file = path }:get()
      assert.matches("unsupported mode %(expected AK", err.message)
      assert.is_nil(err.message:find(SECRET, 1, true))
    end)
  end)

  describe("ECS RAM role", function()
    it("asks the role name, uses the session token and refreshes before expiry", function()
      helpers.control(emu, "POST", "/__emulator/config", '{"metadata_ttl": 3}')
      local p = cr.ecs_role { endpoint = emu.url, refresh_margin = 1 }
      local a = assert(p:get())
      assert.matches("^STS%.", a.access_key_id)
      assert.truthy(a.security_token)
      assert.is_true(a.expiration - os.time() <= 4)
      assert.equal(a, p:get())            -- cached
      core.sleep(2.2)
      local b = assert(p:get())
      assert.not_equal(a.access_key_id, b.access_key_id)
      assert.truthy(resume_with(p))
    end)

    it("works when the service requires a session token", function()
      local strict = helpers.emulator("--imds-token-required --ecs-role OpsRole")
      local c = assert(cr.ecs_role { endpoint = strict.url }:get())
      assert.truthy(c.access_key_id)
      local _, err = cr.ecs_role { endpoint = strict.url, imds_v2 = false }:get()
      assert.matches("HTTP 401", err.message)
      local _, err2 = cr.ecs_role { endpoint = strict.url, role = "Nope" }:get()
      assert.matches("role 'Nope' answered HTTP 404", err2.message)
      strict:stop()
    end)

    it("fails clearly when the service is unreachable", function()
      local _, err = cr.ecs_role { endpoint = "http://127.0.0.1:" .. helpers.free_port() }:get()
      assert.equal("SDK.ConnectionFailed", err.code)
    end)
  end)

  describe("RAM role ARN", function()
    it("assumes the role once and reuses it until near expiry", function()
      local p = cr.ram_role_arn { access_key_id = "testid", access_key_secret = "testsecret",
        role_arn = "acs:ram::1234567890:role/live-ops", sts_endpoint = emu.url }
      local client = live.new { credentials = p, endpoint = emu.url, limiter = false }
      for _ = 1, 5 do assert(client:resume(stream)) end
      assert.equal(1, count("AssumeRole"))
    end)

    it("refreshes when the server says the token expired", function()
      helpers.control(emu, "POST", "/__emulator/config", '{"sts_ttl": 60}')
      -- A margin below zero keeps using the credentials after they expired.
      local p = cr.ram_role_arn { access_key_id = "testid", access_key_secret = "testsecret",
        role_arn = "acs:ram::1234567890:role/live-ops", sts_endpoint = emu.url,
        refresh_margin = -3600 }
      local client = live.new { credentials = p, endpoint = emu.url, limiter = false }
      assert(client:resume(stream))
      -- The server's clock moves past the token's lifetime (no sleeping: under load a
      -- 1 s lifetime could end before the first call, which made this spec flaky).
      helpers.control(emu, "POST", "/__emulator/clock", '{"offset": 120}')
      local res, err = client:resume(stream)
      helpers.control(emu, "POST", "/__emulator/clock", '{}')
      assert.is_nil(err)
      assert.truthy(res.request_id)
      assert.equal(2, count("AssumeRole"))
      local codes = helpers.stats(emu).codes
      assert.equal(1, codes["InvalidSecurityToken.Expired"])
    end)

    it("reports STS errors", function()
      local p = cr.ram_role_arn { access_key_id = "testid", access_key_secret = "wrong",
        role_arn = "acs:ram::1:role/r", sts_endpoint = emu.url }
      local _, err = p:get()
      assert.equal("SignatureDoesNotMatch", err.code)
      assert.matches("^AssumeRole: ", err.message)
      assert.has_error(function() cr.ram_role_arn { role_arn = "not-an-arn", source = cr.env() } end)
      assert.has_error(function() cr.ram_role_arn { role_arn = "acs:ram::1:role/r" } end)
    end)

    it("keeps the STS token out of errors even when the server echoes it", function()
      local sts = assert(cr.ram_role_arn { access_key_id = "testid", access_key_secret = "testsecret",
        role_arn = "acs:ram::1:role/r", sts_endpoint = emu.url }:get())
      -- Right token, wrong secret: SignatureDoesNotMatch quotes the string to sign,
      -- which holds the token.
      local client = live.new { access_key_id = sts.access_key_id, access_key_secret = "wrong-secret",
        security_token = sts.security_token, endpoint = emu.url, limiter = false, retry = false }
      local _, err = client:resume(stream)
      assert.equal("SignatureDoesNotMatch", err.code)
      assert.matches("SecurityToken", err.message)
      local text = tostring(err) .. tostring(err.data and err.data.Message)
      for _, form in ipairs { sts.security_token, core.pct(sts.security_token),
                              core.pct(core.pct(sts.security_token)) } do
        assert.is_nil(text:find(form, 1, true))
      end
      assert.matches("%*%*%*", err.message)
    end)
  end)

  describe("default chain", function()
    local probe = [[
      local p = require("aliyun.live.credentials").default()
      local c, err = p:get()
      print(c and c.access_key_id or ("ERR " .. err.code .. " " .. err.message))
    ]]

    local home
    lazy_setup(function()
      home = ("%s/home-%d"):format(tmp, os.time())
      os.execute(("mkdir -p %s/.alibabacloud %s/.aliyun"):format(home, home))
      local f = assert(io.open(home .. "/.alibabacloud/credentials", "w"))
      f:write("[default]\naccess_key_id = from-file\naccess_key_secret = x\n"
        .. "[other]\naccess_key_id = from-file-other\naccess_key_secret = x\n")
      f:close()
    end)

    it("prefers the environment, then the CLI config, then the credentials file", function()
      assert.equal("from-env\n", lua({ HOME = home, ALIBABA_CLOUD_ACCESS_KEY_ID = "from-env",
        ALIBABA_CLOUD_ACCESS_KEY_SECRET = "x" }, probe))
      assert.equal("from-file\n", lua({ HOME = home }, probe))
      assert.equal("from-file-other\n", lua({ HOME = home, ALIBABA_CLOUD_PROFILE = "other" }, probe))
      local f = assert(io.open(home .. "/.aliyun/config.json", "w"))
      f:write(cjson.encode { current = "default", profiles = { { name = "default", mode = "AK",
        access_key_id = "from-cli", access_key_secret = "x" } } })
      f:close()
      assert.equal("from-cli\n", lua({ HOME = home }, probe))
      os.remove(home .. "/.aliyun/config.json")
    end)

    it("honours ALIBABA_CLOUD_CREDENTIALS_FILE and reports what it tried", function()
      local path = write("[default]\naccess_key_id = from-env-file\naccess_key_secret = x\n")
      assert.equal("from-env-file\n", lua({ HOME = home, ALIBABA_CLOUD_CREDENTIALS_FILE = path }, probe))
      local out = lua({ HOME = tmp .. "/nobody-home" }, probe)
      assert.matches("^ERR SDK.MissingCredentials no credentials found", out)
      assert.matches("ALIBABA_CLOUD_ACCESS_KEY_ID is not set", out)
      assert.matches("credentials does not exist", out)
    end)

    it("does not probe the metadata service unless ALIBABA_CLOUD_ECS_METADATA names a role", function()
      local out = lua({ HOME = tmp .. "/nobody-home" }, probe)
      assert.matches("ALIBABA_CLOUD_ECS_METADATA is not set", out)
    end)
  end)

  describe("OIDC (AssumeRoleWithOIDC)", function()
    local function b64url(t)
      local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
      local out, bits, n = {}, 0, 0
      for i = 1, #t do
        bits = bits * 256 + t:byte(i)
        n = n + 8
        while n >= 6 do
          n = n - 6
          local v = math.floor(bits / 2 ^ n) % 64
          bits = bits % 2 ^ n                  -- keep only the bits not yet written
          out[#out + 1] = chars:sub(v + 1, v + 1)
        end
      end
      if n > 0 then
        local v = (bits * 2 ^ (6 - n)) % 64
        out[#out + 1] = chars:sub(v + 1, v + 1)
      end
      return table.concat(out)
    end
    local function jwt(claims)
      return b64url('{"alg":"RS256","typ":"JWT"}') .. "." .. b64url(cjson.encode(claims)) .. ".c2ln"
    end
    local ROLE = "acs:ram::1234567890:role/rrsa"
    local OIDC_ARN = "acs:ram::1234567890:oidc-provider/ack"

    it("exchanges the token file for credentials, re-reading the file at each refresh", function()
      local path = write(jwt { sub = "system:serviceaccount:live:ops", exp = os.time() + 3600 }, "token")
      local p = cr.oidc { role_arn = ROLE, oidc_provider_arn = OIDC_ARN, oidc_token_file = path,
                          sts_endpoint = emu.url }
      local res, err = resume_with(p)
      assert.is_nil(err)
      assert.truthy(res.request_id)
      assert.equal(1, count("AssumeRoleWithOIDC"))
      -- an expired token in the file is what the next refresh sends
      local f = assert(io.open(path, "w"))
      f:write(jwt { sub = "x", exp = os.time() - 60 })
      f:close()
      p:invalidate()
      local c, err2 = p:get()
      assert.is_nil(c)
      assert.equal("AuthenticationFail.OIDCToken.Expired", err2.code)
      assert.is_nil(tostring(err2):find("c2ln", 1, true))      -- the token is not echoed
    end)

    it("is the chain's second choice, from the environment trio", function()
      local path = write(jwt { sub = "chain", exp = os.time() + 3600 }, "token")
      local out = lua({ HOME = tmp .. "/nobody-home", ALIBABA_CLOUD_ROLE_ARN = ROLE,
        ALIBABA_CLOUD_OIDC_PROVIDER_ARN = OIDC_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE = path,
        ALIBABA_CLOUD_STS_ENDPOINT = emu.url }, [[
          local c, err = require("aliyun.live.credentials").default():get()
          print(c and c.access_key_id or ("ERR " .. err.code .. " " .. err.message))
        ]])
      assert.matches("^STS%.", out)
    end)

    it("takes its session name and STS region from the environment", function()
      local path = write(jwt { sub = "env", exp = os.time() + 3600 }, "token")
      local out = lua({ HOME = tmp .. "/nobody-home", ALIBABA_CLOUD_ROLE_ARN = ROLE,
        ALIBABA_CLOUD_OIDC_PROVIDER_ARN = OIDC_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE = path,
        ALIBABA_CLOUD_STS_ENDPOINT = emu.url, ALIBABA_CLOUD_ROLE_SESSION_NAME = "night-shift" }, [[
          local c, err = require("aliyun.live.credentials").default():get()
          print(c and c.access_key_id or ("ERR " .. err.code .. " " .. err.message))
        ]])
      assert.matches("^STS%.", out)
      local asked
      for _, r in ipairs(helpers.last_requests(emu, 50)) do
        if r.params.Action == "AssumeRoleWithOIDC" then asked = r.params end
      end
      assert.equal("night-shift", asked.RoleSessionName)
      -- no endpoint given: the region's (the VPC one when asked for)
      local region = lua({ ALIBABA_CLOUD_STS_REGION = "cn-shanghai" },
        [[print(require("aliyun.live.endpoint").sts())]])
      assert.equal("https://sts.cn-shanghai.aliyuncs.com", region:match("%S+"))
      region = lua({ ALIBABA_CLOUD_STS_REGION = "cn-shanghai", ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED = "true" },
        [[print(require("aliyun.live.endpoint").sts())]])
      assert.equal("https://sts-vpc.cn-shanghai.aliyuncs.com", region:match("%S+"))
    end)

    it("is read from an oidc_role_arn profile of the credentials file", function()
      local token = write(jwt { sub = "file", exp = os.time() + 3600 }, "token")
      local path = write(("[default]\ntype = oidc_role_arn\nrole_arn = %s\noidc_provider_arn = %s\n"
        .. "oidc_token_file_path = %s\n"):format(ROLE, OIDC_ARN, token))
      local res, err = resume_with(cr.profile { file = path, sts_endpoint = emu.url })
      assert.is_nil(err)
      assert.truthy(res.request_id)
    end)

    it("says which file is missing, never what a token holds", function()
      local p = cr.oidc { role_arn = ROLE, oidc_provider_arn = OIDC_ARN,
                          oidc_token_file = tmp .. "/no-token", sts_endpoint = emu.url }
      local _, err = p:get()
      assert.equal("SDK.CredentialsError", err.code)
      assert.matches("no%-token cannot be read", err.message)
      assert.has_error(function() cr.oidc { role_arn = "x", oidc_provider_arn = OIDC_ARN,
        oidc_token_file = "f" } end)
    end)
  end)

  describe("credentials URI", function()
    it("fetches, caches and refreshes credentials served at a URL", function()
      local p = cr.uri { uri = emu.url .. "/__emulator/credentials" }
      local res, err = resume_with(p)
      assert.is_nil(err)
      assert.truthy(res.request_id)
      local a = assert(p:get())
      assert.equal(a, p:get())                            -- cached
      p:invalidate()
      assert.are_not.equal(a.access_key_id, assert(p:get()).access_key_id)
    end)

    it("reports a failing or malformed answer", function()
      helpers.fault(emu, { action = "CredentialsURI", status = 500, code = "InternalError" })
      local _, err = cr.uri { uri = emu.url .. "/__emulator/credentials" }:get()
      assert.equal("SDK.CredentialsError", err.code)
      assert.matches("HTTP 500", err.message)
      _, err = cr.uri { uri = emu.url .. "/__emulator/stats" }:get()
      assert.equal("SDK.CredentialsError", err.code)
      assert.matches("malformed", err.message)
      assert.has_error(function() cr.uri { uri = "ftp://x" } end)
    end)

    it("is the chain's last choice, from ALIBABA_CLOUD_CREDENTIALS_URI", function()
      local out = lua({ HOME = tmp .. "/nobody-home",
        ALIBABA_CLOUD_CREDENTIALS_URI = emu.url .. "/__emulator/credentials" }, [[
          local c, err = require("aliyun.live.credentials").default():get()
          print(c and c.access_key_id or ("ERR " .. err.code .. " " .. err.message))
        ]])
      assert.matches("^STS%.", out)
    end)
  end)
end)
