--- The async scheduler's queues: first-in first-out (ready tasks, completions, a
-- group's waiters), and sleepers sorted by due time.
local _M = {}

function _M.fifo() return { head = 1, tail = 0 } end

function _M.push(q, v) q.tail = q.tail + 1; q[q.tail] = v end

function _M.unshift(q, v) q.head = q.head - 1; q[q.head] = v end

function _M.pop(q)
  if q.head > q.tail then return nil end
  local v = q[q.head]
  q[q.head] = nil
  q.head = q.head + 1
  if q.head > q.tail then q.head, q.tail = 1, 0 end
  return v
end

--- Insert task into the sorted list of sleepers, due at `due` (from the end: most
-- arrive in order).
function _M.add_sleeper(list, task, due)
  task.due = due
  local i = #list
  while i > 0 and list[i].due > due do list[i + 1] = list[i]; i = i - 1 end
  list[i + 1] = task
end

return _M
