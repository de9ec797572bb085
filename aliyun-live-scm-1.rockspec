-- aliyun-live: ApsaraVideo Live stream control for Lua, with a C core.
--   luarocks --lua-version=5.4 make aliyun-live-scm-1.rockspec     from a checkout
--   make rock; luarocks --lua-version=5.4 install --deps-mode=none build/aliyun-live-scm-1.src.rock
-- The build is the project's Makefile, out of the source tree (build/rock-*): objects
-- never land in src/. hiredis is optional (found through pkg-config; REDIS=0 leaves the
-- redis:// limiter store out).
rockspec_format = "3.0"
package = "aliyun-live"
version = "scm-1"
source = {
  -- `make rock` archives the checkout and points a copy of this rockspec at it.
  url = "aliyun-live-scm-1.tar.gz",
  dir = "aliyun-live",
}
description = {
  summary = "Alibaba Cloud ApsaraVideo Live stream control (ResumeLiveStream) with a C core",
  detailed = [[
Signs (RPC v1 and V3), sends (libcurl, keep-alive; nginx cosockets inside OpenResty)
and parses (lua-cjson, expat) ApsaraVideo Live API calls, above all ResumeLiveStream;
keeps callers under the 30 QPS quota with limiters shared per process, per host, per
nginx instance or per fleet (Redis).
]],
  license = "MIT",
  labels = { "alibaba-cloud", "aliyun", "live", "streaming", "rate-limiting", "openresty" },
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "lua-cjson >= 2.1",   -- the core decodes JSON with cjson.safe
}
external_dependencies = {
  CURL = { library = "curl" },   -- Debian keeps curl.h in a multiarch directory
  OPENSSL = { header = "openssl/evp.h", library = "crypto" },
  EXPAT = { header = "expat.h", library = "expat" },
}
build = {
  type = "make",
  build_variables = {
    CC = "$(CC)", CFLAGS = "$(CFLAGS)", LIBFLAG = "$(LIBFLAG)", LUA_INCDIR = "$(LUA_INCDIR)",
    CURL_INCDIR = "$(CURL_INCDIR)", CURL_LIBDIR = "$(CURL_LIBDIR)",
    OPENSSL_INCDIR = "$(OPENSSL_INCDIR)", OPENSSL_LIBDIR = "$(OPENSSL_LIBDIR)",
    EXPAT_INCDIR = "$(EXPAT_INCDIR)", EXPAT_LIBDIR = "$(EXPAT_LIBDIR)",
    WERROR = "",
  },
  install_variables = {
    INST_LIBDIR = "$(LIBDIR)", INST_LUADIR = "$(LUADIR)", LUA_INCDIR = "$(LUA_INCDIR)",
  },
  install = {
    bin = { ["aliyun-live"] = "bin/aliyun-live" },
  },
  copy_directories = { "examples", "docs" },
}
