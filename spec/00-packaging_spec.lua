-- The rock: the rockspec lists every source and module, and `luarocks make` builds and
-- installs a working module from the checkout.
local helpers = require "helpers"

local root = helpers.root
local rockspec_path = root .. "/aliyun-live-scm-1.rockspec"

local function load_rockspec()
  local env = {}
  local text = assert(helpers.read_file(rockspec_path))
  local chunk
  if setfenv then   -- Lua 5.1 / LuaJIT: load takes no string and no environment
    chunk = assert(loadstring(text, "rockspec"))
    setfenv(chunk, env)
  else
    chunk = assert(load(text, "rockspec", "t", env))
  end
  chunk()
  return env
end

local function ls(cmd)
  local set = {}
  for line in helpers.run(cmd):gmatch("[^\n]+") do set[line] = true end
  return set
end

describe("rockspec", function()
  local spec = load_rockspec()

  it("builds every C source of src/ into aliyun.live.core", function()
    local listed = {}
    for _, f in ipairs(spec.build.modules["aliyun.live.core"].sources) do listed[f] = true end
    assert.same(ls(("cd %s && ls src/*.c src/*/*.c"):format(root)), listed)
  end)

  it("installs every Lua module of lua/", function()
    local listed = {}
    for name, path in pairs(spec.build.modules) do
      if type(path) == "string" then
        listed[path] = true
        assert.equal(path, "lua/" .. name:gsub("%.", "/") .. ".lua")
      end
    end
    assert.same(ls(("cd %s && find lua -name '*.lua' | sort"):format(root)), listed)
  end)

  it("installs the command", function()
    assert.equal("bin/aliyun-live", spec.build.install.bin["aliyun-live"])
  end)

  it("luarocks make builds a module that works", function()
    local tree = ("%s/rocktree-%d"):format(os.getenv("ALIYUN_LIVE_TEST_TMP") or "/tmp", os.time())
    local out, ok = helpers.run(("cd %s && luarocks --lua-version=5.4 make --tree=%s "
      .. "aliyun-live-scm-1.rockspec 2>&1"):format(root, tree))
    assert.is_true(ok, out)
    local probe = [[
      local live = require "aliyun.live"
      local c = live.new { access_key_id = "testid", access_key_secret = "testsecret", limiter = false }
      local p = c:presign("ResumeLiveStream", { AppName = "liveApp****", DomainName = "demo.aliyundoc.com",
        LiveStreamType = "publisher", StreamName = "liveStream****" },
        { timestamp = "2024-01-01T12:00:00Z", nonce = "1d2b7c3e-5f4a-4e6b-9c8d-0a1b2c3d4e5f", method = "GET" })
      print(p.signature, package.searchpath("aliyun.live.core", package.cpath))
    ]]
    out, ok = helpers.run(("cd / && env -u LUA_PATH -u LUA_CPATH %s/bin/aliyun-live --version && "
      .. "env LUA_PATH='%s/share/lua/5.4/?.lua;;' LUA_CPATH='%s/lib/lua/5.4/?.so;;' lua5.4 -e %s 2>&1")
      :format(tree, tree, tree, helpers.sh_quote(probe)))
    assert.is_true(ok, out)
    assert.matches("^aliyun%-live %d", out)
    assert.matches("whnq899vY8eJJ0WHHx9U/0VDP6k=\t" .. tree:gsub("%p", "%%%0") .. "/lib/lua/5.4/aliyun/live/core.so", out)
    os.execute("rm -rf " .. tree)
  end)
end)
