--- Endpoints: "scheme://host[:port]" URLs, and where regions and STS live.
local type, tonumber, find, sub, gsub, match, getenv =
  type, tonumber, string.find, string.sub, string.gsub, string.match, os.getenv

local _M = {}

_M.DEFAULT = "https://live.aliyuncs.com"

-- Regions that some official SDK versions send to the Singapore endpoint; every other
-- region is served by the central one (shared/api/live-api.md §5).
local SINGAPORE = "https://live.ap-southeast-1.aliyuncs.com"
_M.REGIONS = {
  ["us-east-1"] = SINGAPORE, ["us-west-1"] = SINGAPORE, ["eu-west-1"] = SINGAPORE,
  ["me-east-1"] = SINGAPORE, ["ap-southeast-2"] = SINGAPORE, ["ap-southeast-3"] = SINGAPORE,
}

--- "scheme://host[:port]" → base URL, Host header value (as libcurl sends it), scheme,
-- host, port | nil, message. No path, query or user part; a trailing "/" is allowed.
function _M.parse(url)
  if type(url) ~= "string" then return nil, "must be a string" end
  local scheme, rest = match(url, "^(https?)://(.+)$")
  if not scheme then return nil, "must start with http:// or https://" end
  rest = gsub(rest, "/$", "")
  local host, port
  if sub(rest, 1, 1) == "[" then
    host, port = match(rest, "^(%[[%x:%.]+%])(.*)$")
  else
    host, port = match(rest, "^([%w%.%-_]+)(.*)$")
  end
  local p = port and match(port, "^:(%d+)$")
  if not host or (port ~= "" and not p) or (p and (#p > 5 or tonumber(p) < 1 or tonumber(p) > 65535))
      or find(host, "^%.") or find(host, "%.%.") then
    return nil, "must be scheme://host[:port], without path, query or user"
  end
  local default_port = scheme == "https" and 443 or 80
  local portn = p and tonumber(p) or default_port
  local hosthdr = (p and portn ~= default_port) and host .. port or host
  return scheme .. "://" .. host .. port, hosthdr, scheme, host, portn
end

--- A region id such as "cn-shanghai"?
function _M.is_region(r)
  return type(r) == "string" and match(r, "^[a-z]+%-[a-z0-9%-]+$") ~= nil and #r <= 64
end

--- The STS endpoint: `given` (a host, meaning HTTPS, or a full URL), else
-- ALIBABA_CLOUD_STS_ENDPOINT, else sts.<ALIBABA_CLOUD_STS_REGION>.aliyuncs.com, else
-- sts.aliyuncs.com — as the official credentials SDKs read them.
function _M.sts(given)
  local e = given
  if not e or e == "" then e = getenv("ALIBABA_CLOUD_STS_ENDPOINT") end
  if not e or e == "" then
    local region = getenv("ALIBABA_CLOUD_STS_REGION")
    if region and region ~= "" and _M.is_region(region) then
      local vpc = getenv("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED")
      e = ((vpc == "true" or vpc == "1") and "sts-vpc." or "sts.") .. region .. ".aliyuncs.com"
    else
      e = "sts.aliyuncs.com"
    end
  end
  if not find(e, "^https?://") then e = "https://" .. e end
  return e
end

return _M
