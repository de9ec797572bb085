-- The credentials URI (GET /__emulator/credentials), for the official SDKs'
-- ALIBABA_CLOUD_CREDENTIALS_URI provider: every call issues fresh temporary
-- credentials of the default account, valid for config.uri_ttl seconds, as
--   {"Code": "Success", "AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"}
-- Faults that name the action "CredentialsURI" apply (delay, close, or an error
-- answered as {"Code", "Message"} with the fault's status); faults without an action
-- are left to the API. Calls are not counted in /__emulator/stats (not "/").
local render = require "emulator.render"
local response = require "emulator.response"
local clock = require "emulator.clock"
local config = require "emulator.config"
local keys = require "emulator.keys"
local faults = require "emulator.faults"

local M = {}

M.ACTION = "CredentialsURI"

function M.handle()
  local fault = faults.take(M.ACTION, true)
  if fault then
    if fault.delay and fault.delay > 0 then ngx.sleep(fault.delay) end
    if fault.kind == "close" then return ngx.exit(444) end
    if fault.kind == "error" then
      local headers
      if fault.retry_after then
        headers = { ["x-acs-retry-after"] = tostring(math.floor(fault.retry_after)) }
      end
      return response.send(fault.status, response.JSON_TYPE, render.json(render.obj(
        "Code", fault.code, "Message", fault.message)), headers)
    end
  end
  local k = keys.issue(keys.default_owner(), config.uri_ttl, clock.now())
  response.send(200, response.JSON_TYPE, render.json(render.obj(
    "Code", "Success",
    "AccessKeyId", k.id,
    "AccessKeySecret", k.secret,
    "SecurityToken", k.token,
    "Expiration", clock.format_iso(k.expires))))
end

return M
