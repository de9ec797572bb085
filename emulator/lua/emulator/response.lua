-- Writing HTTP answers: API successes and errors in JSON or XML, and plain JSON for
-- the control endpoints.
local render = require "emulator.render"

local M = {}

M.JSON_TYPE = "application/json;charset=utf-8"
M.XML_TYPE = "text/xml;charset=utf-8"

function M.send(status, content_type, body, headers)
  ngx.status = status
  ngx.header["Content-Type"] = content_type
  ngx.header["Content-Length"] = #body
  if headers then
    for k, v in pairs(headers) do ngx.header[k] = v end
  end
  ngx.print(body)
end

--- A successful API answer; doc is a render.obj that starts with RequestId.
function M.api_success(format, action, request_id, doc)
  local headers = { ["x-acs-request-id"] = request_id }
  if format == "XML" then
    M.send(200, M.XML_TYPE, render.xml(action .. "Response", doc), headers)
  else
    M.send(200, M.JSON_TYPE, render.json(doc), headers)
  end
end

local PRODUCTS = { ["sts.aliyuncs.com"] = "Sts" }

--- An API error answer with the service's error body.
function M.api_error(format, err, request_id, host_id)
  local doc = render.obj(
    "RequestId", request_id,
    "HostId", host_id,
    "Code", err.code,
    "Message", err.message or "",
    "Recommend", "https://api.aliyun.com/troubleshoot?q=" .. err.code .. "&product=" ..
      (PRODUCTS[host_id] or "Live"))
  local headers = { ["x-acs-request-id"] = request_id }
  if err.headers then
    for k, v in pairs(err.headers) do headers[k] = v end
  end
  if format == "XML" then
    M.send(err.status, M.XML_TYPE, render.xml("Error", doc), headers)
  else
    M.send(err.status, M.JSON_TYPE, render.json(doc), headers)
  end
end

--- JSON for the control endpoints.
function M.json(status, value, headers)
  M.send(status, M.JSON_TYPE, render.json(value) .. "\n", headers)
end

return M
