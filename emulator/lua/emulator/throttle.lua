-- Per account/Action flow control, as the gateway's "user flow control": the key is
-- "<account's permanent AccessKeyId>/<Action>", so temporary keys share the budget
-- of the account that issued them. Only authenticated requests for known actions
-- get here, so the number of keys is bounded by accounts x actions.
--
-- Sliding log: a request arriving at t is admitted when fewer than `limit` admitted
-- requests of its key arrived in the half-open second (t - 1 s, t]. Throttled
-- requests are not logged, so they do not consume quota. The wait reported to the
-- client is the time until enough logged requests leave the window for one slot.
local fifo = require "emulator.fifo"

local M = {}

local WINDOW_US = 1000000
local windows

function M.reset() windows = {} end
M.reset()

--- Returns true, or false and the milliseconds until a slot frees.
function M.admit(key, t_us, limit)
  local w = windows[key]
  if not w then
    w = fifo.new()
    windows[key] = w
  end
  local cutoff = t_us - WINDOW_US
  while w:size() > 0 and w:peek() <= cutoff do w:pop() end
  if w:size() < limit then
    w:push(t_us)
    return true
  end
  -- After a run-time lowering of the limit the window can hold more than `limit`
  -- entries; a slot frees when the (size - limit + 1)-th oldest leaves.
  local blocking = w:at(w:size() - limit + 1)
  local wait_us = blocking + WINDOW_US - t_us
  return false, math.max(1, math.ceil(wait_us / 1000))
end

return M
