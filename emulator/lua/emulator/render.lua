-- Response documents and their JSON and XML renderings.
--
-- API answers are built as ordered documents so that one description renders to
-- both formats: render.obj("RequestId", id, "TotalNum", 3, ...) keeps key order;
-- render.arr{...} is a list that renders as a JSON array or, in XML, as the parent
-- element repeated. Plain Lua tables also render to JSON (for the control endpoints):
-- a sequence is an array, anything else an object with sorted keys, and an empty
-- plain table is {} (use render.arr{} for an empty array).
local codec = require "emulator.codec"

local M = {}

local OBJ = {}
local ARR = {}

function M.obj(...)
  local n = select("#", ...)
  local o = { keys = {}, vals = {} }
  for i = 1, n, 2 do
    local k, v = select(i, ...)
    o.keys[#o.keys + 1] = k
    o.vals[#o.vals + 1] = v
  end
  return setmetatable(o, OBJ)
end

--- Appends a field to an ordered document unless its value is nil.
function M.add(o, k, v)
  if v ~= nil then
    o.keys[#o.keys + 1] = k
    o.vals[#o.vals + 1] = v
  end
  return o
end

function M.arr(list)
  return setmetatable({ items = list or {} }, ARR)
end

function M.is_obj(v) return getmetatable(v) == OBJ end

-- JSON ------------------------------------------------------------------------------

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function json_string(s)
  return '"' .. codec.valid_utf8(s):gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function json_number(n)
  if n ~= n or n == math.huge or n == -math.huge then return "null" end
  if n == math.floor(n) and math.abs(n) < 2^53 then return string.format("%d", n) end
  return string.format("%.17g", n)
end

local function is_sequence(t)
  local n = #t
  if n == 0 then return false end
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or k ~= math.floor(k) then return false end
  end
  return true
end

local encode

local function encode_plain(t, out)
  if is_sequence(t) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      encode(t[i], out)
    end
    out[#out + 1] = "]"
    return
  end
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = json_string(k)
    out[#out + 1] = ":"
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    encode(v, out)
  end
  out[#out + 1] = "}"
end

encode = function(v, out)
  local tv = type(v)
  if tv == "string" then out[#out + 1] = json_string(v)
  elseif tv == "number" then out[#out + 1] = json_number(v)
  elseif tv == "boolean" then out[#out + 1] = tostring(v)
  elseif tv == "nil" then out[#out + 1] = "null"
  elseif tv == "table" then
    local mt = getmetatable(v)
    if mt == OBJ then
      out[#out + 1] = "{"
      for i, k in ipairs(v.keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = json_string(k)
        out[#out + 1] = ":"
        encode(v.vals[i], out)
      end
      out[#out + 1] = "}"
    elseif mt == ARR then
      out[#out + 1] = "["
      for i, item in ipairs(v.items) do
        if i > 1 then out[#out + 1] = "," end
        encode(item, out)
      end
      out[#out + 1] = "]"
    else
      encode_plain(v, out)
    end
  else
    error("cannot encode a " .. tv .. " as JSON")
  end
end

function M.json(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

-- XML -------------------------------------------------------------------------------

local xml_entities = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                       ['"'] = "&quot;", ["'"] = "&apos;" }

-- XML 1.0 allows no control characters but tab, newline and carriage return.
function M.xml_escape(s)
  return (codec.valid_utf8(tostring(s)):gsub("[%z\1-\8\11\12\14-\31\127]", "?")
    :gsub("[&<>\"']", xml_entities))
end

local function xml_scalar(v)
  if type(v) == "number" then return json_number(v) end
  return M.xml_escape(tostring(v))
end

local xml_element

local function xml_children(o, out)
  for i, k in ipairs(o.keys) do
    local v = o.vals[i]
    if getmetatable(v) == ARR then
      for _, item in ipairs(v.items) do xml_element(k, item, out) end
    else
      xml_element(k, v, out)
    end
  end
end

xml_element = function(name, v, out)
  out[#out + 1] = "<" .. name .. ">"
  if getmetatable(v) == OBJ then
    xml_children(v, out)
  elseif v ~= nil then
    out[#out + 1] = xml_scalar(v)
  end
  out[#out + 1] = "</" .. name .. ">"
end

--- <?xml ...?><root>children of obj</root>
function M.xml(root, o)
  local out = { "<?xml version='1.0' encoding='UTF-8'?>" }
  xml_element(root, o, out)
  return table.concat(out)
end

return M
