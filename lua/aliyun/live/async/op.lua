--- An async request as its caller holds it (what resume_async returns): done, result,
-- err, attempts, and cancel, wait and await. Built over the scheduler module `async`.
local core = require "aliyun.live.core"
local compat = require "aliyun.live.compat"
local errors = require "aliyun.live.errors"

local monotonic, yield = core.monotonic, coroutine.yield

return function(async)
  local Op = {}
  Op.__index = Op

  --- op:cancel() → true if it was still pending.
  function Op:cancel() return async.cancel(self.sched, self) end

  --- op:wait([timeout]) → result | nil, err: polls the client until the request is done
  -- (nil, err SDK.StillPending after `timeout` seconds).
  function Op:wait(timeout)
    local s = self.sched
    local t_end = timeout and monotonic() + timeout
    while not self.done do
      if s.closed then break end
      local left = t_end and t_end - monotonic() or 1
      if left <= 0 then break end
      async.poll(s, left < 1 and left or 1)
    end
    if not self.done then
      return nil, errors.new("SDK.StillPending", "the request is still pending")
    end
    return self.result, self.err
  end

  --- op:await() → result | nil, err: inside a coroutine, yields (nothing) until the
  -- request is done, for hosts that poll the client elsewhere; outside one, op:wait().
  function Op:await()
    if not compat.in_coroutine() then return self:wait() end
    while not self.done do yield() end
    return self.result, self.err
  end

  return Op
end
