-- Control endpoints under /__emulator/ (JSON in, JSON out), for tests and users:
--   GET    stats     requests, codes, max_per_second
--   POST   reset     clear statistics, streams, nonces, throttling, faults, clock,
--                    request log; run-time settings back to their start values
--   GET/POST/DELETE faults   list / queue / clear injected faults
--   GET/POST config  read / change qps, throttle_status, sts_ttl, metadata_ttl,
--                    uri_ttl, blocklist_limit
--   GET/POST clock   read / freeze ({"now": ISO}), shift ({"offset": s}), restore ({})
--   GET    requests?last=N   the last N RPC requests (secrets masked)
--   GET    credentials       fresh temporary credentials (the credentials URI)
--   GET    health    {"ok": true}
-- Bodies are strict (jsonbody.lua): a bad one is a 400 {"ok": false, "error",
-- "field"} and changes nothing.
local jsonbody = require "emulator.jsonbody"
local creduri = require "emulator.creduri"
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

local function fail(status, message, field)
  return response.json(status, { ok = false, error = message, field = field })
end

-- The clock may be moved at most ten years either way, and frozen between 1970 and
-- 9999: beyond, timestamps and expiry dates stop being representable.
local MAX_OFFSET = 10 * 365.25 * 86400

-- "YYYY-MM-DDThh:mm:ssZ", or with up to six decimals of a second ("...:ss.900Z"), so
-- a spec can freeze the clock just before a second turns.
local function parse_now(v)
  if type(v) ~= "string" then return nil end
  local t
  local base, frac = v:match("^(.-)%.(%d%d?%d?%d?%d?%d?)Z$")
  if base then
    t = clock.parse_iso(base .. "Z")
    if t then t = t + tonumber("0." .. frac) end
  else
    t = clock.parse_iso(v)
  end
  if t and t >= 0 then return t end
  return nil
end

local CLOCK_FIELDS = {
  now = function(v)
    if parse_now(v) then return true end
    return nil, 'must be a UTC time "YYYY-MM-DDThh:mm:ss[.ffffff]Z" from 1970 to 9999'
  end,
  offset = jsonbody.number(-MAX_OFFSET, MAX_OFFSET),
}

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
    local spec, why = jsonbody.read_object()
    if not spec then return fail(400, why) end
    local e, err, status, field = faults.add(spec)
    if not e then return fail(status, err, field) end
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
    local changes, why = jsonbody.read_object()
    if not changes then return fail(400, why) end
    local ok, err, field = config.update(changes)
    if not ok then return fail(400, err, field) end
    return response.json(200, config.snapshot())
  end,
}

endpoints.clock = {
  GET = function() return response.json(200, clock_state()) end,
  POST = function()
    local b, why = jsonbody.read_object()
    if not b then return fail(400, why) end
    local ok, err, field = jsonbody.check(b, CLOCK_FIELDS)
    if not ok then return fail(400, err, field) end
    if b.now ~= nil and b.offset ~= nil then
      return fail(400, "give now (freeze) or offset (shift), not both", "offset")
    end
    if b.now ~= nil then
      clock.freeze(parse_now(b.now))
    elseif b.offset ~= nil then
      clock.shift(b.offset)
    else
      clock.restore()
    end
    return response.json(200, clock_state())
  end,
}

endpoints.requests = {
  GET = function()
    local last = ngx.var.arg_last or "100"
    if not last:match("^%d+$") then return fail(400, "last must be a non-negative integer", "last") end
    return response.json(200, render.arr(reqlog.last(tonumber(last))))
  end,
}

endpoints.credentials = { GET = creduri.handle }

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
