--- Checks of what callers pass, before anything is sent. Wrong types (and unknown
-- names) are programming errors and raise; bad values return nil, err with code
-- SDK.InvalidParameter and err.field naming the field.
local core = require "aliyun.live.core"
local errors = require "aliyun.live.errors"

local type, pairs, tostring, format, find, sub, byte =
  type, pairs, tostring, string.format, string.find, string.sub, string.byte
local check_text, utf8_len, unknown_key = core.check_text, core.utf8_len, core.unknown_key
local raise, invalid = errors.raise, errors.invalid

local _M = {}

_M.MAX_NAME = 255     -- AppName and StreamName, in characters
_M.MAX_DOMAIN = 253   -- a DNS name

--- A table whose keys are all known (`what`: "option", "field", …). Raises otherwise.
function _M.fields(fn, what, t, known)
  if type(t) ~= "table" then raise(fn, format("expects a table of %ss, got %s", what, type(t))) end
  local k = unknown_key(t, known)
  if k ~= nil then raise(fn, format("unknown %s '%s'", what, tostring(k))) end
end

--- A text value: a type error raises; empty, invalid UTF-8, control characters or more
-- than max_chars characters return nil, err.
function _M.text(fn, field, v, max_chars)
  if type(v) ~= "string" then
    raise(fn, format("'%s' must be a string, got %s", field, type(v)))
  end
  if v == "" then return nil, invalid(field, "must not be empty") end
  local problem, at = check_text(v)
  if problem == "utf8" then
    return nil, invalid(field, format("is not valid UTF-8 (byte %d)", at))
  elseif problem == "control" then
    return nil, invalid(field, format("contains a control character (byte %d)", at))
  end
  -- Never more characters than bytes: count them only when the bytes are too many.
  if max_chars and #v > max_chars and utf8_len(v) > max_chars then
    return nil, invalid(field, format("is longer than %d characters", max_chars))
  end
  return v
end

--- A host name as DNS wants it: dot-separated labels of 1 to 63 bytes, letters,
-- digits, '-' and '_' (and UTF-8 for internationalised names), no label starting or
-- ending with '-', no empty label (so no leading, trailing or double dot).
-- Domains seen valid: a client talks to few, and checking one label by label costs more
-- than the rest of a call's Lua. Bounded, as operations.action's cache; emptied in place,
-- so that operations.lua may look into it (read only).
local valid_domains, nvalid = {}, 0
_M.valid_domains = valid_domains

function _M.domain(fn, v, field)
  if valid_domains[v] then return v end
  field = field or "domain"
  local d, err = _M.text(fn, field, v, _M.MAX_DOMAIN)
  if not d then return nil, err end
  local bad = find(d, "[^%w%.%-_\128-\255]")
  if bad then return nil, invalid(field, format("is not a domain name (byte %d)", bad)) end
  local start = 1
  while true do
    local dot = find(d, ".", start, true)
    local stop = (dot or #d + 1) - 1
    local label = sub(d, start, stop)
    if label == "" then
      return nil, invalid(field, format("has an empty label (byte %d)", start))
    elseif #label > 63 then
      return nil, invalid(field, format("has a label longer than 63 bytes (byte %d)", start))
    elseif byte(label, 1) == 45 or byte(label, -1) == 45 then
      return nil, invalid(field, format("has a label that starts or ends with '-' (byte %d)",
        byte(label, 1) == 45 and start or stop))
    end
    if not dot then break end
    start = dot + 1
  end
  if nvalid >= 256 then
    for k in pairs(valid_domains) do valid_domains[k] = nil end
    nvalid = 0
  end
  valid_domains[d], nvalid = true, nvalid + 1
  return d
end

--- A stream or app name.
function _M.name(fn, field, v)
  return _M.text(fn, field, v, _M.MAX_NAME)
end

--- One of `allowed` (a set), or nil; anything else raises.
function _M.enum(fn, field, v, allowed)
  if v == nil then return nil end
  if type(v) ~= "string" or not allowed[v] then
    local names = {}
    for k in pairs(allowed) do names[#names + 1] = format("%q", k) end
    table.sort(names)
    raise(fn, format("'%s' must be one of %s", field, table.concat(names, ", ")))
  end
  return v
end

--- A number of seconds for a timeout: finite, at least 1 ms (libcurl reads 0 as "no
-- timeout", so nothing shorter may round down to it) and at most a day. Returns the
-- milliseconds, rounded up. Raises otherwise (options are checked when they are set).
function _M.timeout_ms(fn, name, v, default)
  if v == nil then v = default end
  if type(v) ~= "number" then raise(fn, format("'%s' must be a number of seconds", name)) end
  if not (v >= 0.001 and v <= 86400) then
    raise(fn, format("'%s' must be between 0.001 and 86400 seconds, got %s", name, tostring(v)))
  end
  return math.ceil(v * 1000)
end

--- An integer in [lo, hi]; raises otherwise.
function _M.integer(fn, name, v, lo, hi)
  if type(v) ~= "number" or v ~= v or v % 1 ~= 0 or v < lo or v > hi then
    raise(fn, format("'%s' must be an integer from %d to %d", name, lo, hi))
  end
  return v
end

--- A string that goes into a header or a C string: no control characters, no NUL.
function _M.header_value(fn, name, v)
  if type(v) ~= "string" then raise(fn, format("'%s' must be a string", name)) end
  local problem, at = check_text(v)
  if problem then
    raise(fn, format("'%s' has %s at byte %d", name,
      problem == "utf8" and "invalid UTF-8" or "a control character", at))
  end
  return v
end

return _M
