--- Credential providers, as the official Alibaba Cloud SDKs find credentials.
--
-- A provider is an object with `:get(rt)` → `creds` or `nil, err`, where
-- creds = { access_key_id=, access_key_secret=, security_token=?, expiration=? }
-- (expiration in Unix seconds, for temporary credentials) and `rt` is the runtime of
-- the client that asks (its transport and its way of waiting; providers that fetch use
-- it, so a fetch inside nginx is non-blocking and one in the async scheduler runs on
-- its multi handle). Optional: `:invalidate()` (the next get refreshes), `:identity()`
-- (a stable name for the quota key: the account, not a temporary AccessKeyId), `name`.
-- Temporary credentials are cached and refreshed `refresh_margin` seconds (default
-- 180) before they expire. Errors name files and lines, never a secret.
--
--   static(id, secret [, token])            fixed credentials
--   env()                                   ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN
--   profile{file=?, profile=?}              ~/.alibabacloud/credentials (INI)
--   cli{file=?, profile=?}                  ~/.aliyun/config.json (aliyun CLI); :region()
--   ecs_role{role=?, endpoint=?, …}         ECS instance metadata service
--   ram_role_arn{role_arn=, source=, …}     STS AssumeRole
--   oidc{role_arn=?, oidc_provider_arn=?, oidc_token_file=?, …}   STS AssumeRoleWithOIDC
--   uri{uri=?}                              ALIBABA_CLOUD_CREDENTIALS_URI
--   chain{p1, p2, …}, default()             the first that answers
local cached = require "aliyun.live.credentials.cached"
local static = require "aliyun.live.credentials.static"
local files = require "aliyun.live.credentials.files"
local ecs = require "aliyun.live.credentials.ecs"
local sts = require "aliyun.live.credentials.sts"
local chain = require "aliyun.live.credentials.chain"

local _M = { _VERSION = "0.2.0" }

_M.static = static.static
_M.env = static.env
_M.profile = files.profile
_M.cli = files.cli
_M.ecs_role = ecs.ecs_role
_M.uri = ecs.uri
_M.ram_role_arn = sts.ram_role_arn
_M.oidc = sts.oidc
_M.chain = chain.chain
_M.parse_time = cached.parse_time

function _M.default() return chain.default(_M) end

return _M
