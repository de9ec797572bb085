/* The Redis store's pieces lent to the cosocket client that serves redis:// inside
 * nginx (lua/aliyun/live/ngx/redis.lua), so that there is one URL parser, one script,
 * one way to turn a decision into ARGV and one check of the reply:
 *   core.limiter_script() → script, sha1
 *   core.redis_url(url) → { host=, port=, db=, user=, password=, name= } (raises when
 *     malformed, as core.limiter does)
 *   core.redis_args(interval, tau, count, window, reserve [, max_wait]) → six ARGV strings
 *   core.redis_check(raw, interval, tau, count, window, reserve [, max_wait])
 *     → wait, outcome | nil, message, kind: raw is one whole reply as it came off the
 *     wire; kind "noscript" (send EVAL), "server" (an error reply), "reply" (not what
 *     the script answers) or "check" (an impossible decision). */
#include <string.h>

#include "binding.h"
#include "limiter/limiter.h"
#ifndef ALIYUN_LIVE_NO_REDIS
#include "limiter/redis.h"
#endif

#ifdef ALIYUN_LIVE_NO_REDIS
static int l_missing(lua_State *L) {
    return luaL_error(L, "this build of aliyun-live has no redis:// store (it was built "
                         "without hiredis: install its headers and rebuild, e.g. with REDIS=1)");
}

void core_redis_open(lua_State *L) {
    static const char *const names[] = { "limiter_script", "redis_url", "redis_args",
                                         "redis_check", NULL };
    int i;
    for (i = 0; names[i]; i++) {
        lua_pushcfunction(L, l_missing);
        lua_setfield(L, -3, names[i]);
    }
}
#else

static int l_script(lua_State *L) {
    redis_conf_t c;
    char err[LIMITER_ERRLEN];
    /* The SHA-1 is computed where the stores compute it. */
    if (redis_conf_init(&c, "redis://127.0.0.1", NULL, err) != LIMITER_OK)
        return luaL_error(L, "%s", err);
    lua_pushlstring(L, redis_script, redis_script_len);
    lua_pushstring(L, c.sha);
    return 2;
}

static int l_url(lua_State *L) {
    size_t len;
    const char *url = luaL_checklstring(L, 1, &len);
    redis_conf_t c;
    char err[LIMITER_ERRLEN];
    if (strlen(url) != len) return luaL_argerror(L, 1, "store must not contain NUL bytes");
    if (redis_conf_init(&c, url, NULL, err) != LIMITER_OK) return luaL_error(L, "%s", err);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, c.host);
    lua_setfield(L, -2, "host");
    lua_pushinteger(L, c.port);
    lua_setfield(L, -2, "port");
    lua_pushinteger(L, (lua_Integer)c.db);
    lua_setfield(L, -2, "db");
    lua_pushstring(L, c.user);
    lua_setfield(L, -2, "user");
    lua_pushstring(L, c.pass);
    lua_setfield(L, -2, "password");
    redis_conf_name(&c, err, sizeof err);
    lua_pushstring(L, err);
    lua_setfield(L, -2, "name");
    redis_conf_wipe(&c);
    return 1;
}

static int l_args(lua_State *L) {
    limiter_req_t req;
    char a[6][24];
    int i;
    core_limiter_req(L, 1, &req);
    redis_req_args(&req, a);
    for (i = 0; i < 6; i++) lua_pushstring(L, a[i]);
    return 6;
}

static int check_failure(lua_State *L, const char *msg, size_t len, const char *kind) {
    lua_pushnil(L);
    lua_pushlstring(L, msg, len > 120 ? 120 : len);
    lua_pushstring(L, kind);
    return 3;
}

static int l_check(lua_State *L) {
    size_t n, len = 0;
    const char *raw = luaL_checklstring(L, 1, &n), *bad, *msg;
    static const char *const outcomes[] = { "granted", "denied", "too_long" };
    limiter_req_t req;
    limiter_res_t res;
    redisReader *rd;
    void *rep = NULL;
    int ok;
    core_limiter_req(L, 2, &req);
    if (!(rd = redisReaderCreate())) return luaL_error(L, "out of memory");
    ok = redisReaderFeed(rd, raw, n) == REDIS_OK && redisReaderGetReply(rd, &rep) == REDIS_OK && rep;
    redisReaderFree(rd);
    if (!ok) {
        if (rep) freeReplyObject(rep);
        return check_failure(L, "malformed reply", 15, "reply");
    }
    if (redis_reply_noscript(rep)) {
        freeReplyObject(rep);
        return check_failure(L, "NOSCRIPT", 8, "noscript");
    }
    bad = redis_reply_decode(rep, &res, &msg, &len);
    if (bad) {
        /* The message is copied before the reply that holds it goes. */
        lua_pushnil(L);
        lua_pushlstring(L, msg ? msg : bad, msg ? (len > 120 ? 120 : len) : strlen(bad));
        lua_pushstring(L, msg ? "server" : "reply");
        freeReplyObject(rep);
        return 3;
    }
    freeReplyObject(rep);
    if ((bad = limiter_check_reply(&req, &res)) != NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "nonsense reply (%s), not trusted", bad);
        lua_pushliteral(L, "check");
        return 3;
    }
    lua_pushnumber(L, (lua_Number)res.wait_ns / 1e9);
    lua_pushstring(L, outcomes[res.outcome]);
    return 2;
}

void core_redis_open(lua_State *L) {
    static const luaL_Reg fns[] = {
        { "limiter_script", l_script },
        { "redis_url", l_url },
        { "redis_args", l_args },
        { "redis_check", l_check },
        { NULL, NULL }
    };
    int i;
    /* stack: module, decode */
    for (i = 0; fns[i].name; i++) {
        lua_pushcfunction(L, fns[i].func);
        lua_setfield(L, -3, fns[i].name);
    }
}
#endif
