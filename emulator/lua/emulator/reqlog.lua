-- The last requests seen on "/" (GET /__emulator/requests?last=N), for users
-- debugging a client and for tests (did the retry use a new nonce?). Secrets are
-- masked before they are stored (the OIDC token too: it is a bearer credential).
local fifo = require "emulator.fifo"

local M = {}

local KEEP = 1000
local SECRET = { Signature = true, SecurityToken = true, OIDCToken = true,
                 ["x-acs-security-token"] = true, authorization = true }

local log, seq

function M.reset()
  log = fifo.new()
  seq = 0
end
M.reset()

--- Copies a name -> value table, masking secret values.
function M.mask(t)
  local out = {}
  for k, v in pairs(t) do out[k] = SECRET[k] and "***" or v end
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
