-- The block list, page by page and all at once, in JSON and XML alike.
local live = require "aliyun.live"
local helpers = require "helpers"

describe("blocklist", function()
  local emu
  lazy_setup(function() emu = helpers.emulator("--qps 100000") end)
  lazy_teardown(function() emu:stop() end)
  before_each(function() helpers.reset(emu) end)

  local function client(fmt)
    return live.new { access_key_id = "testid", access_key_secret = "testsecret",
                      endpoint = emu.url, limiter = false, format = fmt }
  end

  for _, fmt in ipairs { "JSON", "XML" } do
    it("pages through every blocked stream (" .. fmt .. ")", function()
      local c = client(fmt)
      for i = 1, 7 do assert(c:forbid { domain = "d.com", app = "app", stream = "s" .. i }) end
      assert(c:forbid { domain = "other.com", app = "app", stream = "x" })
      local p = assert(c:blocklist { domain = "d.com", page = 2, page_size = 3 })
      assert.same({ "d.com/app/s4", "d.com/app/s5", "d.com/app/s6" }, p.streams)
      assert.equal(2, p.page)
      assert.equal(3, p.page_size)
      assert.equal(7, p.total)
      assert.equal(3, p.pages)
      if math.type then   -- integers, not 2.0 (which equals 2)
        for _, k in ipairs { "page", "page_size", "total", "pages" } do
          assert.equal("integer", math.type(p[k]), k)
        end
      end
      local last = assert(c:blocklist { domain = "d.com", page = 3, page_size = 3 })
      assert.same({ "d.com/app/s7" }, last.streams)     -- one item is still a list
      local all = {}
      for url, err in c:each_blocked { domain = "d.com", page_size = 2 } do
        assert.is_nil(err)
        all[#all + 1] = url
      end
      assert.equal(7, #all)
      assert.equal("d.com/app/s1", all[1])
      assert.equal("d.com/app/s7", all[7])
    end)
  end

  it("is empty for a domain with nothing blocked", function()
    local p = assert(client():blocklist { domain = "empty.com" })
    assert.same({}, p.streams)
    assert.equal(0, p.total)
    local n = 0
    for _ in client():each_blocked { domain = "empty.com" } do n = n + 1 end
    assert.equal(0, n)
  end)

  it("checks its arguments before sending", function()
    local c = client()
    local _, err = c:blocklist { domain = "d.com", page_size = 3001 }
    assert.equal("page_size", err.field)
    _, err = c:blocklist { domain = "d.com", page = 0 }
    assert.equal("page", err.field)
    assert.has_error(function() c:blocklist { domain = "d.com", page = "1" } end)
    assert.has_error(function() c:blocklist { domain = "d.com", size = 1 } end)
    assert.equal(0, helpers.stats(emu).requests)
  end)

  it("ends the loop with the error when a page fails", function()
    local c = live.new { access_key_id = "nobody", access_key_secret = "x", endpoint = emu.url,
                         limiter = false }
    local seen = {}
    for url, err in c:each_blocked { domain = "d.com" } do seen[#seen + 1] = { url, err } end
    assert.equal(1, #seen)
    assert.is_false(seen[1][1])
    assert.equal("InvalidAccessKeyId.NotFound", seen[1][2].code)
  end)
end)
