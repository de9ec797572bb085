--- What a host with its own event loop (epoll, libuv, poll(2)) waits on before it calls
-- client:poll(0): the descriptors of the scheduler's transfers and limiter stores, and
-- the longest it may sleep (async.lua's scheduler s).
local core = require "aliyun.live.core"
local waits = require "aliyun.live.async.store_waits"

local monotonic = core.monotonic

local _M = {}

--- Seconds until the scheduler needs poll again without any socket activity (0: now),
-- or nil when nothing is pending: for hosts that wait in their own event loop.
function _M.timeout(s)
  if s.done.head <= s.done.tail then return 0 end   -- callbacks to run (after a cancel)
  if s.closed or (s.pending == 0 and s.nio == 0 and s.waits.n == 0 and not s.sleepers[1]
      and not s.unwinds[1]) then
    return nil
  end
  if s.ready.head <= s.ready.tail or s.unwinds[1] then return 0 end
  local t
  local due = s.sleepers[1] and s.sleepers[1].due
  if due then t = due - monotonic() end
  local ms = s.nio > 0 and s.ccl:transfer_timeout()
  if ms and (not t or ms / 1000 < t) then t = ms / 1000 end
  local _, st = waits.fds(s.waits)
  if st and (not t or st < t) then t = st end
  if t and t < 0 then t = 0 end
  return t
end

--- The descriptors to watch: { {fd =, events = "r" | "w" | "rw"}, … } (libcurl's and
-- those of the limiter stores requests wait on).
function _M.fds(s)
  local flat, out = s.ccl:fds(), {}
  for i = 1, #flat, 2 do out[#out + 1] = { fd = flat[i], events = flat[i + 1] } end
  flat = waits.fds(s.waits) or {}
  for i = 1, #flat, 2 do out[#out + 1] = { fd = flat[i], events = flat[i + 1] } end
  return out
end

return _M
