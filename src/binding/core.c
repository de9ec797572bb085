/* aliyun.live.core: the module entry and its small functions. Each class lives in its
 * own core_*.c; the work itself is done in encode/sign/request/http/parse/limiter. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "binding.h"
#include "protocol/encode.h"
#include "transport/http.h"
#include "decode.h"
#include "protocol/sign.h"

#define CORE_VERSION "0.1.0"

void core_register(lua_State *L, const luaL_Reg *fns, int nup) {
    luaL_setfuncs(L, fns, nup);
}

/* core.check_text(s [, allow_control]) → nil | "utf8"|"control", byte offset (1-based) */
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

/* core.error(code, message [, http_status [, retryable]]) → an error table shaped and
 * printed like the ones the core returns. */
static int l_error(lua_State *L) {
    const char *code = luaL_checkstring(L, 1);
    const char *msg = luaL_checkstring(L, 2);
    long status = (long)luaL_optinteger(L, 3, 0);
    parse_push_error(L, code, msg, status, lua_toboolean(L, 4));
    lua_pushvalue(L, 2);            /* keep the message whole, NULs included */
    lua_setfield(L, -2, "message");
    return 1;
}

/* core.timestamp([unix_seconds]) → "YYYY-MM-DDThh:mm:ssZ" */
static int l_timestamp(lua_State *L) {
    char out[SIGN_TIMELEN + 1];
    lua_Number t = luaL_optnumber(L, 1, (lua_Number)time(NULL));
    if (sign_timestamp((int64_t)floor(t), out) != 0) return luaL_argerror(L, 1, "out of range");
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

/* core.sleep(seconds): nanosecond-resolution sleep, resumed after signals. */
static int l_sleep(lua_State *L) {
    lua_Number s = luaL_checknumber(L, 1);
    struct timespec req, rem;
    if (!(s > 0)) return 0;
    if (s > 1e9) s = 1e9;
    req.tv_sec = (time_t)s;
    req.tv_nsec = (long)((s - (lua_Number)req.tv_sec) * 1e9);
    while (nanosleep(&req, &rem) != 0 && errno == EINTR) req = rem;
    return 0;
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
 * (no SA_RESTART: a wait in progress returns early); core.interrupted() reads it. */
static int l_trap_signals(lua_State *L) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        return luaL_error(L, "sigaction: %s", strerror(errno));
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

static int l_curl_version(lua_State *L) {
    lua_pushstring(L, http_curl_version());
    return 1;
}

/* A private cjson.safe instance: our depth limit, and the user's cjson settings stay
 * theirs. Leaves its decode function on the stack. */
static void push_decoder(lua_State *L) {
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cjson.safe");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "new");
    lua_call(L, 0, 1);
    lua_getfield(L, -1, "decode_max_depth");
    lua_pushinteger(L, PARSE_MAX_DEPTH);
    lua_call(L, 1, 0);
    lua_getfield(L, -1, "decode_invalid_numbers");
    lua_pushboolean(L, 0);
    lua_call(L, 1, 0);
    lua_getfield(L, -1, "decode");
    lua_remove(L, -2);
    lua_remove(L, -2);
}

CORE_EXPORT int luaopen_aliyun_live_core(lua_State *L) {
    static const luaL_Reg fns[] = {
        { "check_text", l_check_text },
        { "utf8_len", l_utf8_len },
        { "pct", l_pct },
        { "error", l_error },
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
    if (http_global_init(err) != 0) return luaL_error(L, "%s", err);
    lua_newtable(L);
    core_register(L, fns, 0);
    lua_pushliteral(L, CORE_VERSION);
    lua_setfield(L, -2, "_VERSION");
    parse_open(L);
    push_decoder(L);
    core_client_open(L);
    core_limiter_open(L);
    lua_pop(L, 1);
    return 1;
}
