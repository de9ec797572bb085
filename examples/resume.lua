-- Resume a forbidden stream: lua5.4 examples/resume.lua DOMAIN APP STREAM
--
-- Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET
-- (and the rest of the default chain); ALIYUN_LIVE_ENDPOINT points it elsewhere than
-- https://live.aliyuncs.com, e.g. at the bundled emulator.
local live = require "aliyun.live"

local domain, app, stream = arg[1], arg[2], arg[3]
if not (domain and app and stream) then
  io.stderr:write("usage: resume.lua DOMAIN APP STREAM\n")
  os.exit(2)
end

local res, err = live.resume { domain = domain, app = app, stream = stream }
if not res then
  io.stderr:write("resume failed: ", tostring(err), "\n")
  os.exit(1)
end
print("resumed " .. domain .. "/" .. app .. "/" .. stream .. ", RequestId " .. res.request_id)
