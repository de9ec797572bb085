-- STS (Version 2015-04-01), served on the same port as the Live API so a client's
-- credential providers can be pointed at the emulator:
--   AssumeRole          signed by a permanent key; the keys it issues belong to the
--                       signer's account;
--   AssumeRoleWithOIDC  anonymous (the SDKs send no AccessKey): the OIDC token is the
--                       proof (see jwt.lua); the keys belong to the default account.
local render = require "emulator.render"
local errors = require "emulator.errors"
local clock = require "emulator.clock"
local config = require "emulator.config"
local keys = require "emulator.keys"
local crypto = require "emulator.crypto"
local jsonbody = require "emulator.jsonbody"
local jwt = require "emulator.jwt"

local M = {}

local function absent(v) return v == nil or v == "" end

local function role_arn(p)
  if absent(p.RoleArn) then return nil, errors.missing_op("RoleArn") end
  local account_id, role = p.RoleArn:match("^acs:ram::(%d+):role/([%w%.@%-_/]+)$")
  if not account_id then
    return nil, errors.new(400, "InvalidParameter.RoleArn",
      "The parameter RoleArn is wrongly formed: want acs:ram::<account id>:role/<role name>.")
  end
  return { account_id = account_id, role = role }
end

local function session_name(p)
  local session = p.RoleSessionName
  if absent(session) then return nil, errors.missing_op("RoleSessionName") end
  if #session < 2 or #session > 64 or not session:match("^[%w%.@%-_]+$") then
    return nil, errors.new(400, "InvalidParameter.RoleSessionName",
      "The parameter RoleSessionName is wrongly formed: 2-64 characters of A-Z a-z 0-9 . @ - _.")
  end
  return session
end

local function duration(p)
  if p.DurationSeconds == nil then return 3600 end
  local d = p.DurationSeconds:match("^%d+$") and tonumber(p.DurationSeconds)
  if not d or d < 900 or d > 3600 then
    return nil, errors.new(400, "InvalidParameter.DurationSeconds",
      "The Min/Max value of DurationSeconds is 900/3600 seconds.")
  end
  return d
end

-- Policy is optional; when given it must be a JSON object of at most 2048 characters
-- (its statements are not evaluated: every issued key may do everything).
local function policy(p)
  if absent(p.Policy) then return true end
  if #p.Policy > 2048 or not jsonbody.decode_object(p.Policy) then
    return nil, errors.new(400, "InvalidParameter.PolicyGrammar",
      "The parameter Policy has not passed grammar check: want a JSON object of at most 2048 characters.")
  end
  return true
end

-- The shared part of both answers: AssumedRoleUser and Credentials for owner.
-- What both AssumeRole calls check after the role: the session's name, its lifetime
-- and the policy. session, lifetime; or nil, nil, err.
local function session_terms(p)
  local session, err = session_name(p)
  if not session then return nil, nil, err end
  local lifetime
  lifetime, err = duration(p)
  if not lifetime then return nil, nil, err end
  local ok
  ok, err = policy(p)
  if not ok then return nil, nil, err end
  return session, lifetime
end

local function assumed(doc, arn, session, owner, lifetime)
  local k = keys.issue(owner, config.sts_ttl or lifetime, clock.now())
  render.add(doc, "AssumedRoleUser", render.obj(
    "Arn", ("acs:ram::%s:role/%s/%s"):format(arn.account_id, arn.role:lower(), session),
    "AssumedRoleId", crypto.random_string(18, "0123456789") .. ":" .. session))
  render.add(doc, "Credentials", render.obj(
    "AccessKeyId", k.id,
    "AccessKeySecret", k.secret,
    "SecurityToken", k.token,
    "Expiration", clock.format_iso(k.expires)))
  return doc
end

function M.AssumeRole(p, ctx)
  if ctx.key.temporary then
    return nil, errors.new(403, "Forbidden",
      "AssumeRole must be called with a permanent AccessKey (emulator restriction).")
  end
  local arn, err = role_arn(p)
  if not arn then return nil, err end
  local session, lifetime
  session, lifetime, err = session_terms(p)
  if not session then return nil, err end
  return assumed(render.obj("RequestId", ctx.request_id), arn, session, ctx.owner, lifetime)
end

function M.AssumeRoleWithOIDC(p, ctx)
  local arn, err = role_arn(p)
  if not arn then return nil, err end
  if absent(p.OIDCProviderArn) then return nil, errors.missing_op("OIDCProviderArn") end
  if not p.OIDCProviderArn:match("^acs:ram::%d+:oidc%-provider/[%w%.@%-_]+$") then
    return nil, errors.new(400, "InvalidParameter.OIDCProviderArn",
      "The parameter OIDCProviderArn is wrongly formed: want acs:ram::<account id>:oidc-provider/<name>.")
  end
  if p.OIDCToken == nil then return nil, errors.missing_op("OIDCToken") end
  local claims
  claims, err = jwt.check(p.OIDCToken, clock.now())
  if not claims then return nil, err end
  local session, lifetime
  session, lifetime, err = session_terms(p)
  if not session then return nil, err end

  local info = render.obj()
  render.add(info, "Subject", claims.sub)
  render.add(info, "Issuer", claims.iss)
  render.add(info, "ClientIds", claims.aud)
  render.add(info, "ExpirationTime", claims.exp and clock.format_iso(claims.exp))
  render.add(info, "IssuanceTime", claims.iat and clock.format_iso(claims.iat))
  local doc = render.obj("RequestId", ctx.request_id, "OIDCTokenInfo", info)
  return assumed(doc, arn, session, keys.default_owner(), lifetime)
end

return M
