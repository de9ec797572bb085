-- Time for the emulator.
--
-- Two kinds of time are needed:
--   * precise, monotonic microseconds for per-second accounting (throttling windows,
--     max_per_second, nonce retention): FFI clock_gettime, because ngx.now() is a
--     millisecond value cached per event-loop turn and would make one-second windows
--     inexact;
--   * the "server clock" in seconds that business rules compare against (request
--     timestamps, ResumeTime, credential expiry). Tests can freeze or shift it through
--     /__emulator/clock to replay fixed signature vectors.
local ffi = require "ffi"
local C = ffi.C

pcall(ffi.cdef, [[
typedef struct { long tv_sec; long tv_nsec; } emu_timespec;
int clock_gettime(int clk_id, emu_timespec *tp);
]])

local CLOCK_REALTIME, CLOCK_MONOTONIC = 0, 1
local ts = ffi.new("emu_timespec")
local floor = math.floor

local M = {}

local frozen = nil   -- epoch seconds when the clock is frozen
local offset = 0     -- seconds added to the real clock

local function read_us(clk)
  C.clock_gettime(clk, ts)
  return tonumber(ts.tv_sec) * 1000000 + floor(tonumber(ts.tv_nsec) / 1000)
end

--- Monotonic microseconds (only differences are meaningful).
function M.mono_us() return read_us(CLOCK_MONOTONIC) end

--- Real wall-clock time in seconds (float), ignoring freeze/offset.
function M.real() return read_us(CLOCK_REALTIME) / 1e6 end

--- The server clock in seconds (float).
function M.now()
  if frozen then return frozen end
  return M.real() + offset
end

function M.freeze(epoch) frozen, offset = epoch, 0 end
function M.shift(seconds) frozen, offset = nil, seconds end
function M.restore() frozen, offset = nil, 0 end
function M.state() return { frozen = frozen ~= nil, offset = offset } end

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm);
-- done by hand because os.time() interprets its argument in the local time zone.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function days_in_month(y, m)
  if m == 2 then
    local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
    return leap and 29 or 28
  end
  return (m == 4 or m == 6 or m == 9 or m == 11) and 30 or 31
end

--- Parses exactly "YYYY-MM-DDThh:mm:ssZ" (UTC, no fractions); returns epoch seconds
--- or nil.
function M.parse_iso(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, se = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)Z$")
  if not y then return nil end
  y, mo, d, h, mi, se = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(se)
  if mo < 1 or mo > 12 or d < 1 or d > days_in_month(y, mo) or h > 23 or mi > 59 or se > 59 then
    return nil
  end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se
end

--- Formats epoch seconds as "YYYY-MM-DDThh:mm:ssZ".
function M.format_iso(epoch)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", floor(epoch))
end

return M
