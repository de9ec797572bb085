-- API error values: { status = HTTP status, code = Code, message = Message,
-- headers = extra response headers }. Every check returns one of these on failure.
local M = {}

function M.new(status, code, message, headers)
  return { status = status, code = code, message = message, headers = headers }
end

--- A common (protocol) parameter is absent.
function M.missing(name)
  return M.new(400, "MissingParameter",
    ('The input parameter "%s" that is mandatory for processing this request is not supplied.'):format(name))
end

--- A parameter of the operation itself is absent: Missing<Name>.
function M.missing_op(name)
  return M.new(400, "Missing" .. name, name .. " is mandatory for this action.")
end

--- A parameter of the operation has a bad value: Invalid<Name>.Malformed.
function M.malformed(name, why)
  return M.new(400, "Invalid" .. name .. ".Malformed",
    ("Specified parameter %s is not valid.%s"):format(name, why and (" " .. why) or ""))
end

function M.invalid_parameter(name, why)
  return M.new(400, "InvalidParameter",
    ('The specified parameter "%s" is not valid.%s'):format(name, why and (" " .. why) or ""))
end

return M
