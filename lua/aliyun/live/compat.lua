--- Lua 5.1–5.4 and LuaJIT differences the library meets, in one place.
local coroutine, select, pcall = coroutine, select, pcall

local _M = {}

_M.unpack = table.unpack or unpack
_M.pack = table.pack or function(...) return { n = select("#", ...), ... } end

-- PUC Lua 5.1 cannot yield across pcall; everything newer (and LuaJIT) can. The async
-- engine runs user hooks (credential providers, limiters) under pcall while they may
-- yield for I/O, so on 5.1 the protected call is a coroutine of its own whose yields
-- are passed through to the coroutine outside (as coxpcall does).
local puc51 = _VERSION == "Lua 5.1" and not rawget(_G, "jit")

if not puc51 then
  _M.pcall = pcall
else
  local create, resume, status, yield = coroutine.create, coroutine.resume,
    coroutine.status, coroutine.yield
  local function step(co, ok, ...)
    if not ok then return false, ... end
    if status(co) == "dead" then return true, ... end
    return step(co, resume(co, yield(...)))
  end
  function _M.pcall(f, ...)
    local co = create(f)
    return step(co, resume(co, ...))
  end
end

--- Whether the caller runs inside a coroutine that may yield (not the main thread).
function _M.in_coroutine()
  local co, main = coroutine.running()
  if co == nil then return false end   -- 5.1: running() is nil on the main thread
  return not main
end

return _M
