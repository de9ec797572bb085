-- STS AssumeRole on the emulator and the temporary keys it issues.
local S = require "support"
local E = S.main

local ROLE = "acs:ram::1234567890123456:role/LiveRole"
local STREAM = S.stream("example.com", "app", "stream")

local function assume(extra, opts)
  local p = { RoleArn = ROLE, RoleSessionName = "spec-session" }
  for k, v in pairs(extra or {}) do p[k] = v or nil end
  local o = { emu = E, action = "AssumeRole", version = "2015-04-01", params = p }
  for k, v in pairs(opts or {}) do o[k] = v end
  return S.v1(o)
end

describe("STS AssumeRole", function()
  before_each(function() S.reset(E) end)
  after_each(function() S.reset(E) end)

  it("issues temporary credentials", function()
    local res = S.assert_ok(assume())
    local c = res.json.Credentials
    assert.matches("^STS%.%w+$", c.AccessKeyId)
    assert.is_true(#c.AccessKeySecret >= 20)
    assert.is_true(#c.SecurityToken >= 100)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", c.Expiration)
    assert.equal("acs:ram::1234567890123456:role/liverole/spec-session", res.json.AssumedRoleUser.Arn)
    assert.matches("^%d+:spec%-session$", res.json.AssumedRoleUser.AssumedRoleId)
    assert.is_string(res.json.RequestId)
    -- the lifetime is DurationSeconds (3600 by default)
    local y, mo, d, h, mi, s = c.Expiration:match("(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z")
    local t = os.time({ year = y, month = mo, day = d, hour = h, min = mi, sec = s })
    local now = os.time(os.date("!*t"))
    assert.is_true(math.abs(t - now - 3600) <= 5)
  end)

  it("answers in XML too", function()
    local res = S.assert_ok(assume(nil, { format = "XML" }))
    assert.matches("<AssumeRoleResponse><RequestId>.-</RequestId><AssumedRoleUser><Arn>", res.body)
    assert.matches("^STS%.", S.xml_field(res.body, "AccessKeyId"))
  end)

  it("the temporary key works with its token, for v1 and v3", function()
    local c = S.assert_ok(assume()).json.Credentials
    local key = { key_id = c.AccessKeyId, secret = c.AccessKeySecret, token = c.SecurityToken }
    S.assert_ok(S.v1({ emu = E, action = "ForbidLiveStream", params = STREAM,
      key_id = key.key_id, secret = key.secret, token = key.token }))
    S.assert_ok(S.v1({ emu = E, method = "POST", via = "form", params = STREAM,
      key_id = key.key_id, secret = key.secret, token = key.token }))
    S.assert_ok(S.v3({ emu = E, params = STREAM, key_id = key.key_id, secret = key.secret, token = key.token }))
    -- it acts on the account of the key that assumed the role
    S.assert_ok(S.v1({ emu = E, action = "ForbidLiveStream", params = S.stream("example.com", "app", "sts"),
      key_id = key.key_id, secret = key.secret, token = key.token }))
    local list = S.assert_ok(S.v1({ emu = E, action = "DescribeLiveStreamsBlockList",
      params = { DomainName = "example.com" } })).json.StreamUrls.StreamUrl
    assert.same({ "example.com/app/sts" }, list)
  end)

  it("rejects a missing, wrong or foreign SecurityToken", function()
    local a = S.assert_ok(assume()).json.Credentials
    local b = S.assert_ok(assume()).json.Credentials
    local base = { emu = E, params = STREAM, key_id = a.AccessKeyId, secret = a.AccessKeySecret }
    local function with(token, format)
      local o = {}
      for k, v in pairs(base) do o[k] = v end
      o.token, o.format = token, format
      return S.v1(o)
    end
    for _, format in ipairs({ "JSON", "XML" }) do
      S.assert_error(with(nil, format), 400, "InvalidSecurityToken.Malformed", format)
      S.assert_error(with("CAISnotatoken", format), 400, "InvalidSecurityToken.Malformed", format)
      S.assert_error(with(b.SecurityToken, format), 400, "InvalidSecurityToken.Mismatch", format)
    end
    -- a permanent key sent with a temporary key's token
    S.assert_error(S.v1({ emu = E, params = STREAM, token = a.SecurityToken }), 400,
      "InvalidSecurityToken.Mismatch", "JSON")
    S.assert_error(S.v3({ emu = E, params = STREAM, key_id = a.AccessKeyId, secret = a.AccessKeySecret }),
      400, "InvalidSecurityToken.Malformed", "JSON")
  end)

  it("rejects the token once it has expired (sts_ttl), and not a moment earlier", function()
    -- The server clock is frozen half-way through a second: a key issued then must
    -- live its whole ttl (an expiry rounded down to the second would end it early,
    -- and with a ttl of 1 s a request right after issue could already fail).
    local t0 = os.time()
    S.freeze(E, t0 + 0.5)
    S.assert_ok(S.post_json(E, "/__emulator/config", { sts_ttl = 1 }))
    local c = S.assert_ok(assume(nil, { timestamp = S.iso(t0) })).json.Credentials
    assert.equal(S.iso(t0 + 1), c.Expiration)   -- t0 + 1.5, shown rounded down
    local o = { emu = E, params = STREAM, key_id = c.AccessKeyId, secret = c.AccessKeySecret,
                token = c.SecurityToken, timestamp = S.iso(t0 + 1), date = S.iso(t0 + 1) }
    S.freeze(E, t0 + 1.25)
    S.assert_ok(S.v1(o))
    S.freeze(E, t0 + 1.5)
    S.assert_error(S.v1(o), 400, "InvalidSecurityToken.Expired", "JSON")
    o.format = "XML"
    S.assert_error(S.v1(o), 400, "InvalidSecurityToken.Expired", "XML")
    S.assert_error(S.v3(o), 400, "InvalidSecurityToken.Expired", "JSON")
  end)

  it("validates RoleArn, RoleSessionName and DurationSeconds", function()
    for _, arn in ipairs({ "arn:aws:iam::123:role/x", "acs:ram::abc:role/x", "acs:ram::123:user/x" }) do
      S.assert_error(assume({ RoleArn = arn }), 400, "InvalidParameter.RoleArn", "JSON")
    end
    S.assert_error(assume({ RoleArn = false }), 400, "MissingRoleArn", "JSON")
    S.assert_error(assume({ RoleSessionName = false }), 400, "MissingRoleSessionName", "JSON")
    S.assert_error(assume({ RoleSessionName = "bad name!" }), 400, "InvalidParameter.RoleSessionName", "JSON")
    for _, d in ipairs({ "899", "3601", "x" }) do
      S.assert_error(assume({ DurationSeconds = d }), 400, "InvalidParameter.DurationSeconds", "JSON")
    end
    S.assert_ok(assume({ DurationSeconds = "900" }))
    -- sts_ttl overrides the lifetime, but DurationSeconds is still validated
    S.assert_ok(S.post_json(E, "/__emulator/config", { sts_ttl = 5 }))
    S.assert_error(assume({ DurationSeconds = "100" }), 400, "InvalidParameter.DurationSeconds", "JSON")
  end)

  it("must be called with a permanent key", function()
    local c = S.assert_ok(assume()).json.Credentials
    S.assert_error(assume(nil, { key_id = c.AccessKeyId, secret = c.AccessKeySecret, token = c.SecurityToken }),
      403, "Forbidden", "JSON")
    S.assert_error(assume(nil, { key_id = "nobody" }), 404, "InvalidAccessKeyId.NotFound", "JSON")
  end)
end)
