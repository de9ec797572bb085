--- Retry policy: which failures to try again, and how long to wait before the next
-- attempt. Exponential backoff with full jitter (AWS's "full jitter": a uniform delay
-- in [0, min(cap, base·2^(n-1))]), never shorter than the server's own hint
-- (x-acs-retry-after), bounded by a number of attempts and a total deadline. Each
-- attempt is signed afresh by the caller (new nonce, new timestamp).
local random = math.random
local min, max = math.min, math.max
local type, pairs, error, setmetatable = type, pairs, error, setmetatable

local _M = { _VERSION = "0.1.0" }

local DEFAULTS = { attempts = 3, base = 0.1, cap = 5, deadline = 30 }

local Policy = {}
Policy.__index = Policy

--- opts: attempts (total, ≥ 1), base and cap (seconds), deadline (seconds for all
-- attempts and waits together). `false` means a single attempt.
function _M.new(opts)
  local p = setmetatable({}, Policy)
  for k, v in pairs(DEFAULTS) do p[k] = v end
  if opts == false then
    p.attempts = 1
    return p
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("retry: expects a table or false", 3)
  end
  for k, v in pairs(opts or {}) do
    if DEFAULTS[k] == nil then error(("retry: unknown option '%s'"):format(tostring(k)), 3) end
    if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
      error(("retry: option '%s' must be a finite number >= 0"):format(k), 3)
    end
    p[k] = v
  end
  if p.attempts < 1 or p.attempts % 1 ~= 0 then
    error("retry: option 'attempts' must be an integer >= 1", 3)
  end
  if p.cap < p.base then error("retry: option 'cap' must be >= 'base'", 3) end
  return p
end

--- Seconds to wait before attempt `attempt + 1` after `err`, or nil to give up.
-- `elapsed` is the time spent since the first attempt started.
function Policy:delay(attempt, err, elapsed)
  if not err.retryable or attempt >= self.attempts then return nil end
  local d = random() * min(self.cap, self.base * 2 ^ (attempt - 1))
  if err.retry_after then d = max(d, err.retry_after) end
  if elapsed + d >= self.deadline then return nil end
  return d
end

return _M
