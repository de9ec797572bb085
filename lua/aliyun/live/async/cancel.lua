--- Cancelling a request and closing the scheduler (async.lua's s): the op's answer
-- first, then the task runs on to its end. Built over the scheduler module M and its
-- internals k (finish, pass).
local errors = require "aliyun.live.errors"
local waits = require "aliyun.live.async.store_waits"

local status = coroutine.status

return function(_M, k)
  local finish, pass = k.finish, k.pass

  -- A cancelled task runs on to its end (runtime.lua: cancelled, its transfers, turns,
  -- places and store decisions answer at once, and the engine stops), so that what its
  -- hooks started ends: a credentials refresh dropped half-way left its provider
  -- refreshing for ever. One that waits is resumed by the next pass (s.unwinds; one that
  -- sleeps is woken); one that runs (cancelled from its own hook) stops at its next check;
  -- a sleep it goes on to is waited for as any.
  local function unwind(s, task)
    local co = task.co
    if not co then return end
    task.unwinding = true
    if task.in_unwinds or status(co) ~= "suspended" then return end
    local list = s.sleepers
    for i = 1, #list do
      if list[i] == task then
        table.remove(list, i)
        break
      end
    end
    task.in_unwinds = true
    s.unwinds[#s.unwinds + 1] = task
  end

  -- The task's transfer stops, and its store decision is forgotten.
  local function drop_waits(s, task)
    if task.io then
      s.ccl:cancel(task.io)
      s.io[task.io], s.nio = nil, s.nio - 1
      task.io = false
    end
    waits.forget(s.waits, task)
  end

  --- Cancel op: its transfer stops, its callback gets (nil, err SDK.Cancelled or `code`).
  function _M.cancel(s, op, code, message)
    if op.done then return false end
    local task = op.task
    drop_waits(s, task)
    finish(s, task, nil, errors.new(code or "SDK.Cancelled", message or "the request was cancelled",
      { attempts = op.attempts }))
    if task.started then unwind(s, task) else s.live[task] = nil end   -- (nothing to run)
    return true
  end

  --- Close: every pending request ends with SDK.ClientClosed (callbacks at the next poll,
  -- or now when called from one). Every task runs to its end now — requests and
  -- background credential refreshes alike, wherever they wait (runtime.lua: a sleep of
  -- a task of a closing client raises out of the hook that waits).
  local CLOSE_ROUNDS = 8

  function _M.close(s)
    if s.closed then return end
    local ops = {}
    for op in pairs(s.ops) do ops[#ops + 1] = op end
    for _, op in ipairs(ops) do _M.cancel(s, op, "SDK.ClientClosed", "the client was closed") end
    -- Every other task — background credential refreshes, cancelled ones on their way
    -- out, wherever they are (a transfer, a sleep, queued, collected and not yet handed
    -- its answer) — ends too; one not started yet never will.
    -- (The one running, when closed from one of its hooks, stops at its next check.)
    for task in pairs(s.live) do
      task.dead = true
      drop_waits(s, task)
      if task.started then unwind(s, task) else s.live[task] = nil end
    end
    s.closing = true
    for _ = 1, CLOSE_ROUNDS do
      if not s.unwinds[1] then break end
      pass(s)
    end
    s.nio = 0
    waits.forget_all(s.waits)
    s.closed = true
  end
end
