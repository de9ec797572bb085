-- Statistics for GET /__emulator/stats: total RPC requests, outcomes by Code, and
-- for each "<account's permanent AccessKeyId>/<Action>" the largest number of
-- requests that arrived within any half-open one-second window, whatever their
-- outcome. Keys come from what requests claim (before any check), so at most
-- MAX_KEYS of them are tracked: later new keys are counted in `requests` and
-- `codes` only, and random AccessKeyIds cannot grow memory without bound.
--
-- The maximum is exact: every window that holds a maximal set of arrivals can be
-- slid to end at its last arrival, so it is enough to count, at each arrival t, the
-- arrivals in (t - 1 s, t] — a sliding log per key, pruned as it goes.
local fifo = require "emulator.fifo"

local M = {}

local WINDOW_US = 1000000
local MAX_KEYS = 10000
M.MAX_KEYS = MAX_KEYS
local requests, codes, max_per_second, logs, nkeys

function M.reset()
  requests = 0
  codes = {}
  max_per_second = {}
  logs = {}
  nkeys = 0
end
M.reset()

function M.count_request() requests = requests + 1 end

--- An arrival for key ("<account>/<Action>") at monotonic time t_us.
function M.arrival(key, t_us)
  local log = logs[key]
  if not log then
    if nkeys >= MAX_KEYS then return end
    nkeys = nkeys + 1
    log = fifo.new()
    logs[key] = log
  end
  local cutoff = t_us - WINDOW_US
  while log:size() > 0 and log:peek() <= cutoff do log:pop() end
  log:push(t_us)
  local n = log:size()
  if n > (max_per_second[key] or 0) then max_per_second[key] = n end
end

function M.outcome(code)
  codes[code] = (codes[code] or 0) + 1
end

function M.snapshot()
  local c, m = {}, {}
  for k, v in pairs(codes) do c[k] = v end
  for k, v in pairs(max_per_second) do m[k] = v end
  return { requests = requests, codes = c, max_per_second = m }
end

return M
