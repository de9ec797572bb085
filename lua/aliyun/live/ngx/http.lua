-- A small HTTP/1.1 client on nginx cosockets (ngx.socket.tcp): the OpenResty transport.
-- Non-blocking inside a request handler or a timer; the same failure kinds as the
-- libcurl transport (src/transport/http.h), so one engine maps both to SDK.* codes.
--
--   local http = require "aliyun.live.ngx.http"
--   local status, headers, body = http.request { scheme = "https", host = "…", path = "/?…" }
--   -- or nil, kind, message, answered
--
-- kind: connect (nothing sent), timeout, tls, too_big, send, recv (broke or closed before
-- a complete answer), partial (body cut short), protocol (malformed HTTP), other (bad
-- input, no cosockets in this phase). answered: a response byte arrived (the server may
-- have acted). Messages name scheme, host and port, never the path or query (secrets).
--
-- TLS: sslhandshake with verification on by default against nginx's
-- lua_ssl_trusted_certificate (and lua_ssl_verify_depth, whose default 1 is too short
-- for most public chains). nginx checks DNS names only: for an endpoint given as an IP
-- address, pass server_name (a DNS name of the certificate) or verify = false. Idle
-- connections are pooled by scheme, host, port, verify and server_name (or `pool`):
-- locations with different lua_ssl_* settings should not share a pool name.
local _M = {}

local ngx = ngx
local type, tostring, tonumber, pairs, ipairs, pcall, error = type, tostring, tonumber, pairs, ipairs, pcall, error
local concat, sort = table.concat, table.sort
local find, sub, lower, format, match, gmatch, byte = string.find, string.sub, string.lower, string.format,
  string.match, string.gmatch, string.byte
local ceil, min, max = math.ceil, math.min, math.max

local DEFAULT = { connect_timeout = 60, send_timeout = 60, read_timeout = 60, max_body = 1048576,
                  max_header = 65536, keepalive_timeout = 60, pool_size = 30 }
local MAX_1XX = 16            -- interim answers skipped before one that counts
local STALE_RETRIES = 2       -- fresh attempts after a pooled connection died unused

-- Phases in which cosockets work (ngx.get_phase names).
local COSOCKET_PHASES = { rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
                          ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true, preread = true }

--- http.available() → true | false, phase: can this code use cosockets now?
function _M.available()
  if type(ngx) ~= "table" or type(ngx.get_phase) ~= "function" then return false, "none" end
  local phase = ngx.get_phase()
  if COSOCKET_PHASES[phase] then return true end
  return false, phase
end

local function phase_message(phase)
  if phase == "none" then return "not running inside nginx (no ngx.socket.tcp)" end
  return format("cosockets are not available in nginx's %s phase: send from a rewrite, "
    .. "access or content handler, or from a timer (ngx.timer.at(0, fn))", phase)
end

local response = require "aliyun.live.ngx.response"
local clock, to_ms, arm = response.clock, response.to_ms, response.arm
local read_head, read_body, has_token = response.read_head, response.read_body, response.has_token

---------------------------------------------------------------- options --

-- Raised at the caller of request().
local function argerror(msg) error("aliyun.live.ngx.http.request: " .. msg, 4) end

local function positive(v, zero) return type(v) == "number" and v == v and (v > 0 or zero and v == 0) and v <= 1e9 end
local function integer(v, lo, hi) return type(v) == "number" and v % 1 == 0 and v >= lo and v <= hi end

-- Each option's check: a type name or a function; what it says when the value fails.
local OPTIONS = {
  scheme = { function(v) return v == "http" or v == "https" end, 'must be "http" or "https"' },
  port = { function(v) return integer(v, 1, 65535) end, "must be an integer from 1 to 65535" },
  headers = { "table" }, verify = { "boolean" }, max_body = { function(v) return positive(v, true) end,
    "must be a non-negative number of bytes" }, max_header = { positive, "must be a positive number of bytes" },
  keepalive = { function(v)
    return v == false or type(v) == "table" and (v.timeout == nil or positive(v.timeout, true))
      and (v.pool_size == nil or integer(v.pool_size, 1, 1e6))
  end, "must be false or {timeout = seconds (0: no limit), pool_size = a positive integer}" },
  ca_file = { function() return false end, "cannot be honoured by cosockets: nginx verifies against the "
    .. "CAs of its lua_ssl_trusted_certificate directive" },
}
for _, k in ipairs { "host", "method", "path", "body", "server_name", "pool" } do OPTIONS[k] = { "string" } end
for _, k in ipairs { "connect_timeout", "send_timeout", "read_timeout", "deadline" } do
  OPTIONS[k] = { positive, "must be a positive number of seconds" }
end

local function check_opts(opts)
  if type(opts) ~= "table" then argerror("expects a table of options") end
  for k, v in pairs(opts) do
    local c = OPTIONS[k]
    if not c then argerror(format("unknown option '%s'", tostring(k))) end
    if type(c[1]) == "string" and type(v) ~= c[1] or type(c[1]) == "function" and not c[1](v) then
      argerror(format("'%s' %s", k, c[2] or "must be a " .. c[1]))
    end
  end
  if opts.host == nil then argerror("'host' must be a string") end
  local ka, o = opts.keepalive or {}, {}
  for k in pairs(OPTIONS) do o[k] = opts[k] end
  for k, v in pairs(DEFAULT) do if o[k] == nil then o[k] = v end end
  o.verify, o.keepalive = opts.verify ~= false, opts.keepalive ~= false
  o.scheme, o.method, o.path = opts.scheme or "http", opts.method or "GET", opts.path or "/"
  o.port = opts.port or (o.scheme == "https" and 443 or 80)
  o.deadline = opts.deadline
  o.keepalive_timeout, o.pool_size = ka.timeout or DEFAULT.keepalive_timeout, ka.pool_size or DEFAULT.pool_size
  return o
end

---------------------------------------------------------------- request --

local TOKEN = response.TOKEN

-- The request bytes, or nil, message (bad values: refused before anything is sent).
local function build(o)
  if o.host == "" or find(o.host, "[%c%s/?#@]") then return nil, "the host name is empty or malformed" end
  if not match(o.method, TOKEN) then return nil, "the method is not an HTTP token" end
  if sub(o.path, 1, 1) ~= "/" or find(o.path, "[%c ]") then
    return nil, "the path must start with '/' and hold no spaces or control characters"
  end
  local out, seen = { o.method, " ", o.path, " HTTP/1.1\r\n" }, {}
  local function add(name, value)
    if type(name) ~= "string" or not match(name, TOKEN) then
      return format("header name %q is not an HTTP token", tostring(name))
    end
    local tv = type(value)
    if tv == "number" then value = tostring(value)
    elseif tv ~= "string" then
      error(format("aliyun.live.ngx.http.request: header '%s' must be a string or a number", name), 4)
    end
    if find(value, "[\r\n%z]") then
      return format("header %s holds CR, LF or NUL (refused: it would split the request)", name)
    end
    local l = lower(name)
    if l == "transfer-encoding" then return "Transfer-Encoding is not supported (bodies go with Content-Length)" end
    if l == "content-length" and value ~= tostring(#(o.body or "")) then
      return "header Content-Length does not match the body"
    end
    seen[l] = value
    out[#out + 1] = name .. ": " .. value .. "\r\n"
  end
  local h, list = o.headers or {}, {}
  if h[1] ~= nil then
    list = h
  else                                      -- a map: sorted, so requests are reproducible
    for name, value in pairs(h) do list[#list + 1] = { name, value } end
    sort(list, function(x, y) return tostring(x[1]) < tostring(y[1]) end)
  end
  for i, pair in ipairs(list) do
    if type(pair) ~= "table" then
      error(format("aliyun.live.ngx.http.request: headers[%d] must be a {name, value} pair", i), 3)
    end
    local err = add(pair[1], pair[2])
    if err then return nil, err end
  end
  if not seen.host then
    local host = find(o.host, ":", 1, true) and "[" .. o.host .. "]" or o.host
    local default = (o.scheme == "https" and 443 or 80) == o.port
    out[#out + 1] = "Host: " .. (default and host or host .. ":" .. o.port) .. "\r\n"
  end
  local m = o.method
  if o.body or m == "POST" or m == "PUT" or m == "PATCH" then
    if not seen["content-length"] then out[#out + 1] = "Content-Length: " .. #(o.body or "") .. "\r\n" end
  end
  o.close = not o.keepalive or (seen.connection ~= nil and find(lower(seen.connection), "close", 1, true) ~= nil)
  if not o.keepalive and not seen.connection then out[#out + 1] = "Connection: close\r\n" end
  out[#out + 1] = "\r\n"
  out[#out + 1] = o.body
  return concat(out)
end

---------------------------------------------------------------- exchange --

local function where(o) return format("%s://%s:%d", o.scheme, o.host, o.port) end

-- A failed read or write as nil, kind, message, answered (the socket is closed).
local function fail(st, stage, reason, detail)
  st.sock:close()
  local o, kind, msg = st.o, reason, detail
  if reason == "timeout" then
    msg = st.late and format("the %gs deadline passed (%s)", o.deadline, stage)
      or format("no progress for %gs (%s)", stage == "sending" and o.send_timeout
        or (stage:find("^reading") and o.read_timeout or o.connect_timeout), stage)
  elseif reason == "too_big" then
    msg = stage == "reading the body" and format("the body is larger than %d bytes", o.max_body)
      or format("the response head is larger than %d bytes", o.max_header)
  elseif reason == "protocol" then
    msg = detail or "malformed response"
  elseif reason == "closed" and stage == "reading the body" then
    kind, msg = "partial", "the connection closed before the end of the body"
  else
    kind = stage == "sending" and "send" or "recv"
    msg = reason == "closed" and "the connection closed before a complete response"
      or format("the connection broke while %s: %s", stage, tostring(reason))
    -- A pooled connection the server had closed: try again on a fresh one.
    if st.reused > 0 and not st.answered then st.stale = true end
  end
  return nil, kind, format("%s from %s: %s", kind, where(o), msg), st.answered, st.stale
end

-- The reason of a handshake failure that lua-resty-core raised on (see below) instead of
-- returning: the cosocket keeps it, and resty.core has declared the function.
local function handshake_error(sock)
  local ok, msg = pcall(function()
    local ffi, base = require "ffi", require "resty.core.base"
    local errmsg, code = base.get_errmsg_ptr(), ffi.new("int[1]")
    if ffi.C.ngx_http_lua_ffi_socket_tcp_get_sslhandshake_result(base.get_request(), sock[1],
        ffi.new("void *[1]"), errmsg, code) ~= base.FFI_OK then
      return ffi.string(errmsg[0])
    end
  end)
  return ok and msg or "certificate verification failed"
end

local function exchange(o, req, deadline)
  local sock = ngx.socket.tcp()
  local st = { o = o, sock = sock, buf = "", pos = 1, answered = false, deadline = deadline, reused = 0 }
  if not arm(st, o.connect_timeout) then return fail(st, "connecting", "timeout") end
  local host = find(o.host, ":", 1, true) and "[" .. o.host .. "]" or o.host
  local ok, err = sock:connect(host, o.port, { pool = o.pool, pool_size = o.pool_size })
  if not ok then
    if err == "timeout" then return fail(st, "connecting", "timeout") end
    sock:close()
    return nil, "connect", format("connect to %s failed: %s", where(o), tostring(err)), false
  end
  st.reused = sock:getreusedtimes() or 0
  if o.scheme == "https" and st.reused == 0 then
    if not arm(st, o.connect_timeout) then return fail(st, "in the TLS handshake", "timeout") end
    -- pcall: lua-resty-core 0.1.25 asserts (raises) when a handshake that completed at
    -- once fails verification. Never `false` as the session: that path drops the error.
    local pok, sess, herr = pcall(sock.sslhandshake, sock, nil, o.server_name or o.host, o.verify)
    if not pok or not sess then
      if pok and herr == "timeout" then return fail(st, "in the TLS handshake", "timeout") end
      herr = pok and tostring(herr) or handshake_error(sock)
      sock:close()
      if find(herr, "host mismatch", 1, true) and match(o.host, "^[%d.]+$") and not o.server_name then
        herr = herr .. " (nginx checks DNS names only: set server_name)"
      end
      return nil, "tls", format("TLS handshake with %s failed: %s", where(o), herr), false
    end
  end
  if not arm(st, o.send_timeout) then return fail(st, "sending", "timeout") end
  ok, err = sock:send(req)
  if not ok then return fail(st, "sending", err) end

  local status, major, minor, head
  for _ = 1, MAX_1XX do
    status, major, minor, head = read_head(st)
    if not status then return fail(st, "reading the response head", major, minor) end
    if status == 101 then return fail(st, "reading the response head", "protocol", "unexpected 101 answer") end
    if status >= 200 then break end
  end
  if status < 200 then return fail(st, "reading the response head", "protocol", "too many 1xx answers") end
  local no_body = o.method == "HEAD" or status == 204 or status == 304
  local body, framed, detail = read_body(st, head, no_body)
  if not body then return fail(st, "reading the body", framed, detail) end
  local conn = head.connection
  local keep = framed and not o.close and st.pos > #st.buf
    and ((major == 1 and minor >= 1 and not has_token(conn, "close")) or has_token(conn, "keep-alive"))
  if not (keep and sock:setkeepalive(o.keepalive_timeout * 1000, o.pool_size)) then sock:close() end
  return status, head, body
end

--- http.request(opts) → status, headers, body | nil, kind, message, answered
function _M.request(opts)
  local o = check_opts(opts)
  local can, phase = _M.available()
  if not can then return nil, "other", phase_message(phase), false end
  local req, err = build(o)
  if not req then return nil, "other", err, false end
  o.pool = opts.pool or format("%s:%s:%d:%s:%s", o.scheme, o.host, o.port,
    o.verify and "verify" or "noverify", o.server_name or "")
  local deadline = o.deadline and clock() + o.deadline
  local a, b, c, d, stale
  for _ = 0, STALE_RETRIES do
    a, b, c, d, stale = exchange(o, req, deadline)
    if not stale then break end
  end
  return a, b, c, d
end

return _M
