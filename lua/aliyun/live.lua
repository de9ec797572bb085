--- aliyun.live — ApsaraVideo Live stream control (ResumeLiveStream and friends).
--
--   local live = require "aliyun.live"
--   local client = live.new{ access_key_id = "…", access_key_secret = "…" }
--   local res, err = client:resume{ domain = "demo.aliyundoc.com", app = "liveApp",
--                                   stream = "room42" }
--
-- This layer decides policy — defaults, validation, credentials, throttling, retries —
-- and leaves signing, HTTP and parsing to the C core (aliyun.live.core).
--
-- Error convention: wrong argument types (including a missing field) raise; bad values
-- and runtime failures return `nil, err`, where err has `code`, `message`,
-- `request_id` (when the server gave one), `http_status` (when there was a response),
-- `retryable`, `attempts`, and prints as one line without secrets.
local core = require "aliyun.live.core"
local credentials = require "aliyun.live.credentials"
local retry = require "aliyun.live.retry"

local type, pairs, ipairs, tostring, error, setmetatable =
  type, pairs, ipairs, tostring, error, setmetatable
local format, find, gsub, sub = string.format, string.find, string.gsub, string.sub
local check_text, utf8_len, new_error = core.check_text, core.utf8_len, core.error
local monotonic, getenv = core.monotonic, os.getenv

local _M = { _VERSION = core._VERSION }

local DEFAULT_ENDPOINT = "https://live.aliyuncs.com"
local API_VERSION = "2016-11-01"
local QUOTA = 30   -- calls per second per account and operation (ResumeLiveStream)

-- Regions that some official SDK versions send to the Singapore endpoint; every other
-- region is served by the central one (shared/api/live-api.md §5).
local REGION_ENDPOINTS = {
  ["us-east-1"] = "https://live.ap-southeast-1.aliyuncs.com",
  ["us-west-1"] = "https://live.ap-southeast-1.aliyuncs.com",
  ["eu-west-1"] = "https://live.ap-southeast-1.aliyuncs.com",
  ["me-east-1"] = "https://live.ap-southeast-1.aliyuncs.com",
  ["ap-southeast-2"] = "https://live.ap-southeast-1.aliyuncs.com",
  ["ap-southeast-3"] = "https://live.ap-southeast-1.aliyuncs.com",
}

local METHODS = { GET = 1, POST = 1 }
local SIGNATURES = { v1 = 1, v3 = 1 }
local FORMATS = { JSON = 1, XML = 1 }

---------------------------------------------------------------------- validation --

local function argerror(fn, msg, level)
  error(format("aliyun.live.%s: %s", fn, msg), (level or 2) + 1)
end

local function invalid(field, msg)
  local err = new_error("SDK.InvalidParameter", format("'%s' %s", field, msg))
  err.field = field
  return err
end

-- Options/fields table: a table whose keys are all known. Raises otherwise.
local function check_fields(fn, what, t, known)
  if type(t) ~= "table" then
    argerror(fn, format("expects a table of %s, got %s", what, type(t)), 3)
  end
  for k in pairs(t) do
    if not known[k] then argerror(fn, format("unknown %s '%s'", sub(what, 1, -2), tostring(k)), 3) end
  end
end

-- A text value: type errors raise; bad values return nil, err.
local function check_string(fn, field, v, max_chars)
  if type(v) ~= "string" then
    argerror(fn, format("'%s' must be a string, got %s", field, type(v)), 3)
  end
  if v == "" then return nil, invalid(field, "must not be empty") end
  local problem, at = check_text(v)
  if problem == "utf8" then
    return nil, invalid(field, format("is not valid UTF-8 (byte %d)", at))
  elseif problem == "control" then
    return nil, invalid(field, format("contains a control character (byte %d)", at))
  end
  if max_chars and utf8_len(v) > max_chars then
    return nil, invalid(field, format("is longer than %d characters", max_chars))
  end
  return v
end

local MAX_NAME = 255     -- AppName and StreamName, in characters
local MAX_DOMAIN = 253   -- a DNS name

local function check_domain(fn, v)
  local d, err = check_string(fn, "domain", v, MAX_DOMAIN)
  if not d then return nil, err end
  -- Letters, digits, '-', '_' and dots; non-ASCII bytes allow internationalised names.
  local bad = find(d, "[^%w%.%-_\128-\255]")
  if bad or find(d, "^%.") or find(d, "%.%.") then
    return nil, invalid("domain", format("is not a domain name (byte %d)", bad or 1))
  end
  return d
end

local function check_name(fn, field, v)
  return check_string(fn, field, v, MAX_NAME)
end

local function check_enum(fn, field, v, allowed)
  if v == nil then return nil end
  if type(v) ~= "string" or not allowed[v] then
    local names = {}
    for k in pairs(allowed) do names[#names + 1] = format("%q", k) end
    table.sort(names)
    argerror(fn, format("'%s' must be one of %s", field, table.concat(names, ", ")), 3)
  end
  return v
end

-- "scheme://host[:port]" → base URL, Host header value (as libcurl sends it).
local function parse_endpoint(url)
  if type(url) ~= "string" then argerror("new", "'endpoint' must be a string", 3) end
  local scheme, rest = url:match("^(https?)://(.+)$")
  if not scheme then
    argerror("new", "'endpoint' must start with http:// or https://", 3)
  end
  rest = gsub(rest, "/$", "")
  local host, port
  if sub(rest, 1, 1) == "[" then
    host, port = rest:match("^(%[[%x:%.]+%])(.*)$")
  else
    host, port = rest:match("^([%w%.%-_]+)(.*)$")
  end
  local p = port and port:match("^:(%d+)$")
  if not host or (port ~= "" and not p) or (p and (tonumber(p) < 1 or tonumber(p) > 65535)) then
    argerror("new", "'endpoint' must be scheme://host[:port], without path, query or user", 3)
  end
  local default_port = scheme == "https" and "443" or "80"
  local hosthdr = (p and p ~= default_port) and host .. port or host
  return scheme .. "://" .. host .. port, hosthdr
end

---------------------------------------------------------------------- secrets --

-- Servers echo their string to sign (SecurityToken included) in SignatureDoesNotMatch;
-- keep secrets, raw or percent-encoded (once or twice), out of every error field.
local function redact_string(s, secrets)
  for _, secret in ipairs(secrets) do
    if find(s, secret, 1, true) then
      s = gsub(s, gsub(secret, "[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"), "***")
    end
  end
  return s
end

local function secret_forms(creds)
  local forms = {}
  for _, s in ipairs { creds.access_key_secret, creds.security_token } do
    if s and #s >= 4 then
      local once = core.pct(s)
      forms[#forms + 1] = core.pct(once)   -- longest first
      forms[#forms + 1] = once
      forms[#forms + 1] = s
    end
  end
  return forms
end

local MAX_REDACT_DEPTH = 70   -- deeper than any decoded body (the parsers stop at 64)

local function redact_table(t, secrets, depth)
  for k, v in pairs(t) do
    if type(v) == "string" then
      t[k] = redact_string(v, secrets)
    elseif type(v) == "table" and depth < MAX_REDACT_DEPTH then
      redact_table(v, secrets, depth + 1)
    end
  end
end

-- Every string of the error, however deep in the decoded body (err.data) it sits.
local function redact(err, creds)
  local secrets = secret_forms(creds)
  if secrets[1] then redact_table(err, secrets, 0) end
  return err
end

---------------------------------------------------------------------- client --

local Client = {}
local client_mt = {
  __index = Client,
  __name = "aliyun.live.Client",
}

local OPTIONS = {
  access_key_id = "string", access_key_secret = "string", security_token = "string",
  credentials = "table", endpoint = "string", region = "string", signature = "string",
  format = "string", method = "string", timeout = "number", connect_timeout = "number",
  retry = "table|false", limiter = "table|false", max_body = "number", verify = "boolean",
  ca_file = "string", proxy = "string", user_agent = "string", logger = "function",
}

local function check_option_types(opts)
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if not want then argerror("new", format("unknown option '%s'", tostring(k)), 3) end
    local t = type(v)
    if not (t == want or (want == "table|false" and (t == "table" or v == false))) then
      argerror("new", format("option '%s' must be a %s, got %s", k,
        (gsub(want, "|", " or ")), t), 3)
    end
  end
end

local function positive(name, v, default)
  if v == nil then return default end
  if not (v > 0) or v == math.huge then
    argerror("new", format("option '%s' must be a positive number", name), 3)
  end
  return v
end

local default_limiter

local function shared_limiter()
  if not default_limiter then
    default_limiter = require("aliyun.live.throttle").limiter { rate = QUOTA, store = "process" }
  end
  return default_limiter
end

--- live.new(opts) → client. See README for every option.
function _M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then argerror("new", "expects a table of options") end
  check_option_types(opts)

  local provider = opts.credentials
  if provider ~= nil then
    if type(provider.get) ~= "function" then
      argerror("new", "option 'credentials' must be a provider (an object with get())")
    end
    if opts.access_key_id or opts.access_key_secret or opts.security_token then
      argerror("new", "give either 'credentials' or access_key_id/access_key_secret, not both")
    end
  elseif opts.access_key_id or opts.access_key_secret then
    if not (opts.access_key_id and opts.access_key_secret) then
      argerror("new", "'access_key_id' and 'access_key_secret' go together")
    end
    provider = credentials.static(opts.access_key_id, opts.access_key_secret,
      opts.security_token)
  elseif opts.security_token then
    argerror("new", "'security_token' needs 'access_key_id' and 'access_key_secret'")
  else
    provider = credentials.default()
  end

  local endpoint = opts.endpoint
  if not endpoint and opts.region then
    if not opts.region:match("^[a-z]+%-[a-z0-9%-]+$") then
      argerror("new", "option 'region' is not a region id such as 'cn-shanghai'")
    end
    endpoint = REGION_ENDPOINTS[opts.region]
  end
  local base, host = parse_endpoint(endpoint or DEFAULT_ENDPOINT)

  local signature = check_enum("new", "signature", opts.signature, SIGNATURES) or "v1"
  local fmt = check_enum("new", "format", opts.format, FORMATS) or "JSON"
  local method = check_enum("new", "method", opts.method, METHODS) or "POST"
  local timeout = positive("timeout", opts.timeout, 10)
  local connect_timeout = positive("connect_timeout", opts.connect_timeout, 5)
  local max_body = positive("max_body", opts.max_body, 1024 * 1024)

  local limiter = opts.limiter
  if limiter == nil then
    limiter = shared_limiter()
  elseif limiter and type(limiter.acquire) ~= "function" then
    argerror("new", "option 'limiter' must be a limiter (live.limiter{…}) or false")
  end

  local self = setmetatable({
    endpoint = base,
    signature = signature,
    format = fmt,
    provider = provider,
    limiter = limiter or nil,
    retry = retry.new(opts.retry),
    logger = opts.logger,
    keys = {},
  }, client_mt)
  self.core = core.client {
    endpoint = base, host = host, version = API_VERSION, format = fmt, method = method,
    signature = signature, timeout = timeout, connect_timeout = connect_timeout,
    max_body = max_body, verify = opts.verify ~= false, ca_file = opts.ca_file,
    proxy = opts.proxy,
    user_agent = opts.user_agent or format("aliyun-live-lua/%s (%s) libcurl/%s",
      _M._VERSION, _VERSION, core.curl_version()),
  }
  return self
end

function client_mt.__tostring(self)
  return format("aliyun.live.Client (%s, %s, %s)", self.endpoint, self.signature,
    self.format)
end

function Client:close()
  if self.core then self.core:close() end
end
client_mt.__close = Client.close

local function log(self, level, fmt, ...)
  local logger = self.logger
  if logger then logger(level, format(fmt, ...)) end
end

local function credentials_or_error(self)
  local creds, err = self.provider:get()
  if not creds then
    if type(err) ~= "table" then
      err = new_error("SDK.MissingCredentials", tostring(err or "no credentials"))
    end
    return nil, err
  end
  return creds
end

-- Every attempt, blocking or concurrent, goes through these three steps: credentials
-- and limiter key; then, after the answer, limiter feedback and the retry decision.
local function prepare(self, action)
  local creds, err = credentials_or_error(self)
  if not creds then return nil, err end
  local id = creds.access_key_id
  local k = self.keys[action]          -- the key string, built once per action and id
  if not k or k[1] ~= id then
    k = { id, id .. "/" .. action }
    self.keys[action] = k
  end
  return creds, k[2]
end

local function succeeded(self, action, key, res, attempt, t0)
  local limiter = self.limiter
  if limiter and limiter.feedback then limiter:feedback(key, "ok") end
  if self.logger then
    log(self, "debug", "%s attempt %d: OK RequestId=%s (%.1f ms)", action, attempt,
      res.request_id, (monotonic() - t0) * 1000)
  end
end

-- Returns the seconds to wait before the next attempt, or nil to give up with err.
local function failed(self, action, creds, key, err, attempt, started, refreshed)
  if creds then redact(err, creds) end
  err.attempts = attempt
  local code = err.code
  local limiter = self.limiter
  if key and limiter and limiter.feedback and find(code, "^Throttling") then
    limiter:feedback(key, "throttled")
  end
  -- Expired temporary credentials: refresh them once and try again.
  if not refreshed and find(code, "^InvalidSecurityToken") and self.provider.invalidate then
    self.provider:invalidate()
    err.retryable = true
  end
  local wait = self.retry:delay(attempt, err, monotonic() - started)
  if wait then
    log(self, "debug", "%s attempt %d: %s; retrying in %.3f s", action, attempt,
      tostring(err), wait)
  else
    log(self, "debug", "%s attempt %d: %s", action, attempt, tostring(err))
  end
  return wait
end

--- One operation, blocking: throttled, signed afresh and retried per attempt.
local function call(self, action, params)
  local started, attempt, refreshed = monotonic(), 0, false
  while true do
    attempt = attempt + 1
    local creds, key = prepare(self, action)
    if not creds then
      key.attempts = attempt
      return nil, key
    end
    local limiter = self.limiter
    if limiter then
      local ok, lerr = limiter:acquire(key)
      if not ok then
        lerr.attempts = attempt
        return nil, lerr
      end
    end
    local t0 = monotonic()
    local res, err = self.core:rpc(action, params, creds.access_key_id,
      creds.access_key_secret, creds.security_token)
    if res then
      succeeded(self, action, key, res, attempt, t0)
      return res
    end
    local wait = failed(self, action, creds, key, err, attempt, started, refreshed)
    if not wait then return nil, err end
    refreshed = refreshed or find(err.code, "^InvalidSecurityToken") ~= nil
    core.sleep(wait)
  end
end

---------------------------------------------------------------- concurrency --
-- Many requests in flight on one libcurl multi handle, started at the limiter's pace:
-- each waits for its own reserved slot, so a batch uses the whole quota and no more.
-- client:poll drives everything; it never blocks longer than the timeout it is given,
-- so a game loop can call it with 0 every frame.

local DEFAULT_CONCURRENCY = 16

local function scheduler(self)
  local s = self.sched
  if not s then
    s = { fresh = {}, head = 1, tail = 0, retry = {}, inflight = {}, ninflight = 0,
          pending = 0, concurrency = DEFAULT_CONCURRENCY }
    self.sched = s
  end
  return s
end

local function submit(self, action, params, callback)
  local s = scheduler(self)
  local op = { action = action, params = params, callback = callback, attempt = 0,
               started = monotonic(), not_before = 0, done = false }
  s.tail = s.tail + 1
  s.fresh[s.tail] = op
  s.pending = s.pending + 1
  return op
end

local function finish(s, op, res, err)
  op.done, op.result, op.err = true, res, err
  s.pending = s.pending - 1
  if op.callback then op.callback(res, err, op) end
end

-- The next op to start: a retry that is due, else the oldest new one.
local function next_op(s, now)
  local r = s.retry[1]
  if r and r.not_before <= now then return r, true end
  local op = s.fresh[s.head]
  if op then return op, false end
  return nil, nil, r and r.not_before
end

local function take_op(s, from_retry)
  if from_retry then
    table.remove(s.retry, 1)
  else
    s.fresh[s.head] = nil
    s.head = s.head + 1
    if s.head > s.tail then s.head, s.tail = 1, 0 end   -- empty: start over at 1
  end
end

local function schedule_retry(s, op, wait)
  op.not_before, op.start_at, op.creds, op.key = monotonic() + wait, nil, nil, nil
  local retry, i = s.retry, #s.retry
  while i > 0 and retry[i].not_before > op.not_before do i = i - 1 end
  table.insert(retry, i + 1, op)
end

-- The op cannot be sent (no credentials, no limiter): it ends with err.
local function abandon(s, op, from_retry, err)
  take_op(s, from_retry)
  err.attempts = op.attempt
  finish(s, op, nil, err)
  return true
end

-- Try to start the next op. Returns true to go on, or false and the time the next op
-- is due (nil when nothing is waiting).
local function start_next(self, s)
  local now = monotonic()
  local op, from_retry, due = next_op(s, now)
  if not op then return false, due end
  if not op.creds then
    op.attempt = op.attempt + 1
    local creds, key = prepare(self, op.action)
    if not creds then return abandon(s, op, from_retry, key) end
    op.creds, op.key = creds, key
  end
  local limiter = self.limiter
  if limiter and not op.start_at then
    local wait, lerr = limiter:reserve(op.key)
    if not wait then return abandon(s, op, from_retry, lerr) end
    op.start_at = now + wait
  end
  if op.start_at and op.start_at > now then return false, op.start_at end
  take_op(s, from_retry)
  local c = op.creds
  local id, err = self.core:start(op.action, op.params, c.access_key_id,
    c.access_key_secret, c.security_token)
  if id then
    op.t0 = now
    s.inflight[id] = op
    s.ninflight = s.ninflight + 1
  else
    local wait = failed(self, op.action, c, op.key, err, op.attempt, op.started)
    if wait then schedule_retry(s, op, wait) else finish(s, op, nil, err) end
  end
  return true
end

-- Start every op whose turn has come; returns the time the next one is due, if any.
local function start_due(self, s)
  while s.ninflight < s.concurrency do
    local go_on, due = start_next(self, s)
    if not go_on then return due end
  end
end

--- client:poll([timeout]) → number of requests still pending.
-- Starts what may start, waits at most `timeout` seconds (default 0) for answers, and
-- completes what finished (calling the callbacks given to the *_async methods).
function Client:poll(timeout)
  if timeout ~= nil and (type(timeout) ~= "number" or not (timeout >= 0)) then
    argerror("poll", "timeout must be a number >= 0")
  end
  local s = self.sched
  if not s or s.pending == 0 then return 0 end
  local deadline = monotonic() + (timeout or 0)
  local due = start_due(self, s)
  local wait = deadline - monotonic()
  if due and due - monotonic() < wait then wait = due - monotonic() end
  if wait < 0 then wait = 0 end
  if s.ninflight == 0 then
    if wait > 0 then core.sleep(wait) end
    start_due(self, s)
    return s.pending
  end
  local ids = self.core:poll(wait)
  for i = 1, #ids do
    local id = ids[i]
    local op = s.inflight[id]
    s.inflight[id] = nil
    s.ninflight = s.ninflight - 1
    local res, err = self.core:collect(id)
    if res then
      succeeded(self, op.action, op.key, res, op.attempt, op.t0)
      finish(s, op, res)
    else
      local w = failed(self, op.action, op.creds, op.key, err, op.attempt, op.started)
      if w then schedule_retry(s, op, w) else finish(s, op, nil, err) end
    end
  end
  start_due(self, s)
  return s.pending
end

--- client:pending() → requests submitted and not yet completed.
function Client:pending()
  return self.sched and self.sched.pending or 0
end

local STREAM_FIELDS = { domain = true, app = true, stream = true }

local function stream_params(fn, args, fields)
  check_fields(fn, "fields", args, fields)
  local domain, err = check_domain(fn, args.domain)
  if not domain then return nil, err end
  local app; app, err = check_name(fn, "app", args.app)
  if not app then return nil, err end
  local stream; stream, err = check_name(fn, "stream", args.stream)
  if not stream then return nil, err end
  return { DomainName = domain, AppName = app, StreamName = stream,
           LiveStreamType = "publisher" }
end

--- client:resume{domain=, app=, stream=} → result | nil, err
-- Lets a forbidden stream be pushed again (ResumeLiveStream). app = "*" resumes the
-- stream under every app of the domain.
function Client:resume(args)
  local params, err = stream_params("resume", args, STREAM_FIELDS)
  if not params then return nil, err end
  return call(self, "ResumeLiveStream", params)
end

local function check_callback(fn, cb)
  if cb ~= nil and type(cb) ~= "function" then
    argerror(fn, "callback must be a function", 3)
  end
end

--- client:resume_async(args [, callback]) → op | nil, err
-- Starts a resume without waiting; client:poll() drives it. When it completes,
-- op.done is true, op.result / op.err are set and callback(result, err, op) is called.
function Client:resume_async(args, callback)
  check_callback("resume_async", callback)
  local params, err = stream_params("resume_async", args, STREAM_FIELDS)
  if not params then return nil, err end
  return submit(self, "ResumeLiveStream", params, callback)
end

--- client:resume_many(list, {concurrency = N, on_progress = fn}) → entries, summary
-- Resumes every {domain=, app=, stream=} of list with up to N requests in flight, at the
-- limiter's pace, with retries. entries[i] = {ok=, result=, err=, attempts=} in input
-- order; summary = {ok = count, failed = count}. on_progress(done, total, i, entry) is
-- called as each item completes. Items with bad values fail without being sent; a
-- succeeded item is never sent again.
function Client:resume_many(list, opts)
  if type(list) ~= "table" then argerror("resume_many", "expects a list of streams") end
  opts = opts or {}
  check_fields("resume_many", "options", opts, { concurrency = true, on_progress = true })
  local concurrency = opts.concurrency or DEFAULT_CONCURRENCY
  if type(concurrency) ~= "number" or concurrency < 1 or concurrency > 256
      or concurrency % 1 ~= 0 then
    argerror("resume_many", "'concurrency' must be an integer from 1 to 256")
  end
  local on_progress = opts.on_progress
  check_callback("resume_many", on_progress)

  local total = #list
  local params, entries, done = {}, {}, 0
  local summary = { ok = 0, failed = 0 }
  for i = 1, total do   -- check everything before sending anything
    local item = list[i]
    if type(item) ~= "table" then
      argerror("resume_many", format("item %d must be a table, got %s", i, type(item)))
    end
    local p, err = stream_params("resume_many", item, STREAM_FIELDS)
    params[i] = p or err
  end
  local function complete(i, res, err, attempts)
    entries[i] = { ok = res ~= nil, result = res, err = err, attempts = attempts }
    if res then summary.ok = summary.ok + 1 else summary.failed = summary.failed + 1 end
    done = done + 1
    if on_progress then on_progress(done, total, i, entries[i]) end
  end
  local function completed(res, err, op) complete(op.index, res, err, op.attempt) end
  local s = scheduler(self)
  local saved = s.concurrency
  s.concurrency = concurrency
  for i = 1, total do
    local p = params[i]
    if p.code then
      complete(i, nil, p, 0)
    else
      submit(self, "ResumeLiveStream", p, completed).index = i
    end
  end
  local ok, e = pcall(function()
    while self:poll(1) > 0 do end
  end)
  s.concurrency = saved
  if not ok then error(e, 0) end
  return entries, summary
end

local FORBID_FIELDS = { domain = true, app = true, stream = true, resume_time = true,
                        oneshot = true }

--- client:forbid{domain=, app=, stream=, resume_time=?, oneshot=?} → result | nil, err
-- Cuts the stream's push and blocks it (ForbidLiveStream). resume_time (Unix seconds
-- or "YYYY-MM-DDThh:mm:ssZ") unblocks it then; oneshot = true only cuts the current
-- push without blocking.
function Client:forbid(args)
  local params, err = stream_params("forbid", args, FORBID_FIELDS)
  if not params then return nil, err end
  local rt = args.resume_time
  if type(rt) == "number" then
    if rt ~= rt or rt < 0 or rt >= 253402300800 then
      return nil, invalid("resume_time", "is out of range")
    end
    params.ResumeTime = core.timestamp(rt)
  elseif type(rt) == "string" then
    if not rt:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$") then
      return nil, invalid("resume_time", "must be YYYY-MM-DDThh:mm:ssZ (UTC)")
    end
    params.ResumeTime = rt
  elseif rt ~= nil then
    argerror("forbid", "'resume_time' must be a number or a string, got " .. type(rt))
  end
  if args.oneshot ~= nil then
    if type(args.oneshot) ~= "boolean" then
      argerror("forbid", "'oneshot' must be a boolean, got " .. type(args.oneshot))
    end
    params.Oneshot = args.oneshot and "yes" or "no"
  end
  return call(self, "ForbidLiveStream", params)
end

local BLOCKLIST_FIELDS = { domain = true, page = true, page_size = true }
local MAX_PAGE_SIZE = 3000

local function integer_field(fn, name, v, lo, hi)
  if v == nil then return nil end
  if type(v) ~= "number" then argerror(fn, format("'%s' must be a number, got %s", name, type(v)), 3) end
  if v % 1 ~= 0 or v < lo or v > hi then
    return nil, invalid(name, format("must be an integer from %d to %d", lo, hi))
  end
  return v
end

--- client:blocklist{domain=, page=?, page_size=?} → page | nil, err
-- One page of the domain's block list (DescribeLiveStreamsBlockList): page.streams is
-- the list of "domain/app/stream" (always a list, in JSON and XML alike), with
-- page.page, page.page_size, page.total, page.pages and page.request_id.
function Client:blocklist(args)
  check_fields("blocklist", "fields", args, BLOCKLIST_FIELDS)
  local domain, err = check_domain("blocklist", args.domain)
  if not domain then return nil, err end
  local page, page_size
  page, err = integer_field("blocklist", "page", args.page, 1, 2^31 - 1)
  if err then return nil, err end
  page_size, err = integer_field("blocklist", "page_size", args.page_size, 1, MAX_PAGE_SIZE)
  if err then return nil, err end
  local res
  res, err = call(self, "DescribeLiveStreamsBlockList", { DomainName = domain,
    PageNum = page and format("%d", page), PageSize = page_size and format("%d", page_size) })
  if not res then return nil, err end
  local urls = type(res.StreamUrls) == "table" and res.StreamUrls.StreamUrl or {}
  if type(urls) == "string" then urls = { urls } end   -- XML: one element is not a list
  res.streams = urls
  res.page = tonumber(res.PageNum) or page or 1
  res.page_size = tonumber(res.PageSize) or page_size
  res.total = tonumber(res.TotalNum) or #urls
  res.pages = tonumber(res.TotalPage) or 1
  return res
end

--- for url, err in client:each_blocked{domain=, page_size=?} do … end
-- Every blocked stream of the domain, fetching pages as it goes. On a failure the
-- loop sees (false, err) once and then ends.
function Client:each_blocked(args)
  check_fields("each_blocked", "fields", args, { domain = true, page_size = true })
  local page, pages, items, i, finished = 0, 1, {}, 0, false
  local page_size = args.page_size or MAX_PAGE_SIZE
  return function()
    if finished then return nil end
    i = i + 1
    if i > #items then
      if page >= pages and page > 0 then finished = true return nil end
      page = page + 1
      local res, err = self:blocklist { domain = args.domain, page = page, page_size = page_size }
      if not res then finished = true return false, err end
      items, i, pages = res.streams, 1, res.pages
      if #items == 0 then finished = true return nil end
    end
    return items[i]
  end
end

-- Operation parameters for call/presign: string names, scalar values as strings. The
-- core checks names and values (and raises); this only converts numbers and booleans,
-- copying the table only when it has any.
local function operation_params(fn, params)
  if params == nil then return {} end
  if type(params) ~= "table" then argerror(fn, "params must be a table", 3) end
  local out
  for k, v in pairs(params) do
    local t = type(v)
    if t ~= "string" then
      if t == "number" then
        v = (v % 1 == 0 and v >= -2^53 and v <= 2^53) and format("%d", v) or tostring(v)
      elseif t == "boolean" then
        v = tostring(v)
      else
        argerror(fn, format("parameter '%s' must be a string, number or boolean", tostring(k)), 3)
      end
      if not out then
        out = {}
        for kk, vv in pairs(params) do out[kk] = vv end
      end
      out[k] = v
    end
  end
  return out or params
end

local valid_actions = setmetatable({}, { __mode = "k" })

local function check_action(fn, action)
  if valid_actions[action] then return end
  if type(action) ~= "string" or not action:match("^%u%w*$") then
    argerror(fn, "action must be an operation name such as 'DescribeLiveStreamsBlockList'", 3)
  end
  valid_actions[action] = true
end

--- client:call(action, params) → result | nil, err — any other Live RPC operation,
-- with the same signing, throttling and retries.
function Client:call(action, params)
  check_action("call", action)
  return call(self, action, operation_params("call", params))
end

local function option_error(name, want)
  argerror("presign", format("'%s' must be %s", name, want), 4)
end

-- presign's options, each checked only when given.
local PRESIGN_OPTS = {
  timestamp = function(v)
    if type(v) ~= "string" or not v:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$") then
      option_error("timestamp", "a string YYYY-MM-DDThh:mm:ssZ")
    end
  end,
  nonce = function(v)
    if type(v) ~= "string" or not v:match("^[%w%-_%.]+$") then
      option_error("nonce", "a non-empty string of letters, digits, '-', '_', '.'")
    end
  end,
  version = function(v)
    if type(v) ~= "string" or not v:match("^%d%d%d%d%-%d%d%-%d%d$") then
      option_error("version", "a string YYYY-MM-DD")
    end
  end,
  method = function(v)
    if not METHODS[v] then option_error("method", 'one of "GET", "POST"') end
  end,
  signature = function(v)
    if not SIGNATURES[v] then option_error("signature", 'one of "v1", "v3"') end
  end,
}
local NO_OPTS = {}

--- client:presign(action, params, opts) → table, without any network I/O.
-- v1: method, url, params, string_to_sign, signature.
-- v3: method, url, headers, canonical_request, string_to_sign, signature, authorization.
function Client:presign(action, params, opts)
  check_action("presign", action)
  params = operation_params("presign", params)
  if opts == nil then
    opts = NO_OPTS
  elseif type(opts) ~= "table" then
    argerror("presign", "expects a table of options")
  else
    for k, v in pairs(opts) do
      local check = PRESIGN_OPTS[k]
      if not check then argerror("presign", format("unknown option '%s'", tostring(k))) end
      check(v)
    end
  end
  local creds, err = credentials_or_error(self)
  if not creds then error("aliyun.live.presign: " .. tostring(err), 2) end
  return self.core:presign(action, params, creds.access_key_id, creds.access_key_secret,
    creds.security_token, opts)
end

---------------------------------------------------------------------- module --

local default_client, default_endpoint

--- The client behind live.resume: credentials from the environment (and the rest of
-- the default chain), endpoint from ALIYUN_LIVE_ENDPOINT when set.
function _M.default_client()
  local endpoint = getenv("ALIYUN_LIVE_ENDPOINT")
  if endpoint == "" then endpoint = nil end
  if not default_client or endpoint ~= default_endpoint then
    if default_client then default_client:close() end
    default_client = _M.new { endpoint = endpoint }
    default_endpoint = endpoint
  end
  return default_client
end

--- live.resume{domain=, app=, stream=} → result | nil, err, with the default client.
function _M.resume(args)
  return _M.default_client():resume(args)
end

--- live.forbid{…} → result | nil, err, with the default client.
function _M.forbid(args)
  return _M.default_client():forbid(args)
end

--- live.limiter(opts) → limiter (see aliyun.live.throttle).
function _M.limiter(opts)
  return require("aliyun.live.throttle").limiter(opts)
end

_M.credentials = credentials

return _M
