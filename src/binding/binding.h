/* Shared declarations of the Lua binding (core*.c). */
#ifndef ALIYUN_LIVE_CORE_H
#define ALIYUN_LIVE_CORE_H

#include "compat.h"

#pragma GCC visibility push(hidden)   /* see buf.h */

#if defined(__GNUC__) || defined(__clang__)
#  define CORE_EXPORT __attribute__((visibility("default")))
#else
#  define CORE_EXPORT
#endif

/* Register methods in the table on top of the stack, sharing `nup` upvalues that sit
 * above it (as luaL_setfuncs does). */
void core_register(lua_State *L, const luaL_Reg *fns, int nup);

/* Each class adds its constructor(s) to the module table on top of the stack; the
 * cjson decode function is pushed just above that table for those that parse. */
void core_client_open(lua_State *L);
void core_limiter_open(lua_State *L);

#pragma GCC visibility pop

#endif
