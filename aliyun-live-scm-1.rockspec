-- aliyun-live: ApsaraVideo Live stream control for Lua, with a C core.
-- Build from a checkout:  luarocks --lua-version=5.4 make aliyun-live-scm-1.rockspec
-- Runtime dependency outside LuaRocks: lua-cjson (Debian: lua-cjson), loaded by the core.
rockspec_format = "3.0"
package = "aliyun-live"
version = "scm-1"
source = {
  url = "git+file:///aliyun-live",   -- builds from the checkout with `luarocks make`
}
description = {
  summary = "Alibaba Cloud ApsaraVideo Live stream control (ResumeLiveStream) with a C core",
  detailed = [[
Signs (RPC v1 and V3), sends (libcurl, keep-alive) and parses (lua-cjson, expat)
ApsaraVideo Live API calls, above all ResumeLiveStream; keeps callers under the
30 QPS quota with GCRA limiters shared per process, per host or per fleet (Redis).
]],
  license = "MIT",
  labels = { "alibaba-cloud", "aliyun", "live", "streaming", "rate-limiting" },
}
dependencies = {
  "lua >= 5.1, < 5.5",
}
external_dependencies = {
  CURL = { library = "curl" },   -- Debian keeps curl.h in a multiarch directory
  OPENSSL = { header = "openssl/evp.h", library = "crypto" },
  EXPAT = { header = "expat.h", library = "expat" },
  HIREDIS = { header = "hiredis/hiredis.h", library = "hiredis" },
}
build = {
  type = "builtin",
  modules = {
    ["aliyun.live.core"] = {
      sources = {
        "src/buf.c", "src/compat.c", "src/binding/async.c", "src/binding/client.c",
        "src/binding/core.c", "src/binding/decode.c", "src/binding/error.c",
        "src/binding/limiter.c", "src/binding/signer.c", "src/limiter/gcra.c",
        "src/limiter/memory.c", "src/limiter/redis.c", "src/limiter/shm.c",
        "src/protocol/answer.c", "src/protocol/encode.c", "src/protocol/request.c",
        "src/protocol/sign.c", "src/protocol/xml.c", "src/transport/http.c",
        "src/transport/multi.c",
      },
      defines = { "_POSIX_C_SOURCE=200809L" },
      incdirs = { "src", "$(OPENSSL_INCDIR)", "$(EXPAT_INCDIR)", "$(HIREDIS_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(OPENSSL_LIBDIR)", "$(EXPAT_LIBDIR)", "$(HIREDIS_LIBDIR)" },
      libraries = { "curl", "crypto", "expat", "hiredis", "pthread", "m" },
    },
    ["aliyun.live"] = "lua/aliyun/live.lua",
    ["aliyun.live.async"] = "lua/aliyun/live/async.lua",
    ["aliyun.live.cli"] = "lua/aliyun/live/cli.lua",
    ["aliyun.live.cli.args"] = "lua/aliyun/live/cli/args.lua",
    ["aliyun.live.cli.bulk"] = "lua/aliyun/live/cli/bulk.lua",
    ["aliyun.live.cli.client"] = "lua/aliyun/live/cli/client.lua",
    ["aliyun.live.cli.commands"] = "lua/aliyun/live/cli/commands.lua",
    ["aliyun.live.cli.help"] = "lua/aliyun/live/cli/help.lua",
    ["aliyun.live.cli.input"] = "lua/aliyun/live/cli/input.lua",
    ["aliyun.live.cli.output"] = "lua/aliyun/live/cli/output.lua",
    ["aliyun.live.cli.progress"] = "lua/aliyun/live/cli/progress.lua",
    ["aliyun.live.compat"] = "lua/aliyun/live/compat.lua",
    ["aliyun.live.credentials"] = "lua/aliyun/live/credentials.lua",
    ["aliyun.live.credentials.cached"] = "lua/aliyun/live/credentials/cached.lua",
    ["aliyun.live.credentials.chain"] = "lua/aliyun/live/credentials/chain.lua",
    ["aliyun.live.credentials.ecs"] = "lua/aliyun/live/credentials/ecs.lua",
    ["aliyun.live.credentials.files"] = "lua/aliyun/live/credentials/files.lua",
    ["aliyun.live.credentials.static"] = "lua/aliyun/live/credentials/static.lua",
    ["aliyun.live.credentials.sts"] = "lua/aliyun/live/credentials/sts.lua",
    ["aliyun.live.endpoint"] = "lua/aliyun/live/endpoint.lua",
    ["aliyun.live.engine"] = "lua/aliyun/live/engine.lua",
    ["aliyun.live.errors"] = "lua/aliyun/live/errors.lua",
    ["aliyun.live.ngx.http"] = "lua/aliyun/live/ngx/http.lua",
    ["aliyun.live.ngx.store"] = "lua/aliyun/live/ngx/store.lua",
    ["aliyun.live.operations"] = "lua/aliyun/live/operations.lua",
    ["aliyun.live.options"] = "lua/aliyun/live/options.lua",
    ["aliyun.live.redact"] = "lua/aliyun/live/redact.lua",
    ["aliyun.live.retry"] = "lua/aliyun/live/retry.lua",
    ["aliyun.live.throttle"] = "lua/aliyun/live/throttle.lua",
    ["aliyun.live.transport.curl"] = "lua/aliyun/live/transport/curl.lua",
    ["aliyun.live.transport.ngx"] = "lua/aliyun/live/transport/ngx.lua",
    ["aliyun.live.validate"] = "lua/aliyun/live/validate.lua",
  },
  install = {
    bin = { ["aliyun-live"] = "bin/aliyun-live" },
  },
  copy_directories = { "examples" },
}
