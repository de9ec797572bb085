-- Settings: loaded at start from the emulator.json that emulator/run writes, and
-- changeable at run time through POST /__emulator/config. /__emulator/reset puts the
-- run-time settings back to their start values.
local cjson = require "cjson.safe"

local M = {}

local startup = {}

-- The run-time settings (read directly as config.qps etc.).
local RUNTIME = { "qps", "throttle_status", "sts_ttl", "metadata_ttl", "blocklist_limit" }

local function apply(values)
  for _, k in ipairs(RUNTIME) do M[k] = values[k] end
end

--- Reads the settings file; returns the table it holds (keys included).
function M.load(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("*a")
  f:close()
  local t = assert(cjson.decode(text), "bad settings file " .. path)
  startup = {
    qps = tonumber(t.qps) or 30,
    throttle_status = tonumber(t.throttle_status) or 429,
    sts_ttl = tonumber(t.sts_ttl),           -- nil: use the request's DurationSeconds
    metadata_ttl = tonumber(t.metadata_ttl) or 21600,
    blocklist_limit = 10000,                  -- the service's per-account maximum
  }
  M.ecs_role = t.ecs_role or "EcsRamRoleTest"
  M.imds_token_required = t.imds_token_required == true
  apply(startup)
  return t
end

function M.reset() apply(startup) end

function M.snapshot()
  local s = {}
  for _, k in ipairs(RUNTIME) do s[k] = M[k] end
  s.ecs_role = M.ecs_role
  s.imds_token_required = M.imds_token_required
  return s
end

local function positive_int(v, lo, hi)
  return type(v) == "number" and v == math.floor(v) and v >= lo and v <= hi
end

local checks = {
  qps = function(v) return positive_int(v, 1, 1e9) end,
  throttle_status = function(v) return positive_int(v, 200, 599) end,
  sts_ttl = function(v) return positive_int(v, 1, 1e9) end,
  metadata_ttl = function(v) return positive_int(v, 1, 1e9) end,
  blocklist_limit = function(v) return positive_int(v, 0, 1e9) end,
}

--- Applies a table of changes; a JSON null for sts_ttl goes back to DurationSeconds.
--- Returns true or nil, message. Nothing is changed when any value is bad.
function M.update(changes)
  if type(changes) ~= "table" then return nil, "body must be a JSON object" end
  for k, v in pairs(changes) do
    local check = checks[k]
    if not check then return nil, "unknown setting: " .. tostring(k) end
    if not (check(v) or (k == "sts_ttl" and v == cjson.null)) then
      return nil, "bad value for " .. k
    end
  end
  for k, v in pairs(changes) do
    if v == cjson.null then v = nil end
    M[k] = v
  end
  return true
end

return M
