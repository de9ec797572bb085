--- What a limiter store answers (throttle.lua): checked, never trusted; and a send-time
-- try on a store that answers later (Redis from the async scheduler), whose answers may
-- come back too late to be used.
local core = require "aliyun.live.core"

local type, tostring, format = type, tostring, string.format
local max, min = math.max, math.min
local monotonic = core.monotonic

local _M = {}

local OUTCOMES = { granted = true, denied = true, too_long = true }

-- A store's reply, checked: a nonsense one is a failure, never trusted. (A grant
-- without reserve must come with wait 0; take checks that, knowing `reserve`.)
function _M.checked(wait, outcome)
  if wait == nil then return nil, tostring(outcome) end
  if type(wait) ~= "number" or not (wait >= 0 and wait < 1e9) or not OUTCOMES[outcome]
      or (outcome == "denied" and not (wait > 0)) then
    return nil, "nonsense reply from the store"
  end
  return wait, outcome
end

-- A send-time try on a store that answers later (Redis from the async scheduler):
-- the request leaves when the answer is back, up to a poll later than its slot, and
-- a late request could bunch with the next ones. So the window asks for `late` more
-- (the longest a granted request waited for its answer in the last LATE_SPAN s, or
-- LATE_INIT before any), and a grant that came back later than that is not used (its
-- slot is wasted, never a burst) and asked again, at most LATE_TRIES times.
local LATE_INIT, LATE_MIN, LATE_MAX = 0.05, 0.002, 0.25   -- s
local LATE_SPAN, LATE_MARGIN, LATE_TRIES = 2, 1.25, 3
local ANSWER_SLACK = 0.001   -- s: a store decides a little after it is asked

local function late_bound(self, now)
  local l = self.late
  if not l then return LATE_INIT end
  if now - l.at >= LATE_SPAN then l.prev, l.cur, l.at = (now - l.at < 2 * LATE_SPAN) and l.cur or 0, 0, now end
  local seen = max(l.prev, l.cur)
  if seen == 0 then return LATE_INIT end   -- idle for a while: nothing known
  return min(LATE_MAX, max(LATE_MIN, LATE_MARGIN * seen))
end

local function note_late(self, now, took)
  local l = self.late
  if not l then
    l = { prev = 0, cur = 0, at = now }
    self.late = l
  end
  late_bound(self, now)              -- roll the span first
  if took > l.cur then l.cur = took end
end

function _M.take_async(self, store, key, T, tau, N, max_wait, rt)
  local took
  for _ = 1, LATE_TRIES do
    local t0 = monotonic()
    local late = late_bound(self, t0)
    local ticket, err = store:send(key, T, tau, N, N * T + late, false, max_wait)
    if not ticket then return nil, err end
    local wait, outcome = _M.checked(rt.decide(store, ticket))
    if not wait then return nil, outcome end
    local now = monotonic()
    took = now - t0
    note_late(self, now, took)
    -- A wait counts from the moment the store decided, which was about when it was
    -- asked: what went by since is already waited.
    if outcome == "denied" then return max(wait - took, 0) + ANSWER_SLACK, outcome end
    if outcome ~= "granted" or took <= late then return wait, outcome end
  end
  return nil, format("the store's answers come too late to be used (%.0f ms)", took * 1000)
end

return _M
