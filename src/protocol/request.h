/* A signed RPC request from (action, parameters, credentials, options, time, nonce):
 * the method, URL, headers and body to send. Pure, so every transport (libcurl,
 * OpenResty cosockets, presign) shares it and it can be tested against fixed vectors. */
#ifndef ALIYUN_LIVE_REQUEST_H
#define ALIYUN_LIVE_REQUEST_H

#include "buf.h"
#include "encode.h"
#include "sign.h"

#pragma GCC visibility push(hidden)   /* see buf.h */

#define REQUEST_MAX_HEADERS 16
#define REQUEST_MAX_NONCE   64   /* presign accepts a caller's nonce up to this long */

typedef struct request_in {
    const char *endpoint;           /* "https://host[:port]", no trailing slash */
    const char *host;               /* host[:port] as sent in Host (v3 signs it) */
    const char *method;             /* "GET" or "POST" */
    int         v3;                 /* ACS3-HMAC-SHA256 instead of RPC v1 */
    int         form;               /* POST parameters in a form body, not the query */
    const char *action, *version, *format;   /* format "JSON" or "XML" */
    const kv_t *params;             /* the operation's own parameters */
    size_t      nparams;
    const char *key_id, *secret, *token;     /* token may be NULL */
    size_t      secret_len;
    const char *timestamp;          /* SIGN_TIMELEN chars */
    const char *nonce;
} request_in_t;

typedef struct request_out {
    /* What to send: url, body, and headers[] below. */
    buf_t url, body;
    /* What was signed, for presign and tests. */
    kv_t  signed_params[ENCODE_MAX_PARAMS];   /* v1: every parameter but Signature */
    size_t nsigned;
    kv_t  headers[REQUEST_MAX_HEADERS];       /* every header sent, lower-case names */
    size_t nheaders;
    buf_t canon, sts, creq, signed_headers, authorization, tmp;
    char  signature[SIGN_HEXLEN + 1];
    char  payload_hash[SIGN_HEXLEN + 1];
    /* Copies of the input's timestamp and nonce: headers[] point at them, and must stay
     * valid after the caller's own strings are gone (a transfer in flight). */
    char  timestamp[SIGN_TIMELEN + 1];
    char  nonce[REQUEST_MAX_NONCE + 1];
} request_out_t;

void request_out_init(request_out_t *o);
void request_out_free(request_out_t *o);

/* Fill o (its buffers are reset first). Returns 0 or -1 with err set. headers[] point
 * into o and into `in`'s strings other than timestamp and nonce (action, version,
 * host, key_id, token), which must outlive its use. */
int request_build(const request_in_t *in, request_out_t *o, sign_mac_t *mac,
                  char err[SIGN_ERRLEN]);

#pragma GCC visibility pop

#endif
