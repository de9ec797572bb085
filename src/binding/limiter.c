/* Lua binding of the rate limiter: `core.limiter(store [, opts])` → aliyun.live.Limiter,
 * a handle on one store. The deciding is done by limiter*.c; the policy (rates, guard,
 * fail-open, adaptive rates, sleeping) by lua/aliyun/live/throttle.lua. */
#include <math.h>
#include <string.h>

#include "binding.h"
#include "limiter/limiter.h"

#define LIMITER_MT "aliyun.live.Limiter"

typedef struct lim {
    limiter_store_t *store;   /* NULL once closed (or when opening failed) */
} lim_t;

static limiter_store_t *check_store(lua_State *L) {
    lim_t *l = luaL_checkudata(L, 1, LIMITER_MT);
    if (!l->store) luaL_argerror(L, 1, "limiter is closed");
    return l->store;
}

/* __gc, __close and :close() — idempotent, NULLs what it frees. */
static int lim_close(lua_State *L) {
    lim_t *l = luaL_checkudata(L, 1, LIMITER_MT);
    limiter_store_t *s = l->store;
    l->store = NULL;
    if (s) s->ops->close(s);
    return 0;
}

static const char *check_key(lua_State *L, int i, size_t *len) {
    const char *k = luaL_checklstring(L, i, len);
    if (*len == 0 || *len > LIMITER_KEY_MAX)
        luaL_argerror(L, i, "key must be 1 to 128 bytes");
    return k;
}

/* core.limiter(store [, {timeout=, slots=, dir=}]) → limiter | nil, message
 * store: "local", "process", "shm:NAME", "redis://[USER:PASSWORD@]HOST[:PORT][/DB]".
 * A malformed store or option raises; a store that cannot be opened (an shm file that
 * cannot be created, say) returns nil, message. Redis connects on the first take. */
static int lim_new(lua_State *L) {
    size_t len;
    const char *spec = luaL_checklstring(L, 1, &len);
    limiter_opts_t o;
    char err[LIMITER_ERRLEN];
    limiter_status_t st;
    lim_t *l;

    /* C would stop at the NUL: "shm:a\0b" must not open shm:a. */
    if (strlen(spec) != len) return luaL_argerror(L, 1, "store must not contain NUL bytes");
    memset(&o, 0, sizeof o);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "timeout");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) > 0))
                return luaL_error(L, "limiter option 'timeout' must be a positive number");
            o.timeout = lua_tonumber(L, -1);
        }
        lua_getfield(L, 2, "slots");
        if (!lua_isnil(L, -1)) {
            lua_Number n = lua_tonumber(L, -1);
            if (lua_type(L, -1) != LUA_TNUMBER || !(n >= 1 && n <= 4294967295.0) || n != floor(n))
                return luaL_error(L, "limiter option 'slots' must be a positive integer");
            o.slots = (uint32_t)n;
        }
        lua_getfield(L, 2, "dir");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "limiter option 'dir' must be a string");
            o.dir = lua_tolstring(L, -1, &len);   /* anchored by the options table */
            if (strlen(o.dir) != len)
                return luaL_error(L, "limiter option 'dir' must not contain NUL bytes");
        }
        lua_pop(L, 3);
    }

    /* Userdata first, store after: a raised error can never leak it. */
    l = lua_newuserdata(L, sizeof *l);
    l->store = NULL;
    luaL_setmetatable(L, LIMITER_MT);
    st = limiter_open(spec, &o, &l->store, err);
    if (st == LIMITER_EARG) return luaL_error(L, "%s", err);
    if (st != LIMITER_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

/* lim:take(key, rate, burst, reserve [, now [, max_wait]])
 *   → wait                 0: taken now; > 0: reserved that far ahead (reserve) or
 *                          refused, try again after that long (no reserve)
 *   → wait, false          the wait passes max_wait: nothing taken
 *   → nil, message         the store failed
 * now (seconds on the caller's clock) replaces the store's clock, except Redis's. */
static int lim_take(lua_State *L) {
    limiter_store_t *s = check_store(L);
    size_t klen;
    const char *key = check_key(L, 2, &klen);
    lua_Number rate = luaL_checknumber(L, 3), burst = luaL_checknumber(L, 4);
    lua_Number max_wait = -1;
    int64_t now = LIMITER_NOW_STORE;
    limiter_req_t req;
    limiter_res_t res;
    const char *why;
    char err[LIMITER_ERRLEN];

    if (!(rate >= LIMITER_RATE_MIN && rate <= LIMITER_RATE_MAX))
        return luaL_argerror(L, 3, "rate must be between 1e-9 and 1e9 per second");
    if (!(burst >= 1 && burst <= LIMITER_BURST_MAX))
        return luaL_argerror(L, 4, "burst must be between 1 and 1e6");
    luaL_checktype(L, 5, LUA_TBOOLEAN);
    if (!lua_isnoneornil(L, 6)) {
        lua_Number n = luaL_checknumber(L, 6);
        if (!(n >= -1e9 && n <= 1e9)) return luaL_argerror(L, 6, "now must be between -1e9 and 1e9 seconds");
        now = (int64_t)floor(n * 1e9 + 0.5);
    }
    if (!lua_isnoneornil(L, 7)) {
        max_wait = luaL_checknumber(L, 7);
        if (!(max_wait >= 0)) return luaL_argerror(L, 7, "max_wait must be >= 0");
    }
    if (limiter_req_init(&req, rate, burst, lua_toboolean(L, 5), max_wait, now, &why) != 0)
        return luaL_argerror(L, 3, why);

    /* The store never calls back into Lua and has released its lock when it returns:
     * nothing below can raise while a lock is held. */
    if (s->ops->take(s, key, klen, &req, &res, err) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushnumber(L, (lua_Number)res.wait_ns / 1e9);
    if (res.outcome == LIMITER_TOO_LONG) {
        lua_pushboolean(L, 0);
        return 2;
    }
    return 1;
}

/* lim:reset(key) → true | nil, message — forget the key's state. */
static int lim_reset(lua_State *L) {
    limiter_store_t *s = check_store(L);
    size_t klen;
    const char *key = check_key(L, 2, &klen);
    char err[LIMITER_ERRLEN];
    if (s->ops->reset(s, key, klen, err) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* The store's name never holds a secret: Redis passwords are shown as ***. */
static int lim_tostring(lua_State *L) {
    lim_t *l = luaL_checkudata(L, 1, LIMITER_MT);
    if (!l->store) lua_pushliteral(L, "aliyun.live.Limiter (closed)");
    else lua_pushfstring(L, "aliyun.live.Limiter (%s)", l->store->name);
    return 1;
}

void core_limiter_open(lua_State *L) {
    static const luaL_Reg methods[] = {
        { "take", lim_take },
        { "reset", lim_reset },
        { "close", lim_close },
        { NULL, NULL }
    };
    static const luaL_Reg meta[] = {
        { "__gc", lim_close },
        { "__close", lim_close },
        { "__tostring", lim_tostring },
        { NULL, NULL }
    };
    /* stack: module, decode */
    luaL_newmetatable(L, LIMITER_MT);
    core_register(L, meta, 0);
    lua_newtable(L);
    core_register(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, LIMITER_MT);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    lua_pushcfunction(L, lim_new);
    lua_setfield(L, -3, "limiter");
}
