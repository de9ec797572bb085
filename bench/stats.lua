--- What the benchmark scripts report of their rounds: the median, and the first and
-- third quartiles of a sorted list.
local _M = {}

function _M.median(t)
  local s = {}
  for i = 1, #t do s[i] = t[i] end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) / 2] or (s[n / 2] + s[n / 2 + 1]) / 2
end

function _M.quartiles(s)
  return s[math.floor((#s + 3) / 4)], s[math.ceil(3 * #s / 4)]
end

return _M
