-- Signature checking: the official vectors, tampering, and both styles over GET,
-- POST with a query, and POST with a form body.
local S = require "support"
local E = S.main

local VECTORS = (function()
  local f = assert(io.open("/work/shared/api/vectors.json"))
  local v = S.json.decode(f:read("a"))
  f:close()
  local by_name = {}
  for _, x in ipairs(v) do by_name[x.name] = x end
  return by_name
end)

-- The vectors, copied here so the suite does not depend on files outside the repo.
local SEED_GET = {
  params = {
    AccessKeyId = "testid", Action = "ResumeLiveStream", AppName = "liveApp****",
    DomainName = "demo.aliyundoc.com", Format = "JSON", LiveStreamType = "publisher",
    SignatureMethod = "HMAC-SHA1", SignatureNonce = "1d2b7c3e-5f4a-4e6b-9c8d-0a1b2c3d4e5f",
    SignatureVersion = "1.0", StreamName = "liveStream****", Timestamp = "2024-01-01T12:00:00Z",
    Version = "2016-11-01",
  },
  string_to_sign = "GET&%2F&AccessKeyId%3Dtestid%26Action%3DResumeLiveStream%26AppName%3DliveApp%252A%252A%252A%252A%26DomainName%3Ddemo.aliyundoc.com%26Format%3DJSON%26LiveStreamType%3Dpublisher%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D1d2b7c3e-5f4a-4e6b-9c8d-0a1b2c3d4e5f%26SignatureVersion%3D1.0%26StreamName%3DliveStream%252A%252A%252A%252A%26Timestamp%3D2024-01-01T12%253A00%253A00Z%26Version%3D2016-11-01",
  signature = "whnq899vY8eJJ0WHHx9U/0VDP6k=",
}
local CLASSIC = {
  params = {
    AccessKeyId = "testid", Action = "DescribeRegions", Format = "XML",
    SignatureMethod = "HMAC-SHA1", SignatureNonce = "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    SignatureVersion = "1.0", Timestamp = "2016-02-23T12:46:24Z", Version = "2014-05-26",
  },
  signature = "OLeaidS1JvxuMvnyHOwuJ+uX5qY=",
}
local V3 = {
  query = { AppName = "liveApp****", DomainName = "demo.aliyundoc.com",
            LiveStreamType = "publisher", StreamName = "liveStream****" },
  headers = {
    { "Accept", "application/json" },
    { "Host", "live.aliyuncs.com" },
    { "x-acs-action", "ResumeLiveStream" },
    { "x-acs-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
    { "x-acs-date", "2024-01-01T12:00:00Z" },
    { "x-acs-signature-nonce", "1d2b7c3e-5f4a-4e6b-9c8d-0a1b2c3d4e5f" },
    { "x-acs-version", "2016-11-01" },
  },
  authorization = "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=d0311d87b8e9f1f9b764c78194ba54b6b5838d020db2580838e5703a549948c1",
}

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- Sends a fixed v1 parameter set (Signature included) as a GET query.
local function send_v1(params, signature, method)
  local p = copy(params)
  p.Signature = signature
  return S.http({ method = method or "GET", url = E.url .. "/?" .. S.encode_query(p) })
end

local function send_v3(query, headers, authorization, method)
  local h = {}
  for _, x in ipairs(headers) do h[#h + 1] = x end
  h[#h + 1] = { "Authorization", authorization }
  return S.http({ method = method or "GET", url = E.url .. "/?" .. S.encode_query(query), headers = h })
end

local function freeze(at)
  S.assert_ok(S.post_json(E, "/__emulator/clock", { now = at }))
end

describe("official signature vectors", function()
  before_each(function() S.reset(E) end)
  after_each(function() S.reset(E) end)

  it("the test's own signer reproduces the v1 vector (sanity of the test tools)", function()
    local p = copy(SEED_GET.params)
    assert.equal(SEED_GET.string_to_sign, S.v1_string_to_sign("GET", p))
    assert.equal(SEED_GET.signature, S.hmac_sha1_base64("testsecret&", SEED_GET.string_to_sign))
    local shared = io.open("/work/shared/api/vectors.json")
    if shared then   -- cross-check the copy above against the shared file when present
      shared:close()
      local v = VECTORS()
      assert.equal(v.seed_get.signature, SEED_GET.signature)
      assert.equal(v.classic_describe_regions.signature, CLASSIC.signature)
      assert.equal(v["seed_get/v3_min"].authorization, V3.authorization)
    end
  end)

  it("accepts seed_get with the clock frozen at its timestamp", function()
    freeze("2024-01-01T12:00:00Z")
    local res = S.assert_ok(send_v1(SEED_GET.params, SEED_GET.signature))
    assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", res.json.RequestId)
    assert.equal(res.json.RequestId, res.headers["x-acs-request-id"])
  end)

  it("rejects seed_get at the real clock as expired", function()
    S.assert_error(send_v1(SEED_GET.params, SEED_GET.signature), 400, "InvalidTimeStamp.Expired", "JSON")
  end)

  it("rejects seed_get replayed with the same nonce", function()
    freeze("2024-01-01T12:00:00Z")
    S.assert_ok(send_v1(SEED_GET.params, SEED_GET.signature))
    S.assert_error(send_v1(SEED_GET.params, SEED_GET.signature), 400, "SignatureNonceUsed", "JSON")
  end)

  it("rejects seed_get with any one parameter altered, naming its string to sign", function()
    freeze("2024-01-01T12:00:00Z")
    local alter = {
      Action = "ForbidLiveStream", AppName = "liveApp***", DomainName = "demo.aliyundoc.co",
      Format = "XML", LiveStreamType = "publisher ", SignatureNonce = "1d2b7c3e-5f4a-4e6b-9c8d-0a1b2c3d4e5e",
      StreamName = "liveStream", Timestamp = "2024-01-01T12:00:01Z", Version = "2016-11-02",
    }
    for name, value in pairs(alter) do
      local p = copy(SEED_GET.params)
      p[name] = value
      local res = send_v1(p, SEED_GET.signature)
      local format = name == "Format" and "XML" or "JSON"
      S.assert_error(res, 400, "SignatureDoesNotMatch", format)
      local expected = S.v1_string_to_sign("GET", p)
      local message = format == "XML" and S.xml_field(res.body, "Message") or res.json.Message
      if format == "XML" then message = message:gsub("&amp;", "&") end
      assert.equal("Specified signature is not matched with our calculation. server string to sign is:" .. expected, message)
    end
    -- an extra parameter, the method, and the signature itself
    local p = copy(SEED_GET.params)
    p.RegionId = "cn-shanghai"
    S.assert_error(send_v1(p, SEED_GET.signature), 400, "SignatureDoesNotMatch", "JSON")
    S.assert_error(send_v1(SEED_GET.params, SEED_GET.signature, "POST"), 400, "SignatureDoesNotMatch", "JSON")
    S.assert_error(send_v1(SEED_GET.params, "xhnq899vY8eJJ0WHHx9U/0VDP6k="), 400, "SignatureDoesNotMatch", "JSON")
    -- and still accepts the original afterwards (no nonce was burnt by the failures)
    S.assert_ok(send_v1(SEED_GET.params, SEED_GET.signature))
  end)

  it("accepts the classic DescribeRegions vector's signature (then: unknown action)", function()
    freeze("2016-02-23T12:46:24Z")
    S.assert_error(send_v1(CLASSIC.params, CLASSIC.signature), 404, "InvalidAction.NotFound", "XML")
    local p = copy(CLASSIC.params)
    p.Version = "2014-05-27"
    S.assert_error(send_v1(p, CLASSIC.signature), 400, "SignatureDoesNotMatch", "XML")
  end)

  it("accepts the v3 vector with Host live.aliyuncs.com", function()
    freeze("2024-01-01T12:00:00Z")
    local res = S.assert_ok(send_v3(V3.query, V3.headers, V3.authorization))
    assert.is_string(res.json.RequestId)
  end)

  it("rejects the v3 vector with any one part altered", function()
    freeze("2024-01-01T12:00:00Z")
    for name in pairs(V3.query) do
      local q = copy(V3.query)
      q[name] = q[name] .. "x"
      S.assert_error(send_v3(q, V3.headers, V3.authorization), 400, "SignatureDoesNotMatch", "JSON")
    end
    for i, h in ipairs(V3.headers) do
      if h[1] ~= "Accept" and h[1] ~= "x-acs-content-sha256" then
        local hs = {}
        for j, x in ipairs(V3.headers) do hs[j] = { x[1], x[2] } end
        local v = hs[i][2]
        if h[1] == "x-acs-date" then v = "2024-01-01T12:00:01Z"
        elseif h[1] == "x-acs-action" then v = "ForbidLiveStream"
        else v = v .. "1" end
        hs[i][2] = v
        local res = send_v3(V3.query, hs, V3.authorization)
        S.assert_error(res, 400, "SignatureDoesNotMatch", "JSON")
        assert.truthy(res.json.Message:find("server canonical request is:", 1, true))
      end
    end
    local q = copy(V3.query)
    q.RegionId = "cn-shanghai"
    S.assert_error(send_v3(q, V3.headers, V3.authorization), 400, "SignatureDoesNotMatch", "JSON")
    S.assert_error(send_v3(V3.query, V3.headers, V3.authorization, "POST"), 400, "SignatureDoesNotMatch", "JSON")
    S.assert_ok(send_v3(V3.query, V3.headers, V3.authorization))
  end)
end)

describe("signature v1 requests signed by the test", function()
  before_each(function() S.reset(E) end)
  local params = S.stream("example.com", "app", "stream")

  it("GET with everything in the query", function()
    S.assert_ok(S.v1({ emu = E, params = params }))
  end)

  it("POST with everything in the query and an empty body", function()
    S.assert_ok(S.v1({ emu = E, method = "POST", params = params }))
  end)

  it("POST with everything in a form body", function()
    S.assert_ok(S.v1({ emu = E, method = "POST", via = "form", params = params }))
  end)

  it("POST with common parameters in the query and the operation's in the body", function()
    S.assert_ok(S.v1({ emu = E, method = "POST", via = "split", params = params }))
  end)

  it("decodes + in a form body as a space, and takes it literally in a query", function()
    local p = S.stream("example.com", "app", "a b")
    local res = S.v1({ emu = E, method = "POST", via = "form", params = p })
    S.assert_ok(res)
    -- the same request with the space written as '+' in the query does not verify
    local q = {}
    for k, v in pairs(res.sent) do q[k] = v end
    q.SignatureNonce = S.uuid()
    q.Signature = nil
    local sts = S.v1_string_to_sign("GET", q)
    q.Signature = S.hmac_sha1_base64("testsecret&", sts)
    local url = E.url .. "/?" .. S.encode_query(q):gsub("a%%20b", "a+b")
    S.assert_error(S.http({ url = url }), 400, "SignatureDoesNotMatch", "JSON")
    url = E.url .. "/?" .. S.encode_query(q)
    S.assert_ok(S.http({ url = url }))
  end)

  it("signs UTF-8 and reserved characters as RFC 3986 percent-encoding", function()
    local p = S.stream("example.com", "app", "流-~_.*/ +=&é")
    S.assert_ok(S.v1({ emu = E, params = p }))
    S.assert_ok(S.v1({ emu = E, method = "POST", via = "form", params = p }))
  end)

  it("answers in JSON or XML whatever the letter case of Format", function()
    for _, f in ipairs({ "JSON", "json", "Json", "jSoN" }) do
      local res = S.assert_ok(S.v1({ emu = E, params = params, format = f }))
      assert.matches("application/json", res.headers["content-type"])
      assert.is_string(res.json.RequestId)
    end
    for _, f in ipairs({ "XML", "xml", "Xml" }) do
      local res = S.assert_ok(S.v1({ emu = E, params = params, format = f }))
      assert.matches("text/xml", res.headers["content-type"])
      assert.matches("^<%?xml version='1.0' encoding='UTF%-8'%?><ResumeLiveStreamResponse><RequestId>[%x%-]+</RequestId></ResumeLiveStreamResponse>$", res.body)
    end
    local res = S.assert_ok(S.v1({ emu = E, params = params, format = false }))
    assert.matches("text/xml", res.headers["content-type"])
  end)

  it("gives every response a fresh RequestId", function()
    local seen = {}
    for _ = 1, 5 do
      local id = S.assert_ok(S.v1({ emu = E, params = params })).json.RequestId
      assert.is_nil(seen[id])
      seen[id] = true
    end
  end)

  it("rejects a signature made with the wrong secret", function()
    S.assert_error(S.v1({ emu = E, params = params, secret = "nottestsecret" }), 400,
      "SignatureDoesNotMatch", "JSON")
  end)

  it("accepts every configured key with its own secret", function()
    S.assert_ok(S.v1({ emu = E, params = params, key_id = "alt", secret = "altsecret" }))
    S.assert_error(S.v1({ emu = E, params = params, key_id = "alt", secret = "testsecret" }), 400,
      "SignatureDoesNotMatch", "JSON")
  end)
end)

describe("signature v3 requests signed by the test", function()
  before_each(function() S.reset(E) end)
  local params = S.stream("example.com", "app", "stream")

  it("GET with the operation's parameters in the query", function()
    S.assert_ok(S.v3({ emu = E, params = params }))
  end)

  it("POST with the parameters in the query", function()
    S.assert_ok(S.v3({ emu = E, method = "POST", params = params }))
  end)

  it("POST with the parameters in a form body (covered by the payload hash)", function()
    S.assert_ok(S.v3({ emu = E, method = "POST", form = params }))
    local p = S.stream("example.com", "app", "stream")
    S.assert_ok(S.v3({ emu = E, method = "POST", form = p, params = { RegionId = "cn-shanghai" } }))
  end)

  it("rejects a body that does not match x-acs-content-sha256", function()
    S.assert_error(S.v3({ emu = E, method = "POST", form = params,
      content_sha256 = S.sha256_hex("something else") }), 400, "SignatureDoesNotMatch", "JSON")
  end)

  it("signs extra x-acs-* and other headers that are listed", function()
    S.assert_ok(S.v3({ emu = E, params = params,
      headers = { { "x-acs-accesskey-id", "testid" }, { "content-type", "application/json" } } }))
  end)

  it("answers XML when Accept asks for it", function()
    local res = S.assert_ok(S.v3({ emu = E, params = params, accept = "application/xml" }))
    assert.matches("^<%?xml.-<ResumeLiveStreamResponse><RequestId>", res.body)
    res = S.v3({ emu = E, params = params, accept = "text/xml", secret = "bad" })
    S.assert_error(res, 400, "SignatureDoesNotMatch", "XML")
  end)

  it("rejects an unsigned x-acs-* header or an unsigned host as IncompleteSignature", function()
    S.assert_error(S.v3({ emu = E, params = params, unsigned = { { "x-acs-extra", "1" } } }), 400,
      "IncompleteSignature", "JSON")
    S.assert_error(S.v3({ emu = E, params = params,
      signed_headers = "x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version" }),
      400, "IncompleteSignature", "JSON")
    S.assert_error(S.v3({ emu = E, params = params,
      signed_headers = "host;x-acs-action;x-acs-date;x-acs-signature-nonce;x-acs-version" }),
      400, "IncompleteSignature", "JSON")
  end)

  it("rejects a malformed Authorization header as IncompleteSignature", function()
    local res = S.http({ url = E.url .. "/?" .. S.encode_query(params), headers = {
      { "x-acs-action", "ResumeLiveStream" }, { "x-acs-version", "2016-11-01" },
      { "x-acs-date", S.iso() }, { "x-acs-signature-nonce", S.uuid() },
      { "x-acs-content-sha256", S.sha256_hex("") },
      { "Authorization", "ACS3-HMAC-SHA256 Credential=testid,Signature=00" } } })
    S.assert_error(res, 400, "IncompleteSignature", "JSON")
  end)

  it("rejects a v3 request without a required header as MissingParameter", function()
    local res = S.http({ url = E.url .. "/?" .. S.encode_query(params), headers = {
      { "x-acs-action", "ResumeLiveStream" }, { "x-acs-version", "2016-11-01" },
      { "x-acs-signature-nonce", S.uuid() }, { "x-acs-content-sha256", S.sha256_hex("") },
      { "Authorization", "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host,Signature=00" } } })
    S.assert_error(res, 400, "MissingParameter", "JSON")
    assert.truthy(res.json.Message:find('"x-acs-date"', 1, true))
  end)

  it("rejects a replayed v3 nonce", function()
    local nonce = S.uuid()
    S.assert_ok(S.v3({ emu = E, params = params, nonce = nonce }))
    S.assert_error(S.v3({ emu = E, params = params, nonce = nonce }), 400, "SignatureNonceUsed", "JSON")
    -- the nonce is remembered per AccessKeyId
    S.assert_ok(S.v3({ emu = E, params = params, nonce = nonce, key_id = "alt", secret = "altsecret" }))
  end)
end)
