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

return M
