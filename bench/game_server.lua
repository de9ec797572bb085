-- The example game-server host (examples/game-server/) against the emulator at its
-- default quota (EMU_URL, 30/s): 4 threads, 300 resumes at the quota, frame times of
-- the loaded loop next to the same loop idle, run just before it in the same process.
--   EMU_URL=http://127.0.0.1:P GAME_SERVER=build/lua5.4/examples/game-server lua5.4 bench/game_server.lua
-- Figures (ms): game_idle_{p50,p99,max}_ms, game_frame_{p50,p99,max}_ms, and the
-- differences game_p99_over_idle_ms, game_max_over_idle_ms; the same from the threads'
-- CPU time in their frames (the work alone, without time spent descheduled: the
-- emulator shares the machine) as game_cpu_*; then the run itself:
-- game_resumes_per_s, game_max_per_second (the emulator's), game_throttled.
local cjson = require "cjson"

local emu = assert(os.getenv("EMU_URL"), "EMU_URL is not set")
local host = os.getenv("GAME_SERVER") or "build/lua5.4/examples/game-server"
local THREADS, RESUMES = 4, 300

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function control(method, path)
  local p = assert(io.popen(("curl -s -X %s %s"):format(method, q(emu .. path))))
  local body = p:read("*a")
  p:close()
  return cjson.decode(body)
end

local function out(name, value, fmt) print(("%s: " .. (fmt or "%.3f")):format(name, value)) end

local f = io.open(host, "rb")
if not f then
  io.stderr:write(("bench/game_server.lua: %s is missing (make game-server)\n"):format(host))
  os.exit(1)
end
f:close()

control("POST", "/__emulator/reset")
-- stderr stays the bench's stderr (the host's note about the emulator's key goes there)
local p = assert(io.popen(("%s --endpoint %s --threads %d --resumes %d; echo \"__rc=$?\"")
  :format(q(host), q(emu), THREADS, RESUMES)))
local text = p:read("*a")
p:close()
local rc = tonumber(text:match("__rc=(%d+)"))

local fig = {}
for line in text:gmatch("[^\n]+") do
  local name, rest = line:match("^(%a+) ([%w_]+=.*)$")
  if name then
    fig[name] = {}
    for k, v in rest:gmatch("([%w_]+)=(%S+)") do fig[name][k] = tonumber(v) end
  end
end
local idle, frame, load, cpu = fig.idle, fig.frame, fig.load, fig.cpu
if not (idle and frame and load and cpu) then
  io.stderr:write("bench/game_server.lua: the host printed no figures:\n" .. text)
  os.exit(1)
end

out("game_idle_p50_ms", idle.p50_ms)
out("game_idle_p99_ms", idle.p99_ms)
out("game_idle_max_ms", idle.max_ms)
out("game_frame_p50_ms", frame.p50_ms)
out("game_frame_p99_ms", frame.p99_ms)
out("game_frame_max_ms", frame.max_ms)
out("game_p99_over_idle_ms", frame.p99_ms - idle.p99_ms)
out("game_max_over_idle_ms", frame.max_ms - idle.max_ms)
out("game_cpu_idle_p99_ms", cpu.idle_p99_ms)
out("game_cpu_frame_p99_ms", cpu.frame_p99_ms)
out("game_cpu_p99_over_idle_ms", cpu.frame_p99_ms - cpu.idle_p99_ms)
out("game_resumes_per_s", load.per_second, "%.2f")
local stats = control("GET", "/__emulator/stats")
out("game_max_per_second", stats.max_per_second["testid/ResumeLiveStream"] or 0, "%d")
out("game_throttled", stats.codes["Throttling.User"] or 0, "%d")
if rc ~= 0 or frame.errors ~= 0 or frame.completed ~= RESUMES then
  io.stderr:write(("bench/game_server.lua: the host exited %s, completed=%s errors=%s\n")
    :format(tostring(rc), tostring(frame.completed), tostring(frame.errors)))
  os.exit(1)
end
