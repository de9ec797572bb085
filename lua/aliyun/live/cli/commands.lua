--- The single-request commands of aliyun-live: resume, forbid, blocklist, call, presign
-- and the official CLI's `live ACTION --Name Value` form. Each takes the parsed
-- arguments and a context (ctx.out, ctx.err: writers; ctx.client(action)) and returns
-- the exit status.
local args = require "aliyun.live.cli.args"
local output = require "aliyun.live.cli.output"
local client_of = require "aliyun.live.cli.client"

local type, pairs, ipairs, tostring, tonumber, format, concat, sort =
  type, pairs, ipairs, tostring, tonumber, string.format, table.concat, table.sort
local usage, json, display = args.usage, output.json, output.display

local _M = {}

--- Exit status for an error the library returned: invalid input is a usage error.
function _M.status_of(err)
  return (type(err) == "table" and err.code == "SDK.InvalidParameter") and 2 or 1
end

-- The library names the field it refuses ('stream' …); the user gave a flag.
local FLAGS = { domain = "--domain", app = "--app", stream = "--stream",
  resume_time = "--resume-time", page = "--page", page_size = "--page-size" }
local API_FLAGS = { domain = "--DomainName", app = "--AppName", stream = "--StreamName",
  resume_time = "--ResumeTime", page = "--PageNum", page_size = "--PageSize" }

--- Report err (one line naming the code) → exit status. flags: field → flag name.
function _M.fail(ctx, err, flags)
  local text = tostring(err)
  if type(err) == "table" and err.code == "SDK.InvalidParameter" and err.field then
    local flag = (flags or FLAGS)[err.field]
    if flag and type(err.message) == "string" then
      text = err.code .. ": " .. (err.message:gsub("^'[%w_]+'", flag))
    end
  end
  ctx.err:write("aliyun-live: ", output.one_line(text), "\n")
  return _M.status_of(err)
end
local fail = _M.fail

-- The client for action, or the exit status when it cannot be had.
local function client(ctx, action, cmd)
  local c, provider = client_of.new(ctx.opts, action, cmd)
  if not c then return nil, fail(ctx, provider) end
  return c, provider
end

-- Print and flush; a failed write (a full disk, a closed stdout) is an error that says
-- what was lost.
local function emit(ctx, text, what)
  ctx.out:write(text)
  local ok, err = ctx.out:flush()
  if ok then return 0 end
  ctx.err:write("aliyun-live: cannot write to stdout (", output.one_line(err), ")",
    what and (": " .. what) or "", "\n")
  return 1
end

local function emit_request_id(ctx, res, done)
  local id = tostring(res.request_id or res.RequestId or "")
  local text = ctx.opts.json and (json { RequestId = id } .. "\n") or (id .. "\n")
  return emit(ctx, text, format("%s, RequestId %s", done, display(id)))
end

-- The API's own fields of a result (ours, request_id and the like, are lower-case).
local function api_fields(res)
  local t = {}
  for k, v in pairs(res) do
    if type(k) == "string" and k:match("^%u") then t[k] = v end
  end
  return t
end

local function need_stream(opts, cmd)
  local missing = args.missing(opts, { "domain", "app", "stream" })
  if missing then usage("missing " .. missing, cmd) end
end

------------------------------------------------------------------- commands --

function _M.resume(ctx)
  local opts = ctx.opts
  need_stream(opts, "resume")
  for _, k in ipairs { "failed", "progress", "progress-interval", "concurrency" } do
    if opts[k] then usage("--" .. k .. " goes with --from", "resume") end
  end
  local c, status = client(ctx, "ResumeLiveStream", "resume")
  if not c then return status end
  local res, err = c:resume { domain = opts.domain, app = opts.app, stream = opts.stream }
  if not res then return fail(ctx, err) end
  return emit_request_id(ctx, res, "the stream was resumed")
end

function _M.forbid(ctx)
  local opts = ctx.opts
  need_stream(opts, "forbid")
  local rt = opts["resume-time"]
  if rt and rt:match("^%d+$") then rt = tonumber(rt) end
  local c, status = client(ctx, "ForbidLiveStream", "forbid")
  if not c then return status end
  local res, err = c:forbid { domain = opts.domain, app = opts.app, stream = opts.stream,
    resume_time = rt, oneshot = opts.oneshot or nil }
  if not res then return fail(ctx, err) end
  return emit_request_id(ctx, res, "the stream was forbidden")
end

local function page_json(res)
  return output.object({ "RequestId", "DomainName", "PageNum", "PageSize", "TotalNum",
    "TotalPage", "StreamUrls" }, { RequestId = res.request_id, DomainName = res.DomainName,
    PageNum = res.page, PageSize = res.page_size, TotalNum = res.total,
    TotalPage = res.pages, StreamUrls = output.array(res.streams) })
end

function _M.blocklist(ctx)
  local opts = ctx.opts
  if not opts.domain then usage("missing --domain", "blocklist") end
  local page = args.number(opts, "page", 1, 2^31 - 1, true, "blocklist")
  local size = args.number(opts, "page-size", 1, 3000, true, "blocklist")
  if opts.all and page then usage("--all does not go with --page", "blocklist") end
  local c, status = client(ctx, "DescribeLiveStreamsBlockList", "blocklist")
  if not c then return status end
  if not opts.all then
    local res, err = c:blocklist { domain = opts.domain, page = page, page_size = size }
    if not res then return fail(ctx, err) end
    if opts.json then return emit(ctx, json(page_json(res)) .. "\n") end
    local lines = {}
    for i, url in ipairs(res.streams) do lines[i] = display(url) .. "\n" end
    return emit(ctx, concat(lines))
  end
  -- Every page: stop at the last one, or at the first empty one (a shrinking list).
  local all, ids, n, pages = output.array(), output.array(), 0, 1
  repeat
    n = n + 1
    local res, err = c:blocklist { domain = opts.domain, page = n, page_size = size or 3000 }
    if not res then return fail(ctx, err) end
    ids[#ids + 1] = res.request_id
    pages = res.pages
    for _, url in ipairs(res.streams) do
      all[#all + 1] = url
      if not opts.json then ctx.out:write(display(url), "\n") end
    end
  until #res.streams == 0 or n >= pages
  if not opts.json then return emit(ctx, "") end
  return emit(ctx, json(output.object({ "RequestId", "RequestIds", "DomainName", "TotalNum",
    "StreamUrls" }, { RequestId = ids[1], RequestIds = ids, DomainName = opts.domain,
    TotalNum = #all, StreamUrls = all })) .. "\n")
end

-- ACTION Name=Value… → action, params.
local function action_params(positional, cmd)
  local action = positional[1]
  if not action then usage(cmd .. " needs an ACTION such as DescribeLiveStreamsBlockList", cmd) end
  if not action:match("^%u%w*$") or #action > 100 then
    usage("ACTION must be an API action name such as DescribeLiveStreamsBlockList", cmd)
  end
  local params = {}
  for i = 2, #positional do
    local name, value = positional[i]:match("^([^=]+)=(.*)$")
    if not name then usage(format("argument #%d after the action is not Name=Value", i - 1), cmd) end
    if not name:match("^[%w%.%-_]+$") or #name > 100 then
      usage(format("argument #%d after the action: the name must be letters, digits, '.', '-', '_'",
        i - 1), cmd)
    end
    if params[name] then usage(format("parameter %s is given twice", name), cmd) end
    params[name] = value
  end
  return action, params
end

-- A result as Name=value lines: nested objects as A.B, lists as A[1].
local function flatten(v, prefix, lines)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    sort(keys, function(a, b)
      if type(a) == type(b) then return a < b end
      return type(a) == "number"
    end)
    for _, k in ipairs(keys) do
      local name = type(k) == "number" and format("%s[%d]", prefix, k)
        or (prefix == "" and tostring(k) or prefix .. "." .. tostring(k))
      flatten(v[k], name, lines)
    end
  elseif v ~= nil then
    local s = type(v) == "number" and json(v) or tostring(v)
    lines[#lines + 1] = display(prefix) .. "=" .. display(s) .. "\n"
  end
end

local function print_result(ctx, res, indent)
  local fields = api_fields(res)
  if ctx.opts.json or indent then return emit(ctx, json(fields, indent) .. "\n") end
  local lines = {}
  if fields.RequestId then
    lines[1] = "RequestId=" .. display(fields.RequestId) .. "\n"
    fields.RequestId = nil
  end
  flatten(fields, "", lines)
  return emit(ctx, concat(lines))
end

function _M.call(ctx)
  local action, params = action_params(ctx.positional, "call")
  local c, status = client(ctx, action, "call")
  if not c then return status end
  local res, err = c:call(action, params)
  if not res then return fail(ctx, err) end
  return print_result(ctx, res)
end

function _M.presign(ctx)
  local opts = ctx.opts
  local action, params = action_params(ctx.positional, "presign")
  local method = args.choice({ method = opts.method and opts.method:upper() }, "method",
    { "GET", "POST" }, "presign")
  local c, provider = client(ctx, action, "presign")
  if not c then return provider end
  -- presign raises when there are no credentials: ask the provider first
  local creds, err = provider:get()
  if not creds then return fail(ctx, err) end
  local signature = opts.signature and opts.signature:lower()
  local p = c:presign(action, params, { method = method, timestamp = opts.timestamp,
    nonce = opts.nonce, version = opts["api-version"], signature = signature })
  if opts.json then return emit(ctx, json(p) .. "\n") end
  local lines = { display(p.url) .. "\n" }
  if p.headers then
    local names = {}
    for k in pairs(p.headers) do names[#names + 1] = k end
    sort(names)
    for _, k in ipairs(names) do lines[#lines + 1] = display(k) .. ": " .. display(p.headers[k]) .. "\n" end
  end
  return emit(ctx, concat(lines))
end

-- The three actions this library knows, and the parameters the API requires of each.
local REQUIRED = {
  ResumeLiveStream = { "DomainName", "AppName", "StreamName", "LiveStreamType" },
  ForbidLiveStream = { "DomainName", "AppName", "StreamName", "LiveStreamType" },
  DescribeLiveStreamsBlockList = { "DomainName" },
}
local KNOWN = {
  ResumeLiveStream = { DomainName = 1, AppName = 1, StreamName = 1, LiveStreamType = 1 },
  ForbidLiveStream = { DomainName = 1, AppName = 1, StreamName = 1, LiveStreamType = 1,
                       ResumeTime = 1, Oneshot = 1 },
  DescribeLiveStreamsBlockList = { DomainName = 1, PageNum = 1, PageSize = 1 },
}

function _M.live(ctx)
  local action = ctx.positional[1]
  if not action then usage("live needs an ACTION such as ResumeLiveStream", "live") end
  if not action:match("^%u%w*$") or #action > 100 then
    usage("ACTION must be an API action name such as ResumeLiveStream", "live")
  end
  local p, only_known = {}, KNOWN[action] ~= nil
  for _, kv in ipairs(ctx.params) do
    p[kv[1]] = kv[2]
    if not (KNOWN[action] or {})[kv[1]] then only_known = false end
  end
  local missing = {}
  for _, k in ipairs(REQUIRED[action] or {}) do
    if p[k] == nil then missing[#missing + 1] = "--" .. k end
  end
  if #missing > 0 then usage("missing " .. concat(missing, ", "), "live") end
  if p.LiveStreamType and REQUIRED[action] and p.LiveStreamType ~= "publisher" then
    usage("--LiveStreamType must be publisher", "live")
  end
  if p.Oneshot and p.Oneshot ~= "yes" and p.Oneshot ~= "no" then
    usage("--Oneshot must be yes or no", "live")
  end
  local c, status = client(ctx, action, "live")
  if not c then return status end
  local res, err
  -- The known actions go through the library's own checks of their values.
  if only_known and action == "ResumeLiveStream" then
    res, err = c:resume { domain = p.DomainName, app = p.AppName, stream = p.StreamName }
  elseif only_known and action == "ForbidLiveStream" then
    res, err = c:forbid { domain = p.DomainName, app = p.AppName, stream = p.StreamName,
      resume_time = p.ResumeTime, oneshot = p.Oneshot and p.Oneshot == "yes" }
  elseif only_known and action == "DescribeLiveStreamsBlockList" then
    local page = p.PageNum and args.number({ PageNum = p.PageNum }, "PageNum", 1, 2^31 - 1, true, "live")
    local size = p.PageSize and args.number({ PageSize = p.PageSize }, "PageSize", 1, 3000, true, "live")
    res, err = c:blocklist { domain = p.DomainName, page = page, page_size = size }
  else
    res, err = c:call(action, p)
  end
  if not res then return fail(ctx, err, API_FLAGS) end
  return print_result(ctx, res, not ctx.opts.json and "\t" or nil)
end

return _M
