-- STS AssumeRoleWithOIDC as the official credentials SDKs call it: anonymous, the
-- OIDC token being the proof; the keys it issues belong to the default account.
local S = require "support"
local T = require "sts_support"
local E = S.main

local STREAM = S.stream("example.com", "app", "oidc")

local function err(res, status, code, format)
  return S.assert_error(res, status, code, format or "JSON")
end

describe("STS AssumeRoleWithOIDC", function()
  before_each(function() S.reset(E) end)
  after_each(function() S.reset(E) end)

  it("issues credentials for a JWT-shaped token, sent as credentials-go sends it", function()
    local now = os.time()
    local res = S.assert_ok(T.oidc({ emu = E, token = T.jwt(T.claims(now)) }))
    local j = res.json
    assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", j.RequestId)
    assert.equal(j.RequestId, res.headers["x-acs-request-id"])
    assert.equal("system:serviceaccount:live:ops", j.OIDCTokenInfo.Subject)
    assert.equal("https://oidc.example.com", j.OIDCTokenInfo.Issuer)
    assert.equal("sts.aliyuncs.com", j.OIDCTokenInfo.ClientIds)
    assert.equal(S.iso(now + 3600), j.OIDCTokenInfo.ExpirationTime)
    assert.equal(S.iso(now), j.OIDCTokenInfo.IssuanceTime)
    assert.equal("acs:ram::1234567890123456:role/oidcrole/spec-oidc", j.AssumedRoleUser.Arn)
    assert.matches("^%d+:spec%-oidc$", j.AssumedRoleUser.AssumedRoleId)
    local c = j.Credentials
    assert.matches("^STS%.%w+$", c.AccessKeyId)
    assert.is_true(#c.AccessKeySecret >= 20 and #c.SecurityToken >= 100)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", c.Expiration)
    -- the key works, for v1 and v3, on the default account (testid's block list)
    local key = { key_id = c.AccessKeyId, secret = c.AccessKeySecret, token = c.SecurityToken }
    S.assert_ok(S.v1({ emu = E, action = "ForbidLiveStream", params = STREAM,
      key_id = key.key_id, secret = key.secret, token = key.token }))
    S.assert_ok(S.v3({ emu = E, action = "DescribeLiveStreamsBlockList", params = { DomainName = "example.com" },
      key_id = key.key_id, secret = key.secret, token = key.token }))
    local list = S.assert_ok(S.v1({ emu = E, action = "DescribeLiveStreamsBlockList",
      params = { DomainName = "example.com" } })).json.StreamUrls.StreamUrl
    assert.same({ "example.com/app/oidc" }, list)
  end)

  it("is sent as GET with everything in the query (credentials-python), a 20,000-character token too", function()
    local c = T.claims()
    -- pad the payload so the whole token is 20,000 characters (the documented maximum)
    c.pad = ""
    local base = #T.jwt(c)
    c.pad = ("p"):rep(math.floor((20000 - base) * 3 / 4))
    local token = T.jwt(c)
    while #token > 20000 do c.pad = c.pad:sub(2); token = T.jwt(c) end
    assert.is_true(#token > 19990)
    S.assert_ok(T.oidc({ emu = E, style = "python", token = token }))
    err(T.oidc({ emu = E, style = "python", token = token .. ("x"):rep(20001 - #token) }),
      400, "InvalidParameter.OIDCToken")
  end)

  it("needs no Timestamp (credentials-java), and answers XML when asked", function()
    S.assert_ok(T.oidc({ emu = E, style = "java", token = T.jwt(T.claims()) }))
    local res = S.assert_ok(T.oidc({ emu = E, format = "XML", token = T.jwt(T.claims()) }))
    assert.matches("^<%?xml.-<AssumeRoleWithOIDCResponse><RequestId>.-</RequestId><OIDCTokenInfo><Subject>", res.body)
    assert.matches("^STS%.", S.xml_field(res.body, "AccessKeyId"))
  end)

  it("is also taken in the V3 shape, unsigned (action and version in headers): JSON by default", function()
    local res = S.http({ method = "POST", url = E.url .. "/",
      body = S.encode_query({ RoleArn = T.ROLE, OIDCProviderArn = T.PROVIDER,
                              OIDCToken = T.jwt(T.claims()), RoleSessionName = "v3-shape" }),
      headers = { { "Content-Type", "application/x-www-form-urlencoded" },
                  { "x-acs-action", "AssumeRoleWithOIDC" }, { "x-acs-version", "2015-04-01" },
                  { "x-acs-date", S.iso() } } })
    S.assert_ok(res)
    assert.matches("/v3%-shape$", res.json.AssumedRoleUser.Arn)
  end)

  it("ignores signature fields: the call is anonymous", function()
    local res = T.oidc({ emu = E, token = T.jwt(T.claims()),
      params = { AccessKeyId = "nobody", Signature = "bogus", SignatureMethod = "HMAC-SHA1" } })
    S.assert_ok(res)
  end)

  it("reports the token's claims as it has them", function()
    local j = S.assert_ok(T.oidc({ emu = E, token = T.jwt(T.claims(nil, { aud = { "a", "b" }, exp = false })) })).json
    assert.equal("a,b", j.OIDCTokenInfo.ClientIds)
    assert.is_nil(j.OIDCTokenInfo.ExpirationTime)
    j = S.assert_ok(T.oidc({ emu = E, token = T.jwt({}) })).json
    assert.same({}, j.OIDCTokenInfo)
  end)

  it("checks the token: shape, base64url, JSON, claim types", function()
    local good = T.jwt(T.claims())
    local h, p = good:match("^([^.]+)%.([^.]+)%.")
    local bad = {
      "", "aa.bb", good .. ".x", "a..c", "!!!!.bbbb.cccc", h .. "." .. T.b64url("not json") .. ".c2ln",
      h .. "." .. T.b64url("[]") .. ".c2ln", T.b64url("nope") .. "." .. p .. ".c2ln",
      T.jwt(T.claims(nil, { exp = "tomorrow" })), T.jwt(T.claims(nil, { iss = 5 })),
      T.jwt(T.claims(nil, { aud = { "a", 5 } })), T.jwt(T.claims(nil, { exp = 1e300 })),
      good .. "\n",   -- a token file written with echo: nothing is trimmed
    }
    for _, token in ipairs(bad) do
      local res = err(T.oidc({ emu = E, token = token }), 401, "AuthenticationFail.OIDCToken.Invalid")
      assert.is_nil(res.body:find(p, 1, true))   -- the token is not echoed
    end
    err(T.oidc({ emu = E, token = "abc" }), 400, "InvalidParameter.OIDCToken")
    err(T.oidc({ emu = E, token = false }), 400, "MissingOIDCToken")
  end)

  it("refuses an expired token, by the server clock", function()
    local t0 = os.time() + 86400
    local token = T.jwt(T.claims(t0 - 3600, { exp = t0 }))
    S.freeze(E, t0 - 1)
    S.assert_ok(T.oidc({ emu = E, token = token, timestamp = S.iso(t0 - 1) }))
    S.freeze(E, t0)
    local res = err(T.oidc({ emu = E, token = token, timestamp = S.iso(t0) }), 401,
      "AuthenticationFail.OIDCToken.Expired")
    assert.equal("This JsonWebToken is expired.", res.json.Message)
    err(T.oidc({ emu = E, format = "XML", token = token, timestamp = S.iso(t0) }), 401,
      "AuthenticationFail.OIDCToken.Expired", "XML")
  end)

  it("validates RoleArn, OIDCProviderArn, RoleSessionName, DurationSeconds, Policy and Timestamp", function()
    local token = T.jwt(T.claims())
    local function with(params, extra)
      local o = { emu = E, token = token, params = params }
      for k, v in pairs(extra or {}) do o[k] = v end
      return T.oidc(o)
    end
    err(with({ RoleArn = false }), 400, "MissingRoleArn")
    err(with({ RoleArn = "acs:ram::1:user/x" }), 400, "InvalidParameter.RoleArn")
    err(with({ OIDCProviderArn = false }), 400, "MissingOIDCProviderArn")
    for _, arn in ipairs({ "acs:ram::123:role/x", "acs:ram::abc:oidc-provider/x", "acs:ram::1:oidc-provider/" }) do
      err(with({ OIDCProviderArn = arn }), 400, "InvalidParameter.OIDCProviderArn")
    end
    err(with({ RoleSessionName = false }), 400, "MissingRoleSessionName")
    err(with({ RoleSessionName = "x" }), 400, "InvalidParameter.RoleSessionName")
    for _, d in ipairs({ "899", "3601", "1e3" }) do
      err(with({ DurationSeconds = d }), 400, "InvalidParameter.DurationSeconds")
    end
    S.assert_ok(with({ DurationSeconds = false }))
    err(with({ Policy = "not json" }), 400, "InvalidParameter.PolicyGrammar")
    err(with({ Policy = '{"Version":"1","x":"' .. ("y"):rep(2048) .. '"}' }), 400, "InvalidParameter.PolicyGrammar")
    S.assert_ok(with({ Policy = '{"Statement":[{"Action":["*"],"Effect":"Allow","Resource":["*"]}],"Version":"1"}' }))
    err(with(nil, { timestamp = "yesterday" }), 400, "InvalidTimeStamp.Format")
    err(with(nil, { timestamp = S.iso(os.time() - 3600) }), 400, "InvalidTimeStamp.Expired")
    err(with(nil, { format = "YAML" }), 400, "InvalidParameter", "XML")
    -- a name twice (query and body) is refused like any other duplicate
    local res = S.http({ method = "POST",
      url = E.url .. "/?Action=AssumeRoleWithOIDC&Version=2015-04-01&Format=JSON&RoleArn=" .. S.pct(T.ROLE),
      body = S.encode_query({ RoleArn = T.ROLE, OIDCProviderArn = T.PROVIDER, OIDCToken = token,
                              RoleSessionName = "s1" }),
      headers = { { "Content-Type", "application/x-www-form-urlencoded" } } })
    err(res, 400, "InvalidParameter")
  end)

  it("is counted for the default account, with the token masked in the request log", function()
    local token = T.jwt(T.claims())
    S.assert_ok(T.oidc({ emu = E, token = token }))
    local stats = S.get_json(E, "/__emulator/stats")
    assert.equal(1, stats.max_per_second["testid/AssumeRoleWithOIDC"])
    local log = S.http({ url = E.url .. "/__emulator/requests?last=1" })
    assert.is_nil(log.body:find(token:match("^[^.]+%.([^.]+)"), 1, true))
    assert.equal("***", log.json[1].params.OIDCToken)
    assert.equal("2015-04-01", log.json[1].version)
  end)

  it("takes faults like any action: slow answers for AssumeRole and AssumeRoleWithOIDC", function()
    S.assert_ok(S.post_json(E, "/__emulator/faults", { action = "AssumeRoleWithOIDC", delay = 1 }))
    local t0 = S.now()
    S.assert_ok(T.oidc({ emu = E, token = T.jwt(T.claims()) }))
    assert.is_true(S.now() - t0 >= 1)
    S.assert_ok(S.post_json(E, "/__emulator/faults", { action = "AssumeRole", delay = 1 }))
    t0 = S.now()
    S.assert_ok(S.v1({ emu = E, action = "AssumeRole", version = "2015-04-01",
      params = { RoleArn = T.ROLE, RoleSessionName = "slow" } }))
    assert.is_true(S.now() - t0 >= 1)
    S.assert_ok(S.post_json(E, "/__emulator/faults", { action = "AssumeRoleWithOIDC", code = "ServiceUnavailable" }))
    err(T.oidc({ emu = E, token = T.jwt(T.claims()) }), 503, "ServiceUnavailable")
    S.assert_ok(T.oidc({ emu = E, token = T.jwt(T.claims()) }))
  end)
end)
