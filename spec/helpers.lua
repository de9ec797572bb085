-- Test helpers: the servers a spec needs (emulator, Redis), started on free loopback
-- ports and stopped again; shared fixtures. Loaded by busted through .busted.
local core = require "aliyun.live.core"

local helpers = {}

helpers.root = os.getenv("ALIYUN_LIVE_ROOT") or "."
local tmpdir = os.getenv("ALIYUN_LIVE_TEST_TMP") or "/tmp"

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
helpers.sh_quote = sh_quote

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
helpers.read_file = read_file

-- The command for a child Lua that loads our module: it keeps the sanitizer runtime
-- preloaded into the Lua under test (make asan), which other children never inherit.
local preload = os.getenv("LD_PRELOAD")
helpers.lua = ((preload and preload ~= "") and ("env LD_PRELOAD=" .. sh_quote(preload) .. " ") or "")
  .. (os.getenv("LUA") or "lua5.4")

-- Children never inherit the sanitizer runtime preloaded into the Lua under test.
local function clean_env(cmd)
  return "env -u LD_PRELOAD " .. cmd
end

-- Run a shell command; return its stdout and whether it exited 0. (The status comes
-- back in the output because LuaJIT's pclose does not report it.)
function helpers.run(cmd)
  local p = assert(io.popen("unset LD_PRELOAD; { " .. cmd .. "\n}; echo \"__status=$?\"", "r"))
  local out = p:read("*a")
  p:close()
  local body, status = out:match("^(.-)__status=(%d+)\n?$")
  return body or out, status == "0"
end

local function alive(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  return stat ~= nil and not stat:match("^%d+ %b() [ZX]")
end
helpers.alive = alive

local spawned = {}
local seq = 0

-- Start `cmd` in the background (its stdout/stderr to files) and wait up to `timeout`
-- seconds for a stdout line matching `pattern`. Returns a handle with pid, the first
-- capture of the match, output(), and stop().
function helpers.spawn(cmd, pattern, timeout)
  seq = seq + 1
  local base = ("%s/proc-%d-%d"):format(tmpdir, math.floor(core.now() * 1000), seq)
  local out, err = base .. ".out", base .. ".err"
  local p = assert(io.popen(("sh -c %s >%s 2>%s </dev/null & echo $!")
    :format(sh_quote("exec " .. clean_env(cmd)), out, err)))
  local pid = tonumber(p:read("*l"))
  p:close()
  assert(pid, "could not start: " .. cmd)
  local h = { pid = pid, out = out, err = err }
  spawned[#spawned + 1] = h
  local pidlist = os.getenv("ALIYUN_LIVE_TEST_PIDS")
  if pidlist then
    local f = io.open(pidlist, "a")
    if f then f:write(pid, "\n") f:close() end
  end
  function h.output() return (read_file(out) or "") .. (read_file(err) or "") end
  function h.stop(_, sig)
    if not alive(pid) then return true end
    os.execute(("kill -%s %d 2>/dev/null"):format(sig or "TERM", pid))
    local deadline = core.monotonic() + 10
    while alive(pid) and core.monotonic() < deadline do core.sleep(0.02) end
    if alive(pid) then os.execute(("kill -KILL %d 2>/dev/null"):format(pid)) end
    return not alive(pid)
  end
  local deadline = core.monotonic() + (timeout or 15)
  while true do
    local text = read_file(out) or ""
    local cap = text:match(pattern)
    if cap then h.match = cap return h end
    if not alive(pid) or core.monotonic() > deadline then
      local why = h.output()
      h:stop()
      error(("%s did not become ready: %s"):format(cmd, why))
    end
    core.sleep(0.01)
  end
end

function helpers.stop_all()
  for _, h in ipairs(spawned) do h:stop() end
  spawned = {}
end

-- A private emulator; extra command-line arguments as a string.
-- Returns a handle with .url ("http://127.0.0.1:PORT") and :stop().
function helpers.emulator(args)
  local h = helpers.spawn(helpers.root .. "/emulator/run --port 0 " .. (args or ""),
    "listening on (https?://[%d%.]+:%d+)")
  h.url = h.match
  h.port = tonumber(h.url:match(":(%d+)$"))
  h.ca_file = (read_file(h.out) or ""):match("ca%-file: (%S+)")
  return h
end

-- A port that nothing listens on right now, below the kernel's ephemeral range: a port
-- in that range can become the local end of anyone's outgoing connection before the
-- spec binds it ("Address already in use" when a spec restarts a server on its port).
local ephemeral_low = tonumber((read_file("/proc/sys/net/ipv4/ip_local_port_range") or "")
  :match("^%s*(%d+)")) or 32768
local port_high = math.max(ephemeral_low - 1, 11024)
function helpers.free_port()
  for _ = 1, 100 do
    local port = math.random(10000, port_high)
    local _, ok = helpers.run(("bash -c 'echo > /dev/tcp/127.0.0.1/%d' 2>/dev/null"):format(port))
    if not ok then return port end
  end
  error("no free port found")
end

-- A forward HTTP proxy (nginx) on a free loopback port that logs every request line to
-- handle.log; handle.url is its address.
function helpers.proxy()
  local dir = ("%s/proxy-%d-%d"):format(tmpdir, os.time(), math.random(1e6))
  os.execute("mkdir -p " .. dir)
  local port = helpers.free_port()
  local conf = ([[
worker_processes 1;
error_log DIR/error.log warn;
events { worker_connections 64; }
http {
  log_format line '$request';
  access_log DIR/access.log line;
  client_body_temp_path DIR/body;
  proxy_temp_path DIR/tmp;
  fastcgi_temp_path DIR/fcgi;
  uwsgi_temp_path DIR/uwsgi;
  scgi_temp_path DIR/scgi;
  server {
    listen 127.0.0.1:PORT;
    location / { proxy_pass http://$http_host$request_uri; }
  }
}
]]):gsub("DIR", dir):gsub("PORT", tostring(port))
  local f = assert(io.open(dir .. "/nginx.conf", "w"))
  f:write(conf)
  f:close()
  -- bash: /dev/tcp for the readiness probe; the trap stops nginx with the wrapper.
  local h = helpers.spawn(("bash -c 'nginx -p %s -c %s/nginx.conf -e %s/error.log "
    .. "-g \"daemon off; pid %s/nginx.pid;\" & pid=$!; "
    .. "trap \"kill -TERM $pid; wait $pid; exit 0\" TERM INT; "
    .. "for i in $(seq 100); do (echo >/dev/tcp/127.0.0.1/%d) 2>/dev/null && echo ready && break; "
    .. "sleep 0.05; done; wait $pid'"):format(dir, dir, dir, dir, port), "ready")
  h.url = "http://127.0.0.1:" .. port
  h.log = dir .. "/access.log"
  return h
end

-- HTTP through curl(1), so tests can send requests our client would never build.
-- Returns status, body, headers text.
function helpers.curl(args)
  local out = helpers.run("curl -s -i --max-time 10 " .. args .. " 2>&1")
  local head, body = out:match("^(.-\r\n)\r\n(.*)$")
  local status = head and tonumber(head:match("^HTTP/[%d%.]+ (%d+)"))
  return status, body or out, head
end

-- Emulator control endpoints.
function helpers.control(emu, method, path, json)
  local args = ("-X %s %s"):format(method, sh_quote(emu.url .. path))
  if json then args = args .. " -H 'Content-Type: application/json' --data-binary " .. sh_quote(json) end
  local status, body = helpers.curl(args)
  local cjson = require "cjson"
  return status, (body and body:match("^%s*[{%[]")) and cjson.decode(body) or body
end

-- The last n RPC requests the emulator saw, oldest first.
function helpers.last_requests(emu, n)
  return select(2, helpers.control(emu, "GET", "/__emulator/requests?last=" .. (n or 1)))
end

function helpers.stats(emu) return select(2, helpers.control(emu, "GET", "/__emulator/stats")) end
function helpers.reset(emu) return helpers.control(emu, "POST", "/__emulator/reset", "{}") end
function helpers.fault(emu, spec)
  return helpers.control(emu, "POST", "/__emulator/faults", require("cjson").encode(spec))
end

-- The command-line tool from the checkout, and an `env` prefix that runs it with none of
-- the user's configuration (the CLI specs, spec/4x).
helpers.cli_bin = helpers.root .. "/bin/aliyun-live"
helpers.cli_clean_env = "env -u ALIYUN_LIVE_ENDPOINT -u ALIYUN_LIVE_LIMITER -u ALIBABA_CLOUD_PROFILE"
  .. " -u ALIBABA_CLOUD_CONFIG_FILE -u ALIBABA_CLOUD_CREDENTIALS_FILE"
  .. " -u ALIBABA_CLOUD_ECS_METADATA -u ALIBABA_CLOUD_SECURITY_TOKEN"
  .. " -u ALIBABA_CLOUD_REGION_ID -u ALIBABA_CLOUD_STS_ENDPOINT -u ALIBABA_CLOUD_ROLE_ARN"
  .. " -u ALIBABA_CLOUD_OIDC_PROVIDER_ARN -u ALIBABA_CLOUD_OIDC_TOKEN_FILE"
  .. " -u ALIBABA_CLOUD_CREDENTIALS_URI"

-- A client of the emulator at `url` with the test account, no limiter and no retries;
-- `extra` overrides, and a value of helpers.UNSET leaves that option out.
helpers.UNSET = setmetatable({}, { __tostring = function() return "helpers.UNSET" end })
function helpers.client(url, extra)
  local opts = { access_key_id = "testid", access_key_secret = "testsecret",
                 endpoint = url, limiter = false, retry = false }
  for k, v in pairs(extra or {}) do
    if v == helpers.UNSET then opts[k] = nil else opts[k] = v end
  end
  return require("aliyun.live").new(opts)
end

-- The directory the module was loaded from (build/<lua>/) and the module's path.
function helpers.build_dir()
  local path = assert(package.searchpath("aliyun.live.core", package.cpath))
  return (path:gsub("/aliyun/live/core%.so$", "")), path
end

-- A C test host (mk/limiter-tests.mk) built for this build directory, linking the Lua
-- this spec runs on.
function helpers.test_host(name)
  local build = helpers.build_dir()
  local bin = build .. "/spec/" .. name
  local lua = rawget(_G, "jit") and "LUA_VERSION=5.1 LUA_PC=luajit"
    or ("LUA_VERSION=%s"):format(_VERSION:match("%d+%.%d+"))
  local out, ok = helpers.run(("make --no-print-directory -s -f Makefile -f mk/limiter-tests.mk "
    .. "%s BUILD=%s %s 2>&1"):format(lua, sh_quote(build), sh_quote(bin)))
  assert(ok, "could not build " .. bin .. ":\n" .. out)
  return bin
end

math.randomseed(os.time() + math.floor(core.monotonic() * 1e6) % 1000000)


-- A private redis-server on a free loopback port, no persistence; ready when it logs
-- "Ready to accept connections" (at notice level). opts: port (default a free one),
-- args (extra arguments).
-- Returns a handle with .port, .url ("redis://127.0.0.1:PORT") and :stop().
function helpers.redis_server(opts)
  opts = opts or {}
  for _ = 1, 5 do
    local port = opts.port or helpers.free_port()
    local ok, h = pcall(helpers.spawn, ("redis-server --bind 127.0.0.1 --port %d --save '' "
      .. "--appendonly no --protected-mode yes --loglevel notice --dir %s %s")
      :format(port, tmpdir, opts.args or ""), "Ready to accept connections", 10)
    if ok then
      h.port = port
      h.url = ("redis://127.0.0.1:%d"):format(port)
      return h
    end
    if opts.port or not tostring(h):match("Address already in use") then error(h) end
  end
  error("could not start redis-server")
end

-- How much slower than native this Lua runs the module: under AddressSanitizer (make
-- asan) about 10 times, under valgrind (make valgrind) about 50 — for specs that bound
-- how much work a call may do. Under valgrind, threads also take turns on one lock, so
-- a call that starts a thread (glibc's resolver) gives up the CPU as if it waited.
helpers.valgrind = (os.getenv("LD_PRELOAD") or ""):find("vgpreload") ~= nil
helpers.slowdown = (helpers.valgrind and 50) or (os.getenv("ASAN_OPTIONS") and 10) or 1

local ok, busted = pcall(require, "busted")
if ok and busted.subscribe then
  busted.subscribe({ "suite", "end" }, function() helpers.stop_all() return nil, true end)
end

return helpers
