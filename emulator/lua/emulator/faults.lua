-- Fault injection (POST/GET/DELETE /__emulator/faults).
--
-- Each entry answers the next `count` authenticated requests for its action (any
-- API action when none is given) instead of running them. Entries are consulted in
-- the order they were added; the first one that matches is used. An entry is one of:
--   error : answer with code/status/message (+ x-acs-retry-after when retry_after),
--           after `delay` seconds when given;
--   close : (after `delay`) close the connection without answering;
--   delay : only a delay was given — wait, then run the request normally (for client
--           timeout tests).
-- The credentials URI (/__emulator/credentials) takes only entries that name it
-- (action "CredentialsURI"), so an entry meant for the API is not used up by a
-- client fetching its credentials first.
-- At most MAX_QUEUE entries wait at a time, so a runaway test cannot grow it forever.

local jsonbody = require "emulator.jsonbody"

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

local MAX_QUEUE = 1000
M.MAX_QUEUE = MAX_QUEUE

-- A message goes into JSON and XML bodies: printable text, tabs and newlines.
local function message_check(v)
  if type(v) == "string" and #v <= 4096 and not v:gsub("[\t\n\r]", ""):find("%c") then
    return true
  end
  return nil, "must be a string of at most 4096 bytes without control characters"
end

local n = jsonbody.nullable
local FIELDS = {
  action = n(jsonbody.string("^%w+$", 64, "an action name (1-64 letters and digits)")),
  code = n(jsonbody.string("^[%w%.%-_]+$", 128, "an error code (1-128 of A-Z a-z 0-9 . - _)")),
  status = n(jsonbody.integer(200, 599)),
  count = n(jsonbody.integer(1, 1e9)),
  retry_after = n(jsonbody.integer(0, 3600000)),
  message = n(message_check),
  delay = n(jsonbody.number(0, 600)),
  close = n(jsonbody.boolean()),
}

--- Validates and queues a fault description. Returns the entry, or nil, message,
--- HTTP status (400 bad description, 409 queue full), field.
function M.add(spec)
  if type(spec) ~= "table" then return nil, "the body must be a JSON object", 400 end
  local ok, why, field = jsonbody.check(spec, FIELDS)
  if not ok then return nil, why, 400, field end
  if #queue >= MAX_QUEUE then
    return nil, ("the fault queue is full (%d entries): let them be used or DELETE /__emulator/faults")
      :format(MAX_QUEUE), 409
  end
  local e = {}
  for k in pairs(FIELDS) do
    if spec[k] ~= jsonbody.null then e[k] = spec[k] end
  end
  e.count = e.count or 1

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

--- Takes one use of the first entry matching action, or returns nil. With
--- named_only, entries without an action do not match.
function M.take(action, named_only)
  for i, e in ipairs(queue) do
    if e.action == action or (e.action == nil and not named_only) then
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
