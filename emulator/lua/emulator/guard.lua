-- Orphan guard: nginx must never outlive the emulator/run script that started it.
-- run stops nginx on SIGTERM/SIGINT/exit and keeps a watchdog for SIGKILL, but
-- when the whole script (watchdog included) is killed outright — a process-group
-- SIGKILL, a `pkill -9 -f` — nobody is left to do it. So the worker checks, twice a
-- second, that run is still alive; once it is gone the worker removes the temporary
-- state directory (when run created it) and asks the master to shut down.
local ffi = require "ffi"

pcall(ffi.cdef, [[
int kill(int pid, int sig);
int getppid(void);
]])

local C = ffi.C
local SIGTERM, EPERM = 15, 1

local M = {}

local function alive(pid)
  return C.kill(pid, 0) == 0 or ffi.errno() == EPERM
end

--- Starts the check in this worker. run_pid: the script's pid; temp_dir: the state
--- directory to remove, or nil when the user chose it.
function M.start(run_pid, temp_dir)
  if type(run_pid) ~= "number" then return end
  local master = C.getppid()
  local fired = false
  local function check(premature)
    if premature or fired or alive(run_pid) then return end
    fired = true
    ngx.log(ngx.WARN, "emulator/run (pid ", run_pid, ") is gone; shutting down")
    if type(temp_dir) == "string" and temp_dir:match("^/[%w%._/%-]+$") then
      os.execute("rm -rf '" .. temp_dir .. "'")
    end
    C.kill(master, SIGTERM)
  end
  local ok, err = ngx.timer.every(0.5, check)
  if not ok then ngx.log(ngx.ERR, "cannot start the orphan guard: ", err) end
end

return M
