--- Retry policy: the one place that says which failures are tried again, and how long
-- to wait before the next attempt.
--
-- The decision reads the facts the core and the transports report (err.code, err.kind,
-- err.http_status, err.answered — see errors.lua) against one table, top to bottom.
-- Waits are exponential backoff with full jitter (a uniform delay in
-- [0, min(cap, base·2^(n-1))], drawn from the CSPRNG so that two processes never
-- retry in lock-step), never shorter than the server's own hint (x-acs-retry-after),
-- bounded by a number of attempts and a total deadline. The caller signs every attempt
-- afresh (new nonce, new timestamp).
local core = require "aliyun.live.core"
local errors = require "aliyun.live.errors"

local random = core.random
local min, max, find, type, pairs, tonumber, setmetatable, format =
  math.min, math.max, string.find, type, pairs, tonumber, setmetatable, string.format

local _M = { _VERSION = "0.2.0" }

-- What is worth trying again. `code`: a pattern on err.code; `kind`: a set of kinds;
-- `status`: a set of HTTP statuses; `unanswered`: only when no answer byte arrived (a
-- request that was answered may have been carried out). `retry`: true, or "refresh"
-- (only after refreshing the credentials, once).
local SERVER_BUSY = { [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }
_M.RULES = {
  { code = "^Throttling",            retry = true, throttled = true },
  { code = "^InternalError$",        retry = true },
  { code = "^ServiceUnavailable$",   retry = true },
  { code = "^SignatureNonceUsed$",   retry = true },   -- the next attempt has a new nonce
  { code = "^InvalidSecurityToken%.", retry = "refresh" },
  { kind = { api = true, http = true }, status = SERVER_BUSY, retry = true },
  { kind = { connect = true },       retry = true },   -- nothing was sent
  { kind = { timeout = true, send = true, recv = true }, unanswered = true, retry = true },
}

local function matches(rule, err)
  if rule.code and not (type(err.code) == "string" and find(err.code, rule.code)) then
    return false
  end
  if rule.kind and not rule.kind[err.kind] then return false end
  if rule.status and not rule.status[err.http_status] then return false end
  if rule.unanswered and err.answered then return false end
  return true
end

--- The rule that matches err, or nil.
function _M.classify(err)
  local rules = _M.RULES
  for i = 1, #rules do
    if matches(rules[i], err) then return rules[i] end
  end
end

local DEFAULTS = { attempts = 3, base = 0.1, cap = 5, deadline = 30 }

local Policy = {}
Policy.__index = Policy

--- opts: attempts (total, 1–100), base and cap (seconds), deadline (seconds for all
-- attempts and waits together). `false` means a single attempt.
function _M.new(opts)
  local p = setmetatable({}, Policy)
  for k, v in pairs(DEFAULTS) do p[k] = v end
  if opts == false then
    p.attempts = 1
    return p
  end
  if opts ~= nil and type(opts) ~= "table" then errors.raise("new", "'retry' must be a table or false") end
  for k, v in pairs(opts or {}) do
    if DEFAULTS[k] == nil then errors.raise("new", format("unknown retry option '%s'", tostring(k))) end
    if type(v) ~= "number" or not (v >= 0 and v <= 86400) then
      errors.raise("new", format("retry option '%s' must be a number from 0 to 86400", k))
    end
    p[k] = v
  end
  if p.attempts < 1 or p.attempts > 100 or p.attempts % 1 ~= 0 then
    errors.raise("new", "retry option 'attempts' must be an integer from 1 to 100")
  end
  if p.cap < p.base then errors.raise("new", "retry option 'cap' must be >= 'base'") end
  return p
end

--- The server's hint in seconds (x-acs-retry-after, milliseconds), bounded.
function _M.hint(err)
  local h = err.headers and tonumber(err.headers["x-acs-retry-after"])
  if h and h >= 0 and h <= 3600000 then return h / 1000 end
end

--- Decide after a failed attempt: the seconds to wait before attempt `attempt + 1`, or
-- nil to give up. Sets err.retryable (whether trying again unchanged can succeed) and
-- err.retry_after. `elapsed`: time since the first attempt started; `refreshed`: the
-- credentials were already refreshed once for this call.
function Policy:decide(attempt, err, elapsed, refreshed)
  local rule = _M.classify(err)
  err.retry_after = _M.hint(err)
  err.retryable = rule ~= nil and (rule.retry ~= "refresh" or not refreshed)
  if not err.retryable or attempt >= self.attempts then return nil, rule end
  local d = random() * min(self.cap, self.base * 2 ^ (attempt - 1))
  if err.retry_after then d = max(d, err.retry_after) end
  if elapsed + d > self.deadline then return nil, rule end
  return d, rule
end

return _M
