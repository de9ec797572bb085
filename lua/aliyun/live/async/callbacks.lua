--- The callbacks of the async scheduler's completions (async.lua's s.done), run from
-- poll once every completion is recorded: in order, each once; one that raises stops
-- only itself (one pcall per raise, not one per callback), and the first error is
-- raised again after the last callback (later ones go to the logger).
local engine = require "aliyun.live.engine"

local pcall, error, tostring = pcall, error, tostring

local _M = {}

-- Run the callbacks of the completions in s.done, in order, until one raises.
local function run_callbacks(s)
  local q = s.done
  while true do
    local h = q.head   -- op = pop(s.done), written out: once per request
    if h > q.tail then return end
    local op = q[h]
    q[h] = nil
    if h == q.tail then q.head, q.tail = 1, 0 else q.head = h + 1 end
    local callback = op.callback
    if callback then callback(op.result, op.err, op) end
  end
end

-- Every callback runs, one that raises stops only itself (one pcall per raise, not one
-- per callback); the first error is raised again after the last callback.
function _M.deliver(s)
  local first, raised = nil, false
  while true do
    local ok, e = pcall(run_callbacks, s)
    if ok then break end
    if not raised then first, raised = e, true
    else engine.log(s.cfg, "error", "a callback raised too: %s", tostring(e)) end
  end
  if raised then error(first, 0) end
end

return _M
