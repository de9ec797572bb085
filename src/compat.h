/* The few Lua 5.2+ C API functions the binding uses, for Lua 5.1 and LuaJIT. Our own
 * copies under a project prefix (never another module's or a system compat package's),
 * so the module builds against nothing but a Lua's own headers. */
#ifndef ALIYUN_LIVE_COMPAT_H
#define ALIYUN_LIVE_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
#pragma GCC visibility push(hidden)   /* see buf.h */
void alv_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
void alv_setmetatable(lua_State *L, const char *tname);
int  alv_absindex(lua_State *L, int idx);
lua_Integer alv_tointegerx(lua_State *L, int idx, int *isnum);
#pragma GCC visibility pop
#  define luaL_setfuncs     alv_setfuncs
#  define luaL_setmetatable alv_setmetatable
#  define lua_absindex      alv_absindex
#  define lua_rawlen(L, i)  lua_objlen(L, (i))
#  define lua_tointegerx    alv_tointegerx
#endif

#endif
