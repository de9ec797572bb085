-- The last requests seen on "/" (GET /__emulator/requests?last=N), for users
-- debugging a client and for tests (did the retry use a new nonce?). Secrets are
-- masked before they are stored (the OIDC token too: it is a bearer credential), and
-- an entry keeps at most MAX_FIELDS fields of at most MAX_VALUE bytes each, so 1,000
-- entries of 1 MB requests cannot hold a gigabyte.
local fifo = require "emulator.fifo"

local M = {}

local KEEP = 1000
local MAX_FIELDS = 100
local MAX_VALUE = 2048
local SECRET = { Signature = true, SecurityToken = true, OIDCToken = true,
                 ["x-acs-security-token"] = true, authorization = true }

local log, seq

function M.reset()
  log = fifo.new()
  seq = 0
end
M.reset()

local function shorten(v)
  if #v <= MAX_VALUE then return v end
  return v:sub(1, MAX_VALUE) .. ("...(%d bytes)"):format(#v)
end

--- Copies a name -> value table, masking secret values, keeping the first
--- MAX_FIELDS names in sorted order (then "..." = how many were left out).
function M.mask(t)
  local names = {}
  for k in pairs(t) do names[#names + 1] = k end
  local out = {}
  if #names > MAX_FIELDS then
    table.sort(names)
    out["..."] = ("%d more"):format(#names - MAX_FIELDS)
    for i = MAX_FIELDS + 1, #names do names[i] = nil end
  end
  for _, k in ipairs(names) do
    out[shorten(k)] = SECRET[k] and "***" or shorten(t[k])
  end
  return out
end

function M.add(entry)
  seq = seq + 1
  entry.seq = seq
  log:push(entry)
  if log:size() > KEEP then log:pop() end
end

--- The last n entries, oldest first.
function M.last(n)
  local size = log:size()
  if n > size then n = size end
  local out = {}
  for i = size - n + 1, size do out[#out + 1] = log:at(i) end
  return out
end

return M
