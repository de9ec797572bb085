/* Lua binding of the Client: a libcurl handle, a keyed MAC and reusable request
 * buffers, driven by the Lua layer, which decides policy and passes credentials. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "binding.h"
#include "transport/http.h"
#include "decode.h"
#include "protocol/request.h"

#define CLIENT_MT "aliyun.live.Client"
#define DECODE lua_upvalueindex(1)

#define CLIENT_MAX_SLOTS 256

/* A transfer slot for concurrent requests: its own handle and request buffers. */
typedef struct slot {
    http_xfer_t   xfer;
    request_out_t req;
    lua_Integer   id;         /* 0 = free */
} slot_t;

typedef struct client {
    int           closed;
    sign_mac_t   *mac;
    http_xfer_t   xfer;       /* blocking calls */
    request_out_t req;
    http_opts_t   opts;       /* for new slots; strings owned below */
    char         *endpoint, *host, *version, *ca_file, *proxy, *user_agent;
    char          format[5], method[5];
    int           v3, form;
    http_multi_t *multi;      /* concurrent calls, created on first use */
    slot_t       *slots[CLIENT_MAX_SLOTS];
    int           nslots;
    lua_Integer   next_id;
    kv_t          params[ENCODE_MAX_PARAMS];
    unsigned char pool[4096];  /* random bytes for nonces, used from the end */
    size_t        pool_left;
    unsigned      pool_fork;   /* fork_generation when the pool was filled */
    int64_t       ts_second;   /* the last timestamp, formatted once per second */
    char          ts[SIGN_TIMELEN + 1];
} client_t;

/* Incremented in every child after fork(), so a child never reuses nonce bytes that its
 * parent drew (glibc drops the handler if the module is unloaded). */
static volatile unsigned fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void on_fork_child(void) { fork_generation++; }
static void register_atfork(void) { pthread_atfork(NULL, NULL, on_fork_child); }

/* ------------------------------------------------------------------ lifecycle --- */

static client_t *check_client(lua_State *L) {
    client_t *c = luaL_checkudata(L, 1, CLIENT_MT);
    if (c->closed) luaL_argerror(L, 1, "client is closed");
    return c;
}

/* __gc, __close and :close() — idempotent, NULLs what it frees. */
static int client_close(lua_State *L) {
    client_t *c = luaL_checkudata(L, 1, CLIENT_MT);
    int i;
    if (c->closed) return 0;
    c->closed = 1;
    for (i = 0; i < c->nslots; i++) {
        slot_t *sl = c->slots[i];
        if (sl->id && !sl->xfer.done) http_multi_remove(c->multi, &sl->xfer);
        http_xfer_cleanup(&sl->xfer);
        request_out_free(&sl->req);
        free(sl);
        c->slots[i] = NULL;
    }
    c->nslots = 0;
    http_multi_free(c->multi);
    c->multi = NULL;
    http_xfer_cleanup(&c->xfer);
    sign_mac_free(c->mac);
    c->mac = NULL;
    request_out_free(&c->req);
    OPENSSL_cleanse(c->pool, sizeof c->pool);
    free(c->endpoint); free(c->host); free(c->version);
    free(c->ca_file); free(c->proxy); free(c->user_agent);
    c->endpoint = c->host = c->version = c->ca_file = c->proxy = c->user_agent = NULL;
    return 0;
}

static const char *opt_string(lua_State *L, int t, const char *k, const char *def) {
    const char *s;
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) s = def;
    else if (lua_type(L, -1) == LUA_TSTRING) s = lua_tostring(L, -1);
    else { luaL_error(L, "client option '%s' must be a string", k); return NULL; }
    lua_pop(L, 1);   /* the string stays anchored in the options table */
    return s;
}

static double opt_number(lua_State *L, int t, const char *k, double def) {
    double v = def;
    lua_getfield(L, t, k);
    if (lua_type(L, -1) == LUA_TNUMBER) v = lua_tonumber(L, -1);
    else if (!lua_isnil(L, -1)) luaL_error(L, "client option '%s' must be a number", k);
    lua_pop(L, 1);
    return v;
}

static int opt_bool(lua_State *L, int t, const char *k, int def) {
    int v = def;
    lua_getfield(L, t, k);
    if (lua_type(L, -1) == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
    else if (!lua_isnil(L, -1)) luaL_error(L, "client option '%s' must be a boolean", k);
    lua_pop(L, 1);
    return v;
}

static char *dup_or_raise(lua_State *L, const char *s) {
    char *d = s ? strdup(s) : NULL;
    if (s && !d) luaL_error(L, "out of memory");
    return d;
}

/* core.client{endpoint=, host=, version=, format=, method=, form=, signature=,
 *             connect_timeout=, timeout=, max_body=, verify=, ca_file=, proxy=,
 *             user_agent=}  — validated by the Lua layer; here only typed. */
static int client_new(lua_State *L) {
    client_t *c;
    http_opts_t o;
    char err[HTTP_ERRLEN > SIGN_ERRLEN ? HTTP_ERRLEN : SIGN_ERRLEN];
    const char *fmt, *method, *sig;
    luaL_checktype(L, 1, LUA_TTABLE);

    /* Userdata first, resources after: a raised error can never leak them. */
    pthread_once(&atfork_once, register_atfork);
    c = lua_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    c->ts_second = -1;
    c->closed = 1;                         /* nothing to free until fully built */
    luaL_setmetatable(L, CLIENT_MT);
    request_out_init(&c->req);

    fmt = opt_string(L, 1, "format", "JSON");
    method = opt_string(L, 1, "method", "POST");
    sig = opt_string(L, 1, "signature", "v1");
    if (strcmp(fmt, "JSON") != 0 && strcmp(fmt, "XML") != 0)
        return luaL_error(L, "client option 'format' must be \"JSON\" or \"XML\"");
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        return luaL_error(L, "client option 'method' must be \"GET\" or \"POST\"");
    if (strcmp(sig, "v1") != 0 && strcmp(sig, "v3") != 0)
        return luaL_error(L, "client option 'signature' must be \"v1\" or \"v3\"");
    strcpy(c->format, fmt);
    strcpy(c->method, method);
    c->v3 = sig[1] == '3';
    c->form = opt_bool(L, 1, "form", strcmp(method, "POST") == 0) && c->method[0] == 'P';

    memset(&o, 0, sizeof o);
    o.connect_timeout_ms = (long)(opt_number(L, 1, "connect_timeout", 5) * 1000);
    o.timeout_ms = (long)(opt_number(L, 1, "timeout", 10) * 1000);
    o.max_body = (size_t)opt_number(L, 1, "max_body", 1 << 20);
    o.verify = opt_bool(L, 1, "verify", 1);

    c->closed = 0;
    c->endpoint = dup_or_raise(L, opt_string(L, 1, "endpoint", NULL));
    c->host = dup_or_raise(L, opt_string(L, 1, "host", NULL));
    c->version = dup_or_raise(L, opt_string(L, 1, "version", "2016-11-01"));
    o.ca_file = c->ca_file = dup_or_raise(L, opt_string(L, 1, "ca_file", NULL));
    o.proxy = c->proxy = dup_or_raise(L, opt_string(L, 1, "proxy", NULL));
    o.user_agent = c->user_agent = dup_or_raise(L, opt_string(L, 1, "user_agent", NULL));
    c->opts = o;
    if (!c->endpoint || !c->host) return luaL_error(L, "client needs 'endpoint' and 'host'");
    if (!(c->mac = sign_mac_new(err))) return luaL_error(L, "%s", err);
    if (http_xfer_init(&c->xfer, &o, err) != 0) return luaL_error(L, "%s", err);
    return 1;
}

static int client_tostring(lua_State *L) {
    client_t *c = luaL_checkudata(L, 1, CLIENT_MT);
    if (c->closed) lua_pushstring(L, "aliyun.live.Client (closed)");
    else lua_pushfstring(L, "aliyun.live.Client (%s)", c->endpoint);
    return 1;
}

/* ------------------------------------------------------------ request building --- */

/* Names the client sets itself; a caller passing one is a programming error. */
static int reserved_name(const char *k) {
    static const char *const names[] = {
        "Action", "Version", "Format", "AccessKeyId", "Signature", "SignatureMethod",
        "SignatureVersion", "SignatureNonce", "Timestamp", "SecurityToken", NULL
    };
    const char *const *n;
    for (n = names; *n; n++)
        if (strcmp(k, *n) == 0) return 1;
    return 0;
}

static int valid_name(const char *k, size_t n) {
    size_t i;
    if (n == 0 || !((k[0] >= 'A' && k[0] <= 'Z') || (k[0] >= 'a' && k[0] <= 'z'))) return 0;
    for (i = 1; i < n; i++) {
        char ch = k[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '.'))
            return 0;
    }
    return 1;
}

/* Collect params (a table of string → string) into c->params, checking each name (an
 * API parameter name the client does not set itself) and value (UTF-8 text without
 * control characters); a bad one raises. The strings stay anchored by the table, which
 * is on the stack for the whole call. */
static size_t collect_params(lua_State *L, client_t *c, int t) {
    size_t n = 0, at;
    int r;
    luaL_checktype(L, t, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        kv_t *kv = &c->params[n];
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "parameter names must be strings");
        kv->k = lua_tolstring(L, -2, &kv->kl);
        if (!valid_name(kv->k, kv->kl))
            luaL_error(L, "parameter name '%s' is not valid", kv->k);
        if (reserved_name(kv->k))
            luaL_error(L, "parameter '%s' is set by the client", kv->k);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "parameter '%s' must be a string", kv->k);
        kv->v = lua_tolstring(L, -1, &kv->vl);
        if ((r = encode_check_text(kv->v, kv->vl, 0, &at)) != ENCODE_TEXT_OK)
            luaL_error(L, "parameter '%s' has %s at byte %d", kv->k,
                       r == ENCODE_TEXT_BAD_UTF8 ? "invalid UTF-8" : "a control character",
                       (int)at + 1);
        if (++n == ENCODE_MAX_PARAMS - 16) luaL_error(L, "too many parameters");
        lua_pop(L, 1);
    }
    return n;
}

/* A nonce from the client's pool of CSPRNG bytes. The pool exists because RAND_bytes
 * makes a getpid() system call on every call (its own fork check), which cost more than
 * the whole signature; one call now serves 256 nonces. */
static int fresh_nonce(client_t *c, char out[SIGN_NONCELEN + 1]) {
    if (c->pool_left < 16 || c->pool_fork != fork_generation) {
        if (RAND_bytes(c->pool, sizeof c->pool) != 1) { ERR_clear_error(); return -1; }
        c->pool_left = sizeof c->pool;
        c->pool_fork = fork_generation;
    }
    c->pool_left -= 16;
    sign_nonce(c->pool + c->pool_left, out);
    OPENSSL_cleanse(c->pool + c->pool_left, 16);   /* used bytes do not linger */
    return 0;
}

/* The current UTC timestamp, formatted at most once per second. */
static const char *timestamp_now(client_t *c) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if ((int64_t)ts.tv_sec != c->ts_second) {
        if (sign_timestamp((int64_t)ts.tv_sec, c->ts) != 0) return NULL;
        c->ts_second = (int64_t)ts.tv_sec;
    }
    return c->ts;
}

/* Arguments at 2..6: action, params, key_id, secret, token|nil. */
static void fill_input(lua_State *L, client_t *c, request_in_t *in) {
    in->endpoint = c->endpoint;
    in->host = c->host;
    in->method = c->method;
    in->v3 = c->v3;
    in->form = c->form;
    in->action = luaL_checkstring(L, 2);
    in->version = c->version;
    in->format = c->format;
    in->nparams = collect_params(L, c, 3);
    in->params = c->params;
    in->key_id = luaL_checkstring(L, 4);
    in->secret = luaL_checklstring(L, 5, &in->secret_len);
    in->token = luaL_optstring(L, 6, NULL);
}

/* ------------------------------------------------------------------- methods --- */

static const char *transport_code(http_status_t s) {
    switch (s) {
    case HTTP_E_CONNECT:  return "SDK.ConnectionFailed";
    case HTTP_E_TIMEOUT:  return "SDK.Timeout";
    case HTTP_E_TLS:      return "SDK.TLSError";
    case HTTP_E_TOO_BIG:  return "SDK.ResponseTooLarge";
    case HTTP_E_SEND:
    case HTTP_E_RECV:     return "SDK.ConnectionError";
    case HTTP_E_PARTIAL:  return "SDK.IncompleteResponse";
    case HTTP_E_PROTOCOL: return "SDK.ProtocolError";
    case HTTP_E_NOMEM:    return "SDK.OutOfMemory";
    default:              return "SDK.TransportError";
    }
}

/* Push nil, err for a failed transfer. Retrying is safe when nothing came back: either
 * the request never left, or the server never answered it. */
static int push_transport_error(lua_State *L, http_xfer_t *x) {
    int retryable = 0;
    switch (x->result) {
    case HTTP_E_CONNECT: retryable = 1; break;
    case HTTP_E_TIMEOUT:
    case HTTP_E_SEND:
    case HTTP_E_RECV:    retryable = !x->got_response; break;
    default:             break;
    }
    lua_pushnil(L);
    parse_push_error(L, transport_code(x->result), x->errbuf[0] ? x->errbuf
                     : http_status_name(x->result), x->status, retryable);
    return 2;
}

static int push_sdk_error(lua_State *L, const char *code, const char *msg) {
    lua_pushnil(L);
    parse_push_error(L, code, msg, 0, 0);
    return 2;
}

/* Sign the call at stack 2..6 into `req` with a fresh timestamp and nonce, and describe
 * it in `hr`. Returns 0, or pushes nil, err and returns 2. */
static int sign_call(lua_State *L, client_t *c, request_out_t *req, http_req_t *hr) {
    request_in_t in;
    char nonce[SIGN_NONCELEN + 1], err[SIGN_ERRLEN];
    fill_input(L, c, &in);
    if (!(in.timestamp = timestamp_now(c)))
        return push_sdk_error(L, "SDK.ClockError", "the system clock is out of range");
    if (fresh_nonce(c, nonce) != 0)
        return push_sdk_error(L, "SDK.RandomError", "no random bytes for a nonce");
    in.nonce = nonce;
    if (request_build(&in, req, c->mac, err) != 0)
        return push_sdk_error(L, "SDK.SigningError", err);
    hr->method = c->method;
    hr->url = req->url.data;
    hr->headers = req->lines;
    hr->body = req->body.len ? req->body.data : NULL;
    hr->body_len = req->body.len;
    hr->timeout_ms = 0;
    return 0;
}

/* Push result | nil, err for a finished transfer. */
static int answer(lua_State *L, client_t *c, http_xfer_t *x) {
    parse_answer_t a;
    if (x->result != HTTP_OK) return push_transport_error(L, x);
    a.status = x->status;
    a.body = x->body.data ? x->body.data : "";
    a.len = x->body.len;
    a.content_type = x->content_type;
    a.retry_after_ms = x->retry_after_ms;
    a.format = c->format[0] == 'X' ? PARSE_XML : PARSE_JSON;
    a.decode = DECODE;
    return parse_answer(L, &a);
}

/* client:rpc(action, params, key_id, secret, token) → result | nil, err */
static int client_rpc(lua_State *L) {
    client_t *c = check_client(L);
    http_req_t hr;
    int n = sign_call(L, c, &c->req, &hr);
    if (n) return n;
    http_perform(&c->xfer, &hr);
    return answer(L, c, &c->xfer);
}

/* ------------------------------------------------------- concurrent requests --- */

static slot_t *free_slot(lua_State *L, client_t *c) {
    char err[HTTP_ERRLEN];
    slot_t *sl;
    int i;
    for (i = 0; i < c->nslots; i++)
        if (!c->slots[i]->id) return c->slots[i];
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
        if (c->slots[i]->id == id) return c->slots[i];
    return NULL;
}

/* client:start(action, params, key_id, secret, token) → id | nil, err
 * Signs and starts a request without waiting; client:poll drives it. */
static int client_start(lua_State *L) {
    client_t *c = check_client(L);
    char err[HTTP_ERRLEN];
    http_req_t hr;
    slot_t *sl = free_slot(L, c);
    int n;
    if (!sl) return luaL_error(L, "more than %d requests in flight", CLIENT_MAX_SLOTS);
    if ((n = sign_call(L, c, &sl->req, &hr)) != 0) return n;
    if (http_prepare(&sl->xfer, &hr) != HTTP_OK) return push_transport_error(L, &sl->xfer);
    if (http_multi_add(c->multi, &sl->xfer, err) != 0)
        return push_sdk_error(L, "SDK.TransportError", err);
    sl->id = ++c->next_id;
    lua_pushinteger(L, sl->id);
    return 1;
}

/* client:poll([timeout_seconds]) → { id, … } of the requests that finished, after
 * waiting at most timeout for network activity (0 or nothing in flight: no wait). */
static int client_poll(lua_State *L) {
    client_t *c = check_client(L);
    double timeout = luaL_optnumber(L, 2, 0);
    char err[HTTP_ERRLEN];
    int i, k = 0, ms = timeout > 0 ? (int)(timeout * 1000 + 0.999) : 0;
    if (timeout > 86400) ms = 86400 * 1000;
    lua_newtable(L);
    if (!c->multi) return 1;
    if (http_multi_run(c->multi, ms, err) < 0) return luaL_error(L, "%s", err);
    for (i = 0; i < c->nslots; i++) {
        slot_t *sl = c->slots[i];
        if (sl->id && sl->xfer.done == 1) {
            sl->xfer.done = 2;    /* reported once */
            lua_pushinteger(L, sl->id);
            lua_rawseti(L, -2, ++k);
        }
    }
    return 1;
}

/* client:collect(id) → result | nil, err for a finished request; frees its slot. */
static int client_collect(lua_State *L) {
    client_t *c = check_client(L);
    slot_t *sl = find_slot(c, luaL_checkinteger(L, 2));
    int n;
    if (!sl || !sl->xfer.done) return luaL_argerror(L, 2, "no finished request with this id");
    n = answer(L, c, &sl->xfer);
    sl->id = 0;
    return n;
}

/* client:cancel(id) — abandons a request in flight; frees its slot. */
static int client_cancel(lua_State *L) {
    client_t *c = check_client(L);
    slot_t *sl = find_slot(c, luaL_checkinteger(L, 2));
    if (!sl) return 0;
    if (!sl->xfer.done) http_multi_remove(c->multi, &sl->xfer);
    sl->id = 0;
    return 0;
}

/* client:inflight() → requests started and not collected. */
static int client_inflight(lua_State *L) {
    client_t *c = check_client(L);
    int i, n = 0;
    for (i = 0; i < c->nslots; i++) n += c->slots[i]->id != 0;
    lua_pushinteger(L, n);
    return 1;
}

static void set_kv(lua_State *L, const kv_t *kv) {
    lua_pushlstring(L, kv->k, kv->kl);
    lua_pushlstring(L, kv->v, kv->vl);
    lua_rawset(L, -3);
}

#define SETS(L, k, s, n) (lua_pushlstring(L, s, n), lua_setfield(L, -2, k))

/* client:presign(action, params, key_id, secret, token, opts) → table (no I/O).
 * opts: timestamp, nonce, method, signature, version — each optional. */
static int client_presign(lua_State *L) {
    client_t *c = check_client(L);
    request_in_t in;
    request_out_t *o = &c->req;
    char nonce[SIGN_NONCELEN + 1], err[SIGN_ERRLEN];
    const char *sig;
    size_t i;

    fill_input(L, c, &in);
    luaL_checktype(L, 7, LUA_TTABLE);
    in.timestamp = opt_string(L, 7, "timestamp", NULL);
    in.nonce = opt_string(L, 7, "nonce", NULL);
    in.method = opt_string(L, 7, "method", c->method);
    in.version = opt_string(L, 7, "version", c->version);
    sig = opt_string(L, 7, "signature", c->v3 ? "v3" : "v1");
    in.v3 = strcmp(sig, "v3") == 0;
    in.form = 0;      /* a presigned request carries everything in its URL */
    if (!in.timestamp && !(in.timestamp = timestamp_now(c)))
        return luaL_error(L, "clock out of range");
    if (!in.nonce) {
        if (fresh_nonce(c, nonce) != 0) return luaL_error(L, "no random bytes for a nonce");
        in.nonce = nonce;
    }
    if (request_build(&in, o, c->mac, err) != 0) return luaL_error(L, "%s", err);

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
        for (i = in.nparams; i < o->nsigned; i++) set_kv(L, &o->signed_params[i]);
        lua_setfield(L, -2, "params");
    } else {
        lua_createtable(L, 0, (int)o->nheaders);
        for (i = 0; i < o->nheaders; i++) set_kv(L, &o->headers[i]);
        lua_setfield(L, -2, "headers");
        SETS(L, "canonical_request", o->creq.data, o->creq.len);
        SETS(L, "authorization", o->authorization.data, o->authorization.len);
    }
    return 1;
}

/* client:http{method=, url=, headers={"Name: value", …}, body=, timeout=}
 *   → status, body, content_type | nil, err   (for credential endpoints) */
static int client_http(lua_State *L) {
    client_t *c = check_client(L);
    const char *lines[REQUEST_MAX_HEADERS + 1];
    http_req_t hr;
    size_t n = 0;
    double timeout;
    luaL_checktype(L, 2, LUA_TTABLE);
    hr.method = opt_string(L, 2, "method", "GET");
    hr.url = opt_string(L, 2, "url", NULL);
    hr.body = opt_string(L, 2, "body", NULL);
    hr.body_len = hr.body ? strlen(hr.body) : 0;
    timeout = opt_number(L, 2, "timeout", 0);
    hr.timeout_ms = (long)(timeout * 1000);
    if (!hr.url) return luaL_error(L, "http request needs a 'url'");
    lua_getfield(L, 2, "headers");
    if (lua_istable(L, -1)) {
        for (n = 0; n < REQUEST_MAX_HEADERS; n++) {
            lua_rawgeti(L, -1, (lua_Integer)n + 1);
            if (lua_isnil(L, -1)) { lua_pop(L, 1); break; }
            if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "headers must be strings");
            lines[n] = lua_tostring(L, -1);
            lua_pop(L, 1);   /* anchored by the headers table */
        }
    }
    lines[n] = NULL;
    hr.headers = lines;
    if (http_perform(&c->xfer, &hr) != HTTP_OK) return push_transport_error(L, &c->xfer);
    lua_pushinteger(L, c->xfer.status);
    lua_pushlstring(L, c->xfer.body.data ? c->xfer.body.data : "", c->xfer.body.len);
    lua_pushstring(L, c->xfer.content_type);
    return 3;
}

/* client:decode(body, format) → table | nil, message — the parsers on their own. */
static int client_decode(lua_State *L) {
    size_t len;
    const char *body = luaL_checklstring(L, 2, &len);
    static const char *const fmts[] = { "JSON", "XML", NULL };
    int fmt = luaL_checkoption(L, 3, "JSON", fmts);
    char err[256];
    if (parse_body(L, DECODE, fmt ? PARSE_XML : PARSE_JSON, body, len, err, sizeof err) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

void core_client_open(lua_State *L) {
    static const luaL_Reg methods[] = {
        { "rpc", client_rpc },
        { "start", client_start },
        { "poll", client_poll },
        { "collect", client_collect },
        { "cancel", client_cancel },
        { "inflight", client_inflight },
        { "presign", client_presign },
        { "http", client_http },
        { "decode", client_decode },
        { "close", client_close },
        { NULL, NULL }
    };
    static const luaL_Reg meta[] = {
        { "__gc", client_close },
        { "__close", client_close },
        { "__tostring", client_tostring },
        { NULL, NULL }
    };
    /* stack: module, decode */
    luaL_newmetatable(L, CLIENT_MT);
    core_register(L, meta, 0);
    lua_newtable(L);
    lua_pushvalue(L, -3);
    core_register(L, methods, 1);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, CLIENT_MT);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    lua_pushcfunction(L, client_new);
    lua_setfield(L, -3, "client");
}
