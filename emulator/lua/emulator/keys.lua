-- The AccessKeys the emulator knows: permanent keys (from --key, plus testid) and
-- temporary STS keys it issued itself (AssumeRole, AssumeRoleWithOIDC, ECS role, the
-- credentials URI). Every key has an owner (the account, named by its permanent key)
-- whose stream state and quota it shares.
local crypto = require "emulator.crypto"
local errors = require "emulator.errors"

local M = {}

local permanent = {}     -- id -> { id, secret, active, owner }
local temporary = {}     -- id -> { id, secret, token, expires, owner, temporary = true }
local token_key = {}     -- security token -> temporary key id
local first_key = nil
local issued_since_sweep = 0
local temporary_count = 0
local seq = 0

-- Live temporary keys kept at most; beyond, the oldest are forgotten (an endpoint
-- such as the credentials URI issues a key per call, and memory must stay bounded).
local MAX_TEMPORARY = 50000
M.MAX_TEMPORARY = MAX_TEMPORARY

local ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789"

function M.add_permanent(id, secret, active)
  permanent[id] = { id = id, secret = secret, active = active ~= false, owner = id }
  first_key = first_key or id
end

--- The default account (the first key, testid): it owns the keys issued without a
--- key of the caller's own (ECS role, AssumeRoleWithOIDC, the credentials URI).
function M.default_owner() return first_key end

function M.lookup(id)
  return permanent[id] or temporary[id]
end

--- The account (its permanent AccessKeyId) a key id belongs to; an unknown id is
--- its own account. Throttling and statistics count per account, as the service does.
function M.account_of(id)
  local k = permanent[id] or temporary[id]
  return k and k.owner or id
end

local function forget(k)
  temporary[k.id] = nil
  token_key[k.token] = nil
  temporary_count = temporary_count - 1
end

-- Forgets temporary keys that expired more than `grace` seconds ago; when as many as
-- MAX_TEMPORARY stay, the oldest issued tenth of them too.
local function sweep(now, grace)
  for _, k in pairs(temporary) do
    if k.expires < now - grace then forget(k) end
  end
  if temporary_count < MAX_TEMPORARY then return end
  local all = {}
  for _, k in pairs(temporary) do all[#all + 1] = k end
  table.sort(all, function(a, b) return a.seq < b.seq end)
  for i = 1, math.ceil(#all / 10) do forget(all[i]) end
end

--- Issues a temporary key for owner, valid for ttl seconds from now.
--- The key expires exactly ttl seconds after now (a float: no rounding, so a key is
--- never shorter-lived than asked); its Expiration shows that time rounded down, so
--- a client that trusts Expiration never uses the key past its end.
function M.issue(owner, ttl, now)
  issued_since_sweep = issued_since_sweep + 1
  if temporary_count >= MAX_TEMPORARY then
    sweep(now, 0)
    issued_since_sweep = 0
  elseif issued_since_sweep >= 1000 then
    sweep(now, 86400)
    issued_since_sweep = 0
  end
  seq = seq + 1
  local id = "STS." .. crypto.random_string(28, ALNUM)
  -- Real tokens are long base64 strings with "+", "/" and "=": exactly the
  -- characters that catch percent-encoding mistakes in clients.
  local token = "CAIS" .. crypto.random_base64(300)
  local k = {
    id = id,
    secret = crypto.random_string(44, ALNUM),
    token = token,
    expires = now + ttl,
    owner = owner,
    temporary = true,
    seq = seq,
  }
  temporary[id] = k
  token_key[token] = id
  temporary_count = temporary_count + 1
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
