/* The Signer: request signing for the binding (see signer.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "signer.h"

/* Incremented in every child after fork(), so a child never reuses random bytes that
 * its parent drew (glibc drops the handler if the module is unloaded). */
static volatile unsigned fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void on_fork_child(void) { fork_generation++; }
static void register_atfork(void) { pthread_atfork(NULL, NULL, on_fork_child); }

/* The pool exists because RAND_bytes makes a getpid() system call on every call (its
 * own fork check), which cost more than the whole signature; one call now serves 256
 * nonces. Used bytes are wiped. */
int signer_random(unsigned char *pool, size_t cap, size_t *left, unsigned *gen,
                  unsigned char *out, size_t n) {
    pthread_once(&atfork_once, register_atfork);
    if (*left < n || *gen != fork_generation) {
        if (RAND_bytes(pool, (int)cap) != 1) { ERR_clear_error(); return -1; }
        *left = cap;
        *gen = fork_generation;
    }
    *left -= n;
    memcpy(out, pool + *left, n);
    OPENSSL_cleanse(pool + *left, n);
    return 0;
}

static const char *opt_string(lua_State *L, int t, const char *k, const char *def) {
    const char *s = def;
    lua_getfield(L, t, k);
    if (lua_type(L, -1) == LUA_TSTRING) s = core_check_cstring(L, -1, NULL);
    else if (!lua_isnil(L, -1)) luaL_error(L, "signer option '%s' must be a string", k);
    lua_pop(L, 1);   /* the string stays anchored in the options table */
    return s;
}

static char *dup_or_raise(lua_State *L, const char *s) {
    char *d = s ? strdup(s) : NULL;
    if (s && !d) luaL_error(L, "out of memory");
    return d;
}

void signer_init(lua_State *L, signer_t *s, int t) {
    char err[SIGN_ERRLEN];
    const char *fmt = opt_string(L, t, "format", "JSON");
    const char *method = opt_string(L, t, "method", "POST");
    const char *sig = opt_string(L, t, "signature", "v1");
    s->ts_second = -1;
    request_out_init(&s->out);
    if (strcmp(fmt, "JSON") != 0 && strcmp(fmt, "XML") != 0)
        luaL_error(L, "signer option 'format' must be \"JSON\" or \"XML\"");
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        luaL_error(L, "signer option 'method' must be \"GET\" or \"POST\"");
    if (strcmp(sig, "v1") != 0 && strcmp(sig, "v3") != 0)
        luaL_error(L, "signer option 'signature' must be \"v1\" or \"v3\"");
    strcpy(s->format, fmt);
    strcpy(s->method, method);
    s->v3 = sig[1] == '3';
    s->form = s->method[0] == 'P';   /* POST parameters travel in a form body */
    s->endpoint = dup_or_raise(L, opt_string(L, t, "endpoint", NULL));
    s->host = dup_or_raise(L, opt_string(L, t, "host", NULL));
    s->version = dup_or_raise(L, opt_string(L, t, "version", "2016-11-01"));
    if (!s->endpoint || !s->host) luaL_error(L, "signer needs 'endpoint' and 'host'");
    if (!(s->mac = sign_mac_new(err))) luaL_error(L, "%s", err);
}

void signer_free(signer_t *s) {
    sign_mac_free(s->mac);
    s->mac = NULL;
    request_out_free(&s->out);
    OPENSSL_cleanse(s->pool, sizeof s->pool);
    s->pool_left = 0;
    free(s->endpoint); free(s->host); free(s->version);
    s->endpoint = s->host = s->version = NULL;
}

/* Collect params (string → string) into s->params. The Lua layer has checked names
 * and values and says so with nil, err; this is the last line against a value C would
 * mangle (a NUL) or a header/URL could be split with (a control character). The
 * strings stay anchored by the table, which is on the stack for the whole call. */
static size_t collect_params(lua_State *L, signer_t *s, int t) {
    size_t n = 0, at;
    luaL_checktype(L, t, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        kv_t *kv = &s->params[n];
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "parameters must map strings to strings");
        kv->k = lua_tolstring(L, -2, &kv->kl);
        kv->v = lua_tolstring(L, -1, &kv->vl);
        if (kv->kl == 0 || encode_check_text(kv->k, kv->kl, 0, &at) != ENCODE_TEXT_OK ||
            encode_check_text(kv->v, kv->vl, 0, &at) != ENCODE_TEXT_OK)
            luaL_error(L, "parameter '%s' has an empty name, invalid UTF-8 or a control "
                       "character", kv->k);
        if (++n == ENCODE_MAX_PARAMS - 16) luaL_error(L, "too many parameters");
        lua_pop(L, 1);
    }
    return n;
}

/* The current UTC timestamp, formatted at most once per second. */
static const char *timestamp_now(signer_t *s) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if ((int64_t)ts.tv_sec != s->ts_second) {
        if (sign_timestamp((int64_t)ts.tv_sec, s->ts) != 0) return NULL;
        s->ts_second = (int64_t)ts.tv_sec;
    }
    return s->ts;
}

static int push_fail(lua_State *L, const char *code, const char *msg) {
    lua_pushnil(L);
    error_push(L, "sdk", code, msg, strlen(msg), 0);
    return 2;
}

/* A credential value used as a C string and in headers: NUL and control characters
 * raise (the Lua layer refuses them earlier, with nil, err naming the provider). */
static const char *credential(lua_State *L, int arg, size_t *len) {
    size_t n, at;
    const char *v = core_check_cstring(L, arg, &n);
    if (n == 0 || encode_check_text(v, n, 0, &at) != ENCODE_TEXT_OK)
        luaL_argerror(L, arg, "credential is empty or has a control character");
    if (len) *len = n;
    return v;
}

int signer_sign(lua_State *L, signer_t *s, int arg, request_out_t *out) {
    request_in_t in;
    unsigned char rnd[16];
    char nonce[SIGN_NONCELEN + 1], err[SIGN_ERRLEN];
    in.endpoint = s->endpoint;
    in.host = s->host;
    in.method = s->method;
    in.v3 = s->v3;
    in.form = s->form;
    in.action = core_check_cstring(L, arg, NULL);
    in.version = s->version;
    in.format = s->format;
    in.nparams = collect_params(L, s, arg + 1);
    in.params = s->params;
    in.key_id = credential(L, arg + 2, NULL);
    in.secret = credential(L, arg + 3, &in.secret_len);
    in.token = lua_isnoneornil(L, arg + 4) ? NULL : credential(L, arg + 4, NULL);
    if (!(in.timestamp = timestamp_now(s)))
        return push_fail(L, "SDK.ClockError", "the system clock is out of range");
    if (signer_random(s->pool, sizeof s->pool, &s->pool_left, &s->pool_fork, rnd, 16) != 0)
        return push_fail(L, "SDK.RandomError", "no random bytes for a nonce");
    sign_nonce(rnd, nonce);
    in.nonce = nonce;
    if (request_build(&in, out, s->mac, err) != 0)
        return push_fail(L, "SDK.SigningError", err);
    return 0;
}

/* ------------------------------------------------------------ the userdata --- */

signer_t *signer_check(lua_State *L, int arg) {
    signer_t *s = luaL_checkudata(L, arg, SIGNER_MT);
    if (!s->mac) luaL_argerror(L, arg, "signer is closed");
    return s;
}

static int signer_gc(lua_State *L) {
    signer_free(luaL_checkudata(L, 1, SIGNER_MT));
    return 0;
}

/* core.signer{endpoint=, host=, version=, format=, method=, signature=} */
static int signer_new(lua_State *L) {
    signer_t *s;
    luaL_checktype(L, 1, LUA_TTABLE);
    s = lua_newuserdata(L, sizeof *s);   /* userdata first: a raise cannot leak */
    memset(s, 0, sizeof *s);
    luaL_setmetatable(L, SIGNER_MT);
    signer_init(L, s, 1);
    return 1;
}

#define SETS(L, k, s, n) (lua_pushlstring(L, s, n), lua_setfield(L, -2, k))

/* signer:sign(action, params, key_id, secret, token) → method, url, headers, body
 * (headers: lower-case name → value) | nil, err */
static int l_sign(lua_State *L) {
    signer_t *s = signer_check(L, 1);
    size_t i;
    int n = signer_sign(L, s, 2, &s->out);
    if (n) return n;
    lua_pushstring(L, s->method);
    lua_pushlstring(L, s->out.url.data, s->out.url.len);
    lua_createtable(L, 0, (int)s->out.nheaders);
    for (i = 0; i < s->out.nheaders; i++) {
        lua_pushlstring(L, s->out.headers[i].k, s->out.headers[i].kl);
        lua_pushlstring(L, s->out.headers[i].v, s->out.headers[i].vl);
        lua_rawset(L, -3);
    }
    lua_pushlstring(L, s->out.body.data ? s->out.body.data : "", s->out.body.len);
    return 4;
}

/* signer:presign(action, params, key_id, secret, token, opts) → table (no I/O).
 * opts: timestamp, nonce, method, signature, version — each optional, checked by the
 * Lua layer. */
static int l_presign(lua_State *L) {
    signer_t *s = signer_check(L, 1);
    request_in_t in;
    request_out_t *o = &s->out;
    unsigned char rnd[16];
    char nonce[SIGN_NONCELEN + 1], err[SIGN_ERRLEN];
    const char *sig;
    size_t i;

    luaL_checktype(L, 7, LUA_TTABLE);
    in.endpoint = s->endpoint;
    in.host = s->host;
    in.action = core_check_cstring(L, 2, NULL);
    in.format = s->format;
    in.nparams = collect_params(L, s, 3);
    in.params = s->params;
    in.key_id = credential(L, 4, NULL);
    in.secret = credential(L, 5, &in.secret_len);
    in.token = lua_isnoneornil(L, 6) ? NULL : credential(L, 6, NULL);
    in.timestamp = opt_string(L, 7, "timestamp", NULL);
    in.nonce = opt_string(L, 7, "nonce", NULL);
    in.method = opt_string(L, 7, "method", s->method);
    in.version = opt_string(L, 7, "version", s->version);
    sig = opt_string(L, 7, "signature", s->v3 ? "v3" : "v1");
    in.v3 = strcmp(sig, "v3") == 0;
    in.form = 0;      /* a presigned request carries everything in its URL */
    if (in.timestamp && strlen(in.timestamp) != SIGN_TIMELEN)
        return luaL_error(L, "presign option 'timestamp' must be YYYY-MM-DDThh:mm:ssZ");
    if (!in.timestamp && !(in.timestamp = timestamp_now(s)))
        return push_fail(L, "SDK.ClockError", "the system clock is out of range");
    if (!in.nonce) {
        if (signer_random(s->pool, sizeof s->pool, &s->pool_left, &s->pool_fork, rnd, 16) != 0)
            return push_fail(L, "SDK.RandomError", "no random bytes for a nonce");
        sign_nonce(rnd, nonce);
        in.nonce = nonce;
    }
    if (request_build(&in, o, s->mac, err) != 0) return push_fail(L, "SDK.SigningError", err);

    lua_createtable(L, 0, 8);
    lua_pushstring(L, in.method);
    lua_setfield(L, -2, "method");
    SETS(L, "url", o->url.data, o->url.len);
    SETS(L, "string_to_sign", o->sts.data, o->sts.len);
    lua_pushstring(L, o->signature);
    lua_setfield(L, -2, "signature");
    if (!in.v3) {
        /* The caller's own parameters come first in signed_params: copy them from their
         * table (the same string objects) and make strings only for the common ones. */
        lua_createtable(L, 0, (int)o->nsigned);
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -4);
        }
        /* Names and values here are C strings (literals, the signer's, checked
         * credentials): pushed as such, Lua 5.3+ finds most of them by address in its
         * string cache instead of hashing them again. */
        for (i = in.nparams; i < o->nsigned; i++) {
            lua_pushstring(L, o->signed_params[i].v);
            lua_setfield(L, -2, o->signed_params[i].k);
        }
        lua_setfield(L, -2, "params");
    } else {
        lua_createtable(L, 0, (int)o->nheaders);
        for (i = 0; i < o->nheaders; i++) {   /* C strings too (see above) */
            lua_pushstring(L, o->headers[i].v);
            lua_setfield(L, -2, o->headers[i].k);
        }
        lua_setfield(L, -2, "headers");
        SETS(L, "canonical_request", o->creq.data, o->creq.len);
        SETS(L, "authorization", o->authorization.data, o->authorization.len);
    }
    return 1;
}

static int signer_close(lua_State *L) {
    signer_free(luaL_checkudata(L, 1, SIGNER_MT));
    return 0;
}

static int signer_tostring(lua_State *L) {
    signer_t *s = luaL_checkudata(L, 1, SIGNER_MT);
    if (!s->mac) lua_pushliteral(L, "aliyun.live.Signer (closed)");
    else lua_pushfstring(L, "aliyun.live.Signer (%s, %s, %s)", s->endpoint,
                         s->v3 ? "v3" : "v1", s->format);
    return 1;
}

void signer_open(lua_State *L) {
    static const luaL_Reg methods[] = {
        { "sign", l_sign },
        { "presign", l_presign },
        { "close", signer_close },
        { NULL, NULL }
    };
    static const luaL_Reg meta[] = {
        { "__gc", signer_gc },
        { "__close", signer_gc },
        { "__tostring", signer_tostring },
        { NULL, NULL }
    };
    /* stack: module, decoder */
    core_class(L, SIGNER_MT, meta, methods);
    lua_pushcfunction(L, signer_new);
    lua_setfield(L, -3, "signer");
}
