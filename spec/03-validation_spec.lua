-- Bad input is refused before any network I/O, with a message naming the field:
-- wrong types raise, bad values return nil, err (code SDK.InvalidParameter).
local live = require "aliyun.live"
local helpers = require "helpers"

describe("input validation", function()
  local emu, client

  lazy_setup(function()
    emu = helpers.emulator("--qps 100000")
    client = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                        endpoint = emu.url, limiter = false }
  end)
  lazy_teardown(function() emu:stop() end)

  local function requests() return helpers.stats(emu).requests end

  local function refused(args, field, pattern)
    local res, err = client:resume(args)
    assert.is_nil(res)
    assert.equal("SDK.InvalidParameter", err.code)
    assert.equal(field, err.field)
    assert.matches("'" .. field .. "'", err.message, 1, true)
    if pattern then assert.matches(pattern, err.message) end
    assert.is_false(err.retryable)
    return err
  end

  local function raises(args, pattern)
    local ok, msg = pcall(client.resume, client, args)
    assert.is_false(ok)
    assert.matches(pattern, tostring(msg))
  end

  local good = { domain = "demo.aliyundoc.com", app = "liveApp", stream = "room42" }
  local function with(k, v)
    local t = {}
    for kk, vv in pairs(good) do t[kk] = vv end
    t[k] = v
    return t
  end

  it("raises on missing or non-string fields, naming them", function()
    local before = requests()
    for _, f in ipairs { "domain", "app", "stream" } do
      raises(with(f, nil), "'" .. f .. "' must be a string, got nil")
      raises(with(f, 42), "'" .. f .. "' must be a string, got number")
      raises(with(f, {}), "'" .. f .. "' must be a string, got table")
      raises(with(f, true), "'" .. f .. "' must be a string, got boolean")
    end
    raises(nil, "expects a table")
    raises("demo", "expects a table")
    raises(with("colour", "red"), "unknown field 'colour'")
    assert.equal(before, requests())
  end)

  it("refuses empty values", function()
    local before = requests()
    for _, f in ipairs { "domain", "app", "stream" } do refused(with(f, ""), f, "empty") end
    assert.equal(before, requests())
  end)

  it("refuses control characters and invalid UTF-8", function()
    local before = requests()
    for _, f in ipairs { "app", "stream" } do
      refused(with(f, "a\nb"), f, "control character %(byte 2%)")
      refused(with(f, "a\0b"), f, "control character")
      refused(with(f, "tab\there"), f, "control character")
      refused(with(f, "del\127"), f, "control character")
      refused(with(f, "a\255b"), f, "not valid UTF%-8 %(byte 2%)")
      refused(with(f, "\192\175"), f, "not valid UTF%-8")
      refused(with(f, "\237\160\128"), f, "not valid UTF%-8")
    end
    refused(with("domain", "demo\n.com"), "domain", "control character")
    assert.equal(before, requests())
  end)

  it("refuses values longer than the API accepts", function()
    local before = requests()
    refused(with("stream", ("s"):rep(256)), "stream", "longer than 255 characters")
    refused(with("app", ("a"):rep(256)), "app", "longer than 255 characters")
    refused(with("domain", ("d"):rep(254)), "domain", "longer than 253")
    -- Limits count characters, not bytes.
    local res = assert(client:resume(with("stream", ("中"):rep(255))))
    assert.truthy(res.request_id)
    refused(with("stream", ("中"):rep(256)), "stream")
    assert.equal(before + 1, requests())
  end)

  it("refuses domains that are not host names", function()
    for _, d in ipairs { "demo aliyundoc.com", "demo/app", "a..b", ".lead", "x:80" } do
      refused(with("domain", d), "domain")
    end
  end)

  it("accepts '*' as app and every valid special character in names", function()
    local names = { "*", "room 42", "a/b&c=d%e+f~g*h!i'j(k)l", "中文直播", "😀🎮", "a+b" }
    for _, n in ipairs(names) do
      local res, err = client:resume(with("app", n))
      assert.is_nil(err)
      assert.truthy(res.request_id)
      res, err = client:resume(with("stream", n))
      assert.is_nil(err)
      assert.truthy(res.request_id)
    end
  end)

  it("checks forbid's own fields", function()
    local function forbid(extra)
      local t = with("stream", "f1")
      for k, v in pairs(extra) do t[k] = v end
      return client:forbid(t)
    end
    local _, err = forbid { resume_time = "tomorrow" }
    assert.equal("resume_time", err.field)
    _, err = forbid { resume_time = -5 }
    assert.equal("resume_time", err.field)
    assert.has_error(function() forbid { resume_time = {} } end)
    assert.has_error(function() forbid { oneshot = "yes" } end)
  end)
end)

describe("live.new options", function()
  local function new_raises(opts, pattern)
    local ok, msg = pcall(live.new, opts)
    assert.is_false(ok, "expected an error for " .. pattern)
    assert.matches(pattern, tostring(msg))
  end

  it("raises on unknown option names", function()
    new_raises({ acces_key_id = "x" }, "unknown option 'acces_key_id'")
    new_raises({ endpont = "http://x" }, "unknown option 'endpont'")
  end)

  it("raises on wrong types and values, naming the option", function()
    new_raises({ timeout = "10" }, "'timeout' must be a number")
    new_raises({ timeout = -1 }, "'timeout' must be between 0.001 and 86400 seconds")
    new_raises({ access_key_id = 1, access_key_secret = "s" }, "'access_key_id' must be a string")
    new_raises({ access_key_id = "a" }, "go together")
    new_raises({ signature = "v2" }, "'signature' must be one of")
    new_raises({ format = "json" }, "'format' must be one of")
    new_raises({ method = "PUT" }, "'method' must be one of")
    new_raises({ endpoint = "ftp://x" }, "'endpoint' must start with http")
    new_raises({ endpoint = "http://user:pw@host" }, "'endpoint' must be scheme://host%[:port%]")
    new_raises({ endpoint = "http://host/path" }, "'endpoint' must be")
    new_raises({ endpoint = "http://host:99999" }, "'endpoint' must be")
    new_raises({ limiter = true }, "'limiter' must be a table or false")
    new_raises({ retry = { attempts = 0 } }, "attempts")
    new_raises({ retry = { tries = 3 } }, "unknown retry option 'tries'")
    new_raises({ region = "Shanghai!" }, "'region' is not a region id")
    new_raises({ credentials = {} }, "'credentials' must be a provider")
    new_raises("x", "expects a table")
  end)

  it("maps regions to endpoints, an explicit endpoint winning", function()
    assert.equal("https://live.aliyuncs.com", live.new { region = "cn-shanghai", limiter = false }.endpoint)
    assert.equal("https://live.ap-southeast-1.aliyuncs.com",
      live.new { region = "us-east-1", limiter = false }.endpoint)
    assert.equal("http://127.0.0.1:9", live.new { region = "us-east-1", limiter = false,
      endpoint = "http://127.0.0.1:9" }.endpoint)
    assert.equal("https://live.aliyuncs.com", live.new { limiter = false }.endpoint)
  end)
end)
