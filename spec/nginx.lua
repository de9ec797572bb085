-- A private nginx (Debian's nginx-light + its Lua module) for specs that run code inside
-- nginx: own prefix under the test temp dir, 127.0.0.1 on a free port with `reuseport`,
-- 2 workers, the checkout's lua/ and spec/ on lua_package_path and the LuaJIT build
-- (build/luajit, `make LUA_VERSION=5.1 LUA_PC=luajit LUA=luajit`) on lua_package_cpath.
--
--   local nginx = require "nginx"
--   local srv = nginx.start {
--     locations = [[ location = /x { content_by_lua_block { ngx.say("hi") } } ]],
--     shared_dicts = { aliyun_live = "1m" },
--     env = { "ALIYUN_LIVE_ENDPOINT", FOO = "bar" },   -- `env NAME;` / `env NAME=value;`
--     trusted_certificate = emu.ca_file,               -- lua_ssl_trusted_certificate
--   }
--   srv.url                      "http://127.0.0.1:PORT"
--   srv:get("/x")                status, body, headers text (curl)
--   srv:post("/x", body)         status, decoded body (or the raw body when not JSON)
--   srv:post_json("/x", t)       the same with t as JSON
--   srv:parallel(paths, opts)    many requests at once, results in input order
--   srv:error_log()              the error log so far
--   srv:stop()                   fast shutdown (also done at the end of the suite)
--
-- More options: http / server / main (raw snippets for those contexts), workers (2),
-- worker_connections (1024), verify_depth (lua_ssl_verify_depth, 3), log_level
-- ("notice"), socket_log_errors (lua_socket_log_errors, false).
-- Nothing here runs at require time, and nothing is required before start(): the
-- module is on nginx's own lua_package_path too.
local _M = {}

local CONF = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
@USER@
worker_processes @WORKERS@;
error_log "@DIR@/error.log" @LEVEL@;
@ENV@
@MAIN@
events { worker_connections @CONNECTIONS@; }
http {
    access_log off;
    server_tokens off;
    default_type text/plain;
    client_body_temp_path "@DIR@/tmp/body";
    proxy_temp_path "@DIR@/tmp/proxy";
    fastcgi_temp_path "@DIR@/tmp/fastcgi";
    uwsgi_temp_path "@DIR@/tmp/uwsgi";
    scgi_temp_path "@DIR@/tmp/scgi";
    # Request bodies stay in memory, for ngx.req.get_body_data().
    client_body_buffer_size 1m;
    client_max_body_size 1m;
    lua_package_path "@ROOT@/lua/?.lua;@ROOT@/lua/?/init.lua;@ROOT@/spec/?.lua;;";
    lua_package_cpath "@ROOT@/build/luajit/?.so;;";
    lua_socket_log_errors @SOCKLOG@;
@DICTS@
@TLS@
@HTTP@
    server {
        listen 127.0.0.1:@PORT@ reuseport;
        location = /ping { return 200 "pong\n"; }
        location = /__id { return 200 "@ID@"; }
@SERVER@
@LOCATIONS@
    }
}
]]

local function fill(template, vars)
  return (template:gsub("@(%u+)@", function(k)
    local v = vars[k]
    if v == nil then error("nginx.lua: no value for @" .. k .. "@") end
    return tostring(v)
  end))
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  return keys
end

local function env_lines(env)
  local out = {}
  for _, name in ipairs(env or {}) do out[#out + 1] = ("env %s;"):format(name) end
  for _, name in ipairs(sorted_keys(env or {})) do
    local v = tostring(env[name])
    assert(not v:find("[\"\\\n;]"), "env value of " .. name .. " needs quoting nginx cannot do")
    out[#out + 1] = ('env "%s=%s";'):format(name, v)
  end
  return table.concat(out, "\n")
end

local function dict_lines(dicts)
  local out = {}
  for _, name in ipairs(sorted_keys(dicts or {})) do
    out[#out + 1] = ("    lua_shared_dict %s %s;"):format(name, dicts[name])
  end
  return table.concat(out, "\n")
end

local Server = {}
Server.__index = Server

function Server:error_log()
  local helpers = require "helpers"
  return helpers.read_file(self.prefix .. "/error.log") or ""
end

-- The wrapper stops nginx; should nginx outlive it, its master and workers are killed.
function Server:stop()
  local helpers = require "helpers"
  if self.wrapper then self.wrapper:stop() end
  if self.master and helpers.alive(self.master) then
    local kids = helpers.run(("ps -o pid= --ppid %d"):format(self.master))
    os.execute(("kill -KILL %d %s 2>/dev/null"):format(self.master, (kids:gsub("%s+", " "))))
  end
  return true
end

-- GET through curl(1). extra: more curl arguments (a string).
function Server:get(path, extra)
  local helpers = require "helpers"
  return helpers.curl((extra or "") .. " " .. helpers.sh_quote(self.url .. path))
end

-- POST a body (a string); the answer decoded when it is JSON.
function Server:post(path, body, extra)
  local helpers = require "helpers"
  local cjson = require "cjson.safe"
  local status, out = helpers.curl(("%s --data-binary %s %s"):format(extra or "",
    helpers.sh_quote(body), helpers.sh_quote(self.url .. path)))
  local decoded = out and cjson.decode(out)
  return status, decoded or out
end

-- POST a table as JSON.
function Server:post_json(path, t, extra)
  local cjson = require "cjson.safe"
  return self:post(path, cjson.encode(t), "-H 'Content-Type: application/json' " .. (extra or ""))
end

-- Many requests at once (curl --parallel, one connection each, so that `reuseport`
-- spreads them over the workers). requests[i] is a path, or {path=, json=}; opts.max
-- (default: all at once), opts.timeout (seconds, default 30), opts.background (return
-- at once a handle whose :wait() gives the results). Results, in input order:
-- {status=, body=, json=} (status 0: no answer).
function Server:parallel(requests, opts)
  local helpers = require "helpers"
  local cjson = require "cjson.safe"
  opts = opts or {}
  self.seq = (self.seq or 0) + 1
  local dir = ("%s/parallel-%d"):format(self.prefix, self.seq)
  os.execute("mkdir -p " .. helpers.sh_quote(dir))
  local cfg = assert(io.open(dir .. "/curl.cfg", "w"))
  for i, r in ipairs(requests) do
    if type(r) == "string" then r = { path = r } end
    cfg:write(("next\nurl = %q\noutput = %q\n"):format(self.url .. r.path, ("%s/%d.out"):format(dir, i)))
    cfg:write('header = "Connection: close"\n')
    if r.json then
      local f = assert(io.open(("%s/%d.json"):format(dir, i), "w"))
      f:write(cjson.encode(r.json))
      f:close()
      cfg:write(('header = "Content-Type: application/json"\ndata-binary = "@%s/%d.json"\n')
        :format(dir, i))
    end
    cfg:write(('write-out = "%d %%{http_code}\\n"\n'):format(i))
  end
  cfg:close()
  local cmd = ("curl -s --parallel --parallel-immediate --parallel-max %d --max-time %d -K %s"):format(
    opts.max or #requests, opts.timeout or 30, helpers.sh_quote(dir .. "/curl.cfg")) .. " 2>/dev/null"
  local function collect(out)
    local results = {}
    for i in ipairs(requests) do results[i] = { status = 0 } end
    for i, code in out:gmatch("(%d+) (%d+)\n") do
      local r = results[tonumber(i)]
      r.status = tonumber(code)
      r.body = helpers.read_file(("%s/%d.out"):format(dir, i)) or ""
      r.json = cjson.decode(r.body)
    end
    return results
  end
  if not opts.background then return collect(helpers.run(cmd)) end
  local h = helpers.spawn("sh -c " .. helpers.sh_quote("echo started; " .. cmd .. "; echo finished"),
    "started")
  return {
    wait = function()
      local core = require "aliyun.live.core"
      local deadline = core.monotonic() + (opts.timeout or 30) + 5
      while not h.output():find("finished\n") and core.monotonic() < deadline do core.sleep(0.02) end
      h:stop()
      return collect(h.output())
    end,
  }
end

-- Start a private nginx; see the top of this file for opts. Raises with nginx's error
-- log when it does not come up.
function _M.start(opts)
  local helpers = require "helpers"
  local core = require "aliyun.live.core"
  opts = opts or {}
  local root = helpers.run("cd " .. helpers.sh_quote(helpers.root) .. " && pwd"):match("^(.-)\n?$")
  local tmp = os.getenv("ALIYUN_LIVE_TEST_TMP") or "/tmp"
  local tls = ""
  if opts.trusted_certificate then
    tls = ('    lua_ssl_trusted_certificate "%s";\n'):format(opts.trusted_certificate)
  end
  tls = tls .. ("    lua_ssl_verify_depth %d;"):format(opts.verify_depth or 3)
  local last
  for _ = 1, 5 do
    local id = ("nginx-%d-%06d"):format(os.time(), math.random(0, 999999))
    local dir = tmp .. "/" .. id
    local port = helpers.free_port()
    os.execute(("mkdir -p %s/tmp"):format(helpers.sh_quote(dir)))
    local conf = fill(CONF, {
      -- A root master would run its workers as "nobody", who cannot read the prefix.
      USER = core.getuid() == 0 and "user root;" or "",
      WORKERS = opts.workers or 2, DIR = dir, LEVEL = opts.log_level or "notice",
      ENV = env_lines(opts.env), MAIN = opts.main or "", CONNECTIONS = opts.worker_connections or 1024,
      ROOT = root, SOCKLOG = opts.socket_log_errors and "on" or "off",
      DICTS = dict_lines(opts.shared_dicts), TLS = tls, HTTP = opts.http or "",
      PORT = port, ID = id, SERVER = opts.server or "", LOCATIONS = opts.locations or "",
    })
    local f = assert(io.open(dir .. "/nginx.conf", "w"))
    f:write(conf)
    f:close()
    -- The wrapper: ready once nginx wrote its pid file (after binding) and the port
    -- answers; SIGTERM stops nginx (fast shutdown) and waits for it. LuaJIT in nginx
    -- must not see the host Lua's LUA_PATH/LUA_CPATH (a 5.4 core.so on its cpath).
    local script = ([[
env -u LUA_PATH -u LUA_CPATH -u LUA_INIT nginx -p "$D" -c "$D/nginx.conf" -e "$D/error.log" -g "daemon off; pid $D/nginx.pid;" </dev/null &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; exit 0' TERM INT
for i in $(seq 400); do
  kill -0 $pid 2>/dev/null || break
  if [ -s "$D/nginx.pid" ] && (echo >/dev/tcp/127.0.0.1/$P) 2>/dev/null; then echo "ready $pid"; break; fi
  sleep 0.025
done
wait $pid]]):gsub("%$D", dir):gsub("%$P", tostring(port))
    local ok, h = pcall(helpers.spawn, "bash -c " .. helpers.sh_quote(script), "ready (%d+)", 20)
    if ok then
      local srv = setmetatable({ wrapper = h, prefix = dir, port = port, id = id,
                                 url = "http://127.0.0.1:" .. port, master = tonumber(h.match) },
                               Server)
      local pids = os.getenv("ALIYUN_LIVE_TEST_PIDS")
      if pids then
        local pf = io.open(pids, "a")
        if pf then pf:write(srv.master, "\n") pf:close() end
      end
      -- With reuseport a second server of ours could share a port that looked free:
      -- every new connection must reach this one.
      local alone = true
      for _ = 1, 8 do
        local _, body = srv:get("/__id", "-H 'Connection: close'")
        if body ~= id then alone = false break end
      end
      if alone then return srv end
      srv:stop()
      last = "port " .. port .. " is shared with another server"
    else
      last = tostring(h) .. "\n" .. (helpers.read_file(dir .. "/error.log") or "")
      if not last:find("Address already in use", 1, true) then break end
    end
  end
  error("nginx did not start: " .. tostring(last))
end

---------------------------------------------------------- inside nginx --

-- Raw answers for client specs: `location ^~ /raw/ { content_by_lua_block {
-- require("nginx").raw_server() } }`. GET /raw/CASE gets the bytes of CASE below on
-- the raw connection, which stays open for further requests (each naming its case)
-- unless the case closes it. Every answer carries X-Conn: <connection>/<request on it>.
local RAW = {}
do
  local function answer(status, headers, body)
    return function(id)
      return status .. "\r\nX-Conn: " .. id .. "\r\n" .. headers .. "\r\n" .. (body or "")
    end
  end
  local function close(f) return function(id) return f(id), true end end
  RAW.ok11 = answer("HTTP/1.1 200 OK", "Content-Length: 2\r\n", "ok")
  RAW.ok10 = answer("HTTP/1.0 200 OK", "Content-Length: 2\r\n", "ok")
  RAW.ok10ka = answer("HTTP/1.0 200 OK", "Connection: keep-alive\r\nContent-Length: 2\r\n", "ok")
  RAW.close11 = answer("HTTP/1.1 200 OK", "Connection: close\r\nContent-Length: 2\r\n", "ok")
  RAW.chunked = answer("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\r\n",
    "5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nX-Trailer: y\r\n\r\n")
  RAW.interim = function(id)
    return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" .. RAW.ok11(id)
  end
  RAW.lf = function(id) return "HTTP/1.1 200 OK\nX-Conn: " .. id .. "\nContent-Length: 2\n\nok" end
  RAW.nocontent = answer("HTTP/1.1 204 No Content", "Content-Length: 10\r\n")
  RAW.notmodified = answer("HTTP/1.1 304 Not Modified", "Content-Length: 100\r\n")
  RAW.head = answer("HTTP/1.1 200 OK", "Content-Length: 1000\r\n")
  RAW.extra = answer("HTTP/1.1 200 OK", "Content-Length: 2\r\n", "okEXTRA")
  RAW.untilclose = close(answer("HTTP/1.1 200 OK", "", ("z"):rep(5000)))
  RAW.badstatus = close(answer("HTTP/1.1 abc OK", ""))
  RAW.garbage = close(function() return "hello world\r\n\r\n" end)
  RAW.badchunk = close(answer("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\r\n", "zz\r\n"))
  RAW.cutchunk = close(answer("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\r\n", "10\r\nabc"))
  RAW.twocl = close(answer("HTTP/1.1 200 OK", "Content-Length: 2\r\nContent-Length: 3\r\n", "ok"))
  RAW.badcl = close(answer("HTTP/1.1 200 OK", "Content-Length: -1\r\n", "ok"))
  RAW.cutlength = close(answer("HTTP/1.1 200 OK", "Content-Length: 100\r\n", "abc"))
  RAW.cuthead = close(function() return "HTTP/1.1 200 OK\r\nContent-Le" end)
  RAW.switching = close(answer("HTTP/1.1 101 Switching Protocols", "Upgrade: x\r\n"))
  RAW.bighead = close(answer("HTTP/1.1 200 OK", ("X-Big: " .. ("a"):rep(1000) .. "\r\n"):rep(70)))
end

function _M.raw_server()
  local ngx = ngx
  local sock = assert(ngx.req.socket(true))
  local case, n = ngx.var.uri:match("^/raw/(.*)$"), 1
  while true do
    local f = RAW[case]
    if not f then sock:send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n") return end
    local data, close = f(ngx.var.connection .. "/" .. n)
    sock:send(data)
    if close then return end
    sock:settimeout(5000)
    local head = sock:receiveuntil("\r\n\r\n")()
    if not head then return end
    case, n = head:match("^%u+ /raw/(%S*)"), n + 1
  end
end

return _M
