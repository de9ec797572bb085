-- Reading an RPC request off the wire, before any check: method, raw query, body,
-- headers, the decoded parameters (query and form body together), which signature
-- style it uses, which answer format it wants, and who it claims to be.
local codec = require "emulator.codec"

local M = {}

-- Version -> Action -> true for actions called without an AccessKey.
local ANONYMOUS = { ["2015-04-01"] = { AssumeRoleWithOIDC = true } }

local function read_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then return body end
  local path = ngx.req.get_body_file()   -- only if it did not fit in memory
  if not path then return "" end
  local f = io.open(path, "rb")
  if not f then return "" end
  body = f:read("*a")
  f:close()
  return body
end

-- A header's value as one string (repeated headers joined by ",", as HTTP allows).
local function header_value(v)
  if type(v) == "table" then return table.concat(v, ",") end
  return v
end

--- Parses the current request. Never fails: problems are recorded in the result
--- (r.duplicate) for the pipeline to report in the right format.
---   r.method, r.raw_query, r.body, r.headers (lower-case name -> string)
---   r.query_pairs / r.form_pairs : { {name, value}, ... } decoded, in order
---   r.params      : name -> value over both sources
---   r.duplicate   : a parameter name given more than once, if any
---   r.style       : "v1" or "v3" (Authorization: ACS3-HMAC-SHA256 ...)
---   r.format      : "JSON" or "XML"; r.format_invalid when Format has another value
---   r.claimed_key, r.claimed_action, r.claimed_version : as stated by the request
---   r.anonymous   : an action the service answers without an AccessKey
---                   (AssumeRoleWithOIDC), whatever signature fields came with it
function M.read()
  local r = {}
  r.method = ngx.req.get_method()
  r.raw_query = ngx.var.args or ""
  r.body = read_body()

  local headers = {}
  for name, v in pairs(ngx.req.get_headers(200)) do
    headers[name:lower()] = header_value(v)
  end
  r.headers = headers

  r.query_pairs = codec.parse_pairs(r.raw_query, false)
  local ctype = (headers["content-type"] or ""):lower()
  if ctype:find("^%s*application/x%-www%-form%-urlencoded") then
    r.form_pairs = codec.parse_pairs(r.body, true)
  else
    r.form_pairs = {}
  end

  local params = {}
  for _, list in ipairs({ r.query_pairs, r.form_pairs }) do
    for _, pair in ipairs(list) do
      local name, value = pair[1], pair[2]
      if params[name] ~= nil then
        r.duplicate = r.duplicate or name
      else
        params[name] = value
      end
    end
  end
  r.params = params

  local auth = headers["authorization"]
  if auth and auth:find("^%s*ACS3%-HMAC%-SHA256") then
    r.style = "v3"
    local accept = (headers["accept"] or ""):lower()
    r.format = accept:find("xml", 1, true) and "XML" or "JSON"
    r.claimed_key = auth:match("Credential=([^,%s]+)")
    r.claimed_action = headers["x-acs-action"]
    r.claimed_version = headers["x-acs-version"]
  else
    r.style = "v1"
    local f = params.Format
    if f == nil then
      r.format = "XML"           -- the service's default when Format is absent
    elseif f:upper() == "JSON" or f:upper() == "XML" then
      r.format = f:upper()
    else
      r.format = "XML"
      r.format_invalid = true
    end
    r.claimed_key = params.AccessKeyId
    r.claimed_action = params.Action
    r.claimed_version = params.Version
    -- An unsigned request in the V3 shape (the SDKs' anonymous calls): action and
    -- version in headers, and a JSON answer unless XML is asked for.
    if r.claimed_action == nil and headers["x-acs-action"] then
      r.claimed_action = headers["x-acs-action"]
      r.claimed_version = headers["x-acs-version"]
      if params.Format == nil then
        local accept = (headers["accept"] or ""):lower()
        r.format = accept:find("xml", 1, true) and "XML" or "JSON"
      end
    end
  end
  if r.claimed_key == "" then r.claimed_key = nil end
  if r.claimed_action == "" then r.claimed_action = nil end
  r.anonymous = ANONYMOUS[r.claimed_version or ""] ~= nil
    and ANONYMOUS[r.claimed_version][r.claimed_action or ""] == true
  return r
end

return M
