-- Entry points called from nginx.conf: init() once in the master (settings, keys),
-- init_worker() in the worker (orphan guard), handle() for every request.
local config = require "emulator.config"
local keys = require "emulator.keys"
local crypto = require "emulator.crypto"
local render = require "emulator.render"
local response = require "emulator.response"
local rpc = require "emulator.rpc"
local control = require "emulator.control"
local metadata = require "emulator.metadata"
local guard = require "emulator.guard"
local stats = require "emulator.stats"

local M = {}

local settings

function M.init(settings_path)
  settings = config.load(settings_path)
  for _, k in ipairs(settings.keys or {}) do
    keys.add_permanent(k.id, k.secret, k.active)
  end
end

function M.init_worker()
  guard.start(tonumber(settings.run_pid), settings.temp_dir)
end

local function not_found(path)
  response.json(404, render.obj(
    "RequestId", crypto.uuid(),
    "HostId", "live.aliyuncs.com",
    "Code", "NotFound",
    "Message", "No such endpoint: " .. path ..
      " (the API is at /, control endpoints at /__emulator/, metadata at /latest/)."))
end

local function dispatch()
  local path = ngx.var.uri
  local method = ngx.req.get_method()
  if path == "/" then return rpc.handle() end
  local name = path:match("^/__emulator/([%w_]+)/?$")
  if name and control.handle(name, method) then return end
  if path:sub(1, 8) == "/latest/" then return metadata.handle(path, method) end
  return not_found(path)
end

local REFUSED = {
  [413] = { "RequestEntityTooLarge", "The request body is larger than 1 MB (the emulator's limit)." },
  [414] = { "RequestURITooLong", "The request URL is longer than 64 KB (the emulator's limit)." },
  [494] = { "RequestHeaderTooLarge", "A request header is longer than 64 KB (the emulator's limit)." },
  [404] = { "NotFound", "No such endpoint." },
}

--- Answers a request nginx refused before reading it (error_page in nginx.conf).
--- Requests to "/" count in the statistics like any other outcome.
function M.refused()
  local status = tonumber(ngx.var.uri:match("(%d+)$"))
  local what = REFUSED[status]
  if status == 494 or not what then status = 400 end
  what = what or { "BadRequest", "The request was refused." }
  if (ngx.var.request_uri or ""):match("^/[?#]") or ngx.var.request_uri == "/" then
    stats.count_request()
    stats.outcome(what[1])
  end
  response.json(status, render.obj(
    "RequestId", crypto.uuid(),
    "HostId", "live.aliyuncs.com",
    "Code", what[1],
    "Message", what[2]))
end

-- A bug in the emulator answers like the service's own failures (500 InternalError,
-- as JSON) instead of nginx's HTML page, and is logged with its traceback.
function M.handle()
  local ok, err = xpcall(dispatch, debug.traceback)
  if ok then return end
  ngx.log(ngx.ERR, "emulator error: ", err)
  if not ngx.headers_sent then
    response.json(500, render.obj(
      "RequestId", crypto.uuid(),
      "HostId", "live.aliyuncs.com",
      "Code", "InternalError",
      "Message", "The emulator failed: see its error log."))
  end
end

return M
