-- Fault injection (POST/GET/DELETE /__emulator/faults).
--
-- Each entry answers the next `count` authenticated requests for its action (any
-- action when none is given) instead of running them. Entries are consulted in the
-- order they were added; the first one that matches is used. An entry is one of:
--   error : answer with code/status/message (+ x-acs-retry-after when retry_after),
--           after `delay` seconds when given;
--   close : (after `delay`) close the connection without answering;
--   delay : only a delay was given — wait, then run the request normally (for client
--           timeout tests).
local cjson = require "cjson.safe"

local M = {}

local queue

function M.reset() queue = {} end
M.reset()

local DEFAULT_MESSAGES = {
  ServiceUnavailable = "The request has failed due to a temporary failure of the server.",
  InternalError = "The request processing has failed due to some unknown error, exception or failure.",
  ["Throttling.User"] = "Request was denied due to user flow control.",
  Throttling = "Request was denied due to request throttling.",
}

local function status_for(code)
  if code == "ServiceUnavailable" then return 503 end
  if code == "InternalError" then return 500 end
  if code:find("^Throttling") then return 429 end
  return 400
end

local function code_for(status)
  if status == 503 then return "ServiceUnavailable" end
  if status == 429 then return "Throttling.User" end
  if status >= 500 then return "InternalError" end
  return "InvalidParameter"
end

local function opt(t, k)
  local v = t[k]
  if v == cjson.null then return nil end
  return v
end

local function number_in(v, lo, hi)
  return type(v) == "number" and v >= lo and v <= hi
end

--- Validates and queues a fault description; returns the entry or nil, message.
function M.add(spec)
  if type(spec) ~= "table" then return nil, "body must be a JSON object" end
  local known = { action = 1, code = 1, status = 1, count = 1, retry_after = 1,
                  message = 1, delay = 1, close = 1 }
  for k in pairs(spec) do
    if not known[k] then return nil, "unknown field: " .. tostring(k) end
  end
  local e = {
    action = opt(spec, "action"), code = opt(spec, "code"), status = opt(spec, "status"),
    count = opt(spec, "count") or 1, retry_after = opt(spec, "retry_after"),
    message = opt(spec, "message"), delay = opt(spec, "delay"), close = opt(spec, "close"),
  }
  if e.action ~= nil and (type(e.action) ~= "string" or e.action == "") then return nil, "bad action" end
  if e.code ~= nil and (type(e.code) ~= "string" or e.code == "") then return nil, "bad code" end
  if e.status ~= nil and not (number_in(e.status, 200, 599) and e.status % 1 == 0) then
    return nil, "bad status"
  end
  if not (number_in(e.count, 1, 1e9) and e.count % 1 == 0) then return nil, "bad count" end
  if e.retry_after ~= nil and not number_in(e.retry_after, 0, 3600000) then return nil, "bad retry_after" end
  if e.message ~= nil and type(e.message) ~= "string" then return nil, "bad message" end
  if e.delay ~= nil and not number_in(e.delay, 0, 600) then return nil, "bad delay" end
  if e.close ~= nil and type(e.close) ~= "boolean" then return nil, "bad close" end

  if e.close then
    e.kind = "close"
  elseif e.code or e.status or e.message or e.retry_after or not e.delay then
    e.kind = "error"
    e.code = e.code or code_for(e.status or 503)
    e.status = e.status or status_for(e.code)
    e.message = e.message or DEFAULT_MESSAGES[e.code] or "Injected fault."
  else
    e.kind = "delay"
  end
  e.remaining = e.count
  queue[#queue + 1] = e
  return e
end

--- Takes one use of the first entry matching action, or returns nil.
function M.take(action)
  for i, e in ipairs(queue) do
    if e.action == nil or e.action == action then
      e.remaining = e.remaining - 1
      if e.remaining <= 0 then table.remove(queue, i) end
      return e
    end
  end
  return nil
end

--- The queue as plain tables (for GET).
function M.list()
  local out = {}
  for _, e in ipairs(queue) do
    out[#out + 1] = { kind = e.kind, action = e.action, code = e.code, status = e.status,
                      remaining = e.remaining, retry_after = e.retry_after,
                      message = e.message, delay = e.delay, close = e.close }
  end
  return out
end

return M
