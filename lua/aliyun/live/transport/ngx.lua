--- The cosocket transport: how bytes move inside nginx (OpenResty). Every send is a
-- non-blocking cosocket exchange (ngx/http.lua) and every wait is ngx.sleep, so a
-- request handler never blocks its worker. Signing and parsing are the same C code as
-- the libcurl transport's (core.signer, core.answer); failures carry the same kinds.
-- See transport/curl.lua for what a runtime provides.
local core = require "aliyun.live.core"
local errors = require "aliyun.live.errors"
local http = require "aliyun.live.ngx.http"

local type, pairs, tostring, tonumber, match, format = type, pairs, tostring, tonumber, string.match, string.format
local ngx = ngx

local _M = {}

-- A worker's requests waiting for one quota key ask the limiter one at a time, in
-- order (engine.try_slot): a line per key, shared by the worker's clients, as a
-- semaphore of one (FIFO). A request waits in line at most GATE_WAIT seconds, then asks
-- anyway: a holder whose light thread was killed never gives its place back.
local semaphore   -- ngx.semaphore, loaded at the first use (this file loads outside nginx)
local gates = {}
local GATE_WAIT = 5

local function gate(key)
  local sema = gates[key]
  if not sema then
    semaphore = semaphore or require "ngx.semaphore"
    sema = semaphore.new(1)
    gates[key] = sema
  end
  if sema:wait(GATE_WAIT) then return sema end
  -- Nobody gave the place back for GATE_WAIT (its holder's light thread may have been
  -- killed): this request asks on its own, and a new line starts for the next ones.
  if gates[key] == sema then gates[key] = nil end
end

-- Give the place back; when the limiter failed, let the whole line ask at once (on a
-- line of its own: the old one is forgotten).
local function ungate(sema, failed)
  if not sema then return end
  local n = 1
  if failed then
    local waiting = -sema:count()
    if waiting > 0 then n = n + waiting end
    for key, s in pairs(gates) do
      if s == sema then gates[key] = nil end
    end
  end
  sema:post(n)
end

-- nginx's timers count whole milliseconds and ngx.sleep rounds down: a wait of 0.4 ms
-- became sleep(0), and a request denied its slot by less than a millisecond asked again
-- and again until the time came (60 decisions per request sent). Waits round up.
local ngx_sleep, ceil = ngx.sleep, math.ceil
local function sleep(sec) return ngx_sleep(ceil(sec * 1000) / 1000) end

local CAPTURE = { "x-acs-retry-after", "x-acs-request-id" }

local function failure(kind, message, answered)
  return errors.name(core.error(errors.KIND_CODES[kind] or "SDK.TransportError",
    tostring(message), { kind = kind, answered = answered == true }))
end

-- The cosocket phases only: elsewhere a call fails at once, naming the phase.
local function ready()
  local ok, phase = http.available()
  if ok then return true end
  return nil, errors.new("SDK.NoCosockets", format("aliyun.live cannot send from nginx's %s "
    .. "phase (no cosockets there): call it from a rewrite, access or content handler, or "
    .. "from a timer started with ngx.timer.at(0, fn)", tostring(phase)))
end

--- The runtime of a client configured by cfg (options.lua), signing with `signer`.
function _M.runtime(cfg, signer)
  local connect_timeout = cfg.connect_timeout_ms / 1000
  local timeout = cfg.timeout_ms / 1000
  local rt = { name = "ngx", yields = true, sleep = sleep,
               now = core.monotonic, ready = ready, gate = gate, ungate = ungate }

  -- One exchange with a URL the signer (or a provider) built.
  local function send(method, url, headers, body, deadline, no_proxy)
    local scheme, host, port, path = match(url, "^(https?)://([^/:%[]+):?(%d*)(/.*)$")
    if not scheme then
      scheme, host, port, path = match(url, "^(https?)://%[([^%]]+)%]:?(%d*)(/.*)$")
    end
    if not scheme then return nil, failure("request", "not an http(s) URL") end
    headers["User-Agent"] = headers["User-Agent"] or cfg.user_agent
    local status, h, b, answered = http.request {
      scheme = scheme, host = host, port = tonumber(port),
      method = method, path = path, headers = headers, body = body,
      connect_timeout = connect_timeout, send_timeout = timeout, read_timeout = timeout,
      deadline = deadline or timeout, max_body = cfg.max_body, verify = cfg.verify,
      server_name = not match(host, "^[%d%.]+$") and not match(host, ":") and host or nil,
    }
    if not status then return nil, failure(h, b, answered) end
    return status, h, b
  end

  function rt.rpc(action, params, creds, sgn)
    local s = sgn or signer
    local method, url, headers, body = s:sign(action, params, creds.access_key_id,
      creds.access_key_secret, creds.security_token)
    if not method then return nil, url end
    local status, h, b = send(method, url, headers, body ~= "" and body or nil)
    if not status then return nil, h end
    local captured = {}
    for i = 1, #CAPTURE do captured[CAPTURE[i]] = h[CAPTURE[i]] end
    return core.answer(status, b, h["content-type"], sgn and "JSON" or cfg.format, captured)
  end

  function rt.http(req)
    local headers = {}
    for k, v in pairs(req.headers or {}) do headers[k] = v end
    local status, h, b = send(req.method or "GET", req.url, headers, req.body,
      req.timeout_ms and req.timeout_ms / 1000)
    if not status then return nil, h end
    return status, b, h["content-type"] or ""
  end

  return rt
end

return _M
