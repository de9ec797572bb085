-- Settings: loaded at start from the emulator.json that emulator/run writes, and
-- changeable at run time through POST /__emulator/config. /__emulator/reset puts the
-- run-time settings back to their start values.
local cjson = require "cjson.safe"
local jsonbody = require "emulator.jsonbody"

local M = {}

local startup = {}

-- The run-time settings (read directly as config.qps etc.).
local RUNTIME = { "qps", "throttle_status", "sts_ttl", "metadata_ttl", "uri_ttl",
                  "blocklist_limit" }

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
    uri_ttl = tonumber(t.uri_ttl) or 3600,     -- the credentials URI's keys
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

local function fixed(option)
  return function()
    return nil, ("is set at start (%s) and cannot change at run time"):format(option)
  end
end

-- Lifetimes up to ten years, so expiry dates stay representable.
local MAX_TTL = 315360000

local checks = {
  qps = jsonbody.integer(1, 1e9),
  throttle_status = jsonbody.integer(200, 599),
  sts_ttl = jsonbody.nullable(jsonbody.integer(1, MAX_TTL)),
  metadata_ttl = jsonbody.integer(1, MAX_TTL),
  uri_ttl = jsonbody.integer(1, MAX_TTL),
  blocklist_limit = jsonbody.integer(0, 1e9),
  ecs_role = fixed("--ecs-role"),
  imds_token_required = fixed("--imds-token-required"),
}

--- Applies a table of changes; a JSON null for sts_ttl goes back to DurationSeconds.
--- Returns true, or nil, message, field. Nothing is changed when any value is bad.
function M.update(changes)
  if type(changes) ~= "table" then return nil, "the body must be a JSON object" end
  local ok, why, field = jsonbody.check(changes, checks)
  if not ok then return nil, why, field end
  for k, v in pairs(changes) do
    if v == jsonbody.null then v = nil end
    M[k] = v
  end
  return true
end

return M
