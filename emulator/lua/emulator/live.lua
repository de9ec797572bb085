-- The Live operations (Version 2016-11-01) and the stream block list they work on.
--
-- State per account (owner): an ordered block list of "domain/app/stream" entries,
-- each with the server-clock time at which it lifts by itself (ResumeTime, or six
-- months as the service does without one). The list keeps the order of forbidding;
-- forbidding a stream that is already blocked only moves its resume time.
local render = require "emulator.render"
local errors = require "emulator.errors"
local clock = require "emulator.clock"
local config = require "emulator.config"
local codec = require "emulator.codec"

local M = {}

local SIX_MONTHS = 183 * 86400

local accounts

function M.reset() accounts = {} end
M.reset()

local function account(owner)
  local a = accounts[owner]
  if not a then
    a = { list = {}, index = {} }   -- list: entries in order; index: url -> entry
    accounts[owner] = a
  end
  return a
end

-- Drops entries whose resume time has come.
local function expire(a, now)
  local list, kept = a.list, {}
  for _, e in ipairs(list) do
    if e.resume_at > now then kept[#kept + 1] = e else a.index[e.url] = nil end
  end
  a.list = kept
end

local function remove_where(a, pred)
  local kept = {}
  for _, e in ipairs(a.list) do
    if pred(e) then a.index[e.url] = nil else kept[#kept + 1] = e end
  end
  a.list = kept
end

-- Names are kept in the block list (up to blocklist_limit of them per account) and
-- echoed in answers, so they are bounded and must be text (UTF-8, no control
-- characters); the service documents no limit, these are the emulator's.
local MAX_NAME = 1024

local function bad_name(name, v)
  if #v > MAX_NAME then
    return errors.malformed(name, ("It is longer than %d bytes (emulator limit)."):format(MAX_NAME))
  end
  if not codec.is_text(v) then
    return errors.malformed(name, "It must be UTF-8 text without control characters (emulator limit).")
  end
  return nil
end

-- The four parameters shared by Forbid and Resume, checked in the service's order.
local function stream_params(p)
  for _, name in ipairs({ "DomainName", "AppName", "StreamName", "LiveStreamType" }) do
    if p[name] == nil or p[name] == "" then return nil, errors.missing_op(name) end
    local err = bad_name(name, p[name])
    if err then return nil, err end
  end
  if p.LiveStreamType ~= "publisher" then
    return nil, errors.malformed("LiveStreamType", 'The only supported value is "publisher".')
  end
  return { domain = p.DomainName, app = p.AppName, stream = p.StreamName }
end

function M.ResumeLiveStream(p, ctx)
  local s, err = stream_params(p)
  if not s then return nil, err end
  local a = account(ctx.owner)
  if s.app == "*" then
    remove_where(a, function(e) return e.domain == s.domain and e.stream == s.stream end)
  else
    local url = s.domain .. "/" .. s.app .. "/" .. s.stream
    if a.index[url] then remove_where(a, function(e) return e.url == url end) end
  end
  return render.obj("RequestId", ctx.request_id)
end

function M.ForbidLiveStream(p, ctx)
  local s, err = stream_params(p)
  if not s then return nil, err end
  local now = clock.now()
  local resume_at
  if p.ResumeTime ~= nil then
    resume_at = clock.parse_iso(p.ResumeTime)
    if not resume_at then
      return nil, errors.malformed("ResumeTime", "Use the UTC format YYYY-MM-DDThh:mm:ssZ.")
    end
    if resume_at <= now then
      return nil, errors.malformed("ResumeTime", "It must be in the future.")
    end
  end
  local oneshot = p.Oneshot or "no"
  if oneshot ~= "yes" and oneshot ~= "no" then
    return nil, errors.malformed("Oneshot", 'Use "yes" or "no".')
  end
  -- Oneshot only cuts the current push; nothing is remembered.
  if oneshot == "yes" then return render.obj("RequestId", ctx.request_id) end

  local a = account(ctx.owner)
  expire(a, now)
  local url = s.domain .. "/" .. s.app .. "/" .. s.stream
  resume_at = resume_at or (math.floor(now) + SIX_MONTHS)
  local e = a.index[url]
  if e then
    e.resume_at = resume_at
  else
    if #a.list >= config.blocklist_limit then
      return nil, errors.new(400, "QuotaExceeded.Blocklist",
        ("The block list already holds the maximum of %d streams."):format(config.blocklist_limit))
    end
    e = { url = url, domain = s.domain, app = s.app, stream = s.stream, resume_at = resume_at }
    a.list[#a.list + 1] = e
    a.index[url] = e
  end
  return render.obj("RequestId", ctx.request_id)
end

-- A positive integer parameter with a default and an upper bound.
local function int_param(p, name, default, max)
  local v = p[name]
  if v == nil then return default end
  if not v:match("^%d+$") then return nil, errors.malformed(name, "It must be an integer.") end
  local n = tonumber(v)
  if n < 1 or n > max then
    return nil, errors.malformed(name, ("It must be between 1 and %d."):format(max))
  end
  return n
end

function M.DescribeLiveStreamsBlockList(p, ctx)
  if p.DomainName == nil or p.DomainName == "" then return nil, errors.missing_op("DomainName") end
  local bad = bad_name("DomainName", p.DomainName)
  if bad then return nil, bad end
  local page_num, err = int_param(p, "PageNum", 1, 2^31 - 1)
  if not page_num then return nil, err end
  local page_size
  page_size, err = int_param(p, "PageSize", 2000, 3000)
  if not page_size then return nil, err end

  local a = account(ctx.owner)
  expire(a, clock.now())
  local urls = {}
  for _, e in ipairs(a.list) do
    if e.domain == p.DomainName then urls[#urls + 1] = e.url end
  end
  local total = #urls
  local page = {}
  for i = (page_num - 1) * page_size + 1, math.min(total, page_num * page_size) do
    page[#page + 1] = urls[i]
  end
  return render.obj(
    "RequestId", ctx.request_id,
    "DomainName", p.DomainName,
    "PageNum", page_num,
    "PageSize", page_size,
    "TotalNum", total,
    "TotalPage", math.ceil(total / page_size),
    "StreamUrls", render.obj("StreamUrl", render.arr(page)))
end

return M
