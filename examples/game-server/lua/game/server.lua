--- game.server — what one thread of the game-server host runs: a few rooms and one
-- aliyun.live client, driven frame by frame from C (examples/game-server/loop.c).
--
--   local server = require("game.server").new(cfg)   -- cfg: see loop.c push_cfg
--   server:phase("idle" | "load")
--   local done = server:frame(dt)                    -- every frame; never waits
--   server:report() → {completed=, errors=, retries=, summary=}
--   server:close()
--
-- A frame is the rooms' update, then client:poll(0): requests that may leave leave,
-- answers that came in are completed, and their callbacks run — all without waiting.
-- In the idle phase the rooms play the same game but a stream comes back without a
-- request, so the two phases differ only by the requests.
local live = require "aliyun.live"
local room = require "game.room"

local _M = {}

-- The resumes the rooms of all threads ask for per second, together: above the 30/s
-- quota, so that the limiter, not the game, sets the pace (the host runs "at the quota").
local OFFERED = 45

local Server = {}
Server.__index = Server

function _M.new(cfg)
  local self = setmetatable({ cfg = cfg, budget = cfg.resumes, asked = 0, completed = 0,
    errors = 0, retries = 0, codes = {}, first = {}, mode = "idle" }, Server)
  self.client = live.new {
    endpoint = cfg.endpoint, access_key_id = cfg.access_key_id,
    access_key_secret = cfg.access_key_secret, security_token = cfg.security_token,
  }
  -- Each room flags players at its share of the offered rate. math.random belongs to
  -- this lua_State alone (one per thread): a seed per thread makes runs repeatable.
  math.randomseed(cfg.thread)
  local rate = OFFERED / cfg.threads / cfg.rooms
  self.rooms = {}
  for r = 1, cfg.rooms do
    self.rooms[r] = room.new { thread = cfg.thread, id = r, players = cfg.players,
      flag_rate = rate }
  end
  return self
end

--- "idle": the rooms play, no requests; "load": penalties that end resume streams,
-- until this thread's share of the resumes has been asked for.
function Server:phase(mode)
  self.mode = mode
  for _, r in ipairs(self.rooms) do r:reset_penalties() end
end

-- Whether a room may cut a stream now (a game event that will need a resume).
function Server:may_flag()
  if self.mode == "idle" then return true end
  if self.asked >= self.budget then return false end
  self.asked = self.asked + 1
  return true
end

local function count_error(self, err)
  self.errors = self.errors + 1
  local code = err and err.code or "?"
  self.codes[code] = (self.codes[code] or 0) + 1
  if not self.first[code] then self.first[code] = tostring(err) end
end

--- A player's penalty is over: get their stream back. In the idle phase it comes back
-- at once; in the loaded one through ResumeLiveStream, the answer some frames later.
function Server:resume(r, player)
  if self.mode == "idle" then return r:stream_back(player, true) end
  local op, err = self.client:resume_async({ domain = r.domain, app = r.app, stream = player.stream },
    function(res, e, op)
      self.retries = self.retries + (op.attempts > 1 and op.attempts - 1 or 0)
      if res then self.completed = self.completed + 1 else count_error(self, e) end
      r:stream_back(player, res ~= nil)
    end)
  if not op then   -- refused before any network call (bad arguments, closed client)
    count_error(self, err)
    r:stream_back(player, false)
  end
end

--- One frame of game time dt → true when the loaded phase has nothing left to do.
function Server:frame(dt)
  local rooms = self.rooms
  for i = 1, #rooms do rooms[i]:update(dt, self) end
  local pending = self.client:poll(0)
  if self.mode ~= "load" then return false end
  return self.asked >= self.budget and pending == 0 and self.completed + self.errors >= self.budget
end

function Server:report()
  local parts = {}
  for code, n in pairs(self.codes) do
    parts[#parts + 1] = ("%d x %s (%s)"):format(n, code, self.first[code])
  end
  table.sort(parts)
  return { completed = self.completed, errors = self.errors, retries = self.retries,
    summary = #parts > 0 and table.concat(parts, "; ") or nil }
end

function Server:close() self.client:close() end

return _M
