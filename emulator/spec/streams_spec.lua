-- Stream state: forbid -> block list -> resume -> gone; "*"; ResumeTime; Oneshot;
-- paging; the block-list quota.
local S = require "support"
local E = S.main

local function forbid(domain, app, stream, extra)
  return S.assert_ok(S.v1({ emu = E, action = "ForbidLiveStream", params = S.stream(domain, app, stream, extra) }))
end

local function resume(domain, app, stream)
  return S.assert_ok(S.v1({ emu = E, action = "ResumeLiveStream", params = S.stream(domain, app, stream) }))
end

local function blocklist(domain, extra, format)
  local p = { DomainName = domain }
  for k, v in pairs(extra or {}) do p[k] = v end
  return S.assert_ok(S.v1({ emu = E, action = "DescribeLiveStreamsBlockList", params = p, format = format }))
end

local function urls(domain, extra)
  local res = blocklist(domain, extra)
  return res.json.StreamUrls.StreamUrl, res.json
end

describe("stream state", function()
  before_each(function() S.reset(E) end)

  it("forbid puts a stream on the block list and resume takes it off", function()
    assert.same({}, (urls("d.example.com")))
    forbid("d.example.com", "app", "s1")
    forbid("d.example.com", "app", "s2")
    forbid("other.example.com", "app", "s3")
    local list, body = urls("d.example.com")
    assert.same({ "d.example.com/app/s1", "d.example.com/app/s2" }, list)
    assert.equal("d.example.com", body.DomainName)
    assert.equal(1, body.PageNum)
    assert.equal(2000, body.PageSize)
    assert.equal(2, body.TotalNum)
    assert.equal(1, body.TotalPage)
    assert.is_string(body.RequestId)
    resume("d.example.com", "app", "s1")
    assert.same({ "d.example.com/app/s2" }, (urls("d.example.com")))
    assert.same({ "other.example.com/app/s3" }, (urls("other.example.com")))
  end)

  it("resuming a stream that is not blocked succeeds", function()
    resume("d.example.com", "app", "never")
    assert.same({}, (urls("d.example.com")))
  end)

  it("empty lists encode as [] in JSON and as an empty StreamUrls in XML", function()
    local res = blocklist("d.example.com")
    assert.truthy(res.body:find('"StreamUrls":{"StreamUrl":[]}', 1, true))
    res = blocklist("d.example.com", nil, "XML")
    assert.truthy(res.body:find("<StreamUrls></StreamUrls>", 1, true))
    assert.equal("0", S.xml_field(res.body, "TotalNum"))
  end)

  it("keeps the order of forbidding; forbidding again keeps the place", function()
    forbid("d.example.com", "app", "c")
    forbid("d.example.com", "app", "a")
    forbid("d.example.com", "app", "b")
    forbid("d.example.com", "app", "c")
    assert.same({ "d.example.com/app/c", "d.example.com/app/a", "d.example.com/app/b" }, (urls("d.example.com")))
  end)

  it("AppName * resumes the stream under every app of the domain", function()
    forbid("d.example.com", "app1", "s")
    forbid("d.example.com", "app2", "s")
    forbid("d.example.com", "app1", "t")
    forbid("e.example.com", "app1", "s")
    resume("d.example.com", "*", "s")
    assert.same({ "d.example.com/app1/t" }, (urls("d.example.com")))
    assert.same({ "e.example.com/app1/s" }, (urls("e.example.com")))
  end)

  it("Oneshot=yes cuts the stream without blocking it; Oneshot=no blocks", function()
    forbid("d.example.com", "app", "once", { Oneshot = "yes" })
    assert.same({}, (urls("d.example.com")))
    forbid("d.example.com", "app", "kept", { Oneshot = "no" })
    assert.same({ "d.example.com/app/kept" }, (urls("d.example.com")))
  end)

  it("a block with a ResumeTime lifts by itself at that time", function()
    forbid("d.example.com", "app", "timed", { ResumeTime = S.iso(os.time() + 60) })
    forbid("d.example.com", "app", "forever")
    assert.same({ "d.example.com/app/timed", "d.example.com/app/forever" }, (urls("d.example.com")))
    -- move the server clock two minutes ahead (requests stay within the 15-minute skew)
    S.assert_ok(S.post_json(E, "/__emulator/clock", { offset = 120 }))
    assert.same({ "d.example.com/app/forever" }, (urls("d.example.com")))
  end)

  it("without ResumeTime a block lasts about six months", function()
    forbid("d.example.com", "app", "long")
    local function list_at(offset)
      S.assert_ok(S.post_json(E, "/__emulator/clock", { offset = offset }))
      local res = S.assert_ok(S.v1({ emu = E, action = "DescribeLiveStreamsBlockList",
        params = { DomainName = "d.example.com" }, timestamp = S.iso(os.time() + offset) }))
      return res.json.StreamUrls.StreamUrl
    end
    assert.same({ "d.example.com/app/long" }, list_at(170 * 86400))
    assert.same({}, list_at(190 * 86400))
  end)

  it("pages through the list", function()
    for i = 1, 5 do forbid("d.example.com", "app", "s" .. i) end
    local list, body = urls("d.example.com", { PageSize = "2", PageNum = "1" })
    assert.same({ "d.example.com/app/s1", "d.example.com/app/s2" }, list)
    assert.equal(5, body.TotalNum)
    assert.equal(3, body.TotalPage)
    assert.equal(2, body.PageSize)
    list = urls("d.example.com", { PageSize = "2", PageNum = "3" })
    assert.same({ "d.example.com/app/s5" }, list)
    list, body = urls("d.example.com", { PageSize = "2", PageNum = "4" })
    assert.same({}, list)
    assert.equal(4, body.PageNum)
  end)

  it("renders the block list in XML with repeated StreamUrl elements", function()
    forbid("d.example.com", "app", "x")
    forbid("d.example.com", "app", "y")
    local body = blocklist("d.example.com", nil, "XML").body
    assert.matches("^<%?xml version='1.0' encoding='UTF%-8'%?><DescribeLiveStreamsBlockListResponse><RequestId>[%x%-]+</RequestId><DomainName>d.example.com</DomainName><PageNum>1</PageNum><PageSize>2000</PageSize><TotalNum>2</TotalNum><TotalPage>1</TotalPage><StreamUrls><StreamUrl>d.example.com/app/x</StreamUrl><StreamUrl>d.example.com/app/y</StreamUrl></StreamUrls></DescribeLiveStreamsBlockListResponse>$", body)
  end)

  it("works the same through signature v3 and POST", function()
    S.assert_ok(S.v3({ emu = E, action = "ForbidLiveStream", method = "POST",
      form = S.stream("d.example.com", "app", "v3") }))
    assert.same({ "d.example.com/app/v3" }, (urls("d.example.com")))
    S.assert_ok(S.v3({ emu = E, action = "ResumeLiveStream", params = S.stream("d.example.com", "app", "v3") }))
    assert.same({}, (urls("d.example.com")))
  end)

  it("refuses new entries beyond the block-list quota (QuotaExceeded.Blocklist)", function()
    S.assert_ok(S.post_json(E, "/__emulator/config", { blocklist_limit = 2 }))
    forbid("d.example.com", "app", "1")
    forbid("d.example.com", "app", "2")
    S.assert_error(S.v1({ emu = E, action = "ForbidLiveStream", params = S.stream("d.example.com", "app", "3") }),
      400, "QuotaExceeded.Blocklist", "JSON")
    forbid("d.example.com", "app", "2")   -- re-forbidding an entry is not a new one
    resume("d.example.com", "app", "1")
    forbid("d.example.com", "app", "3")
  end)

  it("reset clears the stream state", function()
    forbid("d.example.com", "app", "s")
    S.reset(E)
    assert.same({}, (urls("d.example.com")))
  end)
end)
