--[[--
aliyun.live — ApsaraVideo Live stream control (ResumeLiveStream and friends).

    local live = require "aliyun.live"
    local client = live.new{ access_key_id = "…", access_key_secret = "…" }
    local res, err = client:resume{ domain = "demo.aliyundoc.com", app = "liveApp",
                                    stream = "room42" }

Error convention: wrong argument types (including a missing field) raise; bad values
and runtime failures return `nil, err`, where err has `code`, `message`, `request_id`
(when the server gave one), `http_status` (when there was a response), `retryable`,
`attempts`, and prints as one line without secrets ([errors](../topics/errors.md.html)).

Options of `live.new` (an unknown name, a wrong type or an out-of-range value raises):

    access_key_id, access_key_secret, security_token   static credentials
    credentials      a provider (live.credentials.*); default: the default chain
    endpoint         scheme://host[:port] (https://live.aliyuncs.com)
    region           picks the endpoint when endpoint is not given
    signature        "v1" (HMAC-SHA1, default) or "v3" (ACS3-HMAC-SHA256)
    format           "JSON" (default) or "XML": results have the same shape either way
    method           "POST" (default: parameters in a form body) or "GET" (in the query)
    timeout, connect_timeout   seconds per attempt (10, 5), 0.001 to 86400
    retry            {attempts = 3, base = 0.1, cap = 5, deadline = 30}, or false
    limiter          a live.limiter{…}, or false; default: the shared 30/s limiter
                     (store "process", or "ngx:aliyun_live" inside nginx)
    quota_key        the account part of the limiter key (default: the provider's identity)
    concurrency      async requests in flight (16), 1 to 256
    max_body         larger answers fail with SDK.ResponseTooLarge (1 MiB)
    verify, ca_file, proxy   TLS verification (true), a CA bundle, a proxy URL
    user_agent       default aliyun-live-lua/<version> (<Lua>) libcurl/<version>
    logger           function(level, line): one line per attempt, never a secret
    transport        "ngx" inside nginx, else "curl"

Where things are decided: options.lua (these options), operations.lua (what each
operation sends), engine.lua (one call, attempt after attempt), retry.lua (what is
retried), throttle.lua (limiters), async.lua (requests in flight, client:poll),
credentials/ (providers), transport/ (how bytes move). Signing, HTTP and parsing are
done by the C core (aliyun.live.core).
@module aliyun.live
]]
local core = require "aliyun.live.core"
local async = require "aliyun.live.async"
local credentials = require "aliyun.live.credentials"
local engine = require "aliyun.live.engine"
local errors = require "aliyun.live.errors"
local operations = require "aliyun.live.operations"
local options = require "aliyun.live.options"

local type, pairs, tostring, setmetatable, format, getenv = type, pairs, tostring, setmetatable,
  string.format, os.getenv
local raise = errors.raise
local run = engine.run

local _M = { _VERSION = core._VERSION }

local QUOTA = 30   -- calls per second per account and operation (ResumeLiveStream)

local Client = {}
local client_mt = { __index = Client, __name = "aliyun.live.Client" }

local default_limiter

-- The clients' default limiter: the quota shared by everything in the process, or
-- inside nginx by every worker (ngx.shared.aliyun_live).
local function shared_limiter(transport)
  local throttle = require "aliyun.live.throttle"
  if transport == "ngx" then
    local ngx = rawget(_G, "ngx")
    if not (ngx.shared and ngx.shared.aliyun_live) then
      raise("new", "inside nginx the default limiter needs 'lua_shared_dict aliyun_live 1m;' "
        .. "in the http block of nginx.conf (or pass limiter = live.limiter{…} or false)")
    end
    return throttle.limiter { rate = QUOTA, store = "ngx:aliyun_live" }
  end
  if not default_limiter then default_limiter = throttle.limiter { rate = QUOTA, store = "process" } end
  return default_limiter
end

local function closed_error()
  return errors.new("SDK.ClientClosed", "the client is closed")
end

--- live.new(opts) → client, with the options above.
function _M.new(opts)
  local self = options.check(opts, credentials, shared_limiter)
  local signer = core.signer { endpoint = self.endpoint, host = self.host,
    version = options.API_VERSION, format = self.format, method = self.method,
    signature = self.signature }
  self.signer = signer
  if self.transport == "ngx" then
    self.rt = require("aliyun.live.transport.ngx").runtime(self, signer)
  else
    local curl = require "aliyun.live.transport.curl"
    self.ccl = curl.client(self, signer)
    self.rt = curl.blocking(self.ccl)
  end
  return setmetatable(self, client_mt)
end

function client_mt.__tostring(self)
  return format("aliyun.live.Client (%s, %s, %s%s)", self.endpoint, self.signature,
    self.format, self.closed and ", closed" or "")
end

--- A client: what live.new returns.
-- @type Client

--- client:close() — ends pending async requests (SDK.ClientClosed) and frees the
-- connections now (also done by the garbage collector, and by `<close>` in Lua 5.4).
function Client:close()
  if self.closed then return end
  self.closed = true
  if self.sched then async.close(self.sched) end
  if self.ccl then self.ccl:close() end
  if self.rt and self.rt.close then self.rt.close() end
end
client_mt.__close = Client.close

-- One blocking operation.
local function call(self, action, params)
  if self.closed then return nil, closed_error() end
  return run(self, self.rt, action, params)
end

local stream_params = operations.stream

--- client:resume{domain=, app=, stream=} → result | nil, err
-- Lets a forbidden stream be pushed again (ResumeLiveStream). app = "*" resumes the
-- stream under every app of the domain.
function Client:resume(args)   -- the hot path: what call() does, without the extra call
  local params, err = stream_params("resume", args)
  if not params then return nil, err end
  if self.closed then return nil, closed_error() end
  return run(self, self.rt, "ResumeLiveStream", params)
end

--- client:forbid{domain=, app=, stream=, resume_time=?, oneshot=?} → result | nil, err
-- Cuts the stream's push and blocks it (ForbidLiveStream). resume_time (Unix seconds
-- or "YYYY-MM-DDThh:mm:ssZ") unblocks it then; oneshot = true only cuts the push.
function Client:forbid(args)
  local params, err = operations.forbid(args)
  if not params then return nil, err end
  return call(self, "ForbidLiveStream", params)
end

--- client:blocklist{domain=, page=?, page_size=?} → page | nil, err
-- One page of the domain's block list: page.streams (always a list of
-- "domain/app/stream"), page.page, page.page_size, page.total, page.pages, request_id.
function Client:blocklist(args)
  local params, page, page_size = operations.blocklist(args)
  if not params then return nil, page end
  local res, err = call(self, "DescribeLiveStreamsBlockList", params)
  if not res then return nil, err end
  return operations.blocklist_result(res, page, page_size)
end

--- for url, err in client:each_blocked{domain=, page_size=?} do … end
-- Every blocked stream of the domain, page after page; a failure shows as (false, err)
-- once, then the loop ends.
function Client:each_blocked(args)
  require("aliyun.live.validate").fields("each_blocked", "field", args,
    { domain = true, page_size = true })
  local page, pages, items, i, finished = 0, 1, {}, 0, false
  local page_size = args.page_size or operations.MAX_PAGE_SIZE
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

--- client:call(action, params) → result | nil, err — any other Live RPC operation,
-- signed, throttled and retried the same way.
function Client:call(action, params)
  operations.action("call", action)
  local p, err = operations.params("call", params)
  if not p then return nil, err end
  return call(self, action, p)
end

local PRESIGN = {
  timestamp = { "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", "a string YYYY-MM-DDThh:mm:ssZ" },
  nonce = { "^[%w%-_%.]+$", "a non-empty string of letters, digits, '-', '_', '.'" },
  version = { "^%d%d%d%d%-%d%d%-%d%d$", "a string YYYY-MM-DD" },
  method = { "^GET$", "one of \"GET\", \"POST\"", "^POST$", ok = { GET = true, POST = true } },
  signature = { "^v1$", "one of \"v1\", \"v3\"", "^v3$", ok = { v1 = true, v3 = true } },
}

--- client:presign(action, params [, opts]) → table | nil, err, without network I/O.
-- v1: method, url, params, string_to_sign, signature.
-- v3: method, url, headers, canonical_request, string_to_sign, signature, authorization.
function Client:presign(action, params, opts)
  operations.action("presign", action)
  local p, err = operations.params("presign", params)
  if not p then return nil, err end
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then raise("presign", "expects a table of options") end
  for k, v in pairs(opts) do
    local rule = PRESIGN[k]
    if not rule then raise("presign", format("unknown option '%s'", tostring(k))) end
    if not (rule.ok and rule.ok[v]) and (type(v) ~= "string" or #v > 64 or
        not (v:match(rule[1]) or (rule[3] and v:match(rule[3])))) then
      raise("presign", format("'%s' must be %s", k, rule[2]))
    end
  end
  if self.closed then return nil, closed_error() end
  local creds
  creds, err = engine.credentials(self, self.rt)
  if not creds then return nil, err end
  return self.signer:presign(action, p, creds.access_key_id, creds.access_key_secret,
    creds.security_token, opts)
end

------------------------------------------------------------------ async --

local function scheduler(self)
  local s = self.sched
  if not s then
    if not self.ccl then raise("resume_async", "async requests need the libcurl transport") end
    s = async.new(self, self.ccl)
    self.sched = s
  end
  return s
end

local function check_callback(fn, cb)
  if cb ~= nil and type(cb) ~= "function" then raise(fn, "callback must be a function") end
end

--- client:resume_async(args [, callback]) → op | nil, err
-- Starts a resume without waiting; client:poll() drives it. When it completes, op.done
-- is true, op.result / op.err are set and callback(result, err, op) is called from poll.
-- op:cancel(), op:wait([timeout]), op:await() (inside a coroutine).
function Client:resume_async(args, callback)
  check_callback("resume_async", callback)
  local params, err = operations.stream("resume_async", args)
  if not params then return nil, err end
  if self.closed then return nil, closed_error() end
  return async.submit(scheduler(self), "ResumeLiveStream", params, callback)
end

--- client:poll([timeout]) → number of requests still pending.
-- Starts what may start, waits at most `timeout` seconds (default 0: never waits) for
-- answers, completes what finished and calls the callbacks. A callback that raises
-- does not stop the others; its error is raised again by poll once all have run.
function Client:poll(timeout)
  if timeout ~= nil and (type(timeout) ~= "number" or not (timeout >= 0)) then
    raise("poll", "timeout must be a number >= 0")
  end
  local s = self.sched
  if not s then return 0 end
  return async.poll(s, timeout or 0)
end

--- client:fds() → { {fd =, events = "r" | "w" | "rw"}, … } and client:timeout() →
-- seconds | nil: for a host with its own event loop (epoll, libuv), what to wait on and
-- for how long at most before calling client:poll(0) again (nil: nothing pending).
function Client:fds()
  local s = self.sched
  if not s or self.closed then return {} end
  return async.fds(s)
end

--- client:timeout() → seconds | nil: how long a host's own event loop may wait before
-- calling client:poll(0) again (0: now; nil: nothing pending). See client:fds().
function Client:timeout()
  local s = self.sched
  if not s then return nil end
  return async.timeout(s)
end

--- client:pending() → requests submitted and not yet completed.
function Client:pending()
  return self.sched and self.sched.pending or 0
end

--- client:resume_many(list, {concurrency = N, on_progress = fn}) → entries, summary
-- Resumes every {domain=, app=, stream=} of list with up to N (default 16) requests in
-- flight, at the limiter's pace, with retries. entries[i] = {ok=, result=, err=,
-- attempts=} in input order; summary = {ok = count, failed = count}.
-- on_progress(done, total, i, entry) is called as each item completes. Items with bad
-- values fail without being sent; a succeeded item is never sent again. If
-- on_progress raises, the batch's other requests are cancelled and the error raised.
function Client:resume_many(list, opts)
  if type(list) ~= "table" then raise("resume_many", "expects a list of streams") end
  opts = opts or {}
  require("aliyun.live.validate").fields("resume_many", "option", opts,
    { concurrency = true, on_progress = true })
  local concurrency = opts.concurrency or 16
  if type(concurrency) ~= "number" or concurrency < 1 or concurrency > 256 or concurrency % 1 ~= 0 then
    raise("resume_many", "'concurrency' must be an integer from 1 to 256")
  end
  local on_progress = opts.on_progress
  check_callback("resume_many", on_progress)
  local total = #list
  local params, entries, done = {}, {}, 0
  local summary = { ok = 0, failed = 0 }
  for i = 1, total do   -- check everything before sending anything
    local item = list[i]
    if type(item) ~= "table" then
      raise("resume_many", format("item %d must be a table, got %s", i, type(item)))
    end
    local p, err = operations.stream("resume_many", item)
    params[i] = p or err
  end
  local aborted = false
  local function complete(i, res, err, attempts)
    if aborted then return end   -- an aborted batch reports nothing more
    entries[i] = { ok = res ~= nil, result = res, err = err, attempts = attempts }
    if res then summary.ok = summary.ok + 1 else summary.failed = summary.failed + 1 end
    done = done + 1
    if on_progress then on_progress(done, total, i, entries[i]) end
  end
  local ops = {}
  local s = not self.closed and scheduler(self)
  local group = async.group(concurrency)
  local function done_op(res, err, op)   -- op.tag: its index
    local i = op.tag
    ops[i] = nil   -- a finished op is not cancelled: let it go
    complete(i, res, err, op.attempts)
  end
  for i = 1, total do
    local p = params[i]
    params[i] = nil
    if p.code then
      complete(i, nil, p, 0)
    elseif self.closed then
      complete(i, nil, closed_error(), 0)
    else
      ops[i] = async.submit(s, "ResumeLiveStream", p, done_op, group, i)
    end
  end
  local ok, e = pcall(function()
    while done < total and not self.closed do async.poll(s, 1) end   -- self:poll(1)
  end)
  if not ok or done < total then
    aborted = true
    for _, op in pairs(ops) do
      if not op.done then async.cancel(s, op, "SDK.Cancelled", "resume_many was interrupted") end
    end
    if not ok then error(e, 0) end
  end
  return entries, summary
end

---------------------------------------------------------------------- module --

--- Module functions.
-- @section module

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
function _M.resume(args) return _M.default_client():resume(args) end

--- live.forbid{…} → result | nil, err, with the default client.
function _M.forbid(args) return _M.default_client():forbid(args) end

--- live.limiter(opts) → limiter (see aliyun.live.throttle).
function _M.limiter(opts) return require("aliyun.live.throttle").limiter(opts) end

_M.credentials = credentials

return _M
