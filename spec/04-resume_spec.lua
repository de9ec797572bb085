-- resume, forbid and call against the emulator: success in every transport variant,
-- stream state, and every server error surfacing as the right err.code.
local live = require "aliyun.live"
local helpers = require "helpers"

local function unpct(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

describe("against the emulator", function()
  local emu

  lazy_setup(function() emu = helpers.emulator("--qps 100000") end)
  lazy_teardown(function() emu:stop() end)
  before_each(function() helpers.reset(emu) end)

  local function client(extra) return helpers.client(emu.url, extra) end
  local stream = { domain = "demo.aliyundoc.com", app = "liveApp", stream = "room42" }

  describe("resume", function()
    for _, method in ipairs { "GET", "POST" } do
      for _, sig in ipairs { "v1", "v3" } do
        for _, fmt in ipairs { "JSON", "XML" } do
          it(("succeeds with %s, %s, %s"):format(method, sig, fmt), function()
            local c = client { method = method, signature = sig, format = fmt }
            local res, err = c:resume(stream)
            assert.is_nil(err)
            assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", res.request_id)
            assert.equal(res.RequestId, res.request_id)
            local req = helpers.last_requests(emu)[1]
            assert.equal(method, req.method)
          end)
        end
      end
    end

    it("gets a fresh RequestId for every call over one connection", function()
      local c = client()
      local seen = {}
      for _ = 1, 50 do
        local res = assert(c:resume(stream))
        assert.is_nil(seen[res.request_id])
        seen[res.request_id] = true
      end
      assert.equal(50, helpers.stats(emu).codes.OK)
    end)

    it("sends every special character exactly as given", function()
      local c = client { method = "GET" }
      local name = "a b/&=%+~*!'()中文😀"
      assert(c:resume { domain = stream.domain, app = "*", stream = name })
      local req = helpers.last_requests(emu)[1]
      assert.equal(name, req.params.StreamName)
      assert.equal("*", req.params.AppName)
    end)
  end)

  describe("stream state", function()
    local function blocked(c, domain)
      local res = assert(c:call("DescribeLiveStreamsBlockList", { DomainName = domain }))
      local urls = res.StreamUrls and res.StreamUrls.StreamUrl or {}
      if type(urls) == "string" then urls = { urls } end
      local set = {}
      for _, u in ipairs(urls) do set[u] = true end
      return set
    end

    it("forbid → block list → resume → gone", function()
      local c = client()
      assert(c:forbid(stream))
      assert.is_true(blocked(c, stream.domain)["demo.aliyundoc.com/liveApp/room42"])
      assert(c:resume(stream))
      assert.is_nil(blocked(c, stream.domain)["demo.aliyundoc.com/liveApp/room42"])
    end)

    it("resume with app '*' unblocks the stream under every app", function()
      local c = client()
      for _, app in ipairs { "a1", "a2" } do
        assert(c:forbid { domain = stream.domain, app = app, stream = "s" })
      end
      assert(c:forbid { domain = stream.domain, app = "a1", stream = "other" })
      assert(c:resume { domain = stream.domain, app = "*", stream = "s" })
      local set = blocked(c, stream.domain)
      assert.is_nil(set["demo.aliyundoc.com/a1/s"])
      assert.is_nil(set["demo.aliyundoc.com/a2/s"])
      assert.is_true(set["demo.aliyundoc.com/a1/other"])
    end)

    it("oneshot cuts without blocking; resume_time is sent as UTC", function()
      local c = client()
      assert(c:forbid { domain = stream.domain, app = "x", stream = "once", oneshot = true })
      assert.is_nil(blocked(c, stream.domain)["demo.aliyundoc.com/x/once"])
      assert(c:forbid { domain = stream.domain, app = "x", stream = "later",
                        resume_time = os.time() + 3600 })
      assert.is_true(blocked(c, stream.domain)["demo.aliyundoc.com/x/later"])
      local rt = helpers.last_requests(emu, 2)[1].params.ResumeTime
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", rt)
    end)
  end)

  describe("server errors", function()
    local function fails(code, status, res, err)
      assert.is_nil(res)
      assert.equal(code, err.code)
      assert.equal(status, err.http_status)
      assert.matches("^%x+%-", err.request_id)
      assert.is_string(err.message)
      assert.is_boolean(err.retryable)
      assert.equal(1, err.attempts)
      local line = tostring(err)
      assert.matches(code, line, 1, true)
      assert.not_matches("\n", line)
      return err
    end

    for _, fmt in ipairs { "JSON", "XML" } do
      describe("(" .. fmt .. ")", function()
        it("missing parameter", function()
          local e = fails("MissingStreamName", 400, client { format = fmt }:call("ResumeLiveStream",
            { DomainName = "d.com", AppName = "a", LiveStreamType = "publisher" }))
          assert.is_false(e.retryable)
        end)

        it("invalid LiveStreamType", function()
          fails("InvalidLiveStreamType.Malformed", 400, client { format = fmt }:call("ResumeLiveStream",
            { DomainName = "d.com", AppName = "a", StreamName = "s", LiveStreamType = "player" }))
        end)

        it("unknown AccessKeyId", function()
          fails("InvalidAccessKeyId.NotFound", 404,
            client { format = fmt, access_key_id = "nobody" }:resume(stream))
        end)

        it("signature mismatch, without leaking the secret", function()
          local e = fails("SignatureDoesNotMatch", 400,
            client { format = fmt, access_key_secret = "not-the-secret" }:resume(stream))
          assert.is_false(e.retryable)
          assert.not_matches("not-the-secret", tostring(e), 1, true)
        end)

        it("unknown action", function()
          fails("InvalidAction.NotFound", 404, client { format = fmt }:call("NoSuchAction", {}))
        end)
      end)
    end

    -- Requests our client would never send: presign, then send with curl(1).
    local function send(url, method)
      local status, body = helpers.curl(("-X %s %s"):format(method or "GET", helpers.sh_quote(url)))
      return status, require("cjson").decode(body)
    end

    it("reused nonce → SignatureNonceUsed", function()
      local p = client():presign("ResumeLiveStream", { DomainName = "d.com", AppName = "a",
        StreamName = "s", LiveStreamType = "publisher" }, { nonce = "fixed-nonce-1", method = "GET" })
      local status = send(p.url)
      assert.equal(200, status)
      local status2, body = send(p.url)
      assert.equal(400, status2)
      assert.equal("SignatureNonceUsed", body.Code)
    end)

    it("timestamp too far from the server's clock → InvalidTimeStamp.Expired", function()
      local p = client():presign("ResumeLiveStream", { DomainName = "d.com", AppName = "a",
        StreamName = "s", LiveStreamType = "publisher" },
        { timestamp = "2020-01-01T00:00:00Z", method = "GET" })
      local status, body = send(p.url)
      assert.equal(400, status)
      assert.equal("InvalidTimeStamp.Expired", body.Code)
    end)

    it("a request altered after signing is rejected, whichever parameter changed", function()
      local p = client():presign("ResumeLiveStream", { DomainName = "d.com", AppName = "a",
        StreamName = "s", LiveStreamType = "publisher" }, { method = "GET" })
      -- Parameters whose altered value the server refuses before checking the signature.
      local expected = { AccessKeyId = "InvalidAccessKeyId.NotFound",
                         SignatureMethod = "InvalidSignatureMethod",
                         SignatureVersion = "InvalidParameter" }
      local names = {}
      for k in pairs(p.params) do names[#names + 1] = k end
      table.sort(names)
      assert.equal(12, #names)
      for _, name in ipairs(names) do
        local url = p.url:gsub("([?&]" .. name .. "=)([^&]*)", function(prefix, v)
          v = unpct(v)
          local nv
          if name == "Timestamp" then   -- still well-formed, one second later or earlier
            nv = v:gsub("(%d)Z$", function(d) return tostring((tonumber(d) + 1) % 10) .. "Z" end)
          elseif name == "Format" then nv = "xml"   -- valid in any case, but not what was signed
          else nv = v .. "X" end
          return prefix .. require("aliyun.live.core").pct(nv)
        end)
        assert.not_equal(p.url, url)
        local status, body = helpers.curl(helpers.sh_quote(url))
        local code = body:match('"Code":"([^"]+)"') or body:match("<Code>([^<]+)</Code>")
        assert.equal(expected[name] or "SignatureDoesNotMatch", code, name)
        assert.equal(name == "AccessKeyId" and 404 or 400, status, name)
      end
      -- The untouched request still passes: failed attempts did not burn its nonce.
      assert.equal(200, (send(p.url)))
    end)

    it("a V3 request altered after signing is rejected, query or signed header", function()
      local p = client():presign("ResumeLiveStream", { DomainName = "d.com", AppName = "a",
        StreamName = "s", LiveStreamType = "publisher" }, { method = "GET", signature = "v3" })
      local function send_v3(url, headers)
        local args = { "-X GET" }
        for k, v in pairs(headers) do
          if k ~= "host" then args[#args + 1] = "-H " .. helpers.sh_quote(k .. ": " .. v) end
        end
        args[#args + 1] = helpers.sh_quote(url)
        local status, body = helpers.curl(table.concat(args, " "))
        return status, body:match('"Code":"([^"]+)"')
      end
      local function with(k, v)
        local h = {}
        for kk, vv in pairs(p.headers) do h[kk] = vv end
        h[k] = v
        return h
      end
      -- Altered query parameter.
      local status, code = send_v3(p.url:gsub("StreamName=s", "StreamName=t"), p.headers)
      assert.equal(400, status)
      assert.equal("SignatureDoesNotMatch", code)
      -- Altered signed headers (each still well-formed).
      local altered = {
        ["x-acs-action"] = "ForbidLiveStream",
        ["x-acs-signature-nonce"] = p.headers["x-acs-signature-nonce"] .. "x",
        ["x-acs-date"] = p.headers["x-acs-date"]:gsub("(%d)Z$", function(d)
          return ("%d"):format((tonumber(d) + 1) % 10) .. "Z"   -- "6", never "6.0" (5.3)
        end),
      }
      for k, v in pairs(altered) do
        status, code = send_v3(p.url, with(k, v))
        assert.equal(400, status, k)
        assert.equal("SignatureDoesNotMatch", code, k)
      end
      -- An x-acs-* header that was not signed.
      status, code = send_v3(p.url, with("x-acs-extra", "1"))
      assert.equal(400, status)
      assert.equal("IncompleteSignature", code)
      -- The untouched request passes.
      status = send_v3(p.url, p.headers)
      assert.equal(200, status)
    end)

    it("a request with a parameter added or removed after signing is rejected", function()
      local p = client():presign("ResumeLiveStream", { DomainName = "d.com", AppName = "a",
        StreamName = "s", LiveStreamType = "publisher" }, { method = "GET" })
      local status, body = send(p.url .. "&Extra=1")
      assert.equal(400, status)
      assert.equal("SignatureDoesNotMatch", body.Code)
      status, body = send((p.url:gsub("&AppName=a", "")))
      assert.equal(400, status)
    end)
  end)

  describe("transport failures", function()
    it("connection refused → SDK.ConnectionFailed, retryable", function()
      local c = live.new { access_key_id = "a", access_key_secret = "b", limiter = false,
                           retry = false, endpoint = "http://127.0.0.1:" .. helpers.free_port() }
      local res, err = c:resume(stream)
      assert.is_nil(res)
      assert.equal("SDK.ConnectionFailed", err.code)
      assert.is_true(err.retryable)
      assert.is_nil(err.http_status)
    end)
  end)
end)
