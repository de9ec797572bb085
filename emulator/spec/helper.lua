-- busted helper: starts the emulator the specs share (emulator/run --port 0) and
-- stops it, and any other emulator a spec started, when the suite ends.
local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path

local S = require "support"

S.main = S.start("--key alt:altsecret --key dead:deadsecret:inactive")

local function shutdown()
  S.stop_all()
  S.cleanup_tmp()
end

local busted = require "busted"
busted.subscribe({ "suite", "end" }, function()
  shutdown()
  return nil, true
end)
-- Should the suite die before "suite end", closing the Lua state still stops them
-- (and each emulator also watches this process with --watch-pid).
S._guard = setmetatable({}, { __gc = shutdown })
