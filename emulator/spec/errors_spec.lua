-- Every error the checks produce, with its HTTP status, in JSON and in XML, and the
-- order in which the checks run.
local S = require "support"
local E = S.main

local STREAM = S.stream("example.com", "app", "stream")

local function both_formats(fn)
  for _, format in ipairs({ "JSON", "XML" }) do fn(format) end
end

describe("common-parameter errors", function()
  before_each(function() S.reset(E) end)

  it("MissingParameter (400) names each missing common parameter", function()
    both_formats(function(format)
      for _, name in ipairs({ "Action", "Version", "AccessKeyId", "SignatureMethod",
                              "SignatureVersion", "SignatureNonce", "Timestamp" }) do
        local res = S.v1({ emu = E, params = STREAM, format = format, set = { [name] = false } })
        S.assert_error(res, 400, "MissingParameter", format)
        local msg = format == "XML" and S.xml_field(res.body, "Message"):gsub("&quot;", '"')
                    or res.json.Message
        assert.equal(('The input parameter "%s" that is mandatory for processing this request is not supplied.'):format(name), msg)
      end
      local res = S.v1({ emu = E, params = STREAM, format = format, tamper = { Signature = false } })
      S.assert_error(res, 400, "MissingParameter", format)
    end)
  end)

  it("InvalidParameter (400) for a Format other than JSON/XML, answered in XML", function()
    S.assert_error(S.v1({ emu = E, params = STREAM, format = "YAML" }), 400, "InvalidParameter", "XML")
  end)

  it("InvalidParameter (400) for a parameter given twice", function()
    both_formats(function(format)
      local res = S.v1({ emu = E, params = STREAM, format = format })
      S.assert_ok(res)
      -- same query again plus a duplicate StreamName (fresh nonce so only that is wrong)
      local q = {}
      for k, v in pairs(res.sent) do q[k] = v end
      q.SignatureNonce = S.uuid()
      local url = E.url .. "/?" .. S.encode_query(q) .. "&StreamName=other"
      S.assert_error(S.http({ url = url }), 400, "InvalidParameter", format)
      -- and across query and form body
      S.assert_error(S.http({ method = "POST", url = E.url .. "/?" .. S.encode_query(q),
        body = "StreamName=stream", headers = { { "Content-Type", "application/x-www-form-urlencoded" } } }),
        400, "InvalidParameter", format)
    end)
  end)

  it("InvalidSignatureMethod (400) for anything but HMAC-SHA1", function()
    both_formats(function(format)
      S.assert_error(S.v1({ emu = E, params = STREAM, format = format,
        set = { SignatureMethod = "HMAC-SHA256" } }), 400, "InvalidSignatureMethod", format)
    end)
  end)

  it("InvalidTimeStamp.Format (400) for anything but YYYY-MM-DDThh:mm:ssZ", function()
    both_formats(function(format)
      for _, ts in ipairs({ "2024-01-01 12:00:00", "2024-01-01T12:00:00.000Z", "2024-01-01T12:00:00+08:00",
                            "2024-13-01T12:00:00Z", "2024-02-30T12:00:00Z", "yesterday" }) do
        S.assert_error(S.v1({ emu = E, params = STREAM, format = format, timestamp = ts }), 400,
          "InvalidTimeStamp.Format", format)
      end
      S.assert_error(S.v3({ emu = E, params = STREAM, date = "2024-01-01T12:00Z",
        accept = format == "XML" and "application/xml" or nil }), 400, "InvalidTimeStamp.Format", format)
    end)
  end)

  it("InvalidTimeStamp.Expired (400) beyond 15 minutes either way, not within", function()
    both_formats(function(format)
      S.assert_error(S.v1({ emu = E, params = STREAM, format = format, timestamp = S.iso(os.time() - 16 * 60) }),
        400, "InvalidTimeStamp.Expired", format)
      S.assert_error(S.v1({ emu = E, params = STREAM, format = format, timestamp = S.iso(os.time() + 16 * 60) }),
        400, "InvalidTimeStamp.Expired", format)
      S.assert_ok(S.v1({ emu = E, params = STREAM, format = format, timestamp = S.iso(os.time() - 14 * 60) }))
      S.assert_ok(S.v1({ emu = E, params = STREAM, format = format, timestamp = S.iso(os.time() + 14 * 60) }))
      S.assert_error(S.v3({ emu = E, params = STREAM, date = S.iso(os.time() - 3600),
        accept = format == "XML" and "application/xml" or nil }), 400, "InvalidTimeStamp.Expired", format)
    end)
  end)

  it("InvalidAccessKeyId.NotFound (404) and .Inactive (400)", function()
    both_formats(function(format)
      S.assert_error(S.v1({ emu = E, params = STREAM, format = format, key_id = "nobody" }), 404,
        "InvalidAccessKeyId.NotFound", format)
      S.assert_error(S.v1({ emu = E, params = STREAM, format = format, key_id = "dead", secret = "deadsecret" }),
        400, "InvalidAccessKeyId.Inactive", format)
      local accept = format == "XML" and "application/xml" or nil
      S.assert_error(S.v3({ emu = E, params = STREAM, key_id = "nobody", accept = accept }), 404,
        "InvalidAccessKeyId.NotFound", format)
      S.assert_error(S.v3({ emu = E, params = STREAM, key_id = "dead", secret = "deadsecret", accept = accept }),
        400, "InvalidAccessKeyId.Inactive", format)
    end)
  end)

  it("SignatureDoesNotMatch (400), SignatureNonceUsed (400)", function()
    both_formats(function(format)
      S.assert_error(S.v1({ emu = E, params = STREAM, format = format, secret = "x" }), 400,
        "SignatureDoesNotMatch", format)
      local nonce = S.uuid()
      S.assert_ok(S.v1({ emu = E, params = STREAM, format = format, nonce = nonce }))
      S.assert_error(S.v1({ emu = E, params = STREAM, format = format, nonce = nonce }), 400,
        "SignatureNonceUsed", format)
    end)
  end)

  it("a failed signature does not burn the nonce", function()
    local nonce = S.uuid()
    S.assert_error(S.v1({ emu = E, params = STREAM, nonce = nonce, secret = "x" }), 400, "SignatureDoesNotMatch", "JSON")
    S.assert_ok(S.v1({ emu = E, params = STREAM, nonce = nonce }))
  end)

  it("InvalidAction.NotFound (404) for an unknown action or version", function()
    both_formats(function(format)
      S.assert_error(S.v1({ emu = E, action = "DescribeLiveStreams", params = STREAM, format = format }), 404,
        "InvalidAction.NotFound", format)
      S.assert_error(S.v1({ emu = E, params = STREAM, format = format, version = "2014-05-26" }), 404,
        "InvalidAction.NotFound", format)
      S.assert_error(S.v1({ emu = E, action = "AssumeRole", params = STREAM, format = format }), 404,
        "InvalidAction.NotFound", format)
      S.assert_error(S.v3({ emu = E, action = "NoSuchAction", params = STREAM,
        accept = format == "XML" and "application/xml" or nil }), 404, "InvalidAction.NotFound", format)
    end)
  end)

  it("runs the checks in the documented order", function()
    -- missing field beats bad timestamp; bad timestamp beats unknown key;
    -- unknown key beats bad signature; bad signature beats unknown action
    S.assert_error(S.v1({ emu = E, params = STREAM, timestamp = "bad", set = { Version = false } }), 400,
      "MissingParameter", "JSON")
    S.assert_error(S.v1({ emu = E, params = STREAM, timestamp = "bad", key_id = "nobody" }), 400,
      "InvalidTimeStamp.Format", "JSON")
    S.assert_error(S.v1({ emu = E, params = STREAM, key_id = "nobody", secret = "x" }), 404,
      "InvalidAccessKeyId.NotFound", "JSON")
    S.assert_error(S.v1({ emu = E, action = "Nope", params = STREAM, secret = "x" }), 400,
      "SignatureDoesNotMatch", "JSON")
  end)

  it("escapes XML in error messages", function()
    local res = S.v1({ emu = E, params = S.stream("example.com", "a<b>&'\"", "s"), format = "XML", secret = "x" })
    S.assert_error(res, 400, "SignatureDoesNotMatch", "XML")
    local msg = S.xml_field(res.body, "Message")
    assert.is_nil(msg:find("[<>\"']"))
    assert.truthy(msg:find("&amp;", 1, true))
  end)

  it("405 for methods other than GET and POST", function()
    local res = S.http({ method = "PUT", url = E.url .. "/?Format=JSON" })
    S.assert_error(res, 405, "UnsupportedHTTPMethod", "JSON")
  end)
end)

describe("operation parameter errors", function()
  before_each(function() S.reset(E) end)

  it("Missing<Name> (400) for each stream parameter of Resume and Forbid", function()
    both_formats(function(format)
      for _, action in ipairs({ "ResumeLiveStream", "ForbidLiveStream" }) do
        for _, name in ipairs({ "DomainName", "AppName", "StreamName", "LiveStreamType" }) do
          local p = S.stream("example.com", "app", "stream")
          p[name] = nil
          local res = S.v1({ emu = E, action = action, params = p, format = format })
          S.assert_error(res, 400, "Missing" .. name, format)
          local msg = format == "XML" and S.xml_field(res.body, "Message") or res.json.Message
          assert.equal(name .. " is mandatory for this action.", msg)
        end
      end
      S.assert_error(S.v1({ emu = E, action = "DescribeLiveStreamsBlockList", params = {}, format = format }),
        400, "MissingDomainName", format)
    end)
  end)

  it("InvalidLiveStreamType.Malformed (400)", function()
    both_formats(function(format)
      S.assert_error(S.v1({ emu = E, params = S.stream("example.com", "app", "s", { LiveStreamType = "player" }),
        format = format }), 400, "InvalidLiveStreamType.Malformed", format)
    end)
  end)

  it("InvalidResumeTime.Malformed (400) for a bad or past ResumeTime", function()
    both_formats(function(format)
      for _, t in ipairs({ "tomorrow", "2030-01-01 00:00:00", S.iso(os.time() - 60) }) do
        S.assert_error(S.v1({ emu = E, action = "ForbidLiveStream", format = format,
          params = S.stream("example.com", "app", "s", { ResumeTime = t }) }), 400, "InvalidResumeTime.Malformed", format)
      end
    end)
  end)

  it("InvalidOneshot.Malformed (400)", function()
    both_formats(function(format)
      S.assert_error(S.v1({ emu = E, action = "ForbidLiveStream", format = format,
        params = S.stream("example.com", "app", "s", { Oneshot = "maybe" }) }), 400, "InvalidOneshot.Malformed", format)
    end)
  end)

  it("InvalidPageNum.Malformed and InvalidPageSize.Malformed (400)", function()
    both_formats(function(format)
      local function list(extra)
        local p = { DomainName = "example.com" }
        for k, v in pairs(extra) do p[k] = v end
        return S.v1({ emu = E, action = "DescribeLiveStreamsBlockList", params = p, format = format })
      end
      for _, v in ipairs({ "0", "-1", "x", "1.5" }) do
        S.assert_error(list({ PageNum = v }), 400, "InvalidPageNum.Malformed", format)
      end
      for _, v in ipairs({ "0", "3001", "abc" }) do
        S.assert_error(list({ PageSize = v }), 400, "InvalidPageSize.Malformed", format)
      end
      S.assert_ok(list({ PageSize = "3000", PageNum = "7" }))
    end)
  end)
end)
