--- The request engine: one call, attempt after attempt — credentials, a limiter slot,
-- sign and send (the runtime's transport), parse (the core), decide (retry.lua) — the
-- same code for every transport. It does not know how bytes move or how time passes:
-- the runtime `rt` (see transport/curl.lua) does both. User hooks it calls (credential
-- providers, limiters, the logger) are checked where they are crossed: one that raises
-- or answers nonsense gives an error naming it, never a stuck or half-done call.
local compat = require "aliyun.live.compat"
local errors = require "aliyun.live.errors"
local redact = require "aliyun.live.redact"

local type, tostring, format, sub = type, tostring, string.format, string.sub
local check_text = require("aliyun.live.core").check_text
local pcall = compat.pcall

local _M = {}

local function log(c, level, fmt, ...)
  local logger = c.logger
  if logger then pcall(logger, level, format(fmt, ...)) end   -- logging never breaks a call
end
_M.log = log

------------------------------------------------------------------ credentials --

local function provider_name(p)
  return type(p.name) == "string" and p.name or tostring(p)
end

-- A credential value as it must be to go into a signature and a header.
local function bad_value(v, max, optional)
  if v == nil then return not optional and "is missing" or nil end
  if type(v) ~= "string" then return "is a " .. type(v) .. ", not a string" end
  if v == "" then return "is empty" end
  if #v > max then return "is longer than " .. max .. " bytes" end
  local problem = check_text(v)
  if problem then return problem == "utf8" and "is not valid UTF-8" or "has a control character" end
end

local function check_creds(p, creds)
  if type(creds) ~= "table" then
    return format("returned a %s from get() instead of a credentials table", type(creds))
  end
  local why = bad_value(creds.access_key_id, 1024)
  if why then return "returned an access_key_id that " .. why end
  why = bad_value(creds.access_key_secret, 1024)
  if why then return "returned an access_key_secret that " .. why end
  why = bad_value(creds.security_token, 16384, true)
  if why then return "returned a security_token that " .. why end
  if creds.expiration ~= nil and type(creds.expiration) ~= "number" then
    return "returned an expiration that is not a number"
  end
end

--- The provider's credentials, checked (once per credentials table) → creds | nil, err
function _M.credentials(c, rt)
  local p = c.provider
  local creds
  if p.fixed then
    creds = p.creds   -- what get() answers for fixed credentials (credentials.static)
  else
    local ok, err
    ok, creds, err = pcall(p.get, p, rt)
    if not ok then
      return nil, errors.new("SDK.CredentialsError", format("credentials provider '%s' raised: %s",
        provider_name(p), tostring(creds)))
    end
    if creds == nil then
      if type(err) == "table" and type(err.code) == "string" then return nil, errors.name(err) end
      return nil, errors.wrap(err or "no credentials", "SDK.MissingCredentials",
        "credentials provider '" .. provider_name(p) .. "'")
    end
  end
  if creds ~= c.checked_creds then
    local why = check_creds(p, creds)
    if why then
      return nil, errors.new("SDK.CredentialsError", format("credentials provider '%s' %s",
        provider_name(p), why))
    end
    c.checked_creds = creds
  end
  return creds
end

-- The quota key: the account's stable identity (the provider's, or the option
-- quota_key) and the Action — never a temporary AccessKeyId that changes at each
-- refresh, which would start a fresh budget every time.
local function quota_key(c, creds, action)
  if creds ~= c.key_creds then
    local p, id = c.provider, c.quota_key
    if not id and type(p.identity) == "function" then
      local ok, v = pcall(p.identity, p)
      if ok and type(v) == "string" and v ~= "" then id = v end
    end
    id = id or creds.access_key_id
    c.key_creds, c.key_base, c.keys = creds, sub(id, 1, 90) .. "/", {}
  end
  local k = c.keys[action]
  if not k then
    k = c.key_base .. sub(action, 1, 37)
    c.keys[action] = k
  end
  return k
end
_M.quota_key = quota_key

---------------------------------------------------------------------- limiter --

local function unavailable(msg)
  return errors.new("SDK.LimiterUnavailable", "rate limiter: " .. msg)
end

local function finite_wait(w) return type(w) == "number" and w >= 0 and w < 1e9 end

-- A limiter slot for key, waiting with the runtime. The slot is taken at the moment
-- the request can leave (try, then wait what the limiter says and try again), so the
-- store's log holds real send times: a sleep that overruns (a loaded machine, a timer
-- in nginx, a host polling at frame rate) can delay a request but never bunch it with
-- the next ones. A limiter without try is asked to reserve, then waited for.
--
-- Many requests waiting for one key (an async scheduler's, an nginx worker's) ask one
-- at a time: the runtime's gate (rt.gate → a place, or nil when it let this request
-- through without one) lines them up, the others wait without asking, so that a slot
-- costs one or two decisions, not one per request waiting (3,000 pending made 146,000
-- for 112 sent, and poll(0) took 0.8 s). When the limiter fails, the line is let go
-- (one store timeout after another would be worse); each asks, then lines up again.
local function try_slot(rt, lim, try, key)
  local gate, place = rt.gate, nil
  local cancelled = rt.cancelled
  while true do
    if gate and not place then place = gate(key) end
    if rt.wait_turn then rt.wait_turn() end
    if cancelled and cancelled() then   -- (its turn and place answer at once: it would ask
      if gate then rt.ungate(place, false) end   -- on and on)
      return nil, errors.new("SDK.Cancelled", "the request was cancelled")
    end
    local ok, a, b = pcall(try, lim, key, rt)   -- rt: an async runtime asks without blocking
    local err
    if not ok then
      err = unavailable("the limiter raised: " .. tostring(a))
    elseif a == true then
      if gate then rt.ungate(place, false) end
      return true
    elseif a == nil then
      err = errors.wrap(b, "SDK.LimiterUnavailable", "rate limiter")
    elseif a ~= false or not finite_wait(b) then
      err = unavailable("the limiter's try() answered neither true nor false, seconds")
    end
    if err then
      if gate then rt.ungate(place, true) end
      return nil, err
    end
    rt.sleep(b)
  end
end

local function take_slot(rt, lim, key)
  local try = lim.try_send or lim.try
  if type(try) == "function" then return try_slot(rt, lim, try, key) end
  if rt.cancelled and rt.cancelled() then   -- (reserving would take a slot it never uses)
    return nil, errors.new("SDK.Cancelled", "the request was cancelled")
  end
  local ok, wait, e = pcall(lim.reserve, lim, key)
  if not ok then return nil, unavailable("the limiter raised: " .. tostring(wait)) end
  if wait == nil then return nil, errors.wrap(e, "SDK.LimiterUnavailable", "rate limiter") end
  if not finite_wait(wait) then
    return nil, unavailable("the limiter's reserve() answered neither seconds nor nil, err")
  end
  if wait > 0 then rt.sleep(wait) end
  if rt.wait_turn then rt.wait_turn() end
  return true
end

local function feedback(lim, key, what)
  local f = lim.feedback
  if type(f) == "function" then pcall(f, lim, key, what) end
end

------------------------------------------------------------------------ run --

--- One operation → result, nil, attempts | nil, err. c: the client's configuration and state
-- (provider, limiter, retry, logger, quota_key); params: the operation's own.
function _M.run(c, rt, action, params)
  if rt.ready then   -- a runtime that cannot send from here says so before anything
    local ok, err = rt.ready()
    if not ok then
      err.attempts = 0
      return nil, err
    end
  end
  local started = rt.now()
  local attempt, refreshed = 0, false
  local retry, lim, cancelled = c.retry, c.limiter, rt.cancelled
  while true do
    if cancelled and cancelled() then   -- (cancelled during a backoff: no next attempt)
      return nil, errors.new("SDK.Cancelled", "the request was cancelled", { attempts = attempt })
    end
    attempt = attempt + 1
    local p, creds, err = c.provider, c.checked_creds
    if not (creds and p.fixed and p.creds == creds) then   -- else what _M.credentials
      creds, err = _M.credentials(c, rt)                   -- answers: fixed, checked
    end
    local key
    if creds then
      if lim then
        key = quota_key(c, creds, action)
        local _; _, err = take_slot(rt, lim, key)
      end
      if not err then
        if rt.wait_turn then rt.wait_turn() end   -- async: a transfer of its group's share
        local t0 = c.logger and rt.now()
        local res
        res, err = rt.rpc(action, params, creds)
        if res then
          if lim then feedback(lim, key, "ok") end
          if t0 then
            log(c, "debug", "%s attempt %d: OK RequestId=%s (%.1f ms)", action, attempt,
              tostring(res.request_id), (rt.now() - t0) * 1000)
          end
          return res, nil, attempt
        end
        errors.name(err)
      end
      c.last_creds = creds
    end
    -- Every error that leaves goes through redaction, whatever its path.
    redact.error(err, redact.forms(creds or c.last_creds))
    err.attempts = attempt
    local can_refresh = not refreshed and type(c.provider.invalidate) == "function"
    local wait, rule = retry:decide(attempt, err, rt.now() - started, not can_refresh)
    if rule and rule.throttled and key then feedback(lim, key, "throttled") end
    if wait and rule.retry == "refresh" then
      pcall(c.provider.invalidate, c.provider)
      refreshed = true
    end
    if not wait then
      log(c, "debug", "%s attempt %d: %s", action, attempt, tostring(err))
      return nil, err
    end
    log(c, "debug", "%s attempt %d: %s; retrying in %.3f s", action, attempt, tostring(err), wait)
    rt.sleep(wait)
  end
end


return _M
