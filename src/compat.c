/* Lua 5.2 API functions for Lua 5.1 and LuaJIT (see compat.h). */
#include <math.h>

#include "compat.h"

#if LUA_VERSION_NUM < 502
/* As in Lua 5.2's lauxlib.c: each function gets the nup values above the table as its
 * upvalues; the values are popped at the end. */
void alv_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name; l++) {
        int i;
        for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}

void alv_setmetatable(lua_State *L, const char *tname) {
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
}

int alv_absindex(lua_State *L, int idx) {
    return (idx > 0 || idx <= LUA_REGISTRYINDEX) ? idx : lua_gettop(L) + idx + 1;
}
/* As Lua 5.3's: only numbers with an exact integer value count. */
lua_Integer alv_tointegerx(lua_State *L, int idx, int *isnum) {
    lua_Number n = lua_tonumber(L, idx);
    /* Range first: casting an out-of-range float to an integer is undefined. */
    int ok = lua_type(L, idx) == LUA_TNUMBER && n >= -9007199254740992.0 &&
             n <= 9007199254740992.0 && n == floor(n);
    if (isnum) *isnum = ok;
    return ok ? (lua_Integer)n : 0;
}
#else
typedef int alv_compat_unused_t;   /* ISO C wants at least one declaration per file */
#endif
