-- Resume streams from a frame loop that must never block:
--   lua5.4 examples/game_loop.lua DOMAIN APP STREAM…
--
-- resume_async starts a request and returns; client:poll(0) drives every request in
-- flight without waiting and calls each callback when its answer is in.
local live = require "aliyun.live"
local core = require "aliyun.live.core"

local domain, app = arg[1], arg[2]
if not (domain and app and arg[3]) then
  io.stderr:write("usage: game_loop.lua DOMAIN APP STREAM...\n")
  os.exit(2)
end

local client = live.new { endpoint = os.getenv("ALIYUN_LIVE_ENDPOINT") }
local failed = 0
for i = 3, #arg do
  local stream = arg[i]
  local op, err = client:resume_async({ domain = domain, app = app, stream = stream },
    function(res, e)
      if res then print(stream, res.request_id) else failed = failed + 1 print(stream, tostring(e)) end
    end)
  if not op then failed = failed + 1 print(stream, tostring(err)) end
end

local frames = 0
while client:poll(0) > 0 do   -- one frame: game logic would run here
  frames = frames + 1
  core.sleep(1 / 60)
end
io.stderr:write(("done after %d frames\n"):format(frames))
os.exit(failed == 0 and 0 or 1)
