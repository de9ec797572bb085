--- The async scheduler: requests in flight on the client's multi handle, driven by
-- client:poll(timeout) from the host's loop. Each request is the request engine
-- (engine.lua) running in a coroutine whose runtime yields instead of waiting: a
-- transfer yields until poll collects it, a wait (limiter, backoff) until poll finds
-- it due, a decision of a store that answers later (Redis) until poll has its answer
-- (the store's descriptor is waited on beside libcurl's), and the limiter slot is
-- taken at the moment the request can leave.
--
-- Nothing a user supplies runs before the bookkeeping is done: poll collects every
-- finished transfer, resumes the engines and records every completion first, then
-- runs the callbacks — under a pcall that starts again after the one that raised, so
-- one that raises cannot keep the others from running; the first error is raised again
-- from poll afterwards (later ones go to the logger). Callbacks only ever run from poll.
--
-- Who goes next — a batch's share of transfers, the line of requests waiting for one
-- quota key — is async/turns.lua. What a request costs is kept small: one runtime per
-- scheduler (async/runtime.lua: its functions find the task they serve in s.current,
-- set while that task runs), worker coroutines that run one task after another instead
-- of one new coroutine per request, finished transfers collected into arrays the
-- scheduler keeps, tables whose keys are all set at creation, and the queues' pushes
-- and pops written out where they happen once per request.
local core = require "aliyun.live.core"
local engine = require "aliyun.live.engine"
local errors = require "aliyun.live.errors"
local waits = require "aliyun.live.async.store_waits"
local queue = require "aliyun.live.async.queue"
local runtime = require "aliyun.live.async.runtime"
local turns = require "aliyun.live.async.turns"
local host_wait = require "aliyun.live.async.host_wait"
local deliver = require("aliyun.live.async.callbacks").deliver

local create, resume, status = coroutine.create, coroutine.resume, coroutine.status
local tostring, setmetatable, ceil = tostring, setmetatable, math.ceil
local monotonic = core.monotonic
local fifo, push, add_sleeper = queue.fifo, queue.push, queue.add_sleeper
local release_turn, open_gate, fill = turns.release_turn, turns.open_gate, turns.fill

local _M = {}

local MAX_WAIT = 86400                -- seconds: the most one poll waits
local MAX_STEPS = 100000              -- resumptions per pass: a task that loops is a bug
local MAX_IDLE = 256                  -- idle worker coroutines kept for the next tasks
local DONE = {}                       -- what a worker yields when its task has finished

---------------------------------------------------------------------- tasks --

local Op   -- what submit returns (async/op.lua, built over this module at the end)

local function finish(s, task, res, err, attempts)
  if task.dead then return end
  task.dead = true
  if task.turn then release_turn(s, task) end
  if task.gate then open_gate(s, task) end
  -- A task that ends holding no turn (cancelled in a limiter's line, failed before it
  -- took one) gives none back: its group's waiters get the room there is.
  local g = task.group
  if g.waiters.head <= g.waiters.tail then fill(s, g) end
  local op = task.op
  if not op then
    if err ~= nil and err ~= false then engine.log(s.cfg, "error", "background task: %s", tostring(err)) end
    return
  end
  s.ops[op] = nil
  op.done, op.result, op.err = true, res, err
  op.attempts = (err and err.attempts) or attempts or op.attempts
  s.pending = s.pending - 1
  s.completed = s.completed + 1
  local q = s.done   -- push(s.done, op)
  local t = q.tail + 1
  q.tail, q[t] = t, op
end

-- Resume task with the values given, at most three: an answer (a task not started yet
-- gets a worker and itself); file it where its yield says.
local function step(s, task, v1, v2, v3)
  if task.dead and not task.unwinding then return end
  local co, ok, a, b, c, d = task.co, nil
  if not co and task.started then return end   -- (it ran to its end: never twice)
  local prev = s.current
  s.current = task
  if co then
    ok, a, b, c, d = resume(co, v1, v2, v3)
  else
    local idle = s.idle
    co = idle[#idle]
    if co then idle[#idle] = nil else co = create(s.worker) end
    task.co, task.started = co, true
    ok, a, b, c, d = resume(co, task)
  end
  s.current = prev
  if a == "io" and ok then   -- the most frequent first
    task.io = b
    s.io[b] = task
    s.nio = s.nio + 1
  elseif not ok then   -- the worker died with the error: it is not reused
    task.co, s.live[task] = false, nil
    return finish(s, task, nil, errors.new("SDK.InternalError", "request engine failed: "
      .. tostring(a)))
  elseif a == DONE then
    task.co, s.live[task] = false, nil
    local idle = s.idle
    if #idle < MAX_IDLE then idle[#idle + 1] = co end
    return finish(s, task, b, c, d)
  elseif a == "store" then
    waits.add(s.waits, b, c, task)
  elseif a == "sleep" then
    add_sleeper(s.sleepers, task, b)
  elseif a == "turn" then
    if b then queue.unshift(task.group.waiters, task) else push(task.group.waiters, task) end
  elseif a == "gate" then   -- in its gate's line already
  elseif status(co) == "dead" then   -- cannot happen: a worker never returns
    return finish(s, task, nil, errors.new("SDK.InternalError", "a request worker ended"))
  else
    finish(s, task, nil, errors.new("SDK.InternalError", "a request yielded outside the "
      .. "library (a hook that yields in a coroutine of its own?)"))
  end
end

-- A task's table holds the keys every request sets (each key costs a table as much at
-- its creation as later); false, not nil, for those set later, which then are found in
-- place. fn (spawned tasks), due (sleepers), store and ticket (store waits) come when used.
local function new_task(s, op, group, action, params, fn)
  group = group or s.group
  local task = { op = op, group = group, turn = false, action = action, params = params,
                 fn = fn, co = false, started = false, io = false, gate = false,
                 dead = false, unwinding = false, in_unwinds = false }
  -- A group with no room: the task waits for a turn before anything runs (see pass).
  local q
  if group.inflight + group.queued >= group.limit then
    q = group.waiters
  else
    q = s.ready
    group.queued = group.queued + 1
  end
  local t = q.tail + 1   -- push(q, task)
  q.tail, q[t] = t, task
  s.live[task] = true
  return task
end

function _M.spawn(s, fn) return new_task(s, false, s.system, false, false, fn) end

------------------------------------------------------------------ scheduler --

-- An array of false as long as the most transfers one poll can collect: an answer's
-- nil stored over false, or false over nil, stays in the array part (a nil slot past
-- the array would be a new key each time).
local function falses()
  local t = {}
  for i = 1, 256 do t[i] = false end
  return t
end

--- A group of requests sharing a concurrency limit (a resume_many batch): turns.lua.
_M.group = turns.group

--- The scheduler of client state `cfg` over core client `ccl`.
function _M.new(cfg, ccl)
  local s = {
    cfg = cfg, ccl = ccl, pending = 0, completed = 0, nio = 0, io = {}, sleepers = {}, ops = {},
    waits = waits.new(),                  -- decisions awaited from limiter stores
    ready = fifo(), done = fifo(), idle = {}, unwinds = {}, closing = false,
    live = {},                            -- every task not at its end yet (close finds them)
    ids = {}, got_task = falses(), got_a = falses(), got_b = falses(), got_c = falses(),
    collecting = false,
    group = _M.group(cfg.concurrency),
    system = _M.group(1e9),   -- credential refreshes
  }
  s.rt = runtime.new(s, release_turn, open_gate, _M.spawn)
  s.worker = runtime.worker(s, DONE)
  return s
end

--- Submit an operation → op. callback(result, err, op) runs from a later poll; `tag`
-- (optional) is kept as op.tag for the caller.
function _M.submit(s, action, params, callback, group, tag)
  local op = setmetatable({ action = action, done = false, callback = callback,
                            attempts = 0, sched = s, task = false, tag = tag, result = nil,
                            err = nil }, Op)   -- every field named, so the table is sized once
  s.pending = s.pending + 1
  s.ops[op] = true
  op.task = new_task(s, op, group, action, params)
  return op
end

-- Run every task that can run now: cancelled ones unwinding, due sleepers and ready
-- ones. A task not started yet whose group has no room waits for a turn before it gets
-- a worker (a batch of 10,000 is not 10,000 coroutines parked in wait_turn; but those
-- waiting in a limiter's line hold no turn, so with a limiter more of them start: about
-- one more per request sent while the batch lasts).
-- A cancelled task's other wake-ups (a turn, a place given to it before) are dropped:
-- it runs from s.unwinds, or from its sleep.
local function pass(s)
  local steps = 0
  local list, unwinds = s.sleepers, s.unwinds
  while true do
    local task
    if unwinds[1] then
      task = table.remove(unwinds, 1)
      task.in_unwinds = false
    elseif list[1] and list[1].due <= monotonic() then
      task = table.remove(list, 1)
    else
      local q = s.ready   -- task = pop(s.ready), written out: once per request
      local h = q.head
      if h > q.tail then return end
      task = q[h]
      q[h] = nil
      if h == q.tail then q.head, q.tail = 1, 0 else q.head = h + 1 end
      local g = task.group
      if not task.started then
        g.queued = g.queued - 1
        if task.dead then   -- cancelled before it ran: the room it was counted in is free
          s.live[task] = nil
          if g.waiters.head <= g.waiters.tail then fill(s, g) end
          task = nil
        elseif g.inflight >= g.limit then
          push(g.waiters, task)
          task = nil
        end
      elseif task.dead then
        task = nil
      end
    end
    if task then
      steps = steps + 1
      if steps > MAX_STEPS then
        return finish(s, task, nil, errors.new("SDK.InternalError", "scheduler: a request spins"))
      end
      step(s, task)
    end
  end
end

-- Collect every finished transfer before resuming anything (nothing is lost if a
-- resumption fails), then resume their engines. An answer is at most three values
-- (status, body, content type; or result | nil, err), kept in the scheduler's arrays.
local function collect(s, ids, n)
  local ccl, io = s.ccl, s.io
  local tasks, as, bs, cs = s.got_task, s.got_a, s.got_b, s.got_c
  -- A poll from inside a resumption (a logger or provider that polls) collects into
  -- arrays of its own: the scheduler's are still being handed on.
  if s.collecting then tasks, as, bs, cs = {}, {}, {}, {} end
  s.collecting = true
  for i = 1, n do
    local id = ids[i]
    local task = io[id]
    tasks[i] = task or false
    as[i], bs[i], cs[i] = ccl:collect(id)
    if task then
      io[id] = nil
      s.nio = s.nio - 1
      task.io = false
    end
  end
  for i = 1, n do
    local task, a, b, c = tasks[i], as[i], bs[i], cs[i]
    tasks[i], as[i], bs[i], cs[i] = false, false, false, false   -- hold no answer once handed on
    if task and not task.dead then   -- (one cancelled meanwhile unwinds from s.unwinds)
      if task.turn then release_turn(s, task) end
      step(s, task, a, b, c)
    end
  end
  if tasks == s.got_task then s.collecting = false end
end

-- Resume the requests whose store answered (all collected first: a resumed request
-- may send the next decision). → how many.
local function pump_stores(s)
  local got = waits.pump(s.waits)
  for i = 1, #got do
    local task, r = got[i][1], got[i][2]
    if not task.dead then step(s, task, r[1], r[2], r[3]) end
  end
  return #got
end

--- Drive everything: start what may start, wait at most `timeout` seconds for answers
-- (returning after the first wake-up that completes a request), complete what finished,
-- then run the callbacks. → requests still pending. Store answers that come in resume
-- their requests in the same call (a few rounds past the time, without waiting), so
-- a granted request leaves at once.
local EXTRA_ROUNDS = 4

function _M.poll(s, timeout)
  if timeout > MAX_WAIT then timeout = MAX_WAIT end
  local t_end = monotonic() + timeout
  local completed, extra = s.completed, 0
  while not s.closed do
    pass(s)
    local now = monotonic()
    local due = s.sleepers[1] and s.sleepers[1].due
    local wait = t_end - now
    if due and due - now < wait then wait = due - now end
    local fds, t
    if s.waits.n > 0 then fds, t = waits.fds(s.waits) end
    if t and t < wait then wait = t end
    if wait < 0 then wait = 0 end
    if s.nio > 0 or fds then
      local ids, n = s.ccl:poll(ceil(wait * 1000), fds, s.ids)
      if not ids then   -- the multi handle failed: every transfer in flight fails with it
        local err = n
        ids = {}
        for id in pairs(s.io) do ids[#ids + 1] = id end
        for _, id in ipairs(ids) do
          local task = s.io[id]
          s.io[id], s.nio = nil, s.nio - 1
          s.ccl:cancel(id)
          release_turn(s, task)
          step(s, task, nil, errors.name(err))
        end
      else
        collect(s, ids, n)
      end
    elseif not due and s.waits.n == 0 and s.ready.head > s.ready.tail then
      break                                   -- nothing left to do
    elseif wait > 0 then
      core.sleep(wait)                        -- only within the timeout given
    end
    local resumed = s.waits.n > 0 and pump_stores(s) > 0
    if s.completed > completed then break end
    if monotonic() >= t_end then
      if not resumed or extra >= EXTRA_ROUNDS then break end
      extra = extra + 1                       -- carry what the answers started out now
    end
  end
  -- Start what the completions let start, and send it now: a request granted its
  -- limiter slot here would otherwise leave at the host's next poll, a frame late (and
  -- could bunch with the requests granted after it).
  for _ = 1, EXTRA_ROUNDS do
    if s.closed then break end
    local nio = s.nio
    pass(s)
    if s.nio <= nio then break end
    local ids, n = s.ccl:poll(0, nil, s.ids)
    if not ids then break end                 -- the next poll fails them all
    collect(s, ids, n)
  end
  deliver(s)
  return s.pending
end

-- What a host's own event loop waits on, and for how long (async/host_wait.lua).
_M.timeout, _M.fds = host_wait.timeout, host_wait.fds

-- Cancel and close (async/cancel.lua): they finish tasks, and run what unwinds.
require("aliyun.live.async.cancel")(_M, { finish = finish, pass = pass })

Op = require("aliyun.live.async.op")(_M)

return _M
