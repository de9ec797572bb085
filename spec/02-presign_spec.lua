-- presign: the signature vectors of the official SDKs, byte for byte
-- (spec/fixtures/vectors.json is a copy of shared/api/vectors.json).
local cjson = require "cjson"
local live = require "aliyun.live"
local helpers = require "helpers"

local vectors = cjson.decode((helpers.read_file(helpers.root .. "/spec/fixtures/vectors.json")))
local function vector(name)
  for _, v in ipairs(vectors) do if v.name == name then return v end end
  error("no vector " .. name)
end

local COMMON = { Action = 1, Version = 1, Format = 1, AccessKeyId = 1, SignatureMethod = 1,
                 SignatureVersion = 1, SignatureNonce = 1, Timestamp = 1 }

local function unpct(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function query_of(url)
  local q = {}
  for k, v in (url:match("%?(.*)$") or ""):gmatch("([^&=]+)=([^&]*)") do q[unpct(k)] = unpct(v) end
  return q
end

local function client(v, extra)
  local opts = { access_key_id = "testid", access_key_secret = v.secret,
                 endpoint = "https://live.aliyuncs.com", limiter = false }
  for k, x in pairs(extra or {}) do opts[k] = x end
  return live.new(opts)
end

describe("presign v1", function()
  for _, name in ipairs { "seed_get", "classic_describe_regions" } do
    it("reproduces vector " .. name, function()
      local v = vector(name)
      local own = {}
      for k, x in pairs(v.params) do if not COMMON[k] then own[k] = x end end
      local c = client(v, { format = v.params.Format })
      local p = c:presign(v.params.Action, own, {
        timestamp = v.params.Timestamp, nonce = v.params.SignatureNonce,
        method = v.method, version = v.params.Version })
      assert.equal(v.string_to_sign, p.string_to_sign)
      assert.equal(v.signature, p.signature)
      assert.equal(v.method, p.method)
      assert.same(v.params, p.params)
      -- The URL carries exactly the signed parameters plus Signature.
      local expect = {}
      for k, x in pairs(v.params) do expect[k] = x end
      expect.Signature = v.signature
      assert.same(expect, query_of(p.url))
      assert.equal("https://live.aliyuncs.com/?", p.url:sub(1, 27))
    end)
  end

  it("signs POST with the method in the string to sign", function()
    local v = vector("seed_get")
    local p = client(v):presign("ResumeLiveStream", { StreamName = "s" },
      { method = "POST", timestamp = "2024-01-01T12:00:00Z", nonce = "n1" })
    assert.equal("POST", p.method)
    assert.matches("^POST&%%2F&", p.string_to_sign)
  end)

  it("includes SecurityToken with STS credentials", function()
    local c = live.new { access_key_id = "STS.id", access_key_secret = "s",
                         security_token = "tok/en+=", limiter = false }
    local p = c:presign("ResumeLiveStream", {}, { nonce = "n", timestamp = "2024-01-01T12:00:00Z" })
    assert.equal("tok/en+=", p.params.SecurityToken)
    assert.matches("SecurityToken%%3Dtok%%252Fen%%252B%%253D", p.string_to_sign)
  end)

  it("uses a fresh nonce and the current time when not fixed", function()
    local c = client(vector("seed_get"))
    local a = c:presign("ResumeLiveStream", {})
    local b = c:presign("ResumeLiveStream", {})
    assert.not_equal(a.params.SignatureNonce, b.params.SignatureNonce)
    assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", a.params.SignatureNonce)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", a.params.Timestamp)
    local now = os.time()
    local y, mo, d, h, mi, s = a.params.Timestamp:match("(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z")
    local t = os.time { year = y, month = mo, day = d, hour = h, min = mi, sec = s, isdst = false }
    local utc_offset = os.time(os.date("*t", now)) - os.time(os.date("!*t", now))
    assert.is_true(math.abs(t + utc_offset - now) <= 2)
  end)

  it("signs names with spaces, reserved characters and non-ASCII exactly", function()
    local c = client(vector("seed_get"))
    local p = c:presign("ResumeLiveStream", { StreamName = "a b/&=%+~*!'()中😀" },
      { timestamp = "2024-01-01T12:00:00Z", nonce = "n" , method = "GET"})
    assert.equal("a b/&=%+~*!'()中😀", query_of(p.url).StreamName)
    assert.matches("StreamName%%3Da%%2520b%%252F%%2526%%253D%%2525%%252B~%%252A%%2521%%2527%%2528%%2529%%25E4%%25B8%%25AD%%25F0%%259F%%2598%%2580",
      p.string_to_sign)
  end)
end)

describe("presign v3", function()
  it("reproduces the V3 vector", function()
    local v = vector("seed_get/v3_min")
    local c = live.new { access_key_id = v.access_key_id, access_key_secret = v.secret,
                         endpoint = "https://" .. v.headers.host, limiter = false }
    local p = c:presign(v.headers["x-acs-action"], v.query, {
      signature = "v3", method = v.method, timestamp = v.headers["x-acs-date"],
      nonce = v.headers["x-acs-signature-nonce"], version = v.headers["x-acs-version"] })
    assert.equal(v.canonical_request, p.canonical_request)
    assert.equal(v.string_to_sign, p.string_to_sign)
    assert.equal(v.signature, p.signature)
    assert.equal(v.authorization, p.authorization)
    local headers = {}
    for k, x in pairs(v.headers) do headers[k] = x end
    headers.authorization = v.authorization
    assert.same(headers, p.headers)
    assert.same(v.query, query_of(p.url))
    assert.equal("GET", p.method)
  end)

  it("signs x-acs-security-token with STS credentials", function()
    local c = live.new { access_key_id = "STS.id", access_key_secret = "s",
                         security_token = "tok", limiter = false, signature = "v3" }
    local p = c:presign("ResumeLiveStream", { StreamName = "x" }, { nonce = "n" })
    assert.equal("tok", p.headers["x-acs-security-token"])
    assert.matches("x%-acs%-security%-token", p.authorization)
    assert.matches("\nx%-acs%-security%-token:tok\n", p.canonical_request)
  end)

  it("names the host with its port when it is not the default", function()
    local c = live.new { access_key_id = "a", access_key_secret = "s", limiter = false,
                         endpoint = "http://127.0.0.1:8080/" }
    local p = c:presign("ResumeLiveStream", {}, { signature = "v3" })
    assert.equal("127.0.0.1:8080", p.headers.host)
    assert.equal("http://127.0.0.1:8080/", p.url)
    c = live.new { access_key_id = "a", access_key_secret = "s", limiter = false,
                   endpoint = "https://example.com:443" }
    assert.equal("example.com", c:presign("ResumeLiveStream", {}, { signature = "v3" }).headers.host)
  end)
end)

describe("presign arguments", function()
  local c = live.new { access_key_id = "a", access_key_secret = "s", limiter = false }
  it("raise on bad options", function()
    assert.has_error(function() c:presign("ResumeLiveStream", {}, { timestamp = "yesterday" }) end)
    assert.has_error(function() c:presign("ResumeLiveStream", {}, { method = "PUT" }) end)
    assert.has_error(function() c:presign("ResumeLiveStream", {}, { signature = "v2" }) end)
    assert.has_error(function() c:presign("ResumeLiveStream", {}, { version = "1" }) end)
    assert.has_error(function() c:presign("ResumeLiveStream", {}, { colour = "red" }) end)
    assert.has_error(function() c:presign("resume live", {}) end)
    assert.has_error(function() c:presign("ResumeLiveStream", { Signature = "x" }) end)
    assert.has_error(function() c:presign("ResumeLiveStream", { StreamName = {} }) end)
    -- a bad value is not a programming error: nil, err naming the parameter
    local res, err = c:presign("ResumeLiveStream", { StreamName = "a\0b" })
    assert.is_nil(res)
    assert.equal("SDK.InvalidParameter", err.code)
    assert.equal("StreamName", err.field)
  end)

  it("turns numbers and booleans into strings", function()
    local p = c:presign("DescribeLiveStreamsBlockList", { PageNum = 2, PageSize = 3000, X = true })
    assert.equal("2", p.params.PageNum)
    assert.equal("3000", p.params.PageSize)
    assert.equal("true", p.params.X)
  end)
end)

-- The HMACs against an independent implementation (openssl dgst), for secrets shorter
-- than, as long as and longer than the hash block (64 bytes: a longer key is hashed
-- first), and for a client whose secret changes between calls (the keyed state redone).
describe("presign HMAC", function()
  local function openssl_hmac(digest, key, data, base64)
    local df = os.tmpname()
    local f = assert(io.open(df, "wb")); f:write(data); f:close()
    local cmd = ("openssl dgst -%s -mac HMAC -macopt hexkey:%s -binary %s%s"):format(digest,
      (key:gsub(".", function(ch) return ("%02x"):format(ch:byte()) end)), helpers.sh_quote(df),
      base64 and " | openssl base64 -A" or " | od -An -v -tx1 | tr -d ' \\n'")
    local out = helpers.run(cmd)
    os.remove(df)
    return (out:gsub("%s+$", ""))
  end

  it("v1 and v3 signatures match openssl for secrets of 1 to 200 bytes", function()
    for _, n in ipairs { 1, 10, 63, 64, 65, 100, 200 } do
      local secret = ("s%dx"):format(n):rep(n):sub(1, n)
      local c = live.new { access_key_id = "testid", access_key_secret = secret,
                           endpoint = "https://live.aliyuncs.com", limiter = false }
      local p1 = c:presign("ResumeLiveStream", { AppName = "a" })
      assert.equal(openssl_hmac("sha1", secret .. "&", p1.string_to_sign, true), p1.signature)
      local p3 = c:presign("ResumeLiveStream", { AppName = "a" }, { signature = "v3" })
      assert.equal(openssl_hmac("sha256", secret, p3.string_to_sign), p3.signature)
    end
  end)

  it("re-keys when the secret changes between calls", function()
    local secrets = { "first-secret", ("long"):rep(30), "first-secret", "x" }
    local creds = { access_key_id = "testid" }
    local c = live.new { credentials = { get = function() return creds end },
                         endpoint = "https://live.aliyuncs.com", limiter = false }
    for _, secret in ipairs(secrets) do
      creds = { access_key_id = "testid", access_key_secret = secret }
      local p = c:presign("ResumeLiveStream", { AppName = "a" })
      assert.equal(openssl_hmac("sha1", secret .. "&", p.string_to_sign, true), p.signature)
    end
  end)
end)
