-- Control endpoints under /__emulator/ (JSON in, JSON out), for tests and users:
--   GET    stats     requests, codes, max_per_second
--   POST   reset     clear statistics, streams, nonces, throttling, faults, clock,
--                    request log; run-time settings back to their start values
--   GET/POST/DELETE faults   list / queue / clear injected faults
--   GET/POST config  read / change qps, throttle_status, sts_ttl, metadata_ttl,
--                    blocklist_limit
--   GET/POST clock   read / freeze ({"now": ISO}), shift ({"offset": s}), restore ({})
--   GET    requests?last=N   the last N RPC requests (secrets masked)
--   GET    health    {"ok": true}
local cjson = require "cjson.safe"
local render = require "emulator.render"
local response = require "emulator.response"
local clock = require "emulator.clock"
local config = require "emulator.config"
local stats = require "emulator.stats"
local nonces = require "emulator.nonces"
local throttle = require "emulator.throttle"
local faults = require "emulator.faults"
local reqlog = require "emulator.reqlog"
local live = require "emulator.live"
local metadata = require "emulator.metadata"

local M = {}

local function fail(status, message)
  return response.json(status, { ok = false, error = message })
end

-- The request body as a JSON object ({} when empty).
local function json_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data() or ""
  if body:match("^%s*$") then return {} end
  local v = cjson.decode(body)
  if type(v) ~= "table" then return nil end
  return v
end

local function clock_state()
  local s = clock.state()
  s.now = clock.format_iso(clock.now())
  return s
end

local endpoints = {}

endpoints.health = { GET = function() return response.json(200, { ok = true }) end }

endpoints.stats = { GET = function() return response.json(200, stats.snapshot()) end }

endpoints.reset = {
  POST = function()
    stats.reset(); live.reset(); nonces.reset(); throttle.reset(); faults.reset()
    reqlog.reset(); clock.restore(); config.reset(); metadata.reset_credentials()
    return response.json(200, { ok = true })
  end,
}

endpoints.faults = {
  GET = function() return response.json(200, { faults = render.arr(faults.list()) }) end,
  POST = function()
    local spec = json_body()
    if not spec then return fail(400, "body must be a JSON object") end
    local e, err = faults.add(spec)
    if not e then return fail(400, err) end
    return response.json(200, { ok = true, queued = #faults.list() })
  end,
  DELETE = function()
    faults.reset()
    return response.json(200, { ok = true })
  end,
}

endpoints.config = {
  GET = function() return response.json(200, config.snapshot()) end,
  POST = function()
    local changes = json_body()
    if not changes then return fail(400, "body must be a JSON object") end
    local ok, err = config.update(changes)
    if not ok then return fail(400, err) end
    return response.json(200, config.snapshot())
  end,
}

endpoints.clock = {
  GET = function() return response.json(200, clock_state()) end,
  POST = function()
    local b = json_body()
    if not b then return fail(400, "body must be a JSON object") end
    if b.now ~= nil then
      local t = clock.parse_iso(b.now)
      if not t then return fail(400, "now must be YYYY-MM-DDThh:mm:ssZ") end
      clock.freeze(t)
    elseif b.offset ~= nil then
      if type(b.offset) ~= "number" then return fail(400, "offset must be a number of seconds") end
      clock.shift(b.offset)
    else
      clock.restore()
    end
    return response.json(200, clock_state())
  end,
}

endpoints.requests = {
  GET = function()
    local n = tonumber(ngx.var.arg_last or "100")
    if not n or n < 0 then return fail(400, "last must be a non-negative integer") end
    return response.json(200, render.arr(reqlog.last(math.floor(n))))
  end,
}

function M.handle(name, method)
  local e = endpoints[name]
  if not e then return nil end
  local fn = e[method]
  if not fn then
    local allowed = {}
    for m in pairs(e) do allowed[#allowed + 1] = m end
    table.sort(allowed)
    return fail(405, "use " .. table.concat(allowed, " or "))
  end
  fn()
  return true
end

return M
