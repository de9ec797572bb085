-- The RPC API on "/": one request through the service's checks, in this order:
--   parameters readable (no duplicates) -> common fields present -> timestamp format
--   and skew -> AccessKeyId known and active -> SecurityToken -> signature -> nonce
--   unused -> action known for the version -> throttling -> injected faults ->
--   the operation's own checks -> the operation.
-- Anonymous actions (AssumeRoleWithOIDC) skip the key, token, signature and nonce
-- checks (a Timestamp, when sent, is still checked) and act for the default account.
-- Throttling and statistics count per account: "<permanent AccessKeyId>/<Action>".
-- Every request is counted in the statistics and the request log, whatever its fate.
local request = require "emulator.request"
local sig_v1 = require "emulator.sig_v1"
local sig_v3 = require "emulator.sig_v3"
local errors = require "emulator.errors"
local response = require "emulator.response"
local clock = require "emulator.clock"
local config = require "emulator.config"
local keys = require "emulator.keys"
local nonces = require "emulator.nonces"
local throttle = require "emulator.throttle"
local faults = require "emulator.faults"
local stats = require "emulator.stats"
local reqlog = require "emulator.reqlog"
local crypto = require "emulator.crypto"
local live = require "emulator.live"
local sts = require "emulator.sts"

local M = {}

local SKEW = 15 * 60   -- seconds a request timestamp may differ from the server clock

-- Version -> Action -> handler(params, ctx) returning a document or nil, error.
local ACTIONS = {
  ["2016-11-01"] = {
    ResumeLiveStream = live.ResumeLiveStream,
    ForbidLiveStream = live.ForbidLiveStream,
    DescribeLiveStreamsBlockList = live.DescribeLiveStreamsBlockList,
  },
  ["2015-04-01"] = {
    AssumeRole = sts.AssumeRole,
    AssumeRoleWithOIDC = sts.AssumeRoleWithOIDC,
  },
}

local HOSTS = { ["2015-04-01"] = "sts.aliyuncs.com" }
local DEFAULT_HOST = "live.aliyuncs.com"

local function check_timestamp(value)
  local ts = clock.parse_iso(value)
  if not ts then
    return errors.new(400, "InvalidTimeStamp.Format",
      "Specified time stamp or date value is not well formatted.")
  end
  local now = clock.now()
  if math.abs(ts - now) > SKEW then
    return errors.new(400, "InvalidTimeStamp.Expired",
      ("Specified time stamp or date value is expired: it must be within 15 minutes of the server time %s.")
        :format(clock.format_iso(now)))
  end
  return nil
end

local function throttled(account, action, t_us)
  local ok, wait_ms = throttle.admit(account .. "/" .. action, t_us, config.qps)
  if ok then return nil end
  return errors.new(config.throttle_status, "Throttling.User",
    "Request was denied due to user flow control.",
    { ["x-acs-retry-after"] = tostring(wait_ms) })
end

-- An anonymous request: parameters, Format, a Timestamp if one was sent, throttling
-- on the default account.
local function admit_anonymous(r, t_us)
  if r.format_invalid then
    return nil, errors.invalid_parameter("Format", 'Use "JSON" or "XML".')
  end
  local ts = r.params.Timestamp or r.headers["x-acs-date"]
  if ts ~= nil then
    local err = check_timestamp(ts)
    if err then return nil, err end
  end
  local owner = keys.default_owner()
  local err = throttled(owner, r.claimed_action, t_us)
  if err then return nil, err end
  local id = { action = r.claimed_action, version = r.claimed_version }
  return ACTIONS[id.version][id.action], id, keys.lookup(owner)
end

-- Everything up to the operation. Returns the handler, the identity and the key, or
-- nil and an error. `t_us` is the arrival time used for throttling.
local function admit(r, t_us)
  if r.duplicate then
    return nil, errors.invalid_parameter(r.duplicate, "It was given more than once.")
  end
  if r.anonymous then return admit_anonymous(r, t_us) end

  local id, err
  if r.style == "v3" then id, err = sig_v3.common(r) else id, err = sig_v1.common(r) end
  if not id then return nil, err end

  err = check_timestamp(id.timestamp)
  if err then return nil, err end

  local key = keys.lookup(id.key_id)
  if not key then
    return nil, errors.new(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
  end
  if key.active == false then
    return nil, errors.new(400, "InvalidAccessKeyId.Inactive", "Specified access key is disabled.")
  end

  err = keys.check_token(key, id.token, clock.now())
  if err then return nil, err end

  if r.style == "v3" then err = sig_v3.verify(r, id, key.secret) else err = sig_v1.verify(r, key.secret) end
  if err then return nil, err end

  if not nonces.use(id.key_id, id.nonce, t_us) then
    return nil, errors.new(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
  end

  local handler = ACTIONS[id.version] and ACTIONS[id.version][id.action]
  if not handler then
    return nil, errors.new(404, "InvalidAction.NotFound",
      "Specified api is not found, please check your url and method.")
  end

  err = throttled(key.owner, id.action, t_us)
  if err then return nil, err end
  return handler, id, key
end

-- The statistics key of a request, from what it claims (before any check).
local function stats_key(r)
  if not r.claimed_action then return nil end
  if r.anonymous then return keys.default_owner() .. "/" .. r.claimed_action end
  if not r.claimed_key then return nil end
  return keys.account_of(r.claimed_key) .. "/" .. r.claimed_action
end

function M.handle()
  local r = request.read()
  -- Arrival time taken after the body is read: from here to the throttling decision
  -- nothing yields, so arrivals are logged in order.
  local t_us = clock.mono_us()
  local request_id = crypto.uuid()

  stats.count_request()
  local skey = stats_key(r)
  if skey then stats.arrival(skey, t_us) end

  local entry = {
    time = clock.format_iso(clock.now()), method = r.method, signature_version = r.style,
    action = r.claimed_action, access_key_id = r.claimed_key, format = r.format,
    params = reqlog.mask(r.params), request_id = request_id,
  }
  if r.style == "v3" then
    entry.nonce = r.headers["x-acs-signature-nonce"]
    local h = {}
    for name, v in pairs(r.headers) do
      if name:find("^x%-acs%-") then h[name] = v end
    end
    entry.headers = reqlog.mask(h)
    -- Keep who signed what, hide only the signature itself.
    entry.headers.authorization = (r.headers["authorization"] or ""):gsub("Signature=[^,%s]*", "Signature=***")
  else
    entry.nonce = r.params.SignatureNonce
  end
  entry.version = r.claimed_version

  local function finish(status, code)
    entry.status, entry.code = status, code
    stats.outcome(code)
    reqlog.add(entry)
  end

  local host_id = HOSTS[entry.version] or DEFAULT_HOST

  if r.method ~= "GET" and r.method ~= "POST" then
    local err = errors.new(405, "UnsupportedHTTPMethod",
      "The HTTP method " .. r.method .. " is not supported: use GET or POST.")
    finish(err.status, err.code)
    return response.api_error(r.format, err, request_id, host_id)
  end

  local handler, id, key = admit(r, t_us)
  if not handler then
    local err = id
    finish(err.status, err.code)
    return response.api_error(r.format, err, request_id, host_id)
  end

  local fault = faults.take(id.action)
  if fault then
    if fault.delay and fault.delay > 0 then ngx.sleep(fault.delay) end
    if fault.kind == "close" then
      finish(444, fault.code or "ConnectionClosed")
      return ngx.exit(444)   -- nginx closes the connection without a response
    elseif fault.kind == "error" then
      local headers
      if fault.retry_after then
        headers = { ["x-acs-retry-after"] = tostring(math.floor(fault.retry_after)) }
      end
      local err = errors.new(fault.status, fault.code, fault.message, headers)
      finish(err.status, err.code)
      return response.api_error(r.format, err, request_id, host_id)
    end
    -- kind "delay": the request now runs normally.
  end

  local ctx = { request_id = request_id, owner = key.owner, key = key }
  local doc, err = handler(r.params, ctx)
  if not doc then
    finish(err.status, err.code)
    return response.api_error(r.format, err, request_id, host_id)
  end
  finish(200, "OK")
  return response.api_success(r.format, id.action, request_id, doc)
end

return M
