-- The redis:// limiter store inside nginx: the same decision as the C store (one
-- server-side script, the server's TIME) over cosockets, so that a worker never blocks
-- on Redis (hiredis would). throttle.lua picks it for redis:// specs inside nginx.
--
--   local redis = require "aliyun.live.ngx.redis"
--   local s = assert(redis.new("redis://:secret@127.0.0.1:6379/2", { timeout = 1 }))
--   local wait, outcome = s:take(key, interval, tau, count, window, reserve, max_wait)
--   -- seconds; outcome "granted" | "denied" | "too_long"; or nil, message
--
-- What the C store has, it borrows from the core rather than copies: the URL parser
-- (core.redis_url), the script and its SHA-1 (core.limiter_script), the ARGV of a
-- decision (core.redis_args) and the check of its reply, parsed by hiredis's own reader
-- (core.redis_check). Here: a small RESP client (connect, send, receive, each with
-- the store's timeout), a keep-alive pool per server, database, user and password,
-- AUTH and SELECT on each new connection, EVALSHA and, when the server forgot the
-- script (NOSCRIPT), EVAL. A failure closes the connection (a reply may be in flight)
-- and returns nil, message, naming the server but never the password. A host name is
-- resolved by nginx: it needs a `resolver` directive (an IP address does not).
local core = require "aliyun.live.core"

local ngx = ngx
local type, tostring, tonumber, setmetatable, pcall, error = type, tostring, tonumber, setmetatable,
  pcall, error
local concat, sub, format, find, gsub = table.concat, string.sub, string.format, string.find,
  string.gsub

local _M = {}

local POOL_SIZE = 32        -- idle connections kept per server and credentials, per worker
local IDLE = 60             -- s an idle connection is kept
local MAX_BULK = 65536      -- bytes: no reply of the script is larger
local MAX_ARRAY, MAX_DEPTH = 16, 4
local PREFIX = "aliyun-live:"

-- Phases in which cosockets work (as ngx/http.lua).
local COSOCKET_PHASES = { rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
                          ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true, preread = true }

local script, sha            -- from the core, on first use

local Store = {}
Store.__index = Store
Store.__tostring = function(self)
  if self.closed then return "aliyun.live.Limiter (closed)" end
  return "aliyun.live.Limiter (" .. self.name .. ")"
end

--- redis.new(url [, {timeout = seconds}]) → store | nil, message (raises on a malformed
-- URL, as core.limiter does). Nothing is connected before the first decision.
function _M.new(url, opts)
  if type(url) ~= "string" then error("aliyun.live.ngx.redis.new: the URL must be a string", 2) end
  if not script then
    local ok, a, b = pcall(core.limiter_script)
    if not ok then return nil, tostring(a) end   -- a core built without hiredis
    script, sha = a, b
  end
  local c = core.redis_url(url)
  local timeout = opts and opts.timeout or 1
  if type(timeout) ~= "number" or not (timeout > 0 and timeout <= 3600) then
    error("aliyun.live.ngx.redis.new: timeout must be seconds above 0 and at most 3600", 2)
  end
  if type(ngx) ~= "table" or type(ngx.socket) ~= "table" then
    return nil, "the nginx redis store runs only inside nginx (no ngx.socket)"
  end
  return setmetatable({
    host = c.host, port = c.port, db = c.db, user = c.user, password = c.password, name = c.name,
    timeout_ms = math.max(1, math.floor(timeout * 1000 + 0.5)),
    connect_host = find(c.host, ":", 1, true) and "[" .. c.host .. "]" or c.host,
    -- Connections differ by what AUTH and SELECT made of them.
    pool = format("aliyun-live-redis:%s:%d/%d:%s:%s", c.host, c.port, c.db, c.user,
      c.password ~= "" and ngx.md5(c.password) or ""),
  }, Store)
end

---------------------------------------------------------------- the wire --

-- What a server said may echo what it was sent (AUTH's password: shown as ***, also
-- when the message ends inside it) and any bytes (a control or non-ASCII byte becomes
-- '?', so the message stays one printable line), as src/limiter/redis_proto.c does.
local function fail(self, what, msg)
  msg = tostring(msg)
  local pw = self.password
  if pw ~= "" then
    local out, i = {}, 1
    while true do
      local a, b = find(msg, pw, i, true)
      if not a then break end
      out[#out + 1] = sub(msg, i, a - 1)
      out[#out + 1] = "***"
      i = b + 1
    end
    local rest = sub(msg, i)
    for k = math.min(#rest, #pw - 1), 4, -1 do   -- the message ends inside the password
      if sub(rest, -k) == sub(pw, 1, k) then rest = sub(rest, 1, -k - 1) .. "***" break end
    end
    out[#out + 1] = rest
    msg = concat(out)
  end
  msg = gsub(msg, "[%c\128-\255]", "?")
  if #msg > 120 then msg = sub(msg, 1, 120) end
  return format("redis %s:%d: %s%s%s", self.host, self.port, what, what ~= "" and ": " or "", msg)
end

local function command(args)
  local out = { "*", #args, "\r\n" }
  for i = 1, #args do
    local a = args[i]
    out[#out + 1] = "$"
    out[#out + 1] = #a
    out[#out + 1] = "\r\n"
    out[#out + 1] = a
    out[#out + 1] = "\r\n"
  end
  return concat(out)
end

-- One whole reply, as it came: its bytes go to `out`; → type char, first line | nil, err.
local function read_reply(sock, out, depth)
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  out[#out + 1] = line
  out[#out + 1] = "\r\n"
  local t = sub(line, 1, 1)
  if t == "+" or t == "-" or t == ":" then return t, line end
  local n = tonumber(sub(line, 2))
  if t == "$" and n and n >= -1 and n <= MAX_BULK and n % 1 == 0 then
    if n >= 0 then
      local data, e = sock:receive(n + 2)
      if not data then return nil, e end
      out[#out + 1] = data
    end
    return t, line
  end
  if t == "*" and n and n >= -1 and n <= MAX_ARRAY and n % 1 == 0 and depth < MAX_DEPTH then
    for _ = 1, n do
      local ok, e = read_reply(sock, out, depth + 1)
      if not ok then return nil, e end
    end
    return t, line
  end
  return nil, "protocol error (not a reply the script gives)"
end

-- A command and its reply → raw bytes, type, first line | nil, err.
local function exchange(sock, args)
  local ok, err = sock:send(command(args))
  if not ok then return nil, err end
  local out = {}
  local t, line = read_reply(sock, out, 0)
  if not t then return nil, line end
  return concat(out), t, line
end

-- A fresh connection says who it is and picks the database; a pooled one did.
local function setup(self, sock)
  if self.password ~= "" then
    local args = self.user ~= "" and { "AUTH", self.user, self.password } or { "AUTH", self.password }
    local raw, t, line = exchange(sock, args)
    if not raw then return nil, fail(self, "AUTH", t) end
    if t ~= "+" then return nil, fail(self, "AUTH", sub(line, 2)) end
  end
  if self.db ~= 0 then
    local raw, t, line = exchange(sock, { "SELECT", tostring(self.db) })
    if not raw then return nil, fail(self, "SELECT", t) end
    if t ~= "+" then return nil, fail(self, "SELECT", sub(line, 2)) end
  end
  return true
end

local function connect(self)
  local phase = ngx.get_phase()
  if not COSOCKET_PHASES[phase] then
    return nil, fail(self, "connect", format("cosockets are not available in nginx's %s phase", phase))
  end
  local sock = ngx.socket.tcp()
  sock:settimeouts(self.timeout_ms, self.timeout_ms, self.timeout_ms)
  local ok, err = sock:connect(self.connect_host, self.port, { pool = self.pool, pool_size = POOL_SIZE })
  if not ok then return nil, fail(self, "connect", err) end
  if sock:getreusedtimes() == 0 then
    ok, err = setup(self, sock)
    if not ok then
      sock:close()
      return nil, err
    end
  end
  return sock
end

---------------------------------------------------------------- decisions --

local function check_key(key, fn)
  if type(key) ~= "string" or #key < 1 or #key > 128 then
    error(format("bad argument #1 to '%s' (key must be 1 to 128 bytes)", fn), 3)
  end
end

--- s:take(key, interval, tau, count, window, reserve [, max_wait]) → wait, outcome | nil, message
-- Seconds in, seconds out, checked as the C store checks them.
function Store:take(key, interval, tau, count, window, reserve, max_wait)
  if self.closed then error("aliyun.live.ngx.redis: the limiter is closed", 2) end
  check_key(key, "take")
  local a1, a2, a3, a4, a5, a6 = core.redis_args(interval, tau, count, window, reserve, max_wait)
  local sock, err = connect(self)
  if not sock then return nil, err end
  local args = { "EVALSHA", sha, "1", PREFIX .. key, a1, a2, a3, a4, a5, a6 }
  local wait, outcome, kind
  for attempt = 1, 2 do
    local raw, e = exchange(sock, args)
    if not raw then
      sock:close()
      return nil, fail(self, "script", e)
    end
    wait, outcome, kind = core.redis_check(raw, interval, tau, count, window, reserve, max_wait)
    -- The server forgot the script (restart, SCRIPT FLUSH): send it in full once.
    if kind ~= "noscript" or attempt == 2 then break end
    args[1], args[2] = "EVAL", script
  end
  if kind == "reply" or kind == "noscript" then
    sock:close()                              -- not a server we understand
  else
    sock:setkeepalive(IDLE * 1000, POOL_SIZE)
  end
  if wait then return wait, outcome end
  if kind == "check" then return nil, self.name .. ": " .. outcome end
  return nil, fail(self, "", outcome)
end

--- s:reset(key) → true | nil, message: forget the key's state.
function Store:reset(key)
  if self.closed then error("aliyun.live.ngx.redis: the limiter is closed", 2) end
  check_key(key, "reset")
  local sock, err = connect(self)
  if not sock then return nil, err end
  local raw, t, line = exchange(sock, { "DEL", PREFIX .. key })
  if not raw then
    sock:close()
    return nil, fail(self, "DEL", t)
  end
  sock:setkeepalive(IDLE * 1000, POOL_SIZE)
  if t ~= ":" then return nil, fail(self, "DEL", sub(line, 2)) end
  return true
end

--- s:close(): the object is unusable after (pooled connections stay with nginx).
function Store:close() self.closed = true end

return _M
