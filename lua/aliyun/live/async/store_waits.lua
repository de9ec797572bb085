--- Decisions the async scheduler (async.lua) awaits from limiter stores that answer
-- later (Redis: send now, pump and collect when its descriptor is ready), kept by
-- store and ticket. Nothing here waits or resumes anything: the scheduler does.
local pairs, next, pcall = pairs, next, pcall
local pack = require("aliyun.live.compat").pack

local _M = {}

function _M.new() return { n = 0, stores = {} } end   -- store → { ticket → task }

function _M.add(w, store, ticket, task)
  local t = w.stores[store]
  if not t then
    t = {}
    w.stores[store] = t
  end
  t[ticket] = task
  task.store, task.ticket = store, ticket
  w.n = w.n + 1
end

--- Pump every store awaited, and take out the decisions answered:
-- { { task, { n =, answer… } }, … } (the caller resumes them).
local CLOSED = { n = 2, nil, "the limiter was closed while a request waited for its decision" }

function _M.pump(w)
  local got = {}
  for store, t in pairs(w.stores) do
    local open = pcall(store.pump, store)   -- raises only once the limiter is closed
    for ticket, task in pairs(t) do
      local r = open and pack(store:collect(ticket)) or CLOSED
      if r[1] ~= "pending" then
        t[ticket] = nil
        task.store, task.ticket = nil, nil
        got[#got + 1] = { task, r }
      end
    end
    if next(t) == nil then w.stores[store] = nil end
  end
  w.n = w.n - #got
  return got
end

--- What the stores wait on: { fd, events, … } (or nil), and the seconds to their next
-- deadline (or nil).
function _M.fds(w)
  local flat, secs
  for store in pairs(w.stores) do
    local open, fd, ev, s = pcall(store.wait_info, store)
    if not open then fd, ev, s = nil, nil, 0 end   -- closed: pump now, to fail its decisions
    if fd then
      flat = flat or {}
      flat[#flat + 1], flat[#flat + 2] = fd, ev
    end
    if s and (not secs or s < secs) then secs = s end
  end
  return flat, secs
end

--- The task no longer waits (cancelled): its ticket is forgotten by the store.
function _M.forget(w, task)
  local store, ticket = task.store, task.ticket
  local t = store and w.stores[store]
  if t and t[ticket] then
    t[ticket] = nil
    w.n = w.n - 1
    pcall(store.forget, store, ticket)      -- (a closed store forgot it already)
    if next(t) == nil then w.stores[store] = nil end
  end
  task.store, task.ticket = nil, nil
end

function _M.forget_all(w)
  for store, t in pairs(w.stores) do
    for ticket in pairs(t) do pcall(store.forget, store, ticket) end
  end
  w.stores, w.n = {}, 0
end

return _M
