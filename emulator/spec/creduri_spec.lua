-- The credentials URI (GET /__emulator/credentials), for the official SDKs'
-- ALIBABA_CLOUD_CREDENTIALS_URI provider.
local S = require "support"
local T = require "sts_support"
local E = S.main

local STREAM = S.stream("example.com", "app", "uri")

local function creds(res)
  S.assert_ok(res)
  return S.json.decode(res.body)
end

describe("credentials URI", function()
  before_each(function() S.reset(E) end)
  after_each(function() S.reset(E) end)

  it("serves fresh temporary credentials of the default account in the SDKs' shape", function()
    local t0 = os.time() + 7200
    S.freeze(E, t0)
    local res = T.uri(E)
    assert.matches("application/json", res.headers["content-type"])
    local a = creds(res)
    assert.equal("Success", a.Code)
    assert.matches("^STS%.%w+$", a.AccessKeyId)
    assert.is_string(a.AccessKeySecret)
    assert.is_true(#a.SecurityToken >= 100)
    assert.equal(S.iso(t0 + 3600), a.Expiration)   -- uri_ttl: 3600 by default
    local b = creds(T.uri(E))
    assert.are_not.equal(a.AccessKeyId, b.AccessKeyId)
    -- both work, for v1 and v3, on testid's account
    S.assert_ok(S.v1({ emu = E, action = "ForbidLiveStream", params = STREAM, timestamp = S.iso(t0),
      key_id = a.AccessKeyId, secret = a.AccessKeySecret, token = a.SecurityToken }))
    S.assert_ok(S.v3({ emu = E, params = STREAM, date = S.iso(t0),
      key_id = b.AccessKeyId, secret = b.AccessKeySecret, token = b.SecurityToken }))
    -- not an RPC request: not in the statistics
    local stats = S.get_json(E, "/__emulator/stats")
    assert.equal(2, stats.requests)
  end)

  it("takes the lifetime from uri_ttl, and the key lives exactly that long", function()
    S.assert_ok(S.post_json(E, "/__emulator/config", { uri_ttl = 60 }))
    local t0 = os.time() + 7200
    S.freeze(E, t0 + 0.5)
    local c = creds(T.uri(E))
    assert.equal(S.iso(t0 + 60), c.Expiration)       -- t0 + 60.5, shown rounded down
    local o = { emu = E, params = STREAM, key_id = c.AccessKeyId, secret = c.AccessKeySecret,
                token = c.SecurityToken }
    S.freeze(E, t0 + 60.499)
    o.timestamp = S.iso(t0 + 60)
    S.assert_ok(S.v1(o))
    S.freeze(E, t0 + 60.5)
    S.assert_error(S.v1(o), 400, "InvalidSecurityToken.Expired", "JSON")
  end)

  it("takes faults named CredentialsURI: an error, a delay, a closed connection", function()
    S.assert_ok(S.post_json(E, "/__emulator/faults",
      { action = "CredentialsURI", code = "InternalError", status = 500, message = "boom" }))
    local res = T.uri(E)
    assert.equal(500, res.status)
    assert.equal("InternalError", res.json.Code)
    assert.equal("boom", res.json.Message)
    assert.is_nil(res.json.AccessKeyId)
    S.assert_ok(S.post_json(E, "/__emulator/faults", { action = "CredentialsURI", delay = 1 }))
    local t0 = S.now()
    assert.equal("Success", creds(T.uri(E)).Code)
    assert.is_true(S.now() - t0 >= 1)
    S.assert_ok(S.post_json(E, "/__emulator/faults", { action = "CredentialsURI", close = true }))
    res = T.uri(E)
    assert.is_nil(res.status)
    assert.equal(52, res.curl_exit)
    assert.equal("Success", creds(T.uri(E)).Code)
  end)

  it("leaves faults without an action to the API", function()
    S.assert_ok(S.post_json(E, "/__emulator/faults", { code = "ServiceUnavailable" }))
    local c = creds(T.uri(E))
    S.assert_error(S.v1({ emu = E, params = STREAM, key_id = c.AccessKeyId,
      secret = c.AccessKeySecret, token = c.SecurityToken }), 503, "ServiceUnavailable", "JSON")
  end)

  it("answers only GET", function()
    assert.equal(405, S.http({ method = "POST", url = E.url .. "/__emulator/credentials" }).status)
  end)
end)
