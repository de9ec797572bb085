-- Percent-encoding as the signature algorithms define it, and query/form parsing.
local M = {}

local function encode_byte(c)
  return string.format("%%%02X", c:byte())
end

--- RFC 3986 encoding used by both signature versions: A-Z a-z 0-9 - _ . ~ stay,
--- every other byte becomes %XX with upper-case hex (space is %20, * is %2A).
function M.encode(s)
  return (s:gsub("[^A-Za-z0-9%-_%.~]", encode_byte))
end

local function decode_hex(h) return string.char(tonumber(h, 16)) end

--- Percent-decodes s. In a form body "+" means a space; in a URL query it is taken
--- literally, so a client that writes spaces as "+" in a query (which the signature
--- rules forbid) fails its signature check instead of passing by accident.
--- Malformed escapes ("%G1", a trailing "%") are kept as they are.
function M.decode(s, plus_is_space)
  if plus_is_space then s = s:gsub("+", " ") end
  return (s:gsub("%%(%x%x)", decode_hex))
end

--- Splits "a=1&b=&c" into { {name, value}, ... } (decoded, in order). Empty segments
--- and segments with an empty name are skipped; "c" alone has the value "".
function M.parse_pairs(raw, plus_is_space)
  local list = {}
  if not raw or raw == "" then return list end
  for segment in raw:gmatch("[^&]+") do
    local name, value = segment:match("^([^=]*)=(.*)$")
    if not name then name, value = segment, "" end
    if name ~= "" then
      list[#list + 1] = { M.decode(name, plus_is_space), M.decode(value, plus_is_space) }
    end
  end
  return list
end

-- The length of the UTF-8 sequence starting at byte i of s (RFC 3629: no overlongs,
-- no surrogates, nothing above U+10FFFF), or nil when it is not one.
local function sequence(s, i)
  local c = s:byte(i)
  if c < 0x80 then return 1 end
  local len, lo, hi = 0, 0x80, 0xBF
  if c >= 0xC2 and c <= 0xDF then len = 2
  elseif c >= 0xE0 and c <= 0xEF then
    len = 3
    if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
  elseif c >= 0xF0 and c <= 0xF4 then
    len = 4
    if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
  else
    return nil
  end
  local b = s:byte(i + 1)
  if not b or b < lo or b > hi then return nil end
  for j = i + 2, i + len - 1 do
    b = s:byte(j)
    if not b or b < 0x80 or b > 0xBF then return nil end
  end
  return len
end

--- s with every byte that is not part of valid UTF-8 replaced by "?", so an answer
--- that echoes request bytes is still valid JSON and XML.
function M.valid_utf8(s)
  if not s:find("[\128-\255]") then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local len = sequence(s, i)
    if len then
      out[#out + 1] = s:sub(i, i + len - 1)
      i = i + len
    else
      out[#out + 1] = "?"
      i = i + 1
    end
  end
  return table.concat(out)
end

--- True when s is valid UTF-8 without control characters.
function M.is_text(s)
  return not s:find("%c") and M.valid_utf8(s) == s
end

return M
