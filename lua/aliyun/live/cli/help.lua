--- Help texts of the aliyun-live command: `aliyun-live help [COMMAND]`,
-- `aliyun-live COMMAND --help`. docs/cli.md says the same at length.
local _M = {}

local COMMON = [[
Credentials (default: environment, aliyun CLI config, ~/.alibabacloud/credentials):
  -p, --profile NAME           a profile of the aliyun CLI config (~/.aliyun/config.json)
      --config-path FILE       another aliyun CLI config file
      --mode MODE              AK, StsToken, RamRoleArn or EcsRamRole (default: from
                               the flags given: AK with --access-key-id)
      --access-key-id ID       --access-key-secret SECRET   --sts-token TOKEN
      --ram-role-arn ARN       --role-session-name NAME     (RamRoleArn)
      --ram-role-name NAME     (EcsRamRole)
Endpoint:
      --endpoint URL|HOST      e.g. http://127.0.0.1:8080 (default: ALIYUN_LIVE_ENDPOINT,
                               else from the region, else https://live.aliyuncs.com)
      --region ID              default: ALIBABA_CLOUD_REGION_ID, else the profile's region_id
Requests:
      --signature v1|v3        --format JSON|XML
      --retry-count N          retries after the first attempt (default: the library's)
      --connect-timeout S      --read-timeout S (alias --timeout)
Quota (30 ResumeLiveStream per second per account, shared by every aliyun-live of
this user on this host by default):
      --limiter STORE          local, process, shm:NAME or redis://HOST:PORT[/DB]
                               (default: ALIYUN_LIVE_LIMITER, else shm:cli-<uid>)
      --rate N                 requests per second (default: the action's quota)
      --no-limit               no client-side limiter
Output:
      --json                   JSON on stdout (the RequestId as "RequestId")
]]

local TEXT = {}

TEXT.general = [[
usage: aliyun-live COMMAND [options]

Commands:
  resume     resume a stream, or every stream of a file (--from), at the quota
  forbid     forbid a stream (cut its push and block it)
  blocklist  list the blocked streams of a domain (one page, or --all)
  call       any Live API action: call ACTION Name=Value ...
  presign    sign a request without sending it: presign ACTION Name=Value ...
  live       the official aliyun CLI's form: live ResumeLiveStream --DomainName D ...
  help       help [COMMAND]
  version    the version of aliyun-live (also --version)

Examples:
  aliyun-live resume --domain demo.aliyundoc.com --app liveApp --stream room42
  aliyun-live resume --from streams.csv --failed failed.csv
  aliyun-live blocklist --domain demo.aliyundoc.com --all --json

Exit status: 0 success; 1 an API or network failure (in bulk: some items failed);
2 a usage error or invalid input; 130 interrupted (Ctrl-C, SIGTERM).
'aliyun-live help COMMAND' shows a command's options.
]]

TEXT.resume = [[
usage: aliyun-live resume --domain DOMAIN --app APP --stream STREAM [options]
       aliyun-live resume --from FILE|- [--failed FILE] [options]

Resumes a forbidden stream (ResumeLiveStream) and prints its RequestId. --app '*'
resumes the stream under every app of the domain.

With --from, resumes every item of FILE (- for stdin), at the quota, and prints one
line per resumed item on stdout: RequestId, domain, app, stream (tab-separated). FILE
is CSV, "domain,app,stream" per line (RFC 4180 quoting; an optional header line
domain,app,stream), or JSON lines, {"domain": ..., "app": ..., "stream": ...} per
line; which one is seen from the content. A bad line is reported with its number and
counted as failed; the others go on. Progress goes to stderr, a summary at the end.
Ctrl-C stops at once: the summary says what was done, what failed, what was not
started and what was in flight (outcome unknown); exit status 130.

  --from FILE|-              the items to resume
  --failed FILE              write the items that failed, were in flight or were not
                             started to FILE, in the input's format, to feed back
                             with --from (an empty file when there are none)
  --progress MODE            auto (a bar on a terminal, else lines), bar, lines, none
  --progress-interval S      seconds between progress lines (default 5)
  --concurrency N            requests in flight at once, 1 to 16 (default 16)

]] .. COMMON

TEXT.forbid = [[
usage: aliyun-live forbid --domain DOMAIN --app APP --stream STREAM
                          [--resume-time TIME] [--oneshot] [options]

Cuts the stream's push and blocks it (ForbidLiveStream); prints the RequestId.
  --resume-time TIME         resume it then: Unix seconds or YYYY-MM-DDThh:mm:ssZ (UTC)
  --oneshot                  only cut the current push, without blocking

]] .. COMMON

TEXT.blocklist = [[
usage: aliyun-live blocklist --domain DOMAIN [--page N] [--page-size N] [--all] [options]

Prints the domain's blocked streams (DescribeLiveStreamsBlockList), one
domain/app/stream per line.
  --page N                   the page (default 1)
  --page-size N              streams per page, 1 to 3000 (default 2000; 3000 with --all)
  --all                      every page, one after the other

]] .. COMMON

TEXT.call = [[
usage: aliyun-live call ACTION [Name=Value ...] [options]

Calls any Live API action (version 2016-11-01), signed, throttled and retried like the
others. Prints the answer's fields, one Name=value per line (nested fields as
A.B[1].C=value); --json prints the answer as JSON.
  aliyun-live call DescribeLiveStreamsBlockList DomainName=demo.aliyundoc.com PageSize=10

]] .. COMMON

TEXT.presign = [[
usage: aliyun-live presign ACTION [Name=Value ...] [options]

Signs a request without sending it. Prints the URL (with --signature v3, then one
"name: value" line per header to send); --json prints every field (string to sign,
signature, canonical request, ...).
  --method GET|POST          (default POST)
  --timestamp TIME           YYYY-MM-DDThh:mm:ssZ instead of now
  --nonce NONCE              instead of a random one
  --api-version YYYY-MM-DD   (default 2016-11-01)

]] .. COMMON

TEXT.live = [[
usage: aliyun-live live ACTION --Name Value ... [options]

The official aliyun CLI's form, for scripts that move over; prints the answer as
indented JSON, as that CLI does:
  aliyun-live live ResumeLiveStream --DomainName D --AppName A --StreamName S \
      --LiveStreamType publisher
  aliyun-live live ForbidLiveStream --DomainName D --AppName A --StreamName S \
      --LiveStreamType publisher [--ResumeTime T] [--Oneshot yes|no]
  aliyun-live live DescribeLiveStreamsBlockList --DomainName D [--PageNum N] [--PageSize N]
Other actions are sent as given.

]] .. COMMON

TEXT.help = [[
usage: aliyun-live help [COMMAND]
       aliyun-live COMMAND --help
]]

TEXT.version = [[
usage: aliyun-live version     (or aliyun-live --version)
]]

--- The help of cmd (nil: the general one).
function _M.text(cmd)
  return TEXT[cmd or "general"]
end

return _M
