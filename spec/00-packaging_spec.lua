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

local TMP = os.getenv("ALIYUN_LIVE_TEST_TMP") or "/tmp"
local q = helpers.sh_quote

-- A copy of the working tree without build/ and .git: what a user unpacks.
local function copy_tree()
  local dir = ("%s/tree-%d-%d"):format(TMP, os.time(), math.random(1e6))
  local out, ok = helpers.run(("mkdir -p %s && cd %s && tar --exclude=./build --exclude=./.git "
    .. "-cf - . | (cd %s && tar xf -)"):format(q(dir), q(root), q(dir)))
  assert(ok, out)
  return dir
end

-- A script that loads the installed module and signs the official v1 vector.
local PROBE = [[
  local live = require "aliyun.live"
  local c = live.new { access_key_id = "testid", access_key_secret = "testsecret", limiter = false }
  local p = c:presign("ResumeLiveStream", { AppName = "liveApp****", DomainName = "demo.aliyundoc.com",
    LiveStreamType = "publisher", StreamName = "liveStream****" },
    { timestamp = "2024-01-01T12:00:00Z", nonce = "1d2b7c3e-5f4a-4e6b-9c8d-0a1b2c3d4e5f", method = "GET" })
  local where   -- package.searchpath is 5.2+
  for t in package.cpath:gmatch("[^;]+") do
    local f = io.open((t:gsub("%?", "aliyun/live/core")), "rb")
    if f then f:close() where = where or t:gsub("%?", "aliyun/live/core") end
  end
  print(p.signature, where)
]]

local function probe(lua, tree, v)
  local out, ok = helpers.run(("cd / && env LUA_PATH='%s/share/lua/%s/?.lua;;' "
    .. "LUA_CPATH='%s/lib/lua/%s/?.so;;' %s -e %s 2>&1"):format(tree, v, tree, v, lua, q(PROBE)))
  assert.is_true(ok, out)
  assert.matches("whnq899vY8eJJ0WHHx9U/0VDP6k=\t" .. tree:gsub("%p", "%%%0") .. "/lib/lua/"
    .. v .. "/aliyun/live/core.so", out)
end

describe("rockspec", function()
  local spec = load_rockspec()

  it("builds with the project's Makefile and declares lua-cjson", function()
    assert.equal("make", spec.build.type)
    local deps = table.concat(spec.dependencies, " ")
    assert.matches("lua%-cjson", deps)
    assert.equal("bin/aliyun-live", spec.build.install.bin["aliyun-live"])
  end)

  it("make install puts every Lua module of lua/ and the core in place", function()
    local dest = ("%s/inst-%d"):format(TMP, math.random(1e6))
    local out, ok = helpers.run(("cd %s && make -s install INST_LIBDIR=%s/lib INST_LUADIR=%s/lua 2>&1")
      :format(q(root), q(dest), q(dest)))
    assert.is_true(ok, out)
    assert.same(ls(("cd %s/lua && find aliyun -name '*.lua' | sort"):format(q(root))),
      ls(("cd %s/lua && find aliyun -name '*.lua' | sort"):format(q(dest))))
    assert.truthy(helpers.read_file(dest .. "/lib/aliyun/live/core.so"))
    os.execute("rm -rf " .. q(dest))
  end)

  it("builds without hiredis when asked, and the redis:// store then says so", function()
    local build = ("%s/noredis-%d"):format(TMP, math.random(1e6))
    -- built for the Lua this spec runs on
    local lua = rawget(_G, "jit") and "LUA_VERSION=5.1 LUA_PC=luajit"
      or ("LUA_VERSION=%s"):format(_VERSION:match("%d+%.%d+"))
    local out, ok = helpers.run(("cd %s && make -s REDIS=0 %s BUILD=%s 2>&1"):format(q(root), lua, q(build)))
    assert.is_true(ok, out)
    out = helpers.run(("nm -u %s/aliyun/live/core.so | grep -c redis"):format(q(build)))
    assert.equal("0", out:match("%d+"))             -- hiredis is not even linked
    out, ok = helpers.run(("LUA_PATH='%s/lua/?.lua;;' LUA_CPATH='%s/?.so;;' %s -e %s 2>&1"):format(
      root, build, helpers.lua, q([[
        local lim, err = require("aliyun.live").limiter { store = "redis://127.0.0.1:6379" }
        print(lim, err.code, err.message)
      ]])))
    assert.is_true(ok, out)
    assert.matches("nil\tSDK%.LimiterUnavailable\t.*built without hiredis", out)
    os.execute("rm -rf " .. q(build))
  end)

  it("luarocks make builds out of the source tree a module and a command that work", function()
    local dir = copy_tree()
    local tree = dir .. "-rocks"
    local out, ok = helpers.run(("cd %s && luarocks --lua-version=5.4 make --deps-mode=none --tree=%s "
      .. "aliyun-live-scm-1.rockspec 2>&1"):format(q(dir), q(tree)))
    assert.is_true(ok, out)
    local objs = helpers.run(("cd %s && find src lua aliyun -name '*.o' -o -name '*.so' 2>/dev/null"):format(q(dir)))
    assert.equal("", objs)                        -- nothing built inside the sources
    -- a tree of its own: its paths as `luarocks path` gives them (the default trees
    -- need nothing)
    out, ok = helpers.run(("cd / && eval \"$(luarocks --lua-version=5.4 --tree=%s path)\" && "
      .. "%s/bin/aliyun-live --version"):format(q(tree), tree))
    assert.is_true(ok, out)
    assert.matches("^aliyun%-live %d", out)
    probe("lua5.4", tree, "5.4")
    os.execute(("rm -rf %s %s"):format(q(dir), q(tree)))
  end)
end)

-- The source rock, installed offline into a tree of each Lua the rock supports. Slow
-- (four builds): run by `make test` (ALIYUN_LIVE_TEST_ROCKS=1), not by every stage.
describe("the source rock", function()
  if os.getenv("ALIYUN_LIVE_TEST_ROCKS") ~= "1" then return end
  local rock

  lazy_setup(function()
    local out, ok = helpers.run(("cd %s && make -s rock 2>&1"):format(q(root)))
    assert(ok, out)
    rock = root .. "/build/aliyun-live-scm-1.src.rock"
  end)

  local LUAS = {
    { name = "Lua 5.1", v = "5.1", lua = "lua5.1" },
    { name = "Lua 5.3", v = "5.3", lua = "lua5.3" },
    { name = "Lua 5.4", v = "5.4", lua = "lua5.4" },
    { name = "LuaJIT", v = "5.1", lua = "luajit", config = [[
lua_interpreter = "luajit"
variables = { LUA_DIR = "/usr", LUA_BINDIR = "/usr/bin", LUA_INCDIR = "/usr/include/luajit-2.1",
              LUA_LIBDIR = "/usr/lib/x86_64-linux-gnu" }
]] },
  }
  for _, l in ipairs(LUAS) do
    it("installs offline and works on " .. l.name, function()
      local tree = ("%s/rock-%s-%d"):format(TMP, l.lua, math.random(1e6))
      local env = ""
      if l.config then
        local cfg = tree .. ".cfg.lua"
        local f = assert(io.open(cfg, "w"))
        f:write(l.config)
        f:close()
        env = "LUAROCKS_CONFIG=" .. q(cfg) .. " "
      end
      local out, ok = helpers.run(("cd %s && %sluarocks --lua-version=%s --tree=%s install "
        .. "--deps-mode=none %s 2>&1"):format(q(TMP), env, l.v, q(tree), q(rock)))
      assert.is_true(ok, out)
      probe(l.lua, tree, l.v)
      os.execute("rm -rf " .. q(tree))
    end)
  end
end)
