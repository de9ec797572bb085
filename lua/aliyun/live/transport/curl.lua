--- The libcurl transport (through the C core): how bytes move outside nginx.
--
-- A runtime ("rt") is what the request engine needs from its host:
--   rt.rpc(action, params, creds [, signer]) → result | nil, err   a signed API call
--   rt.http{method=, url=, headers=, body=, timeout_ms=, no_proxy=}
--                                            → status, body, content_type | nil, err
--   rt.sleep(seconds), rt.now() → seconds (monotonic)
--   rt.yields  sleep and I/O let other work run (async scheduler, nginx)
--   rt.spawn(fn)  (optional) run fn(rt) as a task of its own
--   rt.decide(store, ticket)  (optional) → the answer to a decision sent to a limiter
--                 store that answers later (store:send), waiting the runtime's way
--   rt.gate(key) → place, rt.ungate(place, failed)  (optional, for runtimes that run many
--                 requests at once) one request per quota key asks the limiter at a time
--   rt.cancelled() (optional) → true once the request was cancelled: the engine stops
-- This file makes the blocking one; lua/aliyun/live/async.lua makes the one whose
-- calls are transfers on the client's multi handle.
local core = require "aliyun.live.core"
local validate = require "aliyun.live.validate"

local _M = {}

-- Response headers the engine wants from failures (retry hints, request ids).
_M.CAPTURE = { "x-acs-retry-after", "x-acs-request-id" }

--- A core client for `cfg` (timeouts already in ms, see options.lua) and `signer`.
function _M.client(cfg, signer)
  return core.client {
    signer = signer, connect_timeout_ms = cfg.connect_timeout_ms, timeout_ms = cfg.timeout_ms,
    max_body = cfg.max_body, verify = cfg.verify, ca_file = cfg.ca_file, proxy = cfg.proxy,
    user_agent = cfg.user_agent, capture = _M.CAPTURE,
  }
end

--- The blocking runtime over core client `ccl`.
function _M.blocking(ccl)
  local rt = { name = "curl", yields = false, sleep = core.sleep,
               now = core.monotonic, ready = false }
  function rt.rpc(action, params, creds, signer)
    return ccl:rpc(action, params, creds.access_key_id, creds.access_key_secret,
      creds.security_token, signer)
  end
  function rt.http(req) return ccl:http(req) end
  return rt
end

--- A blocking runtime of its own, for a credential provider asked directly (outside
-- any client). opts: timeout, connect_timeout (seconds), proxy, ca_file, verify.
function _M.standalone(opts)
  opts = opts or {}
  local fn = "credentials"
  local ccl = _M.client({
    connect_timeout_ms = validate.timeout_ms(fn, "connect_timeout", opts.connect_timeout, 5),
    timeout_ms = validate.timeout_ms(fn, "timeout", opts.timeout, 5),
    max_body = 1024 * 1024, verify = opts.verify ~= false, ca_file = opts.ca_file,
    proxy = opts.proxy, user_agent = "aliyun-live-lua/" .. core._VERSION,
  })
  return _M.blocking(ccl)
end

return _M
