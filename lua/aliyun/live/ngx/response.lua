-- Reading one HTTP/1.1 response from a cosocket, for ngx/http.lua: the head, then
-- the body by its framing (Content-Length, chunked, or the connection's end), under a
-- per-operation timeout and the request's deadline, with caps on both. `st` is the
-- exchange's state: sock, o (the checked options), buf/pos (bytes read ahead),
-- deadline, late, answered.
local ngx = ngx
local tonumber, concat = tonumber, table.concat
local find, sub, lower, match, gmatch, byte = string.find, string.sub, string.lower,
  string.match, string.gmatch, string.byte
local ceil, min, max = math.ceil, math.min, math.max

local _M = {}

local BUF = 65536
_M.BUF = BUF
local TOKEN = "^[%w!#$%%&'*+%-.^_`|~]+$"
_M.TOKEN = TOKEN

local function clock() ngx.update_time() return ngx.now() end
_M.clock = clock

local function to_ms(seconds) return max(1, min(ceil(seconds * 1000), 2147483647)) end
_M.to_ms = to_ms

-- Arms the socket for one operation: its own timeout t or what is left of the deadline,
-- whichever is shorter (st.late says which). False when the deadline has passed.
local function arm(st, t)
  if st.deadline then
    local left = st.deadline - clock()
    st.late = left <= t
    if left <= 0 then return false end
    if st.late then t = left end
  end
  st.sock:settimeout(to_ms(t))
  return true
end

-- Up to `size` bytes: data, or nil and the cosocket's error ("timeout", "closed", …).
local function recv_some(st, size)
  if not arm(st, st.o.read_timeout) then return nil, "timeout" end
  local data, err = st.sock:receiveany(size)
  if not data then return nil, err end
  st.answered = true
  return data
end

-- Exactly n bytes (never reading past them).
local function read_n(st, n)
  local have = #st.buf - st.pos + 1
  if have >= n then
    st.pos = st.pos + n
    return sub(st.buf, st.pos - n, st.pos - 1)
  end
  local parts, got = { sub(st.buf, st.pos) }, have
  st.buf, st.pos = "", 1
  while got < n do
    local data, err = recv_some(st, min(n - got, BUF))
    if not data then return nil, err end
    parts[#parts + 1] = data
    got = got + #data
  end
  return concat(parts)
end

-- One line without its CRLF (or LF); nil, "too_big" past cap bytes. Linear in what
-- arrives, however small the pieces.
local function read_line(st, cap)
  local buf, pos = st.buf, st.pos
  local e = find(buf, "\n", pos, true)
  if not e then
    local parts, size = { sub(buf, pos) }, #buf - pos + 1
    repeat
      if size > cap then return nil, "too_big" end
      local data, err = recv_some(st, BUF)
      if not data then return nil, err end
      parts[#parts + 1] = data
      e = find(data, "\n", 1, true)
      size = size + #data
    until e
    e = e + size - #parts[#parts]
    buf, pos = concat(parts), 1
    st.buf = buf
  end
  st.pos = e + 1
  if e > pos and byte(buf, e - 1) == 13 then e = e - 1 end
  return sub(buf, pos, e - 1)
end

-- The head of one response: status, major, minor, headers; or nil, kind, message.
local function read_head(st)
  local lines, size, head = {}, 0, {}
  while true do
    local line, err = read_line(st, st.o.max_header - size)
    if not line then return nil, err end
    size = size + #line + 2
    if size > st.o.max_header then return nil, "too_big" end
    if line ~= "" then lines[#lines + 1] = line
    elseif #lines > 0 then break end        -- blank lines before a status line: skipped
  end
  local major, minor, code, rest = match(lines[1], "^HTTP/(%d)%.(%d) (%d%d%d)(.*)$")
  if not major or (rest ~= "" and sub(rest, 1, 1) ~= " ") then return nil, "protocol", "malformed status line" end
  for i = 2, #lines do
    local name, value = match(lines[i], "^([^:]+):[ \t]*(.-)[ \t]*$")
    if not name or not match(name, TOKEN) then return nil, "protocol", "malformed header line" end
    name = lower(name)
    local old = head[name]
    if old == nil then head[name] = value
    elseif name == "content-length" then
      if old ~= value then return nil, "protocol", "conflicting Content-Length headers" end
    else head[name] = old .. ", " .. value end
  end
  return tonumber(code), tonumber(major), tonumber(minor), head
end

local function has_token(value, token)
  for t in gmatch(lower(value or ""), "[^,%s]+") do if t == token then return true end end
  return false
end

-- The body by its framing: body, reusable; or nil, reason ("too_big", "protocol",
-- or a cosocket error).
local function read_body(st, head, no_body)
  local max = st.o.max_body
  if no_body then return "", true end
  local te = head["transfer-encoding"]
  if te then
    if not match(lower(te), "chunked%s*$") then return nil, "protocol", "unsupported Transfer-Encoding" end
    local parts, total = {}, 0
    while true do
      local line, err = read_line(st, 1024)
      if not line then return nil, err == "too_big" and "protocol" or err, "malformed chunk size" end
      local hex = match(line, "^(%x+)%s*[;]?")
      if not hex or #hex > 12 then return nil, "protocol", "malformed chunk size" end
      local n = tonumber(hex, 16)
      if n == 0 then break end
      total = total + n
      if total > max then return nil, "too_big" end
      local data, derr = read_n(st, n)
      if not data then return nil, derr end
      parts[#parts + 1] = data
      local crlf, cerr = read_line(st, 2)
      if crlf ~= "" then return nil, (crlf or cerr == "too_big") and "protocol" or cerr, "malformed chunk end" end
    end
    local size = 0
    while true do                           -- trailers, up to the blank line
      local line, err = read_line(st, st.o.max_header - size)
      if not line then return nil, err end
      if line == "" then break end
      size = size + #line + 2
    end
    return concat(parts), true
  end
  local cl = head["content-length"]
  if cl then
    if not match(cl, "^%d+$") or #cl > 15 then return nil, "protocol", "malformed Content-Length" end
    local n = tonumber(cl)
    if n > max then return nil, "too_big" end
    local data, err = read_n(st, n)
    if not data then return nil, err end
    return data, true
  end
  local parts, total = { sub(st.buf, st.pos) }, #st.buf - st.pos + 1
  st.buf, st.pos = "", 1
  while true do                             -- no framing: the body ends with the connection
    if total > max then return nil, "too_big" end
    local data, err = recv_some(st, BUF)
    if not data then
      if err == "closed" then return concat(parts), false end
      return nil, err
    end
    parts[#parts + 1] = data
    total = total + #data
  end
end

_M.arm, _M.recv_some, _M.read_head, _M.read_body, _M.has_token =
  arm, recv_some, read_head, read_body, has_token

return _M
