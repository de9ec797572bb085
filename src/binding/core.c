/* aliyun.live.core: the module entry and its small functions. Each class lives in its
 * own file of src/binding/; the work itself is done in protocol/, transport/, limiter/. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "binding.h"
#include "signer.h"
#include "transport/http.h"

#define CORE_VERSION "0.2.0"
#define RANDOM_MT "aliyun.live.random"

void core_register(lua_State *L, const luaL_Reg *fns, int nup) {
    luaL_setfuncs(L, fns, nup);
}

void core_class(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods) {
    luaL_newmetatable(L, name);
    core_register(L, meta, 0);
    lua_newtable(L);
    core_register(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

const char *core_check_cstring(lua_State *L, int arg, size_t *len) {
    size_t n;
    const char *s = arg > 0 ? luaL_checklstring(L, arg, &n) : lua_tolstring(L, arg, &n);
    if (!s) luaL_error(L, "a string was expected");
    if (memchr(s, '\0', n)) {
        if (arg > 0) luaL_argerror(L, arg, "string has an embedded NUL");
        luaL_error(L, "a string has an embedded NUL (C would cut it there)");
    }
    if (len) *len = n;
    return s;
}

/* core.check_text(s [, allow_control]) → nil | "utf8"|"control", byte offset (1-based).
 * NUL counts as a control character. */
static int l_check_text(lua_State *L) {
    size_t n, at = 0;
    const char *s = luaL_checklstring(L, 1, &n);
    int r = encode_check_text(s, n, lua_toboolean(L, 2), &at);
    if (r == ENCODE_TEXT_OK) return 0;
    lua_pushstring(L, r == ENCODE_TEXT_CONTROL ? "control" : "utf8");
    lua_pushinteger(L, (lua_Integer)at + 1);
    return 2;
}

/* core.utf8_len(s) → number of code points (s must be valid UTF-8). */
static int l_utf8_len(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    lua_pushinteger(L, (lua_Integer)encode_utf8_len(s, n));
    return 1;
}

/* core.unknown_key(t, set) → the first key of table t that is not a key of table set,
 * or nothing: the check behind "unknown option/field" errors, without a Lua-level
 * traversal (each next() from Lua costs a function call). */
static int l_unknown_key(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawget(L, 2);   /* returns the type only from Lua 5.3 on */
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            return 1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* core.plain_fields(t, set, max) → the number of keys of t, when every key of t is a
 * key of set and every value a string of 1 to max bytes of printable ASCII; nothing
 * otherwise. One traversal answers the common case of the Lua layer's argument checks
 * (which, and their messages, stay there). */
static int l_plain_fields(lua_State *L) {
    lua_Integer max = luaL_checkinteger(L, 3), n = 0;
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        size_t len, at;
        const char *v;
        lua_pushvalue(L, -2);
        lua_rawget(L, 2);
        if (lua_isnil(L, -1) || lua_type(L, -2) != LUA_TSTRING) return 0;
        lua_pop(L, 1);
        v = lua_tolstring(L, -1, &len);
        if (len < 1 || (lua_Integer)len > max || encode_check_text(v, len, 0, &at) != ENCODE_TEXT_OK)
            return 0;
        while (len--) if ((unsigned char)v[len] >= 0x80) return 0;   /* ASCII only */
        lua_pop(L, 1);
        n++;
    }
    lua_pushinteger(L, n);
    return 1;
}

/* core.pct(s) → s percent-encoded as the signatures want it. */
static int l_pct(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    buf_t b = BUF_INIT;
    if (encode_pct(&b, s, n) != 0) { buf_free(&b); return luaL_error(L, "out of memory"); }
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    buf_free(&b);
    return 1;
}

/* core.timestamp([unix_seconds]) → "YYYY-MM-DDThh:mm:ssZ" (years 0 to 9999). */
static int l_timestamp(lua_State *L) {
    char out[SIGN_TIMELEN + 1];
    lua_Number t = luaL_optnumber(L, 1, (lua_Number)time(NULL));
    /* Range before the cast: out-of-range float-to-integer conversion is undefined. */
    if (!(t >= -62167219200.0 && t < 253402300800.0) ||
        sign_timestamp((int64_t)floor(t), out) != 0)
        return luaL_argerror(L, 1, "out of range (years 0 to 9999)");
    lua_pushstring(L, out);
    return 1;
}

static double clock_seconds(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* core.now() → wall-clock seconds; core.monotonic() → seconds since an arbitrary start. */
static int l_now(lua_State *L) { lua_pushnumber(L, clock_seconds(CLOCK_REALTIME)); return 1; }
static int l_monotonic(lua_State *L) { lua_pushnumber(L, clock_seconds(CLOCK_MONOTONIC)); return 1; }

/* core.sleep(seconds): nanosecond-resolution sleep, resumed after signals (at most a
 * day per call; NaN and negative values do not sleep). */
static int l_sleep(lua_State *L) {
    lua_Number s = luaL_checknumber(L, 1);
    struct timespec req, rem;
    if (!(s > 0)) return 0;
    if (s > 86400) s = 86400;
    req.tv_sec = (time_t)s;
    req.tv_nsec = (long)((s - (lua_Number)req.tv_sec) * 1e9);
    while (nanosleep(&req, &rem) != 0 && errno == EINTR) req = rem;
    return 0;
}

/* core.random() → a uniform number in [0, 1) from the CSPRNG (retry jitter: two
 * processes must never draw the same sequence, which math.random unseeded does). */
typedef struct rnd {
    unsigned char pool[1024];
    size_t        left;
    unsigned      gen;
} rnd_t;

static int l_random(lua_State *L) {
    rnd_t *r = lua_touserdata(L, lua_upvalueindex(1));
    unsigned char b[8];
    uint64_t v = 0;
    int i;
    if (signer_random(r->pool, sizeof r->pool, &r->left, &r->gen, b, sizeof b) != 0)
        return luaL_error(L, "no random bytes");
    for (i = 0; i < 7; i++) v = (v << 8) | b[i];
    lua_pushnumber(L, (lua_Number)(v >> 3) / 9007199254740992.0);   /* 53 bits */
    return 1;
}

static int l_curl_version(lua_State *L) {
    lua_pushstring(L, http_curl_version());
    return 1;
}

/* core.getuid() → the real user id (per-user names such as the CLI's shm store). */
static int l_getuid(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)getuid());
    return 1;
}

/* The one piece of signal state: which of SIGINT/SIGTERM arrived since trap_signals. A
 * command-line tool asks for it; the library never installs handlers on its own. */
static volatile sig_atomic_t caught_signal;

static void on_signal(int sig) { caught_signal = sig; }

/* core.trap_signals() — SIGINT and SIGTERM set a flag instead of ending the process
 * (no SA_RESTART: a wait in progress returns early), SIGPIPE is ignored;
 * core.interrupted() reads the flag. */
static int l_trap_signals(lua_State *L) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return luaL_error(L, "sigaction: %s", strerror(errno));
    /* A closed pipe on stdout (aliyun-live … | head) must be a failed write the tool
     * can report and finish from (its --failed file), not a silent death. */
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0) return luaL_error(L, "sigaction: %s", strerror(errno));
    caught_signal = 0;
    return 0;
}

/* core.interrupted() → "SIGINT" | "SIGTERM" | nil */
static int l_interrupted(lua_State *L) {
    int sig = caught_signal;
    if (!sig) return 0;
    lua_pushstring(L, sig == SIGINT ? "SIGINT" : "SIGTERM");
    return 1;
}

CORE_EXPORT int luaopen_aliyun_live_core(lua_State *L) {
    static const luaL_Reg fns[] = {
        { "check_text", l_check_text },
        { "utf8_len", l_utf8_len },
        { "pct", l_pct },
        { "unknown_key", l_unknown_key },
        { "plain_fields", l_plain_fields },
        { "timestamp", l_timestamp },
        { "now", l_now },
        { "monotonic", l_monotonic },
        { "sleep", l_sleep },
        { "curl_version", l_curl_version },
        { "getuid", l_getuid },
        { "trap_signals", l_trap_signals },
        { "interrupted", l_interrupted },
        { NULL, NULL }
    };
    char err[HTTP_ERRLEN];
    rnd_t *r;
    if (http_global_init(err) != 0) return luaL_error(L, "%s", err);
    lua_newtable(L);
    core_register(L, fns, 0);
    lua_pushliteral(L, CORE_VERSION);
    lua_setfield(L, -2, "_VERSION");
    r = lua_newuserdata(L, sizeof *r);
    memset(r, 0, sizeof *r);
    lua_pushcclosure(L, l_random, 1);
    lua_setfield(L, -2, "random");
    error_open(L);
    decode_push_decoder(L);
    decode_open(L);
    signer_open(L);
    client_open(L);
    core_limiter_open(L);
    core_redis_open(L);
    lua_pop(L, 1);
    return 1;
}
