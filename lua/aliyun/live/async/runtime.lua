--- The async scheduler's runtime (the engine's rt, see transport/curl.lua) and its
-- worker coroutines, built over scheduler s (async.lua): the engine's waits and
-- transfers become yields of the task running now, s.current, which the scheduler files
-- where the yield says ("io", "sleep", "turn", "gate", "store").
local core = require "aliyun.live.core"
local engine = require "aliyun.live.engine"
local errors = require "aliyun.live.errors"
local queue = require "aliyun.live.async.queue"

local error, pcall, yield, monotonic = error, pcall, coroutine.yield, core.monotonic

local _M = {}

local MAX_WAIT = 86400   -- seconds: the longest sleep

local function current(s)
  local task = s.current
  if not task then error("aliyun.live: an async runtime was used outside its request", 3) end
  return task
end

--- The runtime of scheduler s; release_turn(s, task) gives a task's turn back,
-- open_gate(s, task) its place at a limiter's gate, spawn(s, fn) runs fn(rt) as a task
-- of its own.
function _M.new(s, release_turn, open_gate, spawn)
  local ccl, gates = s.ccl, {}
  local rt = { name = "curl-async", yields = true, now = monotonic, ready = false }
  -- A task cancelled (op:cancel(), client:close()) unwinds to its end instead of being
  -- dropped where it waits: its hooks finish what they started (a credentials refresh
  -- left half-way hung every later request on its provider). Cancelled, it sends
  -- nothing and takes no turn or place (each answers "cancelled" at once); the engine
  -- stops at its next rt.cancelled() check; only its sleeps still wait.
  local function cancelled()
    return nil, errors.new("SDK.Cancelled", "the request was cancelled")
  end
  function rt.cancelled() return s.current.dead end
  function rt.sleep(sec)
    local task = current(s)
    if task.turn then release_turn(s, task) end
    -- A closed client runs its tasks to their ends now, and nothing would wake a sleep:
    -- it raises, out of the hook that waits (a provider looping on rt.sleep) to the pcall
    -- that called it (cached.lua's refresh, the engine's provider call).
    if task.dead and s.closing then error(errors.new("SDK.Cancelled", "the client was closed")) end
    yield("sleep", monotonic() + (sec > MAX_WAIT and MAX_WAIT or sec))
  end
  function rt.wait_turn()
    local task = s.current or current(s)
    if task.turn then return true end
    if task.dead then return false end
    local g = task.group
    -- The holder of a limiter gate waits first in line: a turn given to a task that then
    -- waits at that gate would be lost (and with one at a time, everything with it).
    local first = task.gate and task.gate.holder == task
    while g.inflight >= g.limit do
      yield("turn", first)
      if task.dead then return false end
    end
    g.inflight = g.inflight + 1
    task.turn = true
    return true
  end
  -- One request per quota key asks the limiter at a time (engine.try_slot): the others
  -- wait in line at its gate until the one asking is granted a slot (or fails: then
  -- they all ask once, and line up again). → the gate when holding it.
  function rt.gate(key)
    local task = s.current or current(s)
    if task.dead then return nil end
    local g = gates[key]
    if not g then
      g = queue.fifo()
      g.holder = false
      gates[key] = g
    end
    task.gate = g
    if g.holder == task then return g end
    if not g.holder then
      g.holder = task
      return g
    end
    queue.push(g, task)
    yield("gate")   -- resumed holding it, with the whole line (open_gate), or cancelled
    if g.holder == task then return g end
  end
  function rt.ungate(_, failed) open_gate(s, s.current or current(s), failed) end
  local function transfer(task, id, err)
    if not id then return nil, err end
    local a, b, c = yield("io", id)
    if task.dead then return cancelled() end
    return a, b, c
  end
  function rt.rpc(action, params, creds, signer)
    local task = s.current or current(s)
    if task.dead then return cancelled() end
    return transfer(task, ccl:start(action, params, creds.access_key_id,
      creds.access_key_secret, creds.security_token, signer))
  end
  function rt.http(req)
    local task = s.current or current(s)
    if task.dead then return cancelled() end
    return transfer(task, ccl:start_http(req))
  end
  -- The answer to a decision sent to an asynchronous store (limiter ticket).
  function rt.decide(store, ticket)
    local a, b, c = store:collect(ticket)
    if a ~= "pending" then return a, b, c end
    local task = s.current or current(s)
    if not task.dead then a, b, c = yield("store", store, ticket) end
    if task.dead then
      pcall(store.forget, store, ticket)
      return nil, "the request was cancelled"
    end
    return a, b, c
  end
  function rt.spawn(fn)   -- (a closing client starts nothing more)
    if not s.closing then spawn(s, fn) end
  end
  return rt
end

--- The body of a worker coroutine of s: it runs tasks one after another, yielding
-- `done` with a task's results, and is resumed with the next task.
function _M.worker(s, done)
  local run = engine.run
  return function(task)
    while true do
      local fn = task.fn
      if fn then
        task = yield(done, fn(s.rt))
      else
        task = yield(done, run(s.cfg, s.rt, task.action, task.params))
      end
    end
  end
end

return _M
