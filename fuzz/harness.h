/* Shared by the fuzz targets that decode (json, xml, classify): one Lua state for the
 * whole run, set up as core.c sets up the module (error_open, the private cjson.safe
 * decoder of decode_push_decoder, decode_open), protected calls into decode.c, and
 * checks of what comes back. A failed check prints why and aborts, which libFuzzer
 * reports as a crash and saves the input.
 *
 * The state's allocator can fail on purpose (from the k-th allocation of one call on),
 * so that a Lua out-of-memory error in the middle of decode_answer is exercised too: it
 * may be raised, nothing else may, and nothing may leak (LeakSanitizer). */
#ifndef ALIYUN_LIVE_FUZZ_HARNESS_H
#define ALIYUN_LIVE_FUZZ_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "binding/binding.h"
#include "protocol/answer.h"
#include "protocol/xml.h"
#include "reference.h"

#include "check.h"

/* decode.c registers its functions through core.c's helper; this is the same one-liner,
 * so that the targets need not link the whole module. */
void core_register(lua_State *L, const luaL_Reg *fns, int nup) {
    luaL_setfuncs(L, fns, nup);
}

/* ---------------------------------------------------------- the Lua state --- */

static struct {
    int           armed;       /* counting allocations of the call under test */
    unsigned long n;           /* allocations so far (growths only) */
    unsigned long fail_from;   /* 0 = never fail; else fail the fail_from-th and later */
    int           failed;
} fz_mem;

/* Lua assumes nothing of a shrinking realloc, but real ones do not fail: only growths
 * (and new blocks, ptr == NULL) count and may fail. */
static void *fz_lua_alloc(void *ud, void *p, size_t osize, size_t nsize) {
    (void)ud;
    if (nsize == 0) { free(p); return NULL; }
    if (fz_mem.armed && (p == NULL || nsize > osize)) {
        fz_mem.n++;
        if (fz_mem.fail_from && fz_mem.n >= fz_mem.fail_from) { fz_mem.failed = 1; return NULL; }
    }
    return realloc(p, nsize);
}

static void fz_arm(unsigned long fail_from) {
    fz_mem.armed = 1;
    fz_mem.n = 0;
    fz_mem.fail_from = fail_from;
    fz_mem.failed = 0;
}

static unsigned long fz_disarm(void) {
    fz_mem.armed = 0;
    return fz_mem.n;
}

static lua_State *fz_L;
static int fz_decode_ref, fz_answer_ref;

static lua_State *fz_state(void) {
    if (!fz_L) {
        lua_State *L = fz_L = lua_newstate(fz_lua_alloc, NULL);
        CHECK(L != NULL, "no Lua state");
        luaL_openlibs(L);
        lua_newtable(L);                 /* the module, as luaopen does it */
        error_open(L);
        decode_push_decoder(L);
        decode_open(L);                  /* core.decode, core.answer; the XML box's __gc */
        fz_decode_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_getfield(L, -1, "answer");
        CHECK(lua_isfunction(L, -1), "core.answer is a %s", luaL_typename(L, -1));
        fz_answer_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_pop(L, 1);
        CHECK(lua_gettop(L) == 0, "setup left %d values", lua_gettop(L));
    }
    return fz_L;
}

/* --------------------------------------------------------------- value checks --- */

static int fz_valid_utf8(const char *s, size_t n) {
    size_t at;
    return encode_check_text(s, n, 1, &at) == ENCODE_TEXT_OK;
}

static const char *fz_field_string(lua_State *L, int t, const char *k, size_t *n) {
    const char *s;
    size_t len = 0;
    lua_getfield(L, t, k);
    s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    lua_pop(L, 1);   /* the string stays anchored in t */
    if (n) *n = len;
    return s;
}

/* A decoded body at idx (`depth` = its nesting, 1 for the body itself). JSON: tables of
 * strings, numbers, booleans, cjson.null and tables. XML: a table is either an element
 * (string keys: its children's names) or, for a name repeated among siblings, an array
 * 1..n (n ≥ 2) of what the elements hold; leaves are strings. Strings valid UTF-8,
 * nesting within the limit. */
static void fz_check_tree(lua_State *L, int idx, int depth, int xml, int in_array) {
    int strings = 0, ints = 0;
    lua_Integer max = 0;
    CHECK(depth <= (xml ? XML_MAX_DEPTH - 1 : DECODE_MAX_DEPTH), "nested %d deep", depth);
    luaL_checkstack(L, 4, "fuzz");
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int kt = lua_type(L, -2), vt = lua_type(L, -1);
        size_t n;
        const char *s;
        if (kt == LUA_TSTRING) {
            s = lua_tolstring(L, -2, &n);
            CHECK(fz_valid_utf8(s, n), "key not UTF-8");
            CHECK(!xml || n > 0, "an XML element without a name");
            strings++;
        } else {
            CHECK(kt == LUA_TNUMBER, "key of type %s", lua_typename(L, kt));
            if (xml) {
                int isint;
                lua_Integer i = lua_tointegerx(L, -2, &isint);
                CHECK(isint && i >= 1, "XML array index %s", lua_tostring(L, -2));
                if (i > max) max = i;
            }
            ints++;
        }
        switch (vt) {
        case LUA_TSTRING:
            s = lua_tolstring(L, -1, &n);
            CHECK(fz_valid_utf8(s, n), "value not UTF-8");
            break;
        case LUA_TTABLE:
            /* An array's items are elements, never arrays themselves. */
            fz_check_tree(L, -1, kt == LUA_TNUMBER && xml ? depth : depth + 1, xml,
                          xml && kt == LUA_TNUMBER);
            break;
        default:
            CHECK(!xml, "XML value of type %s", lua_typename(L, vt));
            CHECK(vt == LUA_TNUMBER || vt == LUA_TBOOLEAN || vt == LUA_TLIGHTUSERDATA,
                  "JSON value of type %s", lua_typename(L, vt));
        }
        lua_pop(L, 1);
    }
    if (xml) {
        CHECK(!(strings && ints), "an XML table with both names and indices");
        CHECK(!in_array || !ints, "an XML array inside an array");
        if (ints) CHECK(ints >= 2 && max == ints, "XML array of %d items up to %lld", ints,
                        (long long)max);
    }
}

/* Deep equality of the values at i and j: same types, same metatables, same keys. */
static int fz_equal(lua_State *L, int i, int j, int depth) {
    int n = 0, m = 0, eq = 1;
    i = lua_absindex(L, i);
    j = lua_absindex(L, j);
    if (lua_type(L, i) != lua_type(L, j)) return 0;
    if (lua_type(L, i) != LUA_TTABLE) return lua_rawequal(L, i, j);
    CHECK(depth < 100, "tables nested too deeply to compare");
    luaL_checkstack(L, 6, "fuzz");
    if (lua_getmetatable(L, i)) {
        if (!lua_getmetatable(L, j)) { lua_pop(L, 1); return 0; }
        eq = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
        if (!eq) return 0;
    } else if (lua_getmetatable(L, j)) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushnil(L);
    while (lua_next(L, i)) {
        n++;
        lua_pushvalue(L, -2);
        lua_rawget(L, j);
        if (!fz_equal(L, -1, -2, depth + 1)) { lua_pop(L, 3); return 0; }
        lua_pop(L, 2);
    }
    lua_pushnil(L);
    while (lua_next(L, j)) { m++; lua_pop(L, 1); }
    return n == m;
}

/* ------------------------------------------------------------ expectations --- */

/* What the answer must give, from the reference classification and, where it depends
 * on the body's fields, from decode_body on its own. */
typedef enum { FZ_RESULT, FZ_INVALID, FZ_HTTP, FZ_API } fz_outcome_t;
static const char *const fz_kinds[] = { "result", "invalid", "http", "api" };

typedef struct fz_answer {
    decode_answer_t a;
    kv_t            hdr[4];
    answer_kind_t   cls;              /* ref_classify of the answer */
    fz_outcome_t    want;
    int             ctype_utf8;       /* the Content-Type is valid UTF-8 */
} fz_answer_t;

/* ----------------------------------------------------------- protected calls --- */

typedef struct fz_call {
    const fz_answer_t *x;
    int                body_only;     /* decode_body instead of decode_answer */
    decode_format_t    fmt;           /* for decode_body */
    int                via_lua;       /* compare with core.answer called from Lua */
    unsigned long      fail_from;     /* Lua allocation to fail from; 0 = none */
    int                r;             /* what the call returned */
    unsigned long      allocs;        /* Lua allocations the call made */
    int                has_rid, has_code;   /* decode_body: fields of the body */
} fz_call_t;

/* The headers the answer captured, as the table err.headers must equal (the last of
 * two equal names wins, as a Lua table would have it). */
static void fz_push_headers(lua_State *L, const fz_answer_t *x) {
    size_t i;
    if (!x->a.nheaders) { lua_pushnil(L); return; }
    lua_newtable(L);
    for (i = 0; i < x->a.nheaders; i++) {
        lua_pushlstring(L, x->hdr[i].k, x->hdr[i].kl);
        lua_pushlstring(L, x->hdr[i].v, x->hdr[i].vl);
        lua_rawset(L, -3);
    }
}

/* The error table at e, for answer x: the facts, and nothing else. */
static void fz_check_error(lua_State *L, int e, const fz_answer_t *x) {
    static const char *const fields[] = { "kind", "code", "message", "http_status",
        "retryable", "request_id", "host_id", "recommend", "data", "headers", NULL };
    const decode_answer_t *a = &x->a;
    size_t n, cn = 0;
    const char *kind, *code, *msg, *s;
    int api, i, top = lua_gettop(L);

    CHECK(lua_type(L, e) == LUA_TTABLE, "err is a %s", luaL_typename(L, e));
    CHECK(lua_getmetatable(L, e), "err has no metatable");
    luaL_getmetatable(L, ERROR_MT);
    CHECK(lua_rawequal(L, -1, -2), "err has another metatable");
    lua_pop(L, 2);
    lua_pushnil(L);
    while (lua_next(L, e)) {
        CHECK(lua_type(L, -2) == LUA_TSTRING, "err has a %s key", luaL_typename(L, -2));
        s = lua_tostring(L, -2);
        for (i = 0; fields[i] && strcmp(fields[i], s) != 0; i++) {}
        CHECK(fields[i] != NULL, "err has a field %s", s);
        lua_pop(L, 1);
    }

    kind = fz_field_string(L, e, "kind", NULL);
    CHECK(kind != NULL, "err.kind is not a string");
    CHECK(strcmp(kind, fz_kinds[x->want]) == 0, "HTTP %ld, %s body asked, class %d: kind %s, "
          "wanted %s", a->status, a->format == DECODE_XML ? "XML" : "JSON", (int)x->cls, kind,
          fz_kinds[x->want]);
    api = x->want == FZ_API;
    code = fz_field_string(L, e, "code", &cn);
    lua_getfield(L, e, "code");
    if (api) CHECK(code != NULL && cn > 0 && fz_valid_utf8(code, cn), "api err.code");
    else CHECK(lua_isnil(L, -1), "a %s error has a code", kind);   /* the Lua layer names it */
    lua_pop(L, 1);

    msg = fz_field_string(L, e, "message", &n);
    CHECK(msg != NULL, "err.message is not a string");
    if (!api) CHECK(n > 0, "a %s error without a reason", kind);
    /* Our reasons are ASCII around what the server sent; only a header that is not
     * UTF-8 may make them anything else. */
    if (x->ctype_utf8 && !fz_valid_utf8(msg, n)) {
        CHECK(0, "err.message not UTF-8: %s", msg);
    }

    lua_getfield(L, e, "retryable");
    CHECK(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1),
          "err.retryable is not false (retry.lua decides)");
    lua_pop(L, 1);
    lua_getfield(L, e, "http_status");
    if (a->status > 0)
        CHECK(lua_isinteger(L, -1) && lua_tointeger(L, -1) == a->status, "wrong http_status");
    else
        CHECK(lua_isnil(L, -1), "http_status without a status");
    lua_pop(L, 1);

    lua_getfield(L, e, "data");
    if (api) {
        /* The decoded body, and the facts taken from it. */
        int d = lua_gettop(L);
        CHECK(lua_istable(L, d), "api err.data is a %s", luaL_typename(L, d));
        fz_check_tree(L, d, 1, ref_sniff(a->body, a->len) == ANSWER_BODY_XML, 0);
        lua_getfield(L, d, "Code");
        lua_getfield(L, e, "code");
        CHECK(lua_rawequal(L, -1, -2), "err.code is not data.Code");
        lua_pop(L, 2);
        lua_getfield(L, d, "Message");
        lua_getfield(L, e, "message");
        if (lua_type(L, -2) == LUA_TSTRING) CHECK(lua_rawequal(L, -1, -2), "err.message");
        else CHECK(lua_rawlen(L, -1) == 0, "err.message without a Message");
        lua_pop(L, 2);
        {
            static const char *const copied[][2] = { { "RequestId", "request_id" },
                { "HostId", "host_id" }, { "Recommend", "recommend" } };
            for (i = 0; i < 3; i++) {
                lua_getfield(L, d, copied[i][0]);
                lua_getfield(L, e, copied[i][1]);
                if (lua_type(L, -2) == LUA_TSTRING) CHECK(lua_rawequal(L, -1, -2), "err.%s",
                                                          copied[i][1]);
                else CHECK(lua_isnil(L, -1), "err.%s without %s", copied[i][1], copied[i][0]);
                lua_pop(L, 2);
            }
        }
    } else {
        CHECK(lua_isnil(L, -1), "a %s error has data", kind);
        lua_getfield(L, e, "request_id");
        CHECK(lua_isnil(L, -1), "a %s error has a request_id", kind);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    lua_getfield(L, e, "headers");
    fz_push_headers(L, x);
    CHECK(fz_equal(L, -1, -2, 0), "err.headers are not the captured headers");
    lua_pop(L, 2);

    /* tostring(err): one line, starting with the code (the Lua layer names the others). */
    s = luaL_tolstring(L, e, &n);
    CHECK(s != NULL, "tostring(err)");
    if (api) CHECK(n >= cn, "tostring(err) shorter than the code");
    else CHECK(n >= 11 && memcmp(s, "SDK.Unknown", 11) == 0, "tostring(err): %s", s);
#ifndef FUZZ_ALLOW_MULTILINE_TOSTRING
    CHECK(memchr(s, '\n', n) == NULL && memchr(s, '\r', n) == NULL,
          "tostring(err) is more than one line: %s", s);
#endif
    lua_pop(L, 1);
    CHECK(lua_gettop(L) == top, "checks unbalanced");
}

/* decode_answer returned r: exactly r values above base (a finding once left three
 * more, fuzz/README.md). */
static void fz_settle(lua_State *L, int base, int r) {
    CHECK(r == 1 || r == 2, "decode_answer returned %d", r);
    CHECK(lua_gettop(L) == base + r, "decode_answer returned %d but pushed %d", r,
          lua_gettop(L) - base);
}

/* What decode_answer pushed (r values from base + 1) for x. */
static void fz_check_answer(lua_State *L, int base, int r, const fz_answer_t *x) {
    const decode_answer_t *a = &x->a;
    fz_settle(L, base, r);
    if (r == 1) {
        size_t n;
        const char *rid;
        CHECK(x->want == FZ_RESULT, "HTTP %ld: a result, wanted kind %s", a->status,
              fz_kinds[x->want]);
        CHECK(lua_istable(L, base + 1), "result is a %s", luaL_typename(L, base + 1));
        rid = fz_field_string(L, base + 1, "request_id", &n);
        CHECK(rid != NULL && n > 0, "result without request_id");
        lua_getfield(L, base + 1, "request_id");
        lua_getfield(L, base + 1, "RequestId");
        CHECK(lua_rawequal(L, -1, -2), "request_id is not the body's RequestId");
        lua_pop(L, 2);
        fz_check_tree(L, base + 1, 1, ref_sniff(a->body, a->len) == ANSWER_BODY_XML, 0);
    } else {
        CHECK(lua_isnil(L, base + 1), "first of two results is a %s",
              luaL_typename(L, base + 1));
        fz_check_error(L, base + 2, x);
    }
}

/* In a protected frame: 1 = the call (light userdata), 2 = the decode function. */
static int fz_protected(lua_State *L) {
    fz_call_t *c = lua_touserdata(L, 1);
    decode_answer_t a = c->x->a;
    char err[256];
    int base = lua_gettop(L), r, i;
    a.decode = 2;
    if (c->body_only) {
        err[0] = '\0';
        fz_arm(0);
        r = decode_body(L, 2, c->fmt, a.body, a.len, err, sizeof err);
        c->allocs = fz_disarm();
        c->r = r;
        if (r == 0) {
            CHECK(lua_gettop(L) == base + 1, "decode_body pushed %d", lua_gettop(L) - base);
            CHECK(lua_istable(L, -1), "decode_body gave a %s", luaL_typename(L, -1));
            fz_check_tree(L, -1, 1, c->fmt == DECODE_XML, 0);
            lua_getfield(L, -1, "RequestId");
            c->has_rid = lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0;
            lua_getfield(L, -2, "Code");
            c->has_code = lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0;
            lua_pop(L, 2);
        } else {
            CHECK(r == -1, "decode_body returned %d", r);
            CHECK(lua_gettop(L) == base, "failed decode_body left %d", lua_gettop(L) - base);
            CHECK(err[0] != '\0', "failed decode_body without a reason");
            CHECK(memchr(err, '\0', sizeof err) != NULL, "reason not terminated");
            CHECK(fz_valid_utf8(err, strlen(err)), "reason not UTF-8: %s", err);
        }
        return 0;
    }
    fz_arm(c->fail_from);
    r = decode_answer(L, &a);
    c->allocs = fz_disarm();
    c->r = r;
    fz_check_answer(L, base, r, c->x);
    if (c->via_lua) {
        /* core.answer from Lua (the cosocket transport's way in) gives the same. */
        static const char *const fmts[] = { "JSON", "XML" };
        int top = lua_gettop(L), n;
        lua_rawgeti(L, LUA_REGISTRYINDEX, fz_answer_ref);
        lua_pushinteger(L, a.status);
        lua_pushlstring(L, a.body, a.len);
        lua_pushstring(L, a.content_type);
        lua_pushstring(L, fmts[a.format]);
        fz_push_headers(L, c->x);
        lua_call(L, 5, LUA_MULTRET);
        n = lua_gettop(L) - top;
        CHECK(n == r, "core.answer gave %d values, decode_answer %d", n, r);
        for (i = 1; i <= r; i++)
            CHECK(fz_equal(L, base + i, top + i, 0), "core.answer differs in value %d", i);
    }
    return 0;
}

/* One decode_body or decode_answer in a protected call. Any Lua error other than out of
 * memory is a finding: runtime failures must come back as return values, never be
 * raised. Returns 0 when the call ran to its end, 1 when it raised out of memory. */
static int fz_pcall(fz_call_t *c) {
    lua_State *L = fz_state();
    int rc;
    c->r = -99;
    lua_pushcfunction(L, fz_protected);
    lua_pushlightuserdata(L, c);
    lua_rawgeti(L, LUA_REGISTRYINDEX, fz_decode_ref);
    rc = lua_pcall(L, 2, 0, 0);
    fz_disarm();
    CHECK(rc == LUA_OK || (rc == LUA_ERRMEM && c->fail_from && fz_mem.failed), "raised: %s",
          lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?");
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);   /* runs the XML box's __gc after an error */
    return rc != LUA_OK;
}

/* decode_body on its own; returns its result (0 or -1). */
static int fz_body(const fz_answer_t *x, decode_format_t fmt, fz_call_t *out) {
    fz_call_t c;
    memset(&c, 0, sizeof c);
    c.x = x;
    c.body_only = 1;
    c.fmt = fmt;
    fz_pcall(&c);
    if (out) *out = c;
    return c.r;
}

/* Fill in what x must give, from the reference and decode_body on the format found. */
static void fz_expect(fz_answer_t *x) {
    const decode_answer_t *a = &x->a;
    answer_body_t b = ref_sniff(a->body, a->len);
    fz_call_t c;
    size_t at;
    x->cls = ref_classify(a->status, b, a->format == DECODE_XML);
    x->ctype_utf8 = encode_check_text(a->content_type, strlen(a->content_type), 1, &at) ==
                    ENCODE_TEXT_OK;
    switch (x->cls) {
    case ANSWER_RESULT:
    case ANSWER_ERROR_BODY:
        memset(&c, 0, sizeof c);
        fz_body(x, b == ANSWER_BODY_XML ? DECODE_XML : DECODE_JSON, &c);
        if (x->cls == ANSWER_RESULT) x->want = c.r == 0 && c.has_rid ? FZ_RESULT : FZ_INVALID;
        else x->want = c.r == 0 && c.has_code ? FZ_API : FZ_HTTP;
        break;
    case ANSWER_UNEXPECTED: x->want = FZ_INVALID; break;
    default:                x->want = FZ_HTTP; break;
    }
}

/* decode_answer on x with every check; then, when `oom` (1–31) is set and the body is
 * not decoded by cjson, once more with the Lua allocator failing from a point oom/32 of
 * the way through the allocations the call made. (On a Lua out-of-memory error in
 * decode, lua-cjson leaks its scratch buffer, strbuf_new in json_decode, and cjson.safe
 * may re-raise it as a plain error: lua-cjson's, not ours to fuzz.) Returns what
 * decode_answer returned. */
static int fz_answer_run(fz_answer_t *x, unsigned oom) {
    fz_call_t c;
    int r;
    fz_expect(x);
    memset(&c, 0, sizeof c);
    c.x = x;
    c.via_lua = x->a.status >= 100 && x->a.status <= 999;   /* core.answer's range */
    fz_pcall(&c);
    r = c.r;
    if (oom && c.allocs > 0 && ref_sniff(x->a.body, x->a.len) != ANSWER_BODY_JSON) {
        fz_call_t f;
        memset(&f, 0, sizeof f);
        f.x = x;
        f.fail_from = 1 + (unsigned long)(((oom - 1) % 31) * c.allocs / 31);
        /* Either out of memory is raised, or the call did not reach the failing
         * allocation and gave the same as before (checked in fz_protected). */
        fz_pcall(&f);
    }
    return r;
}

/* ----------------------------------------------------------- input decoding --- */

static const long fz_statuses[] = {
    200, 200, 200, 201, 204, 299, 400, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504,
    0, 100, 301, 302, 418, 599, 999, -1, 2147483647L, 199, 300, 1000, -200
};
static const char *const fz_ctypes[] = {
    "application/json;charset=utf-8", "text/xml;charset=utf-8", "text/html", "", "text/plain",
    "application/octet-stream; charset=\"weird\\\"quoted\"; x=yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
    /* UTF-8 (é) across byte 80, where the reasons cut a Content-Type */
    "text/html; charset=utf-8; title=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xC3\xA9\xC3\xA9\"",
    "text/html; charset=latin1; title=\"caf\xE9\""
};

#define FZ_COUNT(a) (sizeof (a) / sizeof (a)[0])

/* The answer's metadata from the first bytes of the input; returns the bytes used.
 *   byte 0  bit 0: XML asked (else JSON); bits 1–7: the Content-Type (fz_ctypes)
 *   byte 1  the status (fz_statuses)
 *   byte 2  bit 7: captured headers follow, 1 + bits 5–6 pairs of them, each a length
 *           byte (name: mod 32) and that many bytes, for the name then the value;
 *           bits 0–4: k ≠ 0 runs the answer once more with Lua out of memory (k/32).
 * Inputs of the format before headers (byte 2 < 128: no retry hint) mean the same. */
static inline size_t fz_parse_meta(const uint8_t *data, size_t size, fz_answer_t *x,
                            unsigned *oom) {
    size_t used = size < 3 ? size : 3, i, np = 0;
    uint8_t f = size > 0 ? data[0] : 0, s = size > 1 ? data[1] : 0, h = size > 2 ? data[2] : 0;
    memset(x, 0, sizeof *x);
    x->a.status = fz_statuses[s % FZ_COUNT(fz_statuses)];
    x->a.format = (f & 1) ? DECODE_XML : DECODE_JSON;
    x->a.content_type = fz_ctypes[(f >> 1) % FZ_COUNT(fz_ctypes)];
    *oom = h & 31;
    if (h & 0x80) np = 1 + ((h >> 5) & 3);
    for (i = 0; i < np && used < size; i++) {
        size_t kl = data[used++] % 32, vl;
        kl = kl < size - used ? kl : size - used;
        x->hdr[i].k = (const char *)data + used;
        x->hdr[i].kl = kl;
        used += kl;
        vl = used < size ? data[used++] : 0;
        vl = vl < size - used ? vl : size - used;
        x->hdr[i].v = (const char *)data + used;
        x->hdr[i].vl = vl;
        used += vl;
    }
    x->a.headers = x->hdr;
    x->a.nheaders = i;
    return used;
}

/* The body as its own allocation of exactly `len` bytes, so ASan sees any read past it
 * (ASan's malloc(0) gives a pointer with no byte to read). */
static char *fz_copy(const uint8_t *p, size_t len) {
    char *b = malloc(len);
    CHECK(b != NULL, "out of memory");
    if (len) memcpy(b, p, len);
    return b;
}

#endif
