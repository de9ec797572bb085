--[[--
Credential providers, as the official Alibaba Cloud SDKs find credentials.

A provider is an object with `:get(rt)` → `creds` or `nil, err`, where
creds = { access_key_id=, access_key_secret=, security_token=?, expiration=? }
(expiration in Unix seconds, for temporary credentials) and `rt` is the runtime of
the client that asks (its transport and its way of waiting; providers that fetch use
it, so a fetch inside nginx is non-blocking and one in the async scheduler runs on
its multi handle). Optional: `:invalidate()` (the next get refreshes), `:identity()`
(a stable name for the quota key: the account, not a temporary AccessKeyId), `name`.
Temporary credentials are cached and refreshed `refresh_margin` seconds (default
180) before they expire. Errors name files and lines, never a secret.

    static(id, secret [, token])            fixed credentials
    env()                                   ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN
    profile{file=?, profile=?}              ~/.alibabacloud/credentials (INI)
    cli{file=?, profile=?}                  ~/.aliyun/config.json (aliyun CLI); :region()
    ecs_role{role=?, endpoint=?, …}         ECS instance metadata service
    ram_role_arn{role_arn=, source=, …}     STS AssumeRole
    oidc{role_arn=?, oidc_provider_arn=?, oidc_token_file=?, …}   STS AssumeRoleWithOIDC
    uri{uri=?}                              ALIBABA_CLOUD_CREDENTIALS_URI
    chain{p1, p2, …}, default()             the first that answers
@module aliyun.live.credentials
]]
local cached = require "aliyun.live.credentials.cached"
local static = require "aliyun.live.credentials.static"
local files = require "aliyun.live.credentials.files"
local ecs = require "aliyun.live.credentials.ecs"
local sts = require "aliyun.live.credentials.sts"
local chain = require "aliyun.live.credentials.chain"

local _M = { _VERSION = "0.2.0" }

--- Fixed credentials.
-- @function static
-- @string access_key_id
-- @string access_key_secret
-- @string[opt] security_token with STS credentials
-- @return a provider; raises when a value is not a non-empty string
_M.static = static.static

--- The environment, read at every get: `ALIBABA_CLOUD_ACCESS_KEY_ID`,
-- `ALIBABA_CLOUD_ACCESS_KEY_SECRET`, `ALIBABA_CLOUD_SECURITY_TOKEN`.
-- @function env
_M.env = static.env

--- The shared credentials file (INI): `~/.alibabacloud/credentials` or
-- `ALIBABA_CLOUD_CREDENTIALS_FILE`; the profile from `opts.profile`,
-- `ALIBABA_CLOUD_PROFILE` or "default". Types `access_key`, `ecs_ram_role`,
-- `ram_role_arn`, `oidc_role_arn`. A missing default file means "no credentials here";
-- a broken one is an error naming the file and line, never its contents.
-- @function profile
-- @tab[opt] opts `file`, `profile`, `sts_endpoint`, `metadata_endpoint`
_M.profile = files.profile

--- The aliyun CLI's configuration: `~/.aliyun/config.json` or
-- `ALIBABA_CLOUD_CONFIG_FILE`; the profile from `opts.profile`, `ALIBABA_CLOUD_PROFILE`
-- or the file's `current`. Modes AK, StsToken, RamRoleArn, EcsRamRole, OIDC. The
-- provider's `:region()` gives the profile's `region_id`.
-- @function cli
-- @tab[opt] opts `file`, `profile`, `sts_endpoint`, `metadata_endpoint`
_M.cli = files.cli

--- The instance's RAM role from the ECS metadata service (with its session token),
-- never through a proxy.
-- @function ecs_role
-- @tab[opt] opts `role` (default: asked from the service), `endpoint` (default
-- `http://100.100.100.200`), `imds_v2` (true), `timeout` (1 s), `connect_timeout`,
-- `refresh_margin` (180 s)
_M.ecs_role = ecs.ecs_role

--- Credentials served at a URL (`ALIBABA_CLOUD_CREDENTIALS_URI`): a GET answering
-- `{"Code": "Success", "AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"}`.
-- @function uri
-- @tab[opt] opts `uri`, `timeout` (5 s), `connect_timeout`, `refresh_margin`, `proxy`,
-- `ca_file`, `verify`
_M.uri = ecs.uri

--- A RAM role through STS AssumeRole, signed with `source`'s credentials.
-- @function ram_role_arn
-- @tab opts `role_arn` (`acs:ram::<account>:role/<name>`), `source` (a provider) or
-- `access_key_id` + `access_key_secret` [+ `security_token`], `session_name`
-- ("aliyun-live-lua"), `duration` (900–43200, 3600), `policy`, `sts_endpoint` (a host,
-- meaning HTTPS, or a URL; default `ALIBABA_CLOUD_STS_ENDPOINT`,
-- `sts.<ALIBABA_CLOUD_STS_REGION>.aliyuncs.com`, `sts.aliyuncs.com`),
-- `refresh_margin`; `timeout`, `connect_timeout`, `proxy`, `ca_file`, `verify` when the
-- provider is asked directly (a client fetches through its own transport)
_M.ram_role_arn = sts.ram_role_arn

--- A RAM role through STS AssumeRoleWithOIDC (RRSA on Kubernetes): unsigned, the token
-- file re-read at every refresh.
-- @function oidc
-- @tab[opt] opts `role_arn`, `oidc_provider_arn`, `oidc_token_file` (defaults
-- `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`,
-- `ALIBABA_CLOUD_OIDC_TOKEN_FILE`), `session_name` (`ALIBABA_CLOUD_ROLE_SESSION_NAME`),
-- `duration`, `policy`, `sts_endpoint`, `refresh_margin`, and the transport options of
-- ram_role_arn
_M.oidc = sts.oidc

--- The first of `providers` that answers; once one has, it is asked first. A provider
-- whose source exists but is broken stops the chain with its error.
-- @function chain
-- @tab providers a list of providers
_M.chain = chain.chain

--- "2024-01-01T12:00:00Z" → Unix seconds.
-- @function parse_time
_M.parse_time = cached.parse_time

--- The default chain, in the official SDKs' order: environment → OIDC → aliyun CLI
-- config → credentials file → the ECS role named by `ALIBABA_CLOUD_ECS_METADATA` →
-- the credentials URI.
function _M.default() return chain.default(_M) end

return _M
