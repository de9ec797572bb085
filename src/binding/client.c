/* The Client: a libcurl transport bound to a signer, driven by the Lua layer, which
 * decides policy and passes credentials. Blocking calls here; transfers in flight on a
 * multi handle in async.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

#define DECODE lua_upvalueindex(1)

/* ------------------------------------------------------------------ lifecycle --- */

client_t *client_check(lua_State *L, int arg) {
    client_t *c = luaL_checkudata(L, arg, CLIENT_MT);
    if (c->closed) luaL_argerror(L, arg, "client is closed");
    return c;
}

/* __gc, __close and :close() — idempotent, NULLs what it frees. */
static int client_close(lua_State *L) {
    client_t *c = luaL_checkudata(L, 1, CLIENT_MT);
    int i;
    if (c->closed) return 0;
    c->closed = 1;
    async_close(c);
    http_xfer_cleanup(&c->xfer);
    if (c->signer_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, c->signer_ref);
    c->signer_ref = LUA_NOREF;
    c->signer = NULL;
    free(c->ca_file); free(c->proxy); free(c->user_agent);
    c->ca_file = c->proxy = c->user_agent = NULL;
    for (i = 0; c->capture[i]; i++) { free(c->capture[i]); c->capture[i] = NULL; }
    return 0;
}

static const char *opt_string(lua_State *L, int t, const char *k) {
    const char *s = NULL;
    lua_getfield(L, t, k);
    if (lua_type(L, -1) == LUA_TSTRING) s = core_check_cstring(L, -1, NULL);
    else if (!lua_isnil(L, -1)) luaL_error(L, "client option '%s' must be a string", k);
    lua_pop(L, 1);   /* the string stays anchored in the options table */
    return s;
}

/* An integer option within [lo, hi]: the Lua layer converts seconds to milliseconds
 * (rounding up) and bounds them, so no float is ever cast here. */
static lua_Integer opt_integer(lua_State *L, int t, const char *k, lua_Integer lo,
                               lua_Integer hi) {
    lua_Integer v = 0;
    int ok;
    lua_getfield(L, t, k);
    v = lua_tointegerx(L, -1, &ok);
    if (!ok || v < lo || v > hi)
        luaL_error(L, "client option '%s' must be an integer from %d to %d", k, (int)lo,
                   (int)hi);
    lua_pop(L, 1);
    return v;
}

static char *dup_or_raise(lua_State *L, const char *s) {
    char *d = s ? strdup(s) : NULL;
    if (s && !d) luaL_error(L, "out of memory");
    return d;
}

/* core.client{signer=, connect_timeout_ms=, timeout_ms=, max_body=, verify=, ca_file=,
 *             proxy=, user_agent=, capture={"x-name", …}} — validated by the Lua layer;
 * here only typed and bounded. */
static int client_new(lua_State *L) {
    client_t *c;
    http_opts_t o;
    char err[HTTP_ERRLEN];
    int i;
    luaL_checktype(L, 1, LUA_TTABLE);

    /* Userdata first, resources after: a raised error can never leak them. */
    c = lua_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    c->signer_ref = LUA_NOREF;
    luaL_setmetatable(L, CLIENT_MT);

    lua_getfield(L, 1, "signer");   /* optional: calls may name theirs */
    if (lua_isnil(L, -1)) lua_pop(L, 1);
    else {
        c->signer = signer_check(L, -1);
        c->signer_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }

    memset(&o, 0, sizeof o);
    o.connect_timeout_ms = (long)opt_integer(L, 1, "connect_timeout_ms", 1, 86400000);
    o.timeout_ms = (long)opt_integer(L, 1, "timeout_ms", 1, 86400000);
    o.max_body = (size_t)opt_integer(L, 1, "max_body", 1, 1 << 30);
    lua_getfield(L, 1, "verify");
    o.verify = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    o.ca_file = c->ca_file = dup_or_raise(L, opt_string(L, 1, "ca_file"));
    o.proxy = c->proxy = dup_or_raise(L, opt_string(L, 1, "proxy"));
    o.user_agent = c->user_agent = dup_or_raise(L, opt_string(L, 1, "user_agent"));
    lua_getfield(L, 1, "capture");
    if (lua_istable(L, -1)) {
        for (i = 0; i < CLIENT_MAX_CAPTURE; i++) {
            lua_rawgeti(L, -1, i + 1);
            if (lua_isnil(L, -1)) { lua_pop(L, 1); break; }
            if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "capture names must be strings");
            c->capture[i] = dup_or_raise(L, core_check_cstring(L, -1, NULL));
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    o.capture = (const char *const *)c->capture;
    c->opts = o;
    if (http_xfer_init(&c->xfer, &o, err) != 0) return luaL_error(L, "%s", err);
    return 1;
}

static int client_tostring(lua_State *L) {
    client_t *c = luaL_checkudata(L, 1, CLIENT_MT);
    if (c->closed) lua_pushliteral(L, "aliyun.live.core.Client (closed)");
    else lua_pushfstring(L, "aliyun.live.core.Client (%s)",
                         c->signer ? c->signer->endpoint : "no signer");
    return 1;
}

/* ----------------------------------------------------------------- answers --- */

/* nil, err with the facts of a failed transfer: its kind, libcurl's message, the
 * status if one arrived, and whether any answer byte did (the retry policy needs it:
 * a request that got no answer may be sent again). */
static int transport_error(lua_State *L, http_xfer_t *x) {
    const char *msg = x->errbuf[0] ? x->errbuf : http_status_name(x->result);
    lua_pushnil(L);
    error_push(L, http_status_name(x->result), NULL, msg, strlen(msg), x->status);
    lua_pushboolean(L, x->got_response);
    lua_setfield(L, -2, "answered");
    return 2;
}

int client_answer(lua_State *L, http_xfer_t *x, decode_format_t fmt, int decode) {
    decode_answer_t a;
    if (x->result != HTTP_OK) return transport_error(L, x);
    a.status = x->status;
    a.body = x->body.data ? x->body.data : "";
    a.len = x->body.len;
    a.content_type = x->content_type;
    a.format = fmt;
    a.decode = decode;
    a.headers = x->captured;
    a.nheaders = x->ncaptured;
    return decode_answer(L, &a);
}

int client_http_result(lua_State *L, http_xfer_t *x) {
    if (x->result != HTTP_OK) return transport_error(L, x);
    lua_pushinteger(L, x->status);
    lua_pushlstring(L, x->body.data ? x->body.data : "", x->body.len);
    lua_pushstring(L, x->content_type);
    return 3;
}

signer_t *client_signer(lua_State *L, client_t *c, int arg) {
    if (!lua_isnoneornil(L, arg)) return signer_check(L, arg);
    if (!c->signer) luaL_argerror(L, arg, "this client has no signer of its own: pass one");
    return c->signer;
}

http_req_t client_request_of(const signer_t *s, const request_out_t *o) {
    http_req_t r;
    memset(&r, 0, sizeof r);
    r.method = s->method;
    r.url = o->url.data;
    r.headers = o->headers;
    r.nheaders = o->nheaders;
    r.body = o->body.len ? o->body.data : NULL;
    r.body_len = o->body.len;
    return r;
}

/* client:rpc(action, params, key_id, secret, token [, signer]) → result | nil, err */
static int client_rpc(lua_State *L) {
    client_t *c = client_check(L, 1);
    signer_t *s = client_signer(L, c, 7);
    http_req_t hr;
    int n = signer_sign(L, s, 2, &s->out);
    if (n) return n;
    hr = client_request_of(s, &s->out);
    http_perform(&c->xfer, &hr);
    return client_answer(L, &c->xfer, s->format[0] == 'X' ? DECODE_XML : DECODE_JSON, DECODE);
}

void client_http_request(lua_State *L, int idx, http_req_t *r, kv_t *kv) {
    lua_Integer t;
    int ok;
    size_t n = 0;
    const char *m;
    luaL_checktype(L, idx, LUA_TTABLE);
    memset(r, 0, sizeof *r);
    lua_getfield(L, idx, "method");
    m = lua_tostring(L, -1);
    if (!m) r->method = "GET";
    else if (strcmp(m, "GET") == 0 || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0)
        r->method = strcmp(m, "GET") == 0 ? "GET" : strcmp(m, "POST") == 0 ? "POST" : "PUT";
    else luaL_error(L, "http request 'method' must be GET, POST or PUT");
    lua_pop(L, 1);
    lua_getfield(L, idx, "url");
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "http request needs a 'url' string");
    r->url = core_check_cstring(L, -1, NULL);
    lua_pop(L, 1);
    lua_getfield(L, idx, "body");
    if (!lua_isnil(L, -1)) r->body = luaL_checklstring(L, -1, &r->body_len);
    lua_pop(L, 1);
    lua_getfield(L, idx, "timeout_ms");
    t = lua_tointegerx(L, -1, &ok);
    if (!lua_isnil(L, -1) && (!ok || t < 1 || t > 86400000))
        luaL_error(L, "http request 'timeout_ms' must be an integer from 1 to 86400000");
    r->timeout_ms = ok ? (long)t : 0;
    lua_pop(L, 1);
    lua_getfield(L, idx, "no_proxy");
    r->no_proxy = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, idx, "headers");
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (n == REQUEST_MAX_HEADERS) luaL_error(L, "too many request headers");
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "request headers must map names to strings");
            kv[n].k = lua_tolstring(L, -2, &kv[n].kl);   /* anchored by the table */
            kv[n].v = lua_tolstring(L, -1, &kv[n].vl);
            n++;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    r->headers = kv;
    r->nheaders = n;
}

/* client:http{method=, url=, headers={name=value}, body=, timeout_ms=, no_proxy=}
 *   → status, body, content_type | nil, err   (credential endpoints) */
static int client_http(lua_State *L) {
    client_t *c = client_check(L, 1);
    kv_t kv[REQUEST_MAX_HEADERS];
    http_req_t hr;
    client_http_request(L, 2, &hr, kv);
    http_perform(&c->xfer, &hr);
    return client_http_result(L, &c->xfer);
}

void client_open(lua_State *L) {
    static const luaL_Reg methods[] = {
        { "rpc", client_rpc },
        { "http", client_http },
        { "close", client_close },
        { NULL, NULL }
    };
    static const luaL_Reg meta[] = {
        { "__gc", client_close },
        { "__close", client_close },
        { "__tostring", client_tostring },
        { NULL, NULL }
    };
    /* stack: module, decoder */
    luaL_newmetatable(L, CLIENT_MT);
    core_register(L, meta, 0);
    lua_newtable(L);
    lua_pushvalue(L, -3);
    core_register(L, methods, 1);
    lua_pushvalue(L, -3);
    async_register(L);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, CLIENT_MT);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    lua_pushcfunction(L, client_new);
    lua_setfield(L, -3, "client");
}
