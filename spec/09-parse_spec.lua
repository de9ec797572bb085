-- Response bodies → tables: JSON (lua-cjson) and XML (expat) give the same shapes.
local core = require "aliyun.live.core"

describe("parsers", function()
  it("decode JSON and XML success bodies to the same table", function()
    local j = assert(core.decode('{"RequestId":"R1","PageNum":"1","StreamUrls":{"StreamUrl":["a","b"]}}', "JSON"))
    local x = assert(core.decode("<?xml version='1.0' encoding='UTF-8'?><R><RequestId>R1</RequestId>"
      .. "<PageNum>1</PageNum><StreamUrls><StreamUrl>a</StreamUrl><StreamUrl>b</StreamUrl></StreamUrls></R>", "XML"))
    assert.same(j, x)
  end)

  it("decode XML errors to the same fields as JSON errors", function()
    local x = assert(core.decode("<Error><RequestId>R</RequestId><HostId>h</HostId><Code>Throttling.User</Code>"
      .. "<Message>a &amp; b &lt;c&gt; 中文</Message><Recommend>r</Recommend></Error>", "XML"))
    assert.same({ RequestId = "R", HostId = "h", Code = "Throttling.User",
                  Message = "a & b <c> 中文", Recommend = "r" }, x)
  end)

  it("keep empty elements as empty strings", function()
    local x = assert(core.decode("<R><RequestId>R</RequestId><Empty/></R>", "XML"))
    assert.equal("", x.Empty)
  end)

  it("report malformed XML with its line", function()
    local t, err = core.decode("<R>\n<RequestId>x</Request>\n</R>", "XML")
    assert.is_nil(t)
    assert.matches("malformed XML at line 2: mismatched tag", err)
    t, err = core.decode("", "XML")
    assert.is_nil(t)
    assert.matches("malformed XML", err)
    t, err = core.decode("<R>text only</R>", "XML")
    assert.is_nil(t)
    assert.matches("no fields", err)
  end)

  it("refuse DOCTYPEs (no entity expansion tricks)", function()
    local bomb = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><R><X>&b;</X></R>'
    local t, err = core.decode(bomb, "XML")
    assert.is_nil(t)
    assert.matches("DOCTYPE", err)
  end)

  it("bound nesting depth", function()
    local deep = ("<a>"):rep(100) .. ("</a>"):rep(100)
    local t, err = core.decode(deep, "XML")
    assert.is_nil(t)
    assert.matches("nested too deeply", err)
    t, err = core.decode(("["):rep(100) .. ("]"):rep(100), "JSON")
    assert.is_nil(t)
    assert.matches("malformed JSON", err)
  end)

  it("report malformed JSON, non-object JSON and invalid UTF-8", function()
    local t, err = core.decode("{", "JSON")
    assert.is_nil(t)
    assert.matches("malformed JSON", err)
    t, err = core.decode("[1,2]", "JSON")
    assert.is_nil(t)
    assert.matches("not an object", err)
    t, err = core.decode('{"RequestId":"\255"}', "JSON")
    assert.is_nil(t)
    assert.matches("invalid UTF%-8 in JSON body at byte 15", err)
  end)
end)
