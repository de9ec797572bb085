--- Errors: how every failure the library returns is made and named.
--
-- The C core and the transports report facts: err.kind says what happened
-- ("api": the server's own Code is err.code; "invalid": a success status without a
-- usable body; "http": an error status without an API error body; or how a transfer
-- failed: "connect", "timeout", "tls", "too_big", "send", "recv", "partial",
-- "protocol", "nomem", "request", "other"), err.answered whether any byte of an answer
-- arrived. This file gives each kind its SDK.* code; retry.lua decides what is retried.
local core = require "aliyun.live.core"

local error, format, type = error, string.format, type

local _M = {}

local KIND_CODES = {
  connect = "SDK.ConnectionFailed",   -- nothing was sent
  timeout = "SDK.Timeout",
  tls = "SDK.TLSError",
  too_big = "SDK.ResponseTooLarge",
  send = "SDK.ConnectionError",
  recv = "SDK.ConnectionError",
  partial = "SDK.IncompleteResponse",
  protocol = "SDK.ProtocolError",
  nomem = "SDK.OutOfMemory",
  request = "SDK.InvalidParameter",   -- the transport refused to send it
  other = "SDK.TransportError",
  invalid = "SDK.InvalidResponse",
  http = "SDK.HttpError",
}
_M.KIND_CODES = KIND_CODES

--- A new error table: code, message and any extra fields.
function _M.new(code, message, fields)
  return core.error(code, message, fields)
end

--- Give a failure from a transport or the decoder its code (api errors have theirs).
function _M.name(err)
  if not err.code then err.code = KIND_CODES[err.kind] or "SDK.TransportError" end
  return err
end

--- SDK.InvalidParameter for a bad value of `field`.
function _M.invalid(field, message)
  return core.error("SDK.InvalidParameter", format("'%s' %s", field, message),
    { field = field })
end

local getinfo = debug.getinfo

-- Stack level of the first frame outside this library (and outside C functions such
-- as pcall), counted from raise's caller: where a programming error is the user's.
local function user_level()
  local level = 3
  while true do
    local info = getinfo(level, "S")
    if not info then return 1 end
    local src = info.source or ""
    -- (Lua 5.1 shows a tail call as a frame of its own, with no place to point at)
    if info.what ~= "C" and info.what ~= "tail" and not src:find("aliyun/live[%./]") then
      return level - 1
    end
    level = level + 1
  end
end

--- Raise a programming error as `aliyun.live.<fn>: <msg>`, with the position of the
-- user's code that called the library, never a line inside it.
function _M.raise(fn, msg)
  error(format("aliyun.live.%s: %s", fn, msg), user_level())
end

--- An error value that came from user code (a provider, a limiter) as an error table,
-- whatever it was: a string becomes the message; a table without a code gets `code`.
function _M.wrap(e, code, what)
  if type(e) == "table" and type(e.code) == "string" and type(e.message) == "string" then
    return e
  end
  local msg = type(e) == "table" and (e.message or e.msg) or e
  return core.error(code, format("%s: %s", what, tostring(msg)))
end

return _M
