-- Sharing the account with a tool we do not control (issue 11): another process does
-- 10 resumes/s on the same account with no adaptation, our client runs with its
-- defaults for DURATION seconds against the emulator at 30/s (EMU_URL). Figures: the
-- share of the 20/s left that we used, and the share of our answers that were
-- Throttling.* (retried by the client). Targets: >= 0.90 and <= 0.05.
local live = require "aliyun.live"
local core = require "aliyun.live.core"

local emu = assert(os.getenv("EMU_URL"))
local lua = os.getenv("LUA") or "lua5.4"
local DURATION = tonumber(os.getenv("ADAPTIVE_SECONDS") or 20)

local OTHER = [[
  local live = require "aliyun.live"
  local core = require "aliyun.live.core"
  local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
    endpoint = arg[1], limiter = live.limiter { rate = 10, adaptive = false }, retry = false }
  local t_end, i = core.monotonic() + tonumber(arg[2]), 0
  while core.monotonic() < t_end do
    i = i + 1
    c:resume { domain = "other.example.com", app = "a", stream = "o" .. i }
  end
]]

os.execute(("curl -s -X POST %s/__emulator/reset >/dev/null"):format(emu))
local other = assert(io.popen(("%s - %s %d <<'LUA'\n%s\nLUA"):format(lua, emu, DURATION + 2, OTHER)))
core.sleep(1)   -- the other tool is already running when we start
local throttled, answers = 0, 0
local c = live.new { access_key_id = "testid", access_key_secret = "testsecret", endpoint = emu,
  logger = function(_, line)
    answers = answers + 1
    if line:find(": Throttling", 1, true) then throttled = throttled + 1 end
  end }
local ok, i, t0 = 0, 0, core.monotonic()
while core.monotonic() - t0 < DURATION do
  i = i + 1
  if c:resume { domain = "ours.example.com", app = "a", stream = "s" .. i } then ok = ok + 1 end
end
local elapsed = core.monotonic() - t0
other:close()
print(("adaptive_share_of_left: %.3f"):format(ok / elapsed / 20))
print(("adaptive_throttled_ratio: %.3f"):format(answers > 0 and throttled / answers or 0))
