/* Shared declarations of the Lua binding (src/binding/): the module, its classes, and the
 * pieces they share (error tables, decoding). The binding glues the pure protocol code
 * and the transport to Lua; what to retry, which SDK.* code a failure gets and every
 * default are decided in lua/aliyun/live/. */
#ifndef ALIYUN_LIVE_BINDING_H
#define ALIYUN_LIVE_BINDING_H

#include <stddef.h>

#include "compat.h"
#include "protocol/encode.h"

#pragma GCC visibility push(hidden)   /* see buf.h */

#if defined(__GNUC__) || defined(__clang__)
#  define CORE_EXPORT __attribute__((visibility("default")))
#else
#  define CORE_EXPORT
#endif

/* Register methods in the table on top of the stack, sharing `nup` upvalues that sit
 * above it (as luaL_setfuncs does). */
void core_register(lua_State *L, const luaL_Reg *fns, int nup);

/* A class of userdata: the registry's metatable `name` gets `meta` (__gc, …), __index a
 * table of `methods`, and __name (5.1 has no luaL_setmetatable naming). Stack unchanged. */
void core_class(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods);

/* A string argument that C will use as a C string: embedded NULs raise, since C would
 * silently cut the value there. */
const char *core_check_cstring(lua_State *L, int arg, size_t *len);

/* ------------------------------------------------------------------- errors --- */
#define ERROR_MT "aliyun.live.Error"

/* Push a new error table {kind, code?, message, http_status?} with the error metatable.
 * `code` may be NULL (the Lua layer names transport failures); status 0 = none. */
void error_push(lua_State *L, const char *kind, const char *code, const char *message,
                size_t message_len, long status);
void error_open(lua_State *L);   /* the metatable (tostring) and core.error */

/* ----------------------------------------------------------------- decoding --- */
#define DECODE_MAX_DEPTH 64

typedef enum { DECODE_JSON = 0, DECODE_XML = 1 } decode_format_t;

/* An answer to turn into a result or an error. `decode` is the stack index of a
 * cjson.safe-style decode function. Captured response headers go into errors. */
typedef struct decode_answer {
    long             status;
    const char      *body;
    size_t           len;
    const char      *content_type;   /* may be "" */
    decode_format_t  format;         /* what the request asked for */
    int              decode;
    const kv_t      *headers;        /* captured response headers */
    size_t           nheaders;
} decode_answer_t;

/* Push the decoded body (a table) and return 0, or return -1 with a reason in err. */
int decode_body(lua_State *L, int decode, decode_format_t fmt, const char *body,
                size_t len, char *err, size_t errlen);

/* Push the result (decoded body + request_id) and return 1, or nil, err and return 2.
 * err.kind: "api" (the server's Code is err.code), "invalid" (a success status without
 * a usable body) or "http" (an error status without an API error body). */
int decode_answer(lua_State *L, const decode_answer_t *a);

/* Push the private cjson.safe decoder (our depth limit; the user's settings untouched). */
void decode_push_decoder(lua_State *L);
void decode_open(lua_State *L);  /* core.decode, core.answer; expects the decoder on top */

/* ------------------------------------------------------------------ classes --- */
/* Each adds its constructor(s) to the module table just below the decoder on top. */
void signer_open(lua_State *L);
void client_open(lua_State *L);
void core_limiter_open(lua_State *L);
void core_redis_open(lua_State *L);   /* the Redis pieces the cosocket client borrows */

/* A decision's arguments (interval, tau, count, window, reserve [, max_wait]) from
 * stack index i on, checked as lim:take checks them; raises on bad ones. */
struct limiter_req;
void core_limiter_req(lua_State *L, int i, struct limiter_req *req);

#pragma GCC visibility pop

#endif
