/* The Client userdata shared by client.c (lifecycle, blocking calls) and async.c
 * (transfers in flight on a multi handle). */
#ifndef ALIYUN_LIVE_CLIENT_H
#define ALIYUN_LIVE_CLIENT_H

#include "signer.h"
#include "transport/http.h"
#include "transport/multi.h"

#pragma GCC visibility push(hidden)   /* see buf.h */

#define CLIENT_MT "aliyun.live.Client"
#define CLIENT_MAX_SLOTS 256
#define CLIENT_MAX_CAPTURE (HTTP_MAX_CAPTURE - 1)

enum { SLOT_FREE = 0, SLOT_RPC, SLOT_HTTP };

/* A transfer in flight: its own handle and request buffers. */
typedef struct slot {
    http_xfer_t     xfer;
    request_out_t   req;        /* rpc: the signed request; http: body copy in req.body */
    lua_Integer     id;
    int             kind;
    decode_format_t format;     /* of the signer that signed it */
} slot_t;

typedef struct client {
    int           closed;
    signer_t     *signer;      /* the default signer (a core.signer userdata) */
    int           signer_ref;  /* registry reference keeping it alive */
    http_xfer_t   xfer;        /* blocking calls */
    http_opts_t   opts;        /* for new slots; strings owned below */
    char         *ca_file, *proxy, *user_agent;
    char         *capture[CLIENT_MAX_CAPTURE + 1];
    http_multi_t *multi;       /* transfers in flight, created on first use */
    slot_t       *slots[CLIENT_MAX_SLOTS];
    int           nslots;
    lua_Integer   next_id;
} client_t;

client_t *client_check(lua_State *L, int arg);   /* raises when closed */
/* Push result | nil, err for a finished rpc transfer (a failed one: nil, err). */
int client_answer(lua_State *L, http_xfer_t *x, decode_format_t fmt, int decode);
/* Push status, body, content_type for a finished raw transfer (a failed one: nil, err). */
int client_http_result(lua_State *L, http_xfer_t *x);
/* The request to send for what signer s signed into o. */
http_req_t client_request_of(const signer_t *s, const request_out_t *o);
/* The signer for a call: the one at arg when given, else the client's own. */
signer_t *client_signer(lua_State *L, client_t *c, int arg);
/* Read an http request table at idx into r (strings anchored by that table); headers
 * go into kv (room for REQUEST_MAX_HEADERS). */
void client_http_request(lua_State *L, int idx, http_req_t *r, kv_t *kv);

void async_register(lua_State *L);   /* adds its methods to the table on top */
void async_close(client_t *c);

#pragma GCC visibility pop

#endif
