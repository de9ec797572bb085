--- Progress of a bulk run on stderr: a bar redrawn in place on a terminal
-- ("[=====>    ] 45/90 50% 29.8/s ETA 0:02 1 error"), or plain lines every few
-- seconds elsewhere (a log, a pipe), or nothing.
local format, rep, floor, max, min = string.format, string.rep, math.floor, math.max, math.min
local setmetatable, tonumber, type, os, io = setmetatable, tonumber, type, os, io

local _M = {}

local Progress = {}
Progress.__index = Progress

--- Is stderr a terminal? (Lua itself cannot ask; test(1) can, on the fd it inherits.)
function _M.stderr_is_terminal()
  local term = os.getenv("TERM")
  if term == "dumb" then return false end
  local ok, how, code = os.execute("test -t 2")
  if type(ok) == "number" then return ok == 0 end   -- Lua 5.1, LuaJIT
  return ok == true and how == "exit" and code == 0
end

-- The terminal's width in columns: $COLUMNS, else stty's answer for stderr, else 80.
local function columns()
  local c = tonumber(os.getenv("COLUMNS") or "")
  if c and c >= 20 then return floor(c) end
  local p = io.popen("stty size <&2 2>/dev/null")
  if p then
    local s = p:read("*a") or ""
    p:close()
    c = tonumber(s:match("^%d+%s+(%d+)"))
    if c and c >= 20 then return c end
  end
  return 80
end

local function duration(s)
  if s ~= s or s == math.huge or s < 0 then return "?" end
  s = floor(s + 0.5)
  if s >= 3600 then
    return format("%d:%02d:%02d", floor(s / 3600), floor(s / 60) % 60, s % 60)
  end
  return format("%d:%02d", floor(s / 60), s % 60)
end
_M.duration = duration

--- opts: mode ("bar", "lines", "none"), total, out (a writer, stderr), clock (seconds,
-- monotonic), interval (seconds between lines), label.
function _M.new(opts)
  local self = setmetatable({
    mode = opts.mode, total = opts.total, out = opts.out, clock = opts.clock,
    interval = opts.interval or 5, label = opts.label or "resume",
    samples = {}, drawn = false, last_draw = -math.huge,
  }, Progress)
  self.started = self.clock()
  self.last_line = self.started
  if self.mode == "bar" then self.width = columns() end
  return self
end

-- Completions per second over the last few seconds (over the whole run at first).
function Progress:rate(done, now)
  local s = self.samples
  s[#s + 1] = { now, done }
  while #s > 2 and now - s[2][1] >= 5 do table.remove(s, 1) end
  local t0, d0 = s[1][1], s[1][2]
  if now - t0 < 0.5 then
    t0, d0 = self.started, 0
    if now - t0 < 0.5 then return nil end
  end
  return (done - d0) / (now - t0)
end

function Progress:text(done, failed, now, width)
  local total = self.total
  local rate = self:rate(done, now)
  local pct = total > 0 and floor(done * 100 / total) or 100
  local eta = rate and rate > 0 and duration((total - done) / rate) or "?"
  local tail = format(" %d/%d %3d%% %s ETA %s%s", done, total, pct,
    rate and format("%.1f/s", rate) or "-/s", eta,
    failed > 0 and format(" %d error%s", failed, failed == 1 and "" or "s") or "")
  if not width then return tail end
  local bar = max(10, min(40, width - #tail - 3))
  local filled = total > 0 and floor(bar * done / total) or bar
  local arrow = filled < bar and ">" or ""
  return "[" .. rep("=", filled) .. arrow .. rep(" ", bar - filled - #arrow) .. "]" .. tail
end

--- A new state: done (items finished), failed (of those).
function Progress:update(done, failed, force)
  if self.mode == "none" then return end
  local now = self.clock()
  if self.mode == "bar" then
    if not force and now - self.last_draw < 0.1 then return end
    self.last_draw = now
    local line = self:text(done, failed, now, self.width)
    if #line > self.width - 1 then line = line:sub(1, self.width - 1) end
    self.out:write("\r", line, "\27[K")
    self.drawn = true
  elseif now - self.last_line >= self.interval or force then
    self.last_line = now
    self.out:write("aliyun-live: ", self.label, ":", self:text(done, failed, now), "\n")
  end
end

--- Take the bar off the screen before other output (it comes back at the next update).
function Progress:clear()
  if self.drawn then
    self.out:write("\r\27[K")
    self.drawn = false
    self.last_draw = -math.huge
  end
end

return _M
