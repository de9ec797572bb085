--- Bulk input and the failed-items file of `aliyun-live resume --from`.
--
-- Two formats, told apart by the content: JSON lines when the first character that is
-- not white space is "{", else CSV (RFC 4180: fields separated by commas, a field in
-- double quotes may hold commas, quotes written twice, and line breaks; records end
-- with LF or CRLF; an optional header line names the columns domain, app, stream, in
-- any order, and may name other columns too, which are ignored).
--
-- _M.parse(text) → { format = "csv"|"jsonl", header = raw header line or nil,
-- eol = "\n"|"\r\n", items = { {line=, raw=, domain=, app=, stream=} or
-- {line=, raw=, err=message}, … } }. `line` is the number of the item's first line;
-- `raw` its text as it stood in the input (without the line end), which is what the
-- failed-items file gets back, so that a bad line can be fixed there and fed back.
local type, ipairs, tostring, pcall, require = type, ipairs, tostring, pcall, require
local find, sub, gsub, lower, format, concat =
  string.find, string.sub, string.gsub, string.lower, string.format, table.concat

local _M = {}

local FIELDS = { "domain", "app", "stream" }

-- Number of "\n" in s.
local function newlines(s)
  local _, n = gsub(s, "\n", "")
  return n
end

------------------------------------------------------------------------- CSV --

-- One record starting at pos → fields | nil, error message; and the position where
-- the record ends (its "\n", or past the text). A record with an error is taken to be
-- its first line only, whatever quotes it opened, so one bad line never swallows the
-- next ones (names cannot hold line breaks anyway).
local function csv_record(text, start)
  local n = #text
  local fields, pos = {}, start
  local function bad(message)
    return nil, message, (find(text, "\n", start, true) or n + 1)
  end
  while true do
    if sub(text, pos, pos) == '"' then
      local parts, p = {}, pos + 1
      while true do
        local q = find(text, '"', p, true)
        if not q then return bad("a quoted field is not closed") end
        parts[#parts + 1] = sub(text, p, q - 1)
        if sub(text, q + 1, q + 1) == '"' then
          parts[#parts + 1] = '"'
          p = q + 2
        else
          p = q + 1
          break
        end
      end
      fields[#fields + 1] = concat(parts)
      pos = p
      local c = sub(text, pos, pos)
      if c == "," then
        pos = pos + 1
      elseif c == "\n" or c == "" then
        return fields, nil, pos
      elseif c == "\r" and sub(text, pos + 1, pos + 1) == "\n" then
        return fields, nil, pos + 1
      elseif find(sub(text, start, pos), "\n", 1, true) then
        return bad("a quoted field is not closed")   -- the quote it "closes" opened another
      else
        return bad("text after a closing quote")
      end
    else
      local e = find(text, "[,\n]", pos) or n + 1
      local field = sub(text, pos, e - 1)
      if sub(text, e, e) ~= "," then field = gsub(field, "\r$", "") end
      if find(field, '"', 1, true) then
        return bad("a quote inside a field that does not start with one")
      end
      fields[#fields + 1] = field
      if sub(text, e, e) == "," then
        pos = e + 1
      else
        return fields, nil, e
      end
    end
  end
end

local function header_map(fields)
  local map, seen = {}, {}
  for i, f in ipairs(fields) do
    local name = lower((gsub(gsub(f, "^%s+", ""), "%s+$", "")))
    if seen[name] then return nil end
    seen[name] = true
    map[name] = i
  end
  if map.domain and map.app and map.stream then return map end
end

local function parse_csv(text, result)
  local pos, n, line = 1, #text, 1
  local columns, width = { domain = 1, app = 2, stream = 3 }, 3
  local items, first = result.items, true
  while pos <= n do
    local fields, err, stop = csv_record(text, pos)
    local raw = gsub(sub(text, pos, stop - 1), "\r$", "")
    local start_line = line
    line = line + newlines(sub(text, pos, stop - 1)) + 1
    pos = stop + 1
    if not find(raw, "%S") then
      -- a blank line
    elseif err then
      items[#items + 1] = { line = start_line, raw = raw, err = err }
      first = false
    else
      local map = first and header_map(fields)
      first = false
      if map then
        result.header, columns, width = raw, map, #fields
      elseif #fields ~= width then
        items[#items + 1] = { line = start_line, raw = raw,
          err = format("%d fields where %d are expected (domain,app,stream)", #fields, width) }
      else
        items[#items + 1] = { line = start_line, raw = raw, domain = fields[columns.domain],
          app = fields[columns.app], stream = fields[columns.stream] }
      end
    end
  end
end

------------------------------------------------------------------ JSON lines --

local decoder
local function decode(s)
  if not decoder then
    local cjson = require "cjson.safe"
    decoder = cjson.new and cjson.new() or cjson
    if decoder.decode_max_depth then decoder.decode_max_depth(16) end
    if decoder.decode_invalid_numbers then decoder.decode_invalid_numbers(false) end
  end
  return decoder.decode(s)
end

local function parse_jsonl(text, result)
  local items, line = result.items, 0
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = line + 1
    local raw = gsub(l, "\r$", "")
    if find(raw, "%S") then
      local t, jerr = decode(raw)
      local item = { line = line, raw = raw }
      if t == nil then
        item.err = "not JSON (" .. (gsub(tostring(jerr), "^Expected", "expected")) .. ")"
      elseif type(t) ~= "table" or not find(raw, "^%s*{") then
        item.err = "not a JSON object"
      else
        for _, k in ipairs(FIELDS) do
          local v = t[k]
          if v == nil then
            item.err = format('"%s" is missing', k)
            break
          elseif type(v) ~= "string" then
            item.err = format('"%s" must be a string', k)
            break
          end
          item[k] = v
        end
        if item.err then item.domain, item.app, item.stream = nil, nil, nil end
      end
      items[#items + 1] = item
    end
  end
end

------------------------------------------------------------------------ API --

--- The items of an input text (see the top of this file).
function _M.parse(text)
  if sub(text, 1, 3) == "\239\187\191" then text = sub(text, 4) end   -- a UTF-8 BOM
  local result = { items = {}, eol = find(text, "\r\n", 1, true) and "\r\n" or "\n" }
  if find(text, "^%s*{") then
    result.format = "jsonl"
    parse_jsonl(text, result)
  else
    result.format = "csv"
    parse_csv(text, result)
  end
  return result
end

--- The whole of FILE ("-": stdin) → text | nil, message.
function _M.read(path)
  local f, err
  if path == "-" then
    f = io.stdin
  else
    f, err = io.open(path, "rb")
    if not f then return nil, tostring(err) end
  end
  local text, rerr = f:read("*a")
  if f ~= io.stdin then f:close() end
  if not text then return nil, tostring(rerr or "cannot be read") end
  return text
end

--- The text of a failed-items file for `items` (a list of parsed items), in the
-- input's format: the header again when the input had one, one raw item per line.
-- Nothing at all when there are no items.
function _M.render(parsed, items)
  if #items == 0 then return "" end
  local out, eol = {}, parsed.eol
  if parsed.header then out[1] = parsed.header .. eol end
  for _, item in ipairs(items) do out[#out + 1] = item.raw .. eol end
  return concat(out)
end

--- Check early that FILE can be written (opening it to append creates it and keeps
-- what it holds until the run ends) → true | nil, message.
function _M.writable(path)
  local f, err = io.open(path, "ab")
  if not f then return nil, tostring(err) end
  f:close()
  return true
end

--- Write text to FILE (replacing it) → true | nil, message.
function _M.write(path, text)
  local f, err = io.open(path, "wb")
  if not f then return nil, tostring(err) end
  local ok, werr = f:write(text)
  if ok then ok, werr = f:flush() end
  local cok, cerr = f:close()
  if not ok then return nil, tostring(werr) end
  if not cok then return nil, tostring(cerr) end
  return true
end

_M.csv_record = csv_record
return _M
