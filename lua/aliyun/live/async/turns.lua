--- Who goes next in the async scheduler (async.lua): a group's turns (its share of
-- transfers in flight, the concurrency of a resume_many batch or of the client) and the
-- line at a limiter's gate (one request per quota key asks the limiter at a time;
-- runtime.lua's rt.gate). Both hand over to the first live task waiting, in order.
local queue = require "aliyun.live.async.queue"

local fifo, push, pop = queue.fifo, queue.push, queue.pop

local _M = {}

--- A group of requests sharing a concurrency limit (a resume_many batch).
-- inflight: turns taken; queued: its tasks in s.ready that have not started (their
-- turns to come, so that a batch's tasks past its limit wait at once, not after a pass).
function _M.group(limit) return { limit = limit, inflight = 0, queued = 0, waiters = fifo() } end

-- The task gives its group's turn back (its caller checked task.turn): the first live
-- waiter becomes ready.
function _M.release_turn(s, task)
  task.turn = false
  local g = task.group
  g.inflight = g.inflight - 1
  local q = g.waiters   -- pop(g.waiters) until a live one, written out: once per request
  local h = q.head
  while h <= q.tail do
    local w = q[h]
    q[h] = nil
    if h == q.tail then q.head, q.tail = 1, 0 else q.head = h + 1 end
    if not w.dead then
      if not w.co then g.queued = g.queued + 1 end
      q = s.ready   -- push(s.ready, w)
      local t = q.tail + 1
      q.tail, q[t] = t, w
      return
    end
    h = q.head
  end
end

-- As many of the group's live waiters as it has room for (turns not taken, less its
-- tasks ready to start) become ready.
function _M.fill(s, g)
  local q, room = g.waiters, g.limit - g.inflight - g.queued
  while room > 0 and q.head <= q.tail do
    local w = pop(q)
    if not w.dead then
      if not w.co then g.queued = g.queued + 1 end
      push(s.ready, w)
      room = room - 1
    end
  end
end

-- The task leaves its limiter gate (runtime.lua): the first live one in line holds it
-- — or, when the limiter failed (`all`), every one in line asks for itself at once (one
-- after another, each would wait for a store that does not answer).
function _M.open_gate(s, task, all)
  local g = task.gate
  task.gate = false
  if not g or g.holder ~= task then return end   -- (one cancelled in line is skipped)
  g.holder = false
  while g.head <= g.tail do
    local w = pop(g)
    if not w.dead then
      push(s.ready, w)
      if not all then
        g.holder = w
        return
      end
    end
  end
end

return _M
