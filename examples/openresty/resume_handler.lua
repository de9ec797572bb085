-- The handler of examples/openresty/nginx.conf: resume one stream, answer JSON.
--   POST /streams/{domain}/{app}/{stream}/resume
--   200 {"RequestId": "…"} | 4xx/5xx {"Code": "…", "Message": "…", "RequestId": "…"}
-- The client uses cosockets and ngx.sleep (the worker never blocks) and the quota in
-- ngx.shared.aliyun_live (every worker shares it).
local live = require "aliyun.live"
local cjson = require "cjson.safe"

local ngx = ngx
local _M = {}

local client   -- one per worker, made on first use (no I/O ever happens at require time)

local function get_client()
  if not client then
    local endpoint = os.getenv("ALIYUN_LIVE_ENDPOINT")
    client = live.new { endpoint = endpoint ~= "" and endpoint or nil }
  end
  return client
end

local function reply(status, body)
  ngx.status = status
  ngx.header.content_type = "application/json"
  ngx.say(cjson.encode(body))
end

function _M.handle(domain, app, stream)
  local res, err = get_client():resume { domain = ngx.unescape_uri(domain),
    app = ngx.unescape_uri(app), stream = ngx.unescape_uri(stream) }
  if res then return reply(200, { RequestId = res.request_id }) end
  local status = err.code == "SDK.InvalidParameter" and 400
    or (err.http_status and err.http_status >= 400 and err.http_status) or 502
  reply(status, { Code = err.code, Message = err.message, RequestId = err.request_id })
end

return _M
