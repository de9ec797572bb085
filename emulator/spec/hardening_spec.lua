-- Hostile input to the control endpoints and the API: every bad body is a 400 that
-- names the field and changes nothing; queues and logs stay bounded; what nginx
-- refuses itself is answered in JSON.
local S = require "support"
local E = S.main

local STREAM = S.stream("example.com", "app", "stream")

-- Posts a raw body and asserts a 400 JSON error naming `field` (nil: none named).
local function refused(path, body, field, status)
  local res = S.post_raw(E, path, body)
  assert(res.status == (status or 400), ("%s %s: want %d, got %s %s"):format(
    path, body, status or 400, tostring(res.status), tostring(res.body)))
  assert(res.json and res.json.ok == false and type(res.json.error) == "string",
    "not a JSON error: " .. tostring(res.body))
  if field then
    assert(res.json.field == field, ("%s: want field %s, got %s"):format(body, field, tostring(res.json.field)))
    assert(res.json.error:find(field, 1, true), "the message does not name " .. field .. ": " .. res.json.error)
  end
  return res
end

describe("control endpoints under hostile input", function()
  before_each(function() S.reset(E) end)
  after_each(function() S.reset(E) end)

  it("clock: refuses non-finite, huge and mistyped values, and stays usable", function()
    for _, body in ipairs({ '{"offset":1e400}', '{"offset":-1e400}', '{"offset":315576001}',
                            '{"offset":-315576001}', '{"offset":"5"}', '{"offset":null}',
                            '{"offset":true}' }) do
      refused("/__emulator/clock", body, "offset")
    end
    for _, body in ipairs({ '{"now":"1969-12-31T23:59:59Z"}', '{"now":"2024-02-30T00:00:00Z"}',
                            '{"now":"2024-01-01T24:00:00Z"}', '{"now":"2024-01-01 00:00:00"}',
                            '{"now":"2024-01-01T00:00:00.1234567Z"}', '{"now":5}', '{"now":null}' }) do
      refused("/__emulator/clock", body, "now")
    end
    refused("/__emulator/clock", '{"nope":1}', "nope")
    refused("/__emulator/clock", '{"now":"2024-01-01T00:00:00Z","offset":1}', "offset")
    for _, body in ipairs({ "[]", "[1]", '"x"', "5", "{nope", '{"offset":NaN}', '{"offset":Infinity}',
                            '{"offset":0x10}' }) do
      refused("/__emulator/clock", body)
    end
    -- nothing changed: the clock runs, signed requests pass
    local c = S.get_json(E, "/__emulator/clock")
    assert.is_false(c.frozen)
    assert.equal(0, c.offset)
    S.assert_ok(S.v1({ emu = E, params = STREAM }))
  end)

  it("clock: takes the bounds themselves, and fractions of a second when freezing", function()
    S.assert_ok(S.post_raw(E, "/__emulator/clock", '{"offset":315576000}'))
    S.assert_ok(S.post_raw(E, "/__emulator/clock", '{"offset":-315576000}'))
    S.assert_ok(S.post_raw(E, "/__emulator/clock", '{"now":"1970-01-01T00:00:00Z"}'))
    S.assert_ok(S.post_raw(E, "/__emulator/clock", '{"now":"9999-12-31T23:59:59.999999Z"}'))
    local res = S.assert_ok(S.post_raw(E, "/__emulator/clock", '{"now":"2030-01-01T00:00:00.900Z"}'))
    assert.equal("2030-01-01T00:00:00Z", res.json.now)
  end)

  it("faults: [] and other non-objects queue nothing", function()
    for _, body in ipairs({ "[]", "[{}]", "null", '"fault"', "1" }) do
      refused("/__emulator/faults", body)
    end
    assert.same({}, S.get_json(E, "/__emulator/faults").faults)
    S.assert_ok(S.v1({ emu = E, params = STREAM }))
  end)

  it("faults: refuses wrong types and out-of-range numbers, naming the field", function()
    local cases = {
      { '{"count":-1}', "count" }, { '{"count":0}', "count" }, { '{"count":1.5}', "count" },
      { '{"count":1e400}', "count" }, { '{"count":"2"}', "count" }, { '{"count":1e10}', "count" },
      { '{"delay":-0.5}', "delay" }, { '{"delay":601}', "delay" }, { '{"delay":1e400}', "delay" },
      { '{"delay":"1"}', "delay" },
      { '{"status":99}', "status" }, { '{"status":600}', "status" }, { '{"status":503.5}', "status" },
      { '{"status":-1e400}', "status" },
      { '{"retry_after":-1}', "retry_after" }, { '{"retry_after":1e400}', "retry_after" },
      { '{"retry_after":3600001}', "retry_after" },
      { '{"code":""}', "code" }, { '{"code":"a b"}', "code" }, { '{"code":5}', "code" },
      { '{"code":"' .. ("A"):rep(129) .. '"}', "code" },
      { '{"action":"Resume/Live"}', "action" }, { '{"action":""}', "action" },
      { '{"message":"a\\u0001b"}', "message" }, { '{"message":"' .. ("m"):rep(4097) .. '"}', "message" },
      { '{"close":"yes"}', "close" }, { '{"bogus":1}', "bogus" },
    }
    for _, c in ipairs(cases) do refused("/__emulator/faults", c[1], c[2]) end
    refused("/__emulator/faults", '{"count":NaN}')
    assert.same({}, S.get_json(E, "/__emulator/faults").faults)
  end)

  it("faults: the queue holds at most 1000 entries", function()
    -- One curl process sends the 1000 POSTs over one connection.
    local cfg, lines = S.tmpfile(""), {}
    for i = 1, 1000 do
      if i > 1 then lines[#lines + 1] = "next" end
      lines[#lines + 1] = ('url = "%s/__emulator/faults"\ndata = "{\\"action\\":\\"Nope\\"}"\n' ..
        'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"'):format(E.url)
    end
    local f = assert(io.open(cfg, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    local out = S.sh("curl -sS -K " .. S.q(cfg))
    local _, ok = out:gsub("200\n", "")
    assert.equal(1000, ok)
    assert.equal(1000, #S.get_json(E, "/__emulator/faults").faults)
    local res = refused("/__emulator/faults", '{"action":"Nope"}', nil, 409)
    assert.matches("full", res.json.error)
    S.assert_ok(S.post_json(E, "/__emulator/faults", nil, "DELETE"))
    S.assert_ok(S.post_json(E, "/__emulator/faults", { action = "Nope" }))
  end)

  it("config: refuses bad values, naming the field, and applies nothing of a bad body", function()
    local cases = {
      { '{"qps":1e400}', "qps" }, { '{"qps":1.5}', "qps" }, { '{"qps":"30"}', "qps" },
      { '{"qps":null}', "qps" }, { '{"throttle_status":600}', "throttle_status" },
      { '{"sts_ttl":0}', "sts_ttl" }, { '{"sts_ttl":315360001}', "sts_ttl" },
      { '{"metadata_ttl":null}', "metadata_ttl" }, { '{"uri_ttl":-5}', "uri_ttl" },
      { '{"blocklist_limit":-1}', "blocklist_limit" }, { '{"ecs_role":"x"}', "ecs_role" },
      { '{"imds_token_required":true}', "imds_token_required" },
      { '{"qps":5,"zzz":1}', "zzz" },
    }
    for _, c in ipairs(cases) do refused("/__emulator/config", c[1], c[2]) end
    local res = refused("/__emulator/config", '{"ecs_role":"x"}', "ecs_role")
    assert.matches("%-%-ecs%-role", res.json.error)
    refused("/__emulator/config", "[]")
    local cfg = S.get_json(E, "/__emulator/config")
    assert.equal(30, cfg.qps)
    assert.equal(3600, cfg.uri_ttl)
    cfg = S.assert_ok(S.post_json(E, "/__emulator/config", { uri_ttl = 60, sts_ttl = S.json.null })).json
    assert.equal(60, cfg.uri_ttl)
  end)

  it("requests?last= takes only a decimal count", function()
    for _, last in ipairs({ "-1", "0x10", "1.5", "abc", "" }) do
      local res = S.http({ url = E.url .. "/__emulator/requests?last=" .. last })
      assert.equal(400, res.status, last)
      assert.equal("last", res.json.field)
    end
    assert.equal(200, S.http({ url = E.url .. "/__emulator/requests?last=99999999999999999999" }).status)
  end)
end)

describe("the API under hostile input", function()
  before_each(function() S.reset(E) end)
  after_each(function() S.reset(E) end)

  it("answers a body over 1 MB with a JSON 413, counted in the statistics", function()
    local res = S.http({ method = "POST", url = E.url .. "/", body = ("a"):rep(1100000),
                         headers = { { "Content-Type", "application/x-www-form-urlencoded" } } })
    assert.equal(413, res.status)
    assert.equal("RequestEntityTooLarge", res.json.Code)
    assert.is_string(res.json.RequestId)
    local stats = S.get_json(E, "/__emulator/stats")
    assert.equal(1, stats.requests)
    assert.equal(1, stats.codes.RequestEntityTooLarge)
    res = S.http({ url = E.url .. "/", headers = { { "X-Big", ("h"):rep(70000) } } })
    assert.equal(400, res.status)
    assert.equal("RequestHeaderTooLarge", res.json.Code)
  end)

  it("refuses names the block list would have to keep beyond 1024 bytes", function()
    local long = ("s"):rep(1025)
    S.assert_error(S.v1({ emu = E, method = "POST", via = "form", action = "ForbidLiveStream",
      params = S.stream("example.com", "app", long) }), 400, "InvalidStreamName.Malformed", "JSON")
    S.assert_ok(S.v1({ emu = E, method = "POST", via = "form", action = "ForbidLiveStream",
      params = S.stream("example.com", "app", ("s"):rep(1024)) }))
  end)

  it("keeps answers valid UTF-8 text whatever bytes a request carries", function()
    local function forbid(name)
      return S.v1({ emu = E, method = "POST", via = "form", action = "ForbidLiveStream",
                    params = S.stream("example.com", "app", name) })
    end
    -- a control character, a stray byte, an overlong form, a surrogate
    for _, name in ipairs({ "a\1b", "a\255b", "a\192\128b", "a\237\160\128b" }) do
      S.assert_error(forbid(name), 400, "InvalidStreamName.Malformed", "JSON")
    end
    S.assert_ok(forbid("\231\155\180\230\146\173-1"))   -- UTF-8 text is fine
    local res = S.assert_ok(S.v1({ emu = E, action = "DescribeLiveStreamsBlockList", format = "XML",
      params = { DomainName = "example.com" } }))
    assert.truthy(res.body:find("<StreamUrl>example.com/app/\231\155\180\230\146\173-1</StreamUrl>", 1, true))
    -- a parameter given twice is named in the error: cleaned, in XML and in JSON
    for _, format in ipairs({ "XML", "JSON" }) do
      res = S.http({ url = E.url .. "/?Format=" .. format .. "&%01%FFx=1&%01%FFx=2" })
      S.assert_error(res, 400, "InvalidParameter", format)
      assert.is_nil(res.body:find("[\1\255]"))
      assert.truthy(res.body:find("?x", 1, true))
    end
  end)

  it("tracks at most 10,000 statistics keys: claimed AccessKeyIds cannot grow it forever", function()
    local cfg, lines = S.tmpfile(""), {}
    for i = 1, 10001 do
      lines[#lines + 1] = ('url = "%s/?AccessKeyId=k%d&Action=A"\noutput = "/dev/null"'):format(E.url, i)
    end
    local f = assert(io.open(cfg, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    S.sh("curl -sS -K " .. S.q(cfg))
    local stats = S.get_json(E, "/__emulator/stats")
    assert.equal(10001, stats.requests)
    assert.equal(10001, stats.codes.MissingParameter)
    local n = 0
    for _ in pairs(stats.max_per_second) do n = n + 1 end
    assert.equal(10000, n)
    assert.is_nil(stats.max_per_second["k10001/A"])
  end)

  it("keeps request-log entries small: values cut at 2048 bytes, at most 100 fields", function()
    local p = S.stream("example.com", "app", ("x"):rep(5000))
    S.v1({ emu = E, method = "POST", via = "form", params = p })
    local e = S.get_json(E, "/__emulator/requests?last=1")[1]
    assert.equal(("x"):rep(2048) .. "...(5000 bytes)", e.params.StreamName)
    local many = S.stream("example.com", "app", "s")
    for i = 1, 150 do many[("Extra%03d"):format(i)] = "v" end
    S.v1({ emu = E, method = "POST", via = "form", params = many })
    e = S.get_json(E, "/__emulator/requests?last=1")[1]
    local n = 0
    for _ in pairs(e.params) do n = n + 1 end
    assert.equal(101, n)
    assert.is_string(e.params["..."])
  end)
end)
