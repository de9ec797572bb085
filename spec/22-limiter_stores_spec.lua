-- core.limiter's stores one by one (spec/20 has them across threads and processes and
-- through throttle.limiter): NUL bytes in names; the module's exported symbols.
local core = require "aliyun.live.core"
local throttle = require "aliyun.live.throttle"
local helpers = require "helpers"

local function unique(prefix)
  return ("%s_%d_%d"):format(prefix, math.floor(core.now() * 1000) % 100000000, math.random(1e6))
end

local function shm_file(name) return "/dev/shm/aliyun-live-" .. name end

local function build_dir()
  local path = assert(package.searchpath("aliyun.live.core", package.cpath))
  return (path:gsub("/aliyun/live/core%.so$", "")), path
end

-- Build a C test host (mk/limiter-tests.mk) for this build directory and Lua.
local function test_host(name)
  local build = build_dir()
  local bin = build .. "/spec/" .. name
  local lua = rawget(_G, "jit") and "LUA_VERSION=5.1 LUA_PC=luajit"
    or ("LUA_VERSION=%s"):format(_VERSION:match("%d+%.%d+"))
  local out, ok = helpers.run(("make --no-print-directory -s -f Makefile -f mk/limiter-tests.mk "
    .. "%s BUILD=%s %s 2>&1"):format(lua, helpers.sh_quote(build), helpers.sh_quote(bin)))
  assert(ok, "could not build " .. bin .. ":\n" .. out)
  return bin
end

-- Run a Lua chunk in a child process (package.cpath as ours); its output and success.
local function child(code, ...)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write("package.cpath = ", ("%q"):format(package.cpath), "\n", code)
  f:close()
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = helpers.sh_quote(a) end
  local out, ok = helpers.run(("%s %s %s 2>&1"):format(helpers.lua, file, table.concat(args, " ")))
  os.remove(file)
  return out, ok
end

-- wait within [want - slack, want] (+ eps): `slack` is the time the calls took.
local function within(want, w, slack, eps)
  eps = eps or 1e-9
  return w ~= nil and w >= want - slack - eps and w <= want + eps
end

------------------------------------------------------------------ NUL bytes ---

describe("embedded NUL bytes", function()
  it("are refused in the store and in option strings", function()
    os.remove(shm_file("nul"))
    local ok, err = pcall(core.limiter, "shm:nul\0b")
    assert.is_false(ok)
    assert.matches("bad argument #1 to '[^']*' %(store must not contain NUL bytes%)", err)
    assert.has_error(function() core.limiter("local\0") end)
    assert.has_error(function() core.limiter("redis://127.0.0.1:1\0/2") end)
    assert.has_error(function() throttle.limiter{ store = "shm:nul\0b" } end)
    assert.is_nil(io.open(shm_file("nul")))           -- shm:nul was never opened
    assert.has_error(function() core.limiter("shm:nul", { dir = "/tmp\0/x" }) end,
      "limiter option 'dir' must not contain NUL bytes")
    assert.is_nil(io.open(shm_file("nul")))
  end)
end)

------------------------------------------------------------------------ symbols ---

describe("the module's symbols", function()
  local function exported(so)
    local out, ok = helpers.run("nm -D --defined-only " .. helpers.sh_quote(so))
    assert(ok, out)
    local names = {}
    for name in out:gmatch("%x+ %a ([%w_]+)") do names[#names + 1] = name end
    return names
  end

  it("exports only luaopen_aliyun_live_core and holds no test hook", function()
    local _, so = build_dir()
    assert.same({ "luaopen_aliyun_live_core" }, exported(so))
    local all = helpers.run("nm " .. helpers.sh_quote(so))
    assert.is_nil(all:match("hold_lock"))
  end)

  it("even built as LuaRocks builds it (no -fvisibility=hidden)", function()
    local rs = assert(helpers.read_file(helpers.root .. "/aliyun-live-scm-1.rockspec"))
    local sources = rs:match('%["aliyun%.live%.core"%]%s*=%s*{%s*sources%s*=%s*(%b{})')
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    local objs, cflags = {}, helpers.run("pkg-config --cflags lua5.4 hiredis libcurl"):gsub("\n", " ")
    for src in sources:gmatch('"([^"]+%.c)"') do
      local obj = dir .. "/" .. src:gsub("/", "_") .. ".o"
      local out, ok = helpers.run(("cc -O0 -fPIC -D_POSIX_C_SOURCE=200809L -I%s/src %s -c %s/%s -o %s 2>&1")
        :format(helpers.root, cflags, helpers.root, src, obj))
      assert(ok, out)
      objs[#objs + 1] = obj
    end
    assert.is_true(#objs >= 10)
    local so = dir .. "/core.so"
    local out, ok = helpers.run(("cc -shared %s -lcurl -lcrypto -lexpat -lhiredis -lpthread -lm -o %s 2>&1")
      :format(table.concat(objs, " "), so))
    assert(ok, out)
    assert.same({ "luaopen_aliyun_live_core" }, exported(so))
    os.execute("rm -rf " .. dir)
  end)
end)
