--- Temporary credentials, cached and refreshed before they expire.
--
-- fetch(rt) → creds (with `expiration`, Unix seconds) | nil, err. They are refreshed
-- `margin` seconds (default 180, as the official SDKs) before expiry. While one refresh
-- runs (a yielding runtime lets other requests in), the others keep the still-valid
-- credentials, or wait for the refresh when there are none. On a runtime that can run
-- tasks of its own (the async scheduler), a refresh due while the credentials are still
-- valid runs in the background, so no request waits for it.
local core = require "aliyun.live.core"
local compat = require "aliyun.live.compat"
local errors = require "aliyun.live.errors"

local setmetatable, type, tostring, format = setmetatable, type, tostring, string.format
local now = core.now

local _M = {}

_M.DEFAULT_MARGIN = 180

local Cached = {}
Cached.__index = Cached

function _M.new(name, fetch, margin, identity)
  return setmetatable({ name = name, fetch = fetch, margin = margin or _M.DEFAULT_MARGIN,
                        ident = identity }, Cached)
end

local function valid(c, t) return c and (not c.expiration or c.expiration > t) end
local function fresh(c, t, margin) return c and (not c.expiration or c.expiration - t > margin) end

-- One refresh; records the outcome for the callers waiting on it.
local function refresh(self, rt)
  self.refreshing = true
  local ok, creds, err = compat.pcall(self.fetch, rt)
  self.refreshing = false
  if not ok and type(creds) == "table" and creds.code == "SDK.Cancelled" then
    creds, err = nil, creds   -- (the client closed under a fetch that waited)
  elseif not ok then
    err = errors.new("SDK.CredentialsError", format("%s: %s", self.name, tostring(creds)))
    creds = nil
  elseif not creds and type(err) ~= "table" then
    err = errors.wrap(err, "SDK.CredentialsError", self.name)
  end
  -- A refresh whose request was cancelled says nothing of the credentials: the callers
  -- that waited for it refresh on their own.
  self.abandoned = not creds and type(err) == "table" and err.code == "SDK.Cancelled"
  if creds then self.creds, self.last_err = creds, nil
  elseif not self.abandoned then self.last_err = err end
  return creds, err
end

function Cached:get(rt)
  local c, t = self.creds, now()
  if fresh(c, t, self.margin) then return c end
  if self.refreshing then
    if valid(c, t) then return c end
    -- Someone else is fetching and nothing valid is left: wait for their outcome.
    local sleep = rt and rt.sleep
    if not sleep or not rt.yields then
      return nil, errors.new("SDK.CredentialsError", self.name .. ": a refresh is already running")
    end
    local cancelled = rt.cancelled
    while self.refreshing do
      if cancelled and cancelled() then   -- (a cancelled request waits no more)
        return nil, errors.new("SDK.Cancelled", "the request was cancelled")
      end
      sleep(0.005)
    end
    if valid(self.creds, now()) then return self.creds end
    if self.abandoned then return self:get(rt) end
    return nil, self.last_err or errors.new("SDK.CredentialsError", self.name .. ": refresh failed")
  end
  if valid(c, t) and rt and rt.spawn then
    rt.spawn(function(task_rt) refresh(self, task_rt) end)
    return c
  end
  return refresh(self, rt)
end

function Cached:invalidate() self.creds = nil end

function Cached:identity()
  if self.ident then return self.ident end
  return self.creds and self.creds.access_key_id
end

--- "2024-01-01T12:00:00Z" → Unix seconds (days-from-civil; no time-zone games).
function _M.parse_time(s)
  local y, m, d, hh, mm, ss = tostring(s):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)Z$")
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m <= 2 then y = y - 1 end
  local floor = math.floor
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss)
end

return _M
