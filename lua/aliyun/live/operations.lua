--- The operations' parameters and results: what resume, forbid, blocklist and call
-- send and give back. Bad values return nil, err (SDK.InvalidParameter) before anything
-- is sent; wrong types raise.
local core = require "aliyun.live.core"
local errors = require "aliyun.live.errors"
local validate = require "aliyun.live.validate"

local type, pairs, tostring, tonumber, format, floor =
  type, pairs, tostring, tonumber, string.format, math.floor
local raise, invalid = errors.raise, errors.invalid

local _M = {}

local STREAM_FIELDS = { domain = true, app = true, stream = true }
local FORBID_FIELDS = { domain = true, app = true, stream = true, resume_time = true,
                        oneshot = true }
_M.STREAM_FIELDS = STREAM_FIELDS

--- {domain=, app=, stream=} → the four parameters of ResumeLiveStream (and
-- ForbidLiveStream) | nil, err.
local check_fields, check_domain, check_text = validate.fields, validate.domain, validate.text
local unknown_key, text_problem, plain_fields = core.unknown_key, core.check_text,
  core.plain_fields
local MAX_NAME, MAX_DOMAIN, valid_domains = validate.MAX_NAME, validate.MAX_DOMAIN,
  validate.valid_domains

-- Every call of resume comes here. The common case is answered by one core call: the
-- three fields and nothing else, each printable ASCII within the shorter limit (so
-- valid UTF-8 of as many characters), and a domain already found valid. Anything else
-- takes the checks below, written out too, and validate.lua gives each verdict and
-- message.
function _M.stream(fn, args, fields)
  if type(args) == "table" and not fields and plain_fields(args, STREAM_FIELDS, MAX_DOMAIN) == 3
     and valid_domains[args.domain] then
    return { DomainName = args.domain, AppName = args.app, StreamName = args.stream,
             LiveStreamType = "publisher" }
  end
  if type(args) ~= "table" or unknown_key(args, fields or STREAM_FIELDS) ~= nil then
    check_fields(fn, "field", args, fields or STREAM_FIELDS)
  end
  local domain, err = check_domain(fn, args.domain)
  if not domain then return nil, err end
  local app, stream = args.app, args.stream
  -- validate.name: a string of 1 to MAX_NAME characters, UTF-8 without control ones.
  if not (type(app) == "string" and app ~= "" and #app <= MAX_NAME and not text_problem(app)) then
    app, err = check_text(fn, "app", app, MAX_NAME)
    if not app then return nil, err end
  end
  if not (type(stream) == "string" and stream ~= "" and #stream <= MAX_NAME
          and not text_problem(stream)) then
    stream, err = check_text(fn, "stream", stream, MAX_NAME)
    if not stream then return nil, err end
  end
  return { DomainName = domain, AppName = app, StreamName = stream,
           LiveStreamType = "publisher" }
end

local TIME = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"

function _M.forbid(args)
  local params, err = _M.stream("forbid", args, FORBID_FIELDS)
  if not params then return nil, err end
  local rt = args.resume_time
  if type(rt) == "number" then
    if not (rt >= 0 and rt < 253402300800) then return nil, invalid("resume_time", "is out of range") end
    params.ResumeTime = core.timestamp(rt)
  elseif type(rt) == "string" then
    if not rt:match(TIME) then
      return nil, invalid("resume_time", "must be YYYY-MM-DDThh:mm:ssZ (UTC)")
    end
    params.ResumeTime = rt
  elseif rt ~= nil then
    raise("forbid", "'resume_time' must be a number or a string, got " .. type(rt))
  end
  if args.oneshot ~= nil then
    if type(args.oneshot) ~= "boolean" then
      raise("forbid", "'oneshot' must be a boolean, got " .. type(args.oneshot))
    end
    params.Oneshot = args.oneshot and "yes" or "no"
  end
  return params
end

local MAX_PAGE_SIZE = 3000
_M.MAX_PAGE_SIZE = MAX_PAGE_SIZE

local function integer_field(fn, name, v, lo, hi)
  if v == nil then return nil end
  if type(v) ~= "number" then raise(fn, format("'%s' must be a number, got %s", name, type(v))) end
  if v ~= v or v % 1 ~= 0 or v < lo or v > hi then
    return nil, invalid(name, format("must be an integer from %d to %d", lo, hi))
  end
  return v
end

function _M.blocklist(args)
  validate.fields("blocklist", "field", args, { domain = true, page = true, page_size = true })
  local domain, err = validate.domain("blocklist", args.domain)
  if not domain then return nil, err end
  local page, page_size
  page, err = integer_field("blocklist", "page", args.page, 1, 2 ^ 31 - 1)
  if err then return nil, err end
  page_size, err = integer_field("blocklist", "page_size", args.page_size, 1, MAX_PAGE_SIZE)
  if err then return nil, err end
  return { DomainName = domain, PageNum = page and format("%d", page),
           PageSize = page_size and format("%d", page_size) }, page, page_size
end

local function int(v)
  v = tonumber(v)
  if v and v == v and v >= 0 and v < 2 ^ 53 then return floor(v) end
end

--- A block-list page, the same shape from JSON and XML: streams (always a list),
-- page, page_size, total, pages (integers).
function _M.blocklist_result(res, page, page_size)
  local urls = type(res.StreamUrls) == "table" and res.StreamUrls.StreamUrl or {}
  if type(urls) == "string" then urls = { urls } end   -- XML: one element is not a list
  res.streams = urls
  res.page = int(res.PageNum) or page or 1
  res.page_size = int(res.PageSize) or page_size
  res.total = int(res.TotalNum) or #urls
  res.pages = int(res.TotalPage) or 1
  return res
end

-- Names the client sets itself: a caller passing one is a programming error.
local RESERVED = {
  Action = 1, Version = 1, Format = 1, AccessKeyId = 1, Signature = 1, SignatureMethod = 1,
  SignatureVersion = 1, SignatureNonce = 1, Timestamp = 1, SecurityToken = 1,
}

-- Bounded: call and presign see few distinct actions, but a caller looping over
-- generated names must not grow memory without end.
local valid_actions, nvalid = {}, 0

--- An action name such as "DescribeLiveStreamsBlockList"; raises otherwise.
function _M.action(fn, action)
  if valid_actions[action] then return action end
  if type(action) ~= "string" or #action > 128 or not action:match("^%u%w*$") then
    raise(fn, "action must be an operation name such as 'DescribeLiveStreamsBlockList'")
  end
  if nvalid >= 256 then valid_actions, nvalid = {}, 0 end
  valid_actions[action], nvalid = true, nvalid + 1
  return action
end

--- The parameters of call/presign: names raise when malformed or reserved; values
-- are strings, numbers (as integers when they are) or booleans; a bad value returns
-- nil, err naming the parameter. Copies only when a value needs converting.
local valid_names, nnames = {}, 0   -- names that passed, bounded as the actions are

function _M.params(fn, params)
  if params == nil then return {} end
  if type(params) ~= "table" then raise(fn, "params must be a table") end
  local out
  for k, v in pairs(params) do
    if not valid_names[k] then
      if type(k) ~= "string" or not k:match("^%a[%w%.]*$") or #k > 128 then
        raise(fn, format("parameter name '%s' is not valid", tostring(k)))
      end
      if RESERVED[k] then raise(fn, format("parameter '%s' is set by the client", k)) end
      if nnames >= 256 then valid_names, nnames = {}, 0 end
      valid_names[k], nnames = true, nnames + 1
    end
    local t = type(v)
    if t ~= "string" then
      if t == "number" then
        if v ~= v or v == math.huge or v == -math.huge then
          return nil, invalid(k, "is not a finite number")
        end
        v = (v % 1 == 0 and v >= -2 ^ 53 and v <= 2 ^ 53) and format("%d", v) or format("%.17g", v)
      elseif t == "boolean" then
        v = tostring(v)
      else
        raise(fn, format("parameter '%s' must be a string, number or boolean", k))
      end
      if not out then
        out = {}
        for kk, vv in pairs(params) do out[kk] = vv end
      end
      out[k] = v
    end
    local problem, at = text_problem(v)
    if problem then
      return nil, invalid(k, format("%s (byte %d)", problem == "utf8" and "is not valid UTF-8"
        or "contains a control character", at))
    end
  end
  return out or params
end

return _M
