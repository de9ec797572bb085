-- Replay protection: a SignatureNonce may be used once per AccessKeyId within 15
-- minutes. Only nonces of requests whose signature verified are remembered (so a
-- forged request cannot burn a client's nonce), and entries expire after 15 minutes
-- of monotonic time so memory stays bounded.
local fifo = require "emulator.fifo"

local M = {}

local RETAIN_US = 15 * 60 * 1000000

local seen, order

function M.reset()
  seen = {}             -- key id .. "\n" .. nonce -> expiry (monotonic us)
  order = fifo.new()    -- the same entries in insertion order, for expiry
end
M.reset()

local function expire(t_us)
  while order:size() > 0 and order:peek().expires <= t_us do
    local e = order:pop()
    if seen[e.key] == e.expires then seen[e.key] = nil end
  end
end

--- Records the nonce; returns false when it was already used.
function M.use(key_id, nonce, t_us)
  expire(t_us)
  local key = key_id .. "\n" .. nonce
  if seen[key] then return false end
  local expires = t_us + RETAIN_US
  seen[key] = expires
  order:push({ key = key, expires = expires })
  return true
end

return M
