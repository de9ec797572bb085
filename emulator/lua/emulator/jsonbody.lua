-- Strict JSON bodies for the control endpoints. A body is an object or empty; every
-- field is checked against a table of checkers, unknown fields are refused, and an
-- error names the field it is about, so a typo or a hostile value (1e400, NaN, [])
-- cannot reach the emulator's state.
local cjson = require("cjson.safe").new()
cjson.decode_invalid_numbers(false)   -- NaN, Infinity and hex are not JSON
cjson.decode_max_depth(16)

local M = {}

M.null = cjson.null

--- Decodes text that must hold one JSON object. Returns the table or nil, message.
function M.decode_object(text)
  if not text:match("^%s*{") then return nil, "not a JSON object" end
  local v, err = cjson.decode(text)
  if type(v) ~= "table" then return nil, tostring(err) end
  return v
end

--- Reads the request body as a JSON object ({} when the body is empty).
--- Returns the table, or nil and a message.
function M.read_object()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body == nil then
    if ngx.req.get_body_file() then return nil, "the body is too large" end
    body = ""
  end
  if body:match("^%s*$") then return {} end
  -- cjson decodes [] and {} alike: tell them apart by the text.
  if not body:match("^%s*{") then return nil, "the body must be a JSON object ({...})" end
  local v, err = M.decode_object(body)
  if not v then return nil, "the body is not valid JSON: " .. err end
  return v
end

local function finite(v)
  return type(v) == "number" and v == v and v > -math.huge and v < math.huge
end

--- Checkers: each returns a function(v) -> true, or nil and "must be ..." text.
function M.integer(lo, hi)
  return function(v)
    if finite(v) and v % 1 == 0 and v >= lo and v <= hi then return true end
    return nil, ("must be an integer from %d to %d"):format(lo, hi)
  end
end

function M.number(lo, hi)
  return function(v)
    if finite(v) and v >= lo and v <= hi then return true end
    return nil, ("must be a number from %s to %s"):format(lo, hi)
  end
end

--- A string of 1..max bytes matching pattern (a Lua pattern anchored by the caller).
function M.string(pattern, max, what)
  return function(v)
    if type(v) == "string" and #v >= 1 and #v <= max and v:find(pattern) then return true end
    return nil, "must be " .. what
  end
end

function M.boolean()
  return function(v)
    if type(v) == "boolean" then return true end
    return nil, "must be true or false"
  end
end

--- Lets a JSON null through (the caller decides what it means).
function M.nullable(check)
  return function(v)
    if v == cjson.null then return true end
    return check(v)
  end
end

--- Checks every field of t against spec (name -> checker). Fields are visited in
--- sorted order so the error is the same from run to run.
--- Returns true, or nil, message, field.
function M.check(t, spec)
  local names = {}
  for k in pairs(t) do
    if type(k) ~= "string" then return nil, "field names must be strings", tostring(k) end
    names[#names + 1] = k
  end
  table.sort(names)
  for _, k in ipairs(names) do
    local check = spec[k]
    if not check then
      local known = {}
      for name in pairs(spec) do known[#known + 1] = name end
      table.sort(known)
      return nil, ("unknown field %q (known: %s)"):format(k:sub(1, 64), table.concat(known, ", ")), k:sub(1, 64)
    end
    local ok, why = check(t[k])
    if not ok then return nil, k .. " " .. why, k end
  end
  return true
end

return M
