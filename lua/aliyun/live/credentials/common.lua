--- What the credential providers share: their option checks, their error, and the
-- runtime a provider fetches with when it is asked outside any client.
local errors = require "aliyun.live.errors"

local type, pairs, tostring, format = type, pairs, tostring, string.format

local _M = {}

--- opts (nil: {}) with every key known and of its type (`known`: name → type name);
-- raises naming `credentials.<fn>` otherwise.
function _M.check_opts(fn, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then errors.raise("credentials." .. fn, "expects a table") end
  for k, v in pairs(opts) do
    local want = known[k]
    if not want then
      errors.raise("credentials." .. fn, format("unknown option '%s'", tostring(k)))
    end
    if type(v) ~= want then
      errors.raise("credentials." .. fn, format("option '%s' must be a %s", k, want))
    end
  end
  return opts
end

function _M.error(message)
  return errors.new("SDK.CredentialsError", message)
end

--- The runtime to fetch with: the asking client's, else (a provider used on its own) a
-- private blocking one made on first use from self.transport_opts.
function _M.runtime(self, rt)
  if rt then return rt end
  if not self.own_rt then
    self.own_rt = require("aliyun.live.transport.curl").standalone(self.transport_opts)
  end
  return self.own_rt
end

return _M
