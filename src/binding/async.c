/* Transfers in flight on the client's multi handle: start, poll, collect, cancel. The
 * Lua scheduler (lua/aliyun/live/async.lua) decides what to start and when. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

#define DECODE lua_upvalueindex(1)

static slot_t *free_slot(lua_State *L, client_t *c) {
    char err[HTTP_ERRLEN];
    slot_t *sl;
    int i;
    for (i = 0; i < c->nslots; i++)
        if (c->slots[i]->kind == SLOT_FREE) return c->slots[i];
    if (c->nslots == CLIENT_MAX_SLOTS) return NULL;
    if (!c->multi && !(c->multi = http_multi_new(err))) luaL_error(L, "%s", err);
    sl = calloc(1, sizeof *sl);
    if (!sl) luaL_error(L, "out of memory");
    request_out_init(&sl->req);
    if (http_xfer_init(&sl->xfer, &c->opts, err) != 0) {
        free(sl);
        luaL_error(L, "%s", err);
    }
    c->slots[c->nslots++] = sl;
    return sl;
}

static slot_t *find_slot(client_t *c, lua_Integer id) {
    int i;
    for (i = 0; i < c->nslots; i++)
        if (c->slots[i]->kind != SLOT_FREE && c->slots[i]->id == id) return c->slots[i];
    return NULL;
}

static int too_many(lua_State *L) {
    static const char msg[] = "more than 256 transfers in flight on one client";
    lua_pushnil(L);
    error_push(L, "sdk", "SDK.TooManyRequests", msg, sizeof msg - 1, 0);
    return 2;
}

/* Start a prepared slot; pushes its id, or nil, err (the slot stays free). */
static int launch(lua_State *L, client_t *c, slot_t *sl, const http_req_t *hr, int kind) {
    char err[HTTP_ERRLEN];
    if (http_prepare(&sl->xfer, hr) != HTTP_OK) return client_answer(L, &sl->xfer, 0, DECODE);
    if (http_multi_add(c->multi, &sl->xfer, err) != 0) {
        lua_pushnil(L);
        error_push(L, "other", NULL, err, strlen(err), 0);
        return 2;
    }
    sl->kind = kind;
    sl->id = ++c->next_id;
    lua_pushinteger(L, sl->id);
    return 1;
}

/* client:start(action, params, key_id, secret, token [, signer]) → id | nil, err
 * Signs now and puts the request on the multi handle; client:poll drives it. */
static int async_start(lua_State *L) {
    client_t *c = client_check(L, 1);
    signer_t *s = client_signer(L, c, 7);
    http_req_t hr;
    slot_t *sl = free_slot(L, c);
    int n;
    if (!sl) return too_many(L);
    if ((n = signer_sign(L, s, 2, &sl->req)) != 0) return n;
    hr = client_request_of(s, &sl->req);
    sl->format = s->format[0] == 'X' ? DECODE_XML : DECODE_JSON;
    return launch(L, c, sl, &hr, SLOT_RPC);
}

/* client:start_http{method=, url=, headers=, body=, timeout_ms=, no_proxy=} → id | nil, err */
static int async_start_http(lua_State *L) {
    client_t *c = client_check(L, 1);
    kv_t kv[REQUEST_MAX_HEADERS];
    http_req_t hr;
    slot_t *sl = free_slot(L, c);
    if (!sl) return too_many(L);
    client_http_request(L, 2, &hr, kv);
    if (hr.body) {   /* libcurl sends the body from our memory: keep a copy */
        buf_reset(&sl->req.body);
        if (buf_add(&sl->req.body, hr.body, hr.body_len) != 0) return luaL_error(L, "out of memory");
        hr.body = sl->req.body.data;
    }
    return launch(L, c, sl, &hr, SLOT_HTTP);
}

#define MAX_EXTRA 64

/* The descriptors of a flat { fd, events, … } table at idx (events "r", "w", "rw"). */
static int read_extra(lua_State *L, int idx, struct pollfd *fds) {
    int n = 0, i, len;
    if (lua_isnoneornil(L, idx)) return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    len = (int)lua_rawlen(L, idx);
    luaL_argcheck(L, len % 2 == 0 && len / 2 <= MAX_EXTRA, idx,
                  "extra descriptors must be { fd, events, … } (at most 64)");
    for (i = 1; i <= len; i += 2, n++) {
        lua_Integer fd;
        const char *ev;
        lua_rawgeti(L, idx, i);
        lua_rawgeti(L, idx, i + 1);
        fd = lua_tointeger(L, -2);
        ev = lua_tostring(L, -1);
        luaL_argcheck(L, lua_type(L, -2) == LUA_TNUMBER && fd >= 0 && fd <= 0x7fffffff && ev &&
                      (!strcmp(ev, "r") || !strcmp(ev, "w") || !strcmp(ev, "rw")), idx,
                      "extra descriptors must be { fd, events, … } (events \"r\", \"w\" or \"rw\")");
        fds[n].fd = (int)fd;
        fds[n].events = (short)((strchr(ev, 'r') ? POLLIN : 0) | (strchr(ev, 'w') ? POLLOUT : 0));
        fds[n].revents = 0;
        lua_pop(L, 2);
    }
    return n;
}

/* client:poll(timeout_ms [, extra [, into]]) → { id, … }, n, extra_ready: every transfer
 * that has finished and is not yet collected (the same ids again until they are: a
 * caller that stops half-way through the list loses nothing), after waiting at most
 * timeout_ms for activity on the transfers or on the `extra` descriptors ({ fd, events,
 * … }: a limiter store's connection); extra_ready is true when one of those became
 * ready. The ids go into table `into` when given (entries past n are left as they
 * were), else a new one. */
static int async_poll(lua_State *L) {
    client_t *c = client_check(L, 1);
    lua_Integer ms = luaL_optinteger(L, 2, 0);
    struct pollfd extra[MAX_EXTRA];
    char err[HTTP_ERRLEN];
    int i, k = 0, nextra, ready = 0;
    luaL_argcheck(L, ms >= 0 && ms <= 86400000, 2, "timeout must be 0 to 86400000 ms");
    nextra = read_extra(L, 3, extra);
    if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
    if (c->multi && http_multi_running(c->multi) > 0) {
        if (http_multi_run(c->multi, (int)ms, extra, nextra, err) < 0) {
            lua_pushnil(L);
            error_push(L, "other", NULL, err, strlen(err), 0);
            return 2;
        }
    } else if (nextra > 0 && poll(extra, (nfds_t)nextra, (int)ms) < 0 && errno != EINTR) {
        snprintf(err, sizeof err, "poll: %s", strerror(errno));
        lua_pushnil(L);
        error_push(L, "other", NULL, err, strlen(err), 0);
        return 2;
    }
    for (i = 0; i < nextra; i++) ready |= extra[i].revents != 0;
    if (lua_istable(L, 4)) lua_pushvalue(L, 4);
    else lua_newtable(L);
    for (i = 0; i < c->nslots; i++) {
        slot_t *sl = c->slots[i];
        if (sl->kind != SLOT_FREE && sl->xfer.done) {
            lua_pushinteger(L, sl->id);
            lua_rawseti(L, -2, ++k);
        }
    }
    lua_pushinteger(L, k);
    lua_pushboolean(L, ready);
    return 3;
}

/* client:collect(id) → the answer of a finished transfer (rpc: result | nil, err;
 * http: status, body, content_type | nil, err); frees its slot. */
static int async_collect(lua_State *L) {
    client_t *c = client_check(L, 1);
    slot_t *sl = find_slot(c, luaL_checkinteger(L, 2));
    int n;
    if (!sl || !sl->xfer.done) return luaL_argerror(L, 2, "no finished transfer with this id");
    n = sl->kind == SLOT_RPC ? client_answer(L, &sl->xfer, sl->format, DECODE)
                             : client_http_result(L, &sl->xfer);
    sl->kind = SLOT_FREE;
    return n;
}

/* client:cancel(id) → true if it was in flight; frees its slot either way. */
static int async_cancel(lua_State *L) {
    client_t *c = client_check(L, 1);
    slot_t *sl = find_slot(c, luaL_checkinteger(L, 2));
    int was = sl && !sl->xfer.done;
    if (was) http_multi_remove(c->multi, &sl->xfer);
    if (sl) sl->kind = SLOT_FREE;
    lua_pushboolean(L, was);
    return 1;
}

/* client:inflight() → transfers started and not yet collected. */
static int async_inflight(lua_State *L) {
    client_t *c = client_check(L, 1);
    int i, n = 0;
    for (i = 0; i < c->nslots; i++) n += c->slots[i]->kind != SLOT_FREE;
    lua_pushinteger(L, n);
    return 1;
}

/* client:fds() → { fd, events, fd, events, … } (events "r", "w" or "rw"): the sockets
 * a host's own event loop should watch for this client's transfers. */
static int async_fds(lua_State *L) {
    client_t *c = client_check(L, 1);
    struct pollfd fds[CLIENT_MAX_SLOTS * 2];
    int n = c->multi ? http_multi_fds(c->multi, fds, (int)(sizeof fds / sizeof fds[0])) : 0, i;
    if (n > (int)(sizeof fds / sizeof fds[0])) n = (int)(sizeof fds / sizeof fds[0]);
    lua_createtable(L, 2 * n, 0);
    for (i = 0; i < n; i++) {
        short e = fds[i].events;
        lua_pushinteger(L, fds[i].fd);
        lua_rawseti(L, -2, 2 * i + 1);
        lua_pushstring(L, (e & POLLIN) && (e & POLLOUT) ? "rw" : (e & POLLOUT) ? "w" : "r");
        lua_rawseti(L, -2, 2 * i + 2);
    }
    return 1;
}

/* client:transfer_timeout() → ms until libcurl needs driving without activity, or nil. */
static int async_timeout(lua_State *L) {
    client_t *c = client_check(L, 1);
    long t = c->multi && http_multi_running(c->multi) > 0 ? http_multi_timeout(c->multi) : -1;
    if (t < 0) return 0;
    lua_pushinteger(L, t);
    return 1;
}

void async_close(client_t *c) {
    int i;
    for (i = 0; i < c->nslots; i++) {
        slot_t *sl = c->slots[i];
        if (sl->kind != SLOT_FREE && !sl->xfer.done) http_multi_remove(c->multi, &sl->xfer);
        http_xfer_cleanup(&sl->xfer);
        request_out_free(&sl->req);
        free(sl);
        c->slots[i] = NULL;
    }
    c->nslots = 0;
    http_multi_free(c->multi);
    c->multi = NULL;
}

void async_register(lua_State *L) {
    static const luaL_Reg methods[] = {
        { "start", async_start },
        { "start_http", async_start_http },
        { "poll", async_poll },
        { "collect", async_collect },
        { "cancel", async_cancel },
        { "inflight", async_inflight },
        { "fds", async_fds },
        { "transfer_timeout", async_timeout },
        { NULL, NULL }
    };
    core_register(L, methods, 1);
}
