/* One compat header for Lua 5.1 (LuaJIT) to 5.4: lua-compat-5.3 under a project prefix,
 * so our copies of its functions never clash with another module's. */
#ifndef ALIYUN_LIVE_LUA_COMPAT_H
#define ALIYUN_LIVE_LUA_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 503
#  define COMPAT53_PREFIX aliyun_live_compat53
#  include "compat-5.3.h"
#endif

#endif
