--- Output of the aliyun-live command: JSON with a fixed key order, text made safe for a
-- terminal, and writes whose failure is noticed (a full disk, a closed stdout).
local type, pairs, ipairs, tostring, setmetatable, getmetatable =
  type, pairs, ipairs, tostring, setmetatable, getmetatable
local format, byte, sub, gsub, concat, sort, floor =
  string.format, string.byte, string.sub, string.gsub, table.concat, table.sort, math.floor

local _M = {}

------------------------------------------------------------------------ text --

local REPLACEMENT = "\239\191\189"   -- U+FFFD

--- s with every byte that is not part of valid UTF-8 replaced by U+FFFD.
local function utf8_clean(s)
  if not s:find("[\128-\255]") then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = byte(s, i)
    local len = c < 0x80 and 1 or (c >= 0xC2 and c <= 0xDF) and 2
      or (c >= 0xE0 and c <= 0xEF) and 3 or (c >= 0xF0 and c <= 0xF4) and 4 or 0
    local ok = len > 0 and i + len - 1 <= n
    if ok and len > 1 then
      for j = i + 1, i + len - 1 do
        local b = byte(s, j)
        if b < 0x80 or b > 0xBF then ok = false break end
      end
      local c2 = byte(s, i + 1)
      if ok and ((c == 0xE0 and c2 < 0xA0) or (c == 0xED and c2 > 0x9F)
                 or (c == 0xF0 and c2 < 0x90) or (c == 0xF4 and c2 > 0x8F)) then
        ok = false
      end
    end
    if ok then
      out[#out + 1] = sub(s, i, i + len - 1)
      i = i + len
    else
      out[#out + 1] = REPLACEMENT
      i = i + 1
    end
  end
  return concat(out)
end
_M.utf8_clean = utf8_clean

--- Text from the user (names, file contents, paths) as it may be shown on a terminal:
-- valid UTF-8, control characters (C0, DEL, C1) written as \xHH, so a hostile line
-- cannot move the cursor or change the terminal's state.
function _M.display(s)
  s = utf8_clean(tostring(s))
  s = gsub(s, "[%z\1-\31\127]", function(c) return format("\\x%02x", byte(c)) end)
  return (gsub(s, "\194([\128-\159])", function(c) return format("\\x%02x", byte(c)) end))
end

--- One line: newlines and other control characters of an error message become spaces.
function _M.one_line(s)
  return (gsub(utf8_clean(tostring(s)), "[%z\1-\31\127]+", " "))
end

------------------------------------------------------------------------ JSON --

local array_mt = { __name = "json array" }

--- t (default {}) marked as a JSON array, so that an empty one is written [].
function _M.array(t) return setmetatable(t or {}, array_mt) end

--- An object whose keys are written in the order of `order` (the others after them,
-- sorted). order is a list of key names.
function _M.object(order, t)
  t = t or {}
  return setmetatable(t, { __name = "json object", order = order })
end

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function quote(s)
  s = gsub(utf8_clean(s), '[%z\1-\31"\\\127]', function(c)
    return ESCAPES[c] or format("\\u%04x", byte(c))
  end)
  return '"' .. s .. '"'
end

local function number(v)
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  if v == floor(v) and v >= -2^53 and v <= 2^53 then return format("%d", v) end
  return format("%.17g", v)
end

local function is_array(t)
  local mt = getmetatable(t)
  if mt == array_mt then return true end
  if mt and mt.order then return false end
  local n = #t
  if n == 0 then return false end
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then return false end
  end
  return true
end

-- Keys in the object's order, then "RequestId", then the rest sorted.
local function keys_of(t)
  local mt = getmetatable(t)
  local order = mt and mt.order or { "RequestId" }
  local seen, keys = {}, {}
  for _, k in ipairs(order) do
    if t[k] ~= nil then keys[#keys + 1] = k seen[k] = true end
  end
  local rest = {}
  for k in pairs(t) do
    if not seen[k] then rest[#rest + 1] = tostring(k) end
  end
  sort(rest)
  for _, k in ipairs(rest) do keys[#keys + 1] = k end
  return keys
end

local MAX_DEPTH = 64

local function encode(v, out, indent, depth)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = quote(v)
  elseif t == "number" then
    out[#out + 1] = number(v)
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif t == "table" and depth < MAX_DEPTH then
    local nl = indent and ("\n" .. indent:rep(depth + 1)) or ""
    local close = indent and ("\n" .. indent:rep(depth)) or ""
    local sep = indent and ": " or ":"
    if is_array(v) then
      if #v == 0 then out[#out + 1] = "[]" return end
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = nl
        encode(v[i], out, indent, depth + 1)
      end
      out[#out + 1] = close .. "]"
    else
      local keys = keys_of(v)
      if #keys == 0 then out[#out + 1] = "{}" return end
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = nl .. quote(k) .. sep
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        encode(val, out, indent, depth + 1)
      end
      out[#out + 1] = close .. "}"
    end
  else
    out[#out + 1] = "null"   -- nil, cjson.null, functions, too deep
  end
end

--- v as JSON text: compact, or indented with `indent` (e.g. "  ").
function _M.json(v, indent)
  local out = {}
  encode(v, out, indent, 0)
  return concat(out)
end

------------------------------------------------------------------- writing --

-- A stream whose failures are remembered: w:write(...) never raises; w.err holds the
-- first error. w:flush() flushes and returns true, or nil and that error.
local Writer = {}
Writer.__index = Writer

function _M.writer(fh)
  return setmetatable({ fh = fh }, Writer)
end

function Writer:write(...)
  if self.err then return nil, self.err end
  local ok, err = self.fh:write(...)
  if ok == nil and err ~= nil then self.err = tostring(err) end
  return not self.err, self.err
end

function Writer:flush()
  if not self.err and self.fh.flush then
    local ok, err = self.fh:flush()
    if ok == nil and err ~= nil then self.err = tostring(err) end
  end
  if self.err then return nil, self.err end
  return true
end

return _M
