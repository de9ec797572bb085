/* Shared by the fuzz targets that parse: one Lua state for the whole run with a private
 * cjson.safe decoder set up exactly as core.c's push_decoder does, protected calls into
 * parse.c, and checks of what comes back. A failed check prints why and aborts, which
 * libFuzzer reports as a crash and saves the input. */
#ifndef ALIYUN_LIVE_FUZZ_HARNESS_H
#define ALIYUN_LIVE_FUZZ_HARNESS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "encode.h"
#include "decode.h"

#define CHECK(cond, ...) do {                                                        \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static lua_State *fz_L;
static int fz_decode_ref;

/* The decoder of core.c's push_decoder: cjson.safe.new() with our depth limit. */
static void fz_push_decoder(lua_State *L) {
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

static lua_State *fz_state(void) {
    if (!fz_L) {
        fz_L = luaL_newstate();
        CHECK(fz_L != NULL, "no Lua state");
        luaL_openlibs(fz_L);
        parse_open(fz_L);
        fz_push_decoder(fz_L);
        fz_decode_ref = luaL_ref(fz_L, LUA_REGISTRYINDEX);
        CHECK(lua_gettop(fz_L) == 0, "setup left %d values", lua_gettop(fz_L));
    }
    return fz_L;
}

/* --------------------------------------------------------------- value checks --- */

static int fz_valid_utf8(const char *s, size_t n) {
    size_t at;
    return encode_check_text(s, n, 1, &at) == ENCODE_TEXT_OK;
}

/* A decoded body: tables of strings, numbers, booleans, cjson.null and tables, nested
 * no deeper than the limit, strings valid UTF-8. `xml`: leaves and keys are strings,
 * arrays hold what repeated elements hold. */
static void fz_check_tree(lua_State *L, int idx, int depth, int xml) {
    CHECK(depth <= PARSE_MAX_DEPTH + 1, "nested %d deep", depth);
    luaL_checkstack(L, 4, "fuzz");
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int kt = lua_type(L, -2), vt = lua_type(L, -1);
        size_t n;
        const char *s;
        CHECK(kt == LUA_TSTRING || kt == LUA_TNUMBER, "key of type %s", lua_typename(L, kt));
        if (kt == LUA_TSTRING) {
            s = lua_tolstring(L, -2, &n);
            CHECK(fz_valid_utf8(s, n), "key not UTF-8");
        }
        switch (vt) {
        case LUA_TSTRING:
            s = lua_tolstring(L, -1, &n);
            CHECK(fz_valid_utf8(s, n), "value not UTF-8");
            break;
        case LUA_TTABLE:
            fz_check_tree(L, -1, depth + 1, xml);
            break;
        default:
            CHECK(!xml, "XML value of type %s", lua_typename(L, vt));
            CHECK(vt == LUA_TNUMBER || vt == LUA_TBOOLEAN || vt == LUA_TLIGHTUSERDATA,
                  "JSON value of type %s", lua_typename(L, vt));
        }
        lua_pop(L, 1);
    }
}

static const char *fz_field_string(lua_State *L, int t, const char *k, size_t *n) {
    const char *s;
    lua_getfield(L, t, k);
    s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, n) : NULL;
    lua_pop(L, 1);   /* the string stays anchored in t */
    return s;
}

/* The error table on top of the stack, for an answer `a`. */
static void fz_check_error(lua_State *L, const parse_answer_t *a) {
    int e = lua_gettop(L);
    size_t n;
    const char *code, *s;
    CHECK(lua_type(L, e) == LUA_TTABLE, "err is a %s", luaL_typename(L, e));
    CHECK(lua_getmetatable(L, e), "err has no metatable");
    luaL_getmetatable(L, PARSE_ERROR_MT);
    CHECK(lua_rawequal(L, -1, -2), "err has another metatable");
    lua_pop(L, 2);
    code = fz_field_string(L, e, "code", &n);
    CHECK(code != NULL, "err.code is not a string");
    CHECK(n > 0, "err.code is empty");
    CHECK(fz_field_string(L, e, "message", &n) != NULL, "err.message is not a string");
    lua_getfield(L, e, "retryable");
    CHECK(lua_type(L, -1) == LUA_TBOOLEAN, "err.retryable is a %s", luaL_typename(L, -1));
    if (a->status >= 200 && a->status < 300) {
        CHECK(strcmp(code, "SDK.InvalidResponse") == 0, "2xx error %s", code);
        CHECK(!lua_toboolean(L, -1), "a 2xx answer is retryable");
    } else {
        CHECK(lua_toboolean(L, -1) == parse_retryable(a->status, code),
              "retryable disagrees with parse_retryable for %ld %s", a->status, code);
    }
    lua_pop(L, 1);
    lua_getfield(L, e, "http_status");
    if (a->status > 0) CHECK(lua_tointeger(L, -1) == a->status, "wrong http_status");
    else CHECK(lua_isnil(L, -1), "http_status without a status");
    lua_pop(L, 1);
    lua_getfield(L, e, "retry_after");
    if (a->retry_after_ms >= 0 && !(a->status >= 200 && a->status < 300))
        CHECK(lua_type(L, -1) == LUA_TNUMBER &&
              fabs(lua_tonumber(L, -1) * 1000.0 - (lua_Number)a->retry_after_ms) < 1e-6,
              "retry_after");
    else
        CHECK(lua_isnil(L, -1), "retry_after without a hint");
    lua_pop(L, 1);
    if ((s = fz_field_string(L, e, "request_id", &n)) != NULL)
        CHECK(fz_valid_utf8(s, n), "request_id not UTF-8");
    lua_getfield(L, e, "data");
    if (!lua_isnil(L, -1)) {
        CHECK(lua_istable(L, -1), "err.data is a %s", luaL_typename(L, -1));
        fz_check_tree(L, -1, 1, 0);
    }
    lua_pop(L, 1);
    /* tostring(err) works. */
    s = luaL_tolstring(L, e, &n);
    CHECK(s != NULL && n >= strlen(code), "tostring(err)");
#ifndef FUZZ_ALLOW_MULTILINE_TOSTRING
    CHECK(memchr(s, '\n', n) == NULL && memchr(s, '\r', n) == NULL,
          "tostring(err) is more than one line: %s", s);
#endif
    lua_pop(L, 1);
    CHECK(lua_gettop(L) == e, "checks unbalanced");
}

/* ---------------------------------------------------------- protected calls --- */

typedef struct fz_call {
    const parse_answer_t *a;
    int                   body_only;   /* parse_body instead of parse_answer */
    parse_format_t        fmt;         /* for parse_body */
    int                   ok;          /* parse_body: 0; parse_answer: 1 or 2 */
} fz_call_t;

/* In a protected frame: 1 = the call (light userdata), 2 = the decode function. */
static int fz_protected(lua_State *L) {
    fz_call_t *c = lua_touserdata(L, 1);
    parse_answer_t a = *c->a;
    char err[256];
    int base = lua_gettop(L), r;
    a.decode = 2;
    if (c->body_only) {
        err[0] = '\0';
        r = parse_body(L, 2, c->fmt, a.body, a.len, err, sizeof err);
        c->ok = r;
        if (r == 0) {
            CHECK(lua_gettop(L) == base + 1, "parse_body pushed %d", lua_gettop(L) - base);
            CHECK(lua_istable(L, -1), "parse_body gave a %s", luaL_typename(L, -1));
            fz_check_tree(L, -1, 1, c->fmt == PARSE_XML);
        } else {
            CHECK(r == -1, "parse_body returned %d", r);
            CHECK(lua_gettop(L) == base, "failed parse_body left %d", lua_gettop(L) - base);
            CHECK(err[0] != '\0', "failed parse_body without a reason");
            CHECK(memchr(err, '\0', sizeof err) != NULL, "reason not terminated");
        }
        return 0;
    }
    r = parse_answer(L, &a);
    c->ok = r;
    CHECK(r == 1 || r == 2, "parse_answer returned %d", r);
    CHECK(lua_gettop(L) == base + r, "parse_answer returned %d but pushed %d", r,
          lua_gettop(L) - base);
    if (r == 1) {
        size_t n;
        const char *rid;
        CHECK(a.status >= 200 && a.status < 300, "success with HTTP %ld", a.status);
        CHECK(lua_istable(L, -1), "result is a %s", luaL_typename(L, -1));
        rid = fz_field_string(L, lua_gettop(L), "request_id", &n);
        CHECK(rid != NULL && n > 0, "result without request_id");
        fz_check_tree(L, -1, 1, a.format == PARSE_XML);
    } else {
        CHECK(lua_isnil(L, -2), "first of two results is a %s", luaL_typename(L, -2));
        fz_check_error(L, &a);
    }
    return 0;
}

/* Run one parse_body (body_only) or parse_answer; returns what it returned. Any Lua
 * error other than out of memory is a finding: runtime failures must come back as
 * return values, never be raised. */
static int fz_run(const parse_answer_t *a, int body_only, parse_format_t fmt) {
    lua_State *L = fz_state();
    fz_call_t c;
    int rc;
    c.a = a;
    c.body_only = body_only;
    c.fmt = fmt;
    c.ok = -99;
    lua_pushcfunction(L, fz_protected);
    lua_pushlightuserdata(L, &c);
    lua_rawgeti(L, LUA_REGISTRYINDEX, fz_decode_ref);
    rc = lua_pcall(L, 2, 0, 0);
    CHECK(rc == LUA_OK || rc == LUA_ERRMEM, "raised: %s",
          lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
    return c.ok;
}

/* ----------------------------------------------------------- input decoding --- */

/* A few header bytes pick the answer's metadata; the rest is the body. */
static const long fz_statuses[] = {
    200, 200, 200, 201, 204, 299, 400, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504,
    0, 100, 301, 302, 418, 599, 999, -1, 2147483647L
};
static const char *const fz_ctypes[] = {
    "application/json;charset=utf-8", "text/xml;charset=utf-8", "text/html", "", "text/plain",
    "application/octet-stream; charset=\"weird\\\"quoted\"; x=yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
};

static inline size_t fz_answer(const uint8_t *data, size_t size, parse_answer_t *a) {
    size_t used = 0;
    uint8_t f = size > 0 ? data[0] : 0, s = size > 1 ? data[1] : 0, r = size > 2 ? data[2] : 0;
    used = size < 3 ? size : 3;
    memset(a, 0, sizeof *a);
    a->status = fz_statuses[s % (sizeof fz_statuses / sizeof fz_statuses[0])];
    a->format = (f & 1) ? PARSE_XML : PARSE_JSON;
    a->content_type = fz_ctypes[(f >> 1) % (sizeof fz_ctypes / sizeof fz_ctypes[0])];
    a->retry_after_ms = r < 128 ? -1 : (long)(r - 128) * 37;
    return used;
}

/* The body as its own allocation of exactly `len` bytes, so ASan sees any read past it. */
static char *fz_copy(const uint8_t *p, size_t len) {
    char *b = malloc(len ? len : 1);
    CHECK(b != NULL, "out of memory");
    if (len) memcpy(b, p, len);
    return b;
}

#endif
