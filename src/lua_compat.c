/* lua-compat-5.3's functions, compiled once for the whole module (Lua < 5.3 only). */
#include "lua_compat.h"

#if LUA_VERSION_NUM < 503
#  include "compat-5.3.c"
#else
typedef int lua_compat_unused_t;   /* ISO C wants at least one declaration per file */
#endif
