-- Hostile input to the control endpoints: every bad body is a 400 that names the
-- field and changes nothing; the fault queue stays bounded.
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
