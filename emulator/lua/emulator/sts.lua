-- STS AssumeRole (Version 2015-04-01), served on the same port as the Live API so a
-- client's RAM-role credential provider can be pointed at the emulator.
local render = require "emulator.render"
local errors = require "emulator.errors"
local clock = require "emulator.clock"
local config = require "emulator.config"
local keys = require "emulator.keys"
local crypto = require "emulator.crypto"

local M = {}

function M.AssumeRole(p, ctx)
  if ctx.key.temporary then
    return nil, errors.new(403, "Forbidden",
      "AssumeRole must be called with a permanent AccessKey (emulator restriction).")
  end
  if p.RoleArn == nil or p.RoleArn == "" then return nil, errors.missing_op("RoleArn") end
  local account_id, role = p.RoleArn:match("^acs:ram::(%d+):role/([%w%.@%-_/]+)$")
  if not account_id then
    return nil, errors.new(400, "InvalidParameter.RoleArn",
      "The parameter RoleArn is wrongly formed: want acs:ram::<account id>:role/<role name>.")
  end
  local session = p.RoleSessionName
  if session == nil or session == "" then return nil, errors.missing_op("RoleSessionName") end
  if #session < 2 or #session > 64 or not session:match("^[%w%.@%-_]+$") then
    return nil, errors.new(400, "InvalidParameter.RoleSessionName",
      "The parameter RoleSessionName is wrongly formed: 2-64 characters of A-Z a-z 0-9 . @ - _.")
  end
  local duration = 3600
  if p.DurationSeconds ~= nil then
    duration = p.DurationSeconds:match("^%d+$") and tonumber(p.DurationSeconds)
    if not duration or duration < 900 or duration > 3600 then
      return nil, errors.new(400, "InvalidParameter.DurationSeconds",
        "The Min/Max value of DurationSeconds is 900/3600 seconds.")
    end
  end
  local now = clock.now()
  local k = keys.issue(ctx.owner, config.sts_ttl or duration, now)
  return render.obj(
    "RequestId", ctx.request_id,
    "AssumedRoleUser", render.obj(
      "Arn", ("acs:ram::%s:role/%s/%s"):format(account_id, role:lower(), session),
      "AssumedRoleId", crypto.random_string(18, "0123456789") .. ":" .. session),
    "Credentials", render.obj(
      "AccessKeyId", k.id,
      "AccessKeySecret", k.secret,
      "SecurityToken", k.token,
      "Expiration", clock.format_iso(k.expires)))
end

return M
