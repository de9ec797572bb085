-- The AccessKeys the emulator knows: permanent keys (from --key, plus testid) and
-- temporary STS keys it issued itself (AssumeRole, ECS role). Every key has an owner
-- (the account, named by its permanent key) whose stream state it works on.
local crypto = require "emulator.crypto"
local errors = require "emulator.errors"

local M = {}

local permanent = {}     -- id -> { id, secret, active, owner }
local temporary = {}     -- id -> { id, secret, token, expires, owner, temporary = true }
local token_key = {}     -- security token -> temporary key id
local first_key = nil
local issued_since_sweep = 0

local ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789"

function M.add_permanent(id, secret, active)
  permanent[id] = { id = id, secret = secret, active = active ~= false, owner = id }
  first_key = first_key or id
end

--- The account that owns resources reached without a key of its own (ECS role).
function M.default_owner() return first_key end

function M.lookup(id)
  return permanent[id] or temporary[id]
end

-- Forget temporary keys that expired more than a day ago so memory stays bounded.
local function sweep(now)
  for id, k in pairs(temporary) do
    if k.expires < now - 86400 then
      temporary[id] = nil
      token_key[k.token] = nil
    end
  end
end

--- Issues a temporary key for owner, valid for ttl seconds from now.
function M.issue(owner, ttl, now)
  issued_since_sweep = issued_since_sweep + 1
  if issued_since_sweep >= 1000 then
    sweep(now)
    issued_since_sweep = 0
  end
  local id = "STS." .. crypto.random_string(28, ALNUM)
  -- Real tokens are long base64 strings with "+", "/" and "=": exactly the
  -- characters that catch percent-encoding mistakes in clients.
  local token = "CAIS" .. crypto.random_base64(300)
  local k = {
    id = id,
    secret = crypto.random_string(44, ALNUM),
    token = token,
    expires = math.floor(now) + ttl,
    owner = owner,
    temporary = true,
  }
  temporary[id] = k
  token_key[token] = id
  return k
end

--- Checks the SecurityToken sent with key k. Returns nil when fine, else an error.
---   temporary key, no token          -> InvalidSecurityToken.Malformed
---   token not issued by us           -> InvalidSecurityToken.Malformed
---   token of another key (or a token
---   sent with a permanent key)       -> InvalidSecurityToken.Mismatch
---   right token, past its expiry     -> InvalidSecurityToken.Expired
function M.check_token(k, token, now)
  if token == "" then token = nil end
  if not k.temporary then
    if token == nil then return nil end
    if token_key[token] then
      return errors.new(400, "InvalidSecurityToken.Mismatch",
        "The security token you provided does not match the AccessKeyId.")
    end
    return errors.new(400, "InvalidSecurityToken.Malformed",
      "The security token you provided is malformed.")
  end
  if token == nil then
    return errors.new(400, "InvalidSecurityToken.Malformed",
      "The security token you provided is malformed: it is missing.")
  end
  if token ~= k.token then
    if token_key[token] then
      return errors.new(400, "InvalidSecurityToken.Mismatch",
        "The security token you provided does not match the AccessKeyId.")
    end
    return errors.new(400, "InvalidSecurityToken.Malformed",
      "The security token you provided is malformed.")
  end
  if now >= k.expires then
    return errors.new(400, "InvalidSecurityToken.Expired",
      "The security token you provided has expired.")
  end
  return nil
end

return M
