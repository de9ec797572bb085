-- Percent-encoding and text checks of the C core (shared/api/live-api.md §3).
local core = require "aliyun.live.core"

describe("core.pct", function()
  it("keeps exactly the RFC 3986 unreserved characters", function()
    local keep = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
    assert.equal(keep, core.pct(keep))
  end)

  it("encodes every other byte as %XX with upper-case hex", function()
    for b = 0, 255 do
      local c = string.char(b)
      if not c:match("[%w%-_%.~]") then
        assert.equal(("%%%02X"):format(b), core.pct(c))
      end
    end
  end)

  it("encodes space as %20 (never +), * as %2A, and leaves ~ alone", function()
    assert.equal("a%20b", core.pct("a b"))
    assert.equal("%2A", core.pct("*"))
    assert.equal("~", core.pct("~"))
    assert.equal("%2B", core.pct("+"))
  end)

  it("encodes the reserved and sub-delimiter characters", function()
    assert.equal("%2F%26%3D%25%2B%21%27%28%29", core.pct("/&=%+!'()"))
  end)

  it("encodes UTF-8 byte by byte", function()
    assert.equal("%E4%B8%AD%E6%96%87", core.pct("中文"))
    assert.equal("%F0%9F%98%80", core.pct("😀"))
  end)

  it("handles empty strings and embedded NULs", function()
    assert.equal("", core.pct(""))
    assert.equal("a%00b", core.pct("a\0b"))
  end)

  it("encodes long strings (buffer growth)", function()
    local s = ("/"):rep(100000)
    assert.equal(("%2F"):rep(100000), core.pct(s))
  end)
end)

describe("core.check_text", function()
  it("accepts ASCII, CJK, emoji and symbols", function()
    assert.is_nil(core.check_text("room 42/&=%+~*!'()"))
    assert.is_nil(core.check_text("中文直播"))
    assert.is_nil(core.check_text("😀🎮"))
  end)

  it("reports control characters with their byte offset", function()
    assert.same({ "control", 3 }, { core.check_text("ab\ncd") })
    assert.same({ "control", 1 }, { core.check_text("\0") })
    assert.same({ "control", 2 }, { core.check_text("a\127") })
    assert.same({ "control", 2 }, { core.check_text("a\194\133") })   -- U+0085 (C1)
  end)

  it("allows control characters when asked", function()
    assert.is_nil(core.check_text("a\nb", true))
  end)

  it("rejects invalid UTF-8", function()
    local bad = {
      "\255", "\192\175",          -- invalid byte, overlong '/'
      "\224\128\175",              -- overlong 3-byte
      "\237\160\128",              -- surrogate U+D800
      "\244\144\128\128",          -- past U+10FFFF
      "\228\184",                  -- truncated
      "a\128",                     -- stray continuation
    }
    for _, s in ipairs(bad) do
      local problem = core.check_text(s)
      assert.equal("utf8", problem, ("%q"):format(s))
    end
  end)

  it("counts code points", function()
    assert.equal(2, core.utf8_len("中文"))
    assert.equal(1, core.utf8_len("😀"))
    assert.equal(5, core.utf8_len("hello"))
  end)
end)

describe("core.timestamp", function()
  it("formats UTC as YYYY-MM-DDThh:mm:ssZ", function()
    assert.equal("2024-01-01T12:00:00Z", core.timestamp(1704110400))
    assert.equal("1970-01-01T00:00:00Z", core.timestamp(0))
    assert.equal("2024-01-01T12:00:00Z", core.timestamp(1704110400.9))
  end)
end)
