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

/* Options are checked here, at the boundary, before any number is converted. */
static double opt_seconds(lua_State *L, const char *name) {
    lua_Number x;
    if (lua_type(L, -1) != LUA_TNUMBER || !((x = lua_tonumber(L, -1)) > 0 && x <= 3600))
        luaL_error(L, "limiter option '%s' must be a number of seconds above 0 and at most 3600",
                   name);
    return (double)lua_tonumber(L, -1);
}

static void check_options(lua_State *L, limiter_opts_t *o) {
    static const char *const known[] = { "timeout", "slots", "dir", "lock_timeout", NULL };
    int i;
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        for (i = 0; k && known[i] && strcmp(k, known[i]) != 0; i++) {}
        if (!k || !known[i])
            luaL_error(L, "unknown limiter option %s", k ? lua_pushfstring(L, "'%s'", k)
                                                         : luaL_typename(L, -2));
        lua_pop(L, 1);
    }
    lua_getfield(L, 2, "timeout");
    if (!lua_isnil(L, -1)) o->timeout = opt_seconds(L, "timeout");
    lua_getfield(L, 2, "lock_timeout");
    if (!lua_isnil(L, -1)) o->lock_timeout = opt_seconds(L, "lock_timeout");
    lua_getfield(L, 2, "slots");
    if (!lua_isnil(L, -1)) {
        lua_Number n = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || !(n >= 1 && n <= 4294967295.0) || n != floor(n))
            luaL_error(L, "limiter option 'slots' must be a positive integer");
        o->slots = (uint32_t)n;
    }
    lua_getfield(L, 2, "dir");
    if (!lua_isnil(L, -1)) {
        size_t len;
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "limiter option 'dir' must be a string");
        o->dir = lua_tolstring(L, -1, &len);   /* anchored by the options table */
        if (strlen(o->dir) != len) luaL_error(L, "limiter option 'dir' must not contain NUL bytes");
    }
    lua_pop(L, 4);
}

/* core.limiter(store [, {timeout=, slots=, dir=, lock_timeout=}]) → limiter | nil, message
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
    if (!lua_isnoneornil(L, 2)) check_options(L, &o);

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

/* A span in seconds → ns, in [0, 1e9] s (so the product is at most 1e18: no cast of an
 * unchecked float). Intervals and windows round up, tolerances down: never laxer; by
 * whole ns, ignoring the float error of seconds (33333334 ns is 0.033333334 s, whose
 * product with 1e9 is a hair above). */
static int64_t check_span(lua_State *L, int i, const char *name, int up) {
    lua_Number x = luaL_checknumber(L, i);
    if (!(x >= 0 && x <= 1e9))
        luaL_argerror(L, i, lua_pushfstring(L, "%s must be between 0 and 1e9 seconds", name));
    x = up ? ceil(x * 1e9 - 1e-3) : floor(x * 1e9 + 1e-3);
    return x < 0 ? 0 : (int64_t)x;
}

static const char *const outcomes[] = { "granted", "denied", "too_long" };

void core_limiter_req(lua_State *L, int i, limiter_req_t *req) {
    lua_Number n = luaL_checknumber(L, i);
    if (!(n > 0 && n <= 1e9)) luaL_argerror(L, i, "interval must be above 0 and at most 1e9 seconds");
    req->interval_ns = check_span(L, i, "interval", 1);
    if (req->interval_ns < 1) req->interval_ns = 1;
    req->tau_ns = check_span(L, i + 1, "tau", 0);
    n = luaL_checknumber(L, i + 2);
    if (!(n >= 0 && n <= LIMITER_COUNT_MAX) || n != floor(n))
        luaL_argerror(L, i + 2, "count must be an integer from 0 to 64");
    req->count = (int)n;
    req->window_ns = check_span(L, i + 3, "window", 1);
    if (req->count > 0 && req->window_ns < 1)
        luaL_argerror(L, i + 3, "window must be above 0 when count is");
    luaL_checktype(L, i + 4, LUA_TBOOLEAN);
    req->reserve = lua_toboolean(L, i + 4);
    req->max_wait_ns = -1;
    if (!lua_isnoneornil(L, i + 5)) {
        n = luaL_checknumber(L, i + 5);
        if (n != n) luaL_argerror(L, i + 5, "max_wait must be a number, not NaN");
        /* No decision waits WAIT_MAX: a longer max_wait is the same as none. */
        if (n >= 0 && n < (double)LIMITER_WAIT_MAX / 1e9) req->max_wait_ns = (int64_t)floor(n * 1e9);
    }
    req->now_ns = LIMITER_NOW_STORE;
}

/* wait, outcome for a store's answer to req, checked | nil, message. */
static int push_answer(lua_State *L, limiter_store_t *s, const limiter_req_t *req,
                       const limiter_res_t *res) {
    const char *bad = limiter_check_reply(req, res);
    if (bad) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: nonsense reply (%s), not trusted", s->name, bad);
        return 2;
    }
    lua_pushnumber(L, (lua_Number)res->wait_ns / 1e9);
    lua_pushstring(L, outcomes[res->outcome]);
    return 2;
}

static int push_failure(lua_State *L, const char *err) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}

/* lim:take(key, interval, tau, count, window, reserve [, max_wait [, now]])
 *   → wait, outcome      outcome "granted" (a slot is taken: now when wait is 0, else
 *                        reserved that far ahead), "denied" (reserve off: nothing taken,
 *                        the slot is `wait` away) or "too_long" (the wait passes
 *                        max_wait: nothing taken)
 *   → nil, message       the store failed, or answered something impossible
 * Seconds throughout: interval T > 0, tolerance tau >= 0, at most `count` (0..64, 0 = no
 * such rule) grants in any `window`; max_wait nil or negative = none. `now` replaces
 * the clock of the `local` store only (any other store raises: its table is shared). */
static int lim_take(lua_State *L) {
    limiter_store_t *s = check_store(L);
    size_t klen;
    const char *key = check_key(L, 2, &klen);
    lua_Number n;
    limiter_req_t req;
    limiter_res_t res;
    char err[LIMITER_ERRLEN];

    core_limiter_req(L, 3, &req);
    if (!lua_isnoneornil(L, 9)) {
        if (!s->injectable)
            return luaL_argerror(L, 9, "now is only accepted by the local store (a shared "
                                       "table must keep one clock)");
        n = luaL_checknumber(L, 9);
        if (!(n >= -1e9 && n <= 1e9)) return luaL_argerror(L, 9, "now must be between -1e9 and 1e9 seconds");
        req.now_ns = (int64_t)floor(n * 1e9 + 0.5);
    }

    /* The store never calls back into Lua and has released its lock when it returns:
     * nothing below can raise while a lock is held. */
    if (s->ops->take(s, key, klen, &req, &res, err) != 0) return push_failure(L, err);
    return push_answer(L, s, &req, &res);
}

/* ------------------------------------------------------- non-blocking calls ---
 * For a store that asks a server (redis): a decision is sent, the caller's loop pumps
 * the store when its descriptor is ready or its deadline comes (wait_info), and
 * collects the answer. Nothing here waits. Other stores decide at once: is_async()
 * says which, and send raises on them (use take). */

static limiter_store_t *check_async(lua_State *L) {
    limiter_store_t *s = check_store(L);
    if (!s->ops->send) luaL_argerror(L, 1, "this store decides at once: use take");
    return s;
}

static uint64_t check_ticket(lua_State *L, int i) {
    lua_Integer t = luaL_checkinteger(L, i);
    if (t < 1) luaL_argerror(L, i, "not a ticket");
    return (uint64_t)t;
}

/* lim:is_async() → true when send/pump/collect do not wait (redis), false otherwise. */
static int lim_is_async(lua_State *L) {
    lua_pushboolean(L, check_store(L)->ops->send != NULL);
    return 1;
}

/* lim:send(key, interval, tau, count, window, reserve [, max_wait]) → ticket | nil, message
 * The same decision as take, answered later through collect(ticket). */
static int lim_send(lua_State *L) {
    limiter_store_t *s = check_async(L);
    size_t klen;
    const char *key = check_key(L, 2, &klen);
    limiter_req_t req;
    uint64_t ticket;
    char err[LIMITER_ERRLEN];
    core_limiter_req(L, 3, &req);
    if (s->ops->send(s, key, klen, &req, &ticket, err) != 0) return push_failure(L, err);
    lua_pushinteger(L, (lua_Integer)ticket);
    return 1;
}

/* lim:pump() — what the store's connection allows now; decisions past the store's
 * timeout fail. */
static int lim_pump(lua_State *L) {
    limiter_store_t *s = check_async(L);
    s->ops->pump(s);
    return 0;
}

/* lim:collect(ticket) → "pending" | wait, outcome | nil, message (as take). The
 * ticket is used up by an answer. */
static int lim_collect(lua_State *L) {
    limiter_store_t *s = check_async(L);
    limiter_req_t req;
    limiter_res_t res;
    char err[LIMITER_ERRLEN];
    int rc = s->ops->collect(s, check_ticket(L, 2), &req, &res, err);
    if (rc == -2) return luaL_argerror(L, 2, "no such ticket (already collected or forgotten?)");
    if (rc == LIMITER_PENDING) {
        lua_pushliteral(L, "pending");
        return 1;
    }
    if (rc != 0) return push_failure(L, err);
    return push_answer(L, s, &req, &res);
}

/* lim:forget(ticket) — nobody will collect it (the request was cancelled). */
static int lim_forget(lua_State *L) {
    limiter_store_t *s = check_async(L);
    s->ops->forget(s, check_ticket(L, 2));
    return 0;
}

/* lim:wait_info() → fd | nil, events ("r", "w", "rw") | nil, seconds | nil: the
 * descriptor to watch and the time until the next deadline (then pump). */
static int lim_wait_info(lua_State *L) {
    limiter_store_t *s = check_async(L);
    int fd = -1, ev = 0;
    int64_t t = -1;
    s->ops->wait_info(s, &fd, &ev, &t);
    if (fd >= 0 && ev) {
        lua_pushinteger(L, fd);
        lua_pushstring(L, ev == (LIMITER_WANT_READ | LIMITER_WANT_WRITE) ? "rw"
                          : ev == LIMITER_WANT_WRITE ? "w" : "r");
    } else {
        lua_pushnil(L);
        lua_pushnil(L);
    }
    if (t >= 0) lua_pushnumber(L, (lua_Number)t / 1e9);
    else lua_pushnil(L);
    return 3;
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
        { "is_async", lim_is_async },
        { "send", lim_send },
        { "pump", lim_pump },
        { "collect", lim_collect },
        { "forget", lim_forget },
        { "wait_info", lim_wait_info },
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
    core_class(L, LIMITER_MT, meta, methods);
    lua_pushcfunction(L, lim_new);
    lua_setfield(L, -3, "limiter");
}
