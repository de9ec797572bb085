-- A first-in first-out queue with O(1) push/pop and indexed access, used for the
-- sliding logs of arrival times (throttling, max_per_second) and nonce retention.
local M = {}
M.__index = M

function M.new()
  return setmetatable({ first = 1, last = 0 }, M)
end

function M:size() return self.last - self.first + 1 end

function M:push(v)
  self.last = self.last + 1
  self[self.last] = v
end

function M:peek() return self[self.first] end

--- i-th element from the oldest (1-based).
function M:at(i) return self[self.first + i - 1] end

function M:newest() return self[self.last] end

function M:pop()
  local v = self[self.first]
  self[self.first] = nil
  self.first = self.first + 1
  if self.first > self.last then self.first, self.last = 1, 0 end
  return v
end

return M
