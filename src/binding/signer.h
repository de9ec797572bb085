/* A signer: everything needed to turn (action, parameters, credentials) into a signed
 * request with a fresh timestamp and nonce — the MAC state, the client's fixed choices
 * (endpoint, version, format, method, signature) and a pool of random bytes. Embedded
 * in a Client, or a userdata of its own (core.signer) for transports written in Lua and
 * for credential providers that talk to STS. */
#ifndef ALIYUN_LIVE_SIGNER_H
#define ALIYUN_LIVE_SIGNER_H

#include <stdint.h>

#include "binding.h"
#include "protocol/request.h"

#pragma GCC visibility push(hidden)   /* see buf.h */

#define SIGNER_MT "aliyun.live.Signer"

typedef struct signer {
    sign_mac_t   *mac;
    char         *endpoint, *host, *version;
    char          format[5], method[5];
    int           v3, form;
    kv_t          params[ENCODE_MAX_PARAMS];
    unsigned char pool[4096];      /* random bytes for nonces, used from the end */
    size_t        pool_left;
    unsigned      pool_fork;       /* fork generation when the pool was filled */
    int64_t       ts_second;       /* the last timestamp, formatted once per second */
    char          ts[SIGN_TIMELEN + 1];
    request_out_t out;             /* what sign() last built (for Lua-side transports) */
} signer_t;

/* Fill s from the options table at index t (endpoint, host, version, format, method,
 * signature — already validated by the Lua layer; only typed here). Raises on a bad
 * type or out of memory; s must be zeroed first, and signer_free releases a partly
 * built one. */
void signer_init(lua_State *L, signer_t *s, int t);
void signer_free(signer_t *s);

/* Sign the call whose arguments are at arg..arg+4 (action, params, key_id, secret,
 * token|nil) into `out` with a fresh timestamp and nonce. Returns 0, or pushes nil, err
 * and returns 2. Bad argument types raise. */
int signer_sign(lua_State *L, signer_t *s, int arg, request_out_t *out);

/* The Signer userdata at arg (raises if it is not one, or is closed). */
signer_t *signer_check(lua_State *L, int arg);

/* Random bytes from a pool refilled from the CSPRNG (fork-safe). 0 or -1. */
int signer_random(unsigned char *pool, size_t cap, size_t *left, unsigned *gen,
                  unsigned char *out, size_t n);

#pragma GCC visibility pop

#endif
