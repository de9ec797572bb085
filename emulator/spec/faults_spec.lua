-- Fault injection through /__emulator/faults.
local S = require "support"
local E = S.main

local STREAM = S.stream("example.com", "app", "stream")

local function add(spec)
  local res = S.post_json(E, "/__emulator/faults", spec)
  assert.equal(200, res.status, res.body)
  return res.json
end

local function call(action, extra)
  local opts = { emu = E, action = action or "ResumeLiveStream", params = STREAM }
  if action == "DescribeLiveStreamsBlockList" then opts.params = { DomainName = "example.com" } end
  for k, v in pairs(extra or {}) do opts[k] = v end
  return S.v1(opts)
end

describe("fault injection", function()
  before_each(function() S.reset(E) end)
  after_each(function() S.reset(E) end)

  it("answers the next `count` matching requests with the fault, then runs normally", function()
    add({ action = "ResumeLiveStream", code = "ServiceUnavailable", status = 503, count = 2, retry_after = 150 })
    for _ = 1, 2 do
      local res = S.assert_error(call(), 503, "ServiceUnavailable", "JSON")
      assert.equal("150", res.headers["x-acs-retry-after"])
    end
    S.assert_ok(call())
    local stats = S.get_json(E, "/__emulator/stats")
    assert.equal(2, stats.codes.ServiceUnavailable)
    assert.equal(1, stats.codes.OK)
  end)

  it("applies only to its action when one is given, to any action otherwise", function()
    add({ action = "ForbidLiveStream", code = "InternalError", status = 500 })
    S.assert_ok(call("ResumeLiveStream"))
    S.assert_error(call("ForbidLiveStream"), 500, "InternalError", "JSON")
    add({ code = "InternalError" })
    S.assert_error(call("DescribeLiveStreamsBlockList"), 500, "InternalError", "JSON")
  end)

  it("queues several entries in order", function()
    add({ code = "InternalError", status = 500 })
    add({ code = "Throttling.User", status = 429, message = "slow down" })
    S.assert_error(call(), 500, "InternalError", "JSON")
    local res = S.assert_error(call(), 429, "Throttling.User", "JSON")
    assert.equal("slow down", res.json.Message)
    S.assert_ok(call())
  end)

  it("renders faults in the request's format", function()
    add({ code = "ServiceUnavailable" })
    S.assert_error(call(nil, { format = "XML" }), 503, "ServiceUnavailable", "XML")
  end)

  it("applies only to authenticated requests", function()
    add({ code = "ServiceUnavailable" })
    S.assert_error(call(nil, { secret = "wrong" }), 400, "SignatureDoesNotMatch", "JSON")
    S.assert_error(call(), 503, "ServiceUnavailable", "JSON")
  end)

  it("can close the connection without answering", function()
    add({ close = true })
    local res = call()
    assert.is_nil(res.status)
    assert.equal(52, res.curl_exit)   -- curl: empty reply from server
    S.assert_ok(call())
  end)

  it("can delay an answer, or delay and then run the request", function()
    add({ code = "InternalError", delay = 0.4 })
    local t0 = S.now()
    S.assert_error(call(), 500, "InternalError", "JSON")
    assert.is_true(S.now() - t0 >= 0.4)
    add({ delay = 0.4 })
    t0 = S.now()
    S.assert_ok(call())
    assert.is_true(S.now() - t0 >= 0.4)
  end)

  it("lists and clears the queue", function()
    add({ code = "InternalError", count = 3 })
    local list = S.get_json(E, "/__emulator/faults").faults
    assert.equal(1, #list)
    assert.equal(3, list[1].remaining)
    S.assert_ok(S.post_json(E, "/__emulator/faults", nil, "DELETE"))
    assert.same({}, S.get_json(E, "/__emulator/faults").faults)
    S.assert_ok(call())
  end)

  it("rejects bad fault descriptions", function()
    for _, bad in ipairs({ { count = 0 }, { status = 99 }, { code = 5 }, { bogus = 1 }, { delay = -1 } }) do
      assert.equal(400, S.post_json(E, "/__emulator/faults", bad).status)
    end
    assert.equal(400, S.http({ method = "POST", url = E.url .. "/__emulator/faults", body = "{nope" }).status)
  end)
end)
