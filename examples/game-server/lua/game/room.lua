--- game.room — one arena of a game whose players stream their view live.
--
-- Every frame the players run about a square arena, steer now and then, bounce off the
-- walls and tag whoever they touch (points for the tagger, a respawn for the tagged);
-- once a second the room ranks its players. The anti-cheat flags players at random
-- (flag_rate per second): moderation cuts a flagged player's live stream for a short
-- penalty of game time, and when it is over the room asks the server for the stream
-- back — a ResumeLiveStream — and keeps playing while the answer is on its way.
local random, sqrt, floor = math.random, math.sqrt, math.floor

local _M = {}

local SIZE = 100           -- the arena is SIZE x SIZE
local SPEED = 12           -- units per second
local TAG_RADIUS = 2.5
local PENALTY = { 0.3, 1.5 } -- seconds of game time
local DOMAIN, APP = "play.example.com", "arena"

local Room = {}
Room.__index = Room

local function spawn(p)
  p.x, p.y = random() * SIZE, random() * SIZE
  local a = random() * 2 * math.pi
  p.vx, p.vy = SPEED * math.cos(a), SPEED * math.sin(a)
end

function _M.new(o)
  local self = setmetatable({ id = o.id, domain = DOMAIN, app = APP, time = 0,
    flag_rate = o.flag_rate, next_flag = random() / o.flag_rate, players = {}, penalized = {}, next_rank = 1, leader = nil,
    tags = 0, back = 0, lost = 0 }, Room)
  for i = 1, o.players do
    local p = { id = i, score = 0, live = true,
      stream = ("t%d-room%d-player%d"):format(o.thread, o.id, i) }
    spawn(p)
    self.players[i] = p
  end
  return self
end

-- Movement: integrate, steer at random (about once a second each), bounce.
local function move(players, dt)
  for i = 1, #players do
    local p = players[i]
    if random() < dt then
      local a = random() * 2 * math.pi
      p.vx, p.vy = SPEED * math.cos(a), SPEED * math.sin(a)
    end
    local x, y = p.x + p.vx * dt, p.y + p.vy * dt
    if x < 0 then x, p.vx = -x, -p.vx elseif x > SIZE then x, p.vx = 2 * SIZE - x, -p.vx end
    if y < 0 then y, p.vy = -y, -p.vy elseif y > SIZE then y, p.vy = 2 * SIZE - y, -p.vy end
    p.x, p.y = x, y
  end
end

-- Tags: every pair within TAG_RADIUS; the faster-moving player gets the point.
local function tag(self, players)
  local r2, n = TAG_RADIUS * TAG_RADIUS, #players
  for i = 1, n - 1 do
    local a = players[i]
    local ax, ay = a.x, a.y
    for j = i + 1, n do
      local b = players[j]
      local dx, dy = b.x - ax, b.y - ay
      if dx * dx + dy * dy < r2 then
        local va = a.vx * a.vx + a.vy * a.vy
        local vb = b.vx * b.vx + b.vy * b.vy
        local winner, loser = a, b
        if vb > va then winner, loser = b, a end
        winner.score = winner.score + 1
        spawn(loser)
        self.tags = self.tags + 1
      end
    end
  end
end

local function by_score(a, b)
  if a.score ~= b.score then return a.score > b.score end
  return a.id < b.id
end

-- The leaderboard, once a second of game time.
local function rank(self)
  local board = {}
  for i = 1, #self.players do board[i] = self.players[i] end
  table.sort(board, by_score)
  self.leader = board[1]
  local total = 0
  for i = 1, #board do total = total + board[i].score * (#board - i + 1) end
  self.rank_sum = floor(sqrt(total))
end

--- Clear every penalty (between phases): every stream is live again.
function Room:reset_penalties()
  for i = 1, #self.players do self.players[i].live, self.players[i].penalty_end = true, nil end
  self.penalized = {}
end

--- The answer to a resume came (ok) or failed: the player streams again either way
-- (moderation would retry a failed resume; the example counts it as an error).
function Room:stream_back(p, ok)
  p.live, p.resuming = true, nil
  if ok then self.back = self.back + 1 else self.lost = self.lost + 1 end
end

-- The anti-cheat: flags arrive at flag_rate per second (exponential gaps, so at any
-- frame rate); each picks a live player at random and cuts their stream, if the server
-- agrees (it stops once its share of resumes has been asked for).
local function flag(self, server)
  while self.next_flag <= self.time do
    self.next_flag = self.next_flag - math.log(1 - random()) / self.flag_rate
    local p = self.players[random(#self.players)]
    if p.live and server:may_flag() then
      p.live = false
      p.penalty_end = self.time + PENALTY[1] + random() * (PENALTY[2] - PENALTY[1])
      self.penalized[#self.penalized + 1] = p
    end
  end
end

-- Penalties that are over: ask for the stream back (once).
local function lift(self, server)
  local list, keep = self.penalized, 1
  for i = 1, #list do
    local p = list[i]
    if p.penalty_end <= self.time then
      p.penalty_end, p.resuming = nil, true
      server:resume(self, p)
    else
      list[keep] = p
      keep = keep + 1
    end
  end
  for i = keep, #list do list[i] = nil end
end

--- One frame of game time dt.
function Room:update(dt, server)
  self.time = self.time + dt
  local players = self.players
  move(players, dt)
  tag(self, players)
  if self.time >= self.next_rank then
    rank(self)
    self.next_rank = self.next_rank + 1
  end
  flag(self, server)
  lift(self, server)
end

return _M
