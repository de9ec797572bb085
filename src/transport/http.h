/* HTTP transport on libcurl: one easy handle per transfer slot, kept alive across calls
 * so the connection is reused; timeouts, a response-size cap, TLS verification on by
 * default. Moves a request and returns (status, captured headers, body); it knows
 * nothing about signing or the API — not even which response headers matter (the
 * caller names them). */
#ifndef ALIYUN_LIVE_HTTP_H
#define ALIYUN_LIVE_HTTP_H

#include <stddef.h>
#include "buf.h"
#include "protocol/encode.h"   /* kv_t */

#pragma GCC visibility push(hidden)   /* see buf.h */

#define HTTP_ERRLEN          256
#define HTTP_MAX_CAPTURE     8       /* response headers a caller may ask to keep */
#define HTTP_CAPTURE_BYTES   1024    /* their values together */
#define HTTP_MAX_HEADER_BYTES 65536  /* the whole response header block */

typedef struct http_opts {
    long               connect_timeout_ms;   /* > 0 */
    long               timeout_ms;           /* whole transfer, > 0 */
    size_t             max_body;             /* response bodies larger than this fail */
    int                verify;               /* verify the peer's certificate and name */
    const char        *ca_file;              /* NULL = system store */
    const char        *proxy;                /* NULL = libcurl's environment variables */
    const char        *user_agent;
    const char *const *capture;              /* lower-case names, NULL-terminated */
} http_opts_t;

/* What went wrong, transport-wise: facts, named by http_status_name. */
typedef enum http_status {
    HTTP_OK = 0,
    HTTP_E_CONNECT,      /* resolve/connect failed: nothing was sent */
    HTTP_E_TIMEOUT,      /* connect or total deadline passed */
    HTTP_E_TLS,          /* handshake or certificate verification failed */
    HTTP_E_TOO_BIG,      /* response body over max_body, or headers over their cap */
    HTTP_E_SEND,         /* connection broke while sending */
    HTTP_E_RECV,         /* connection broke or closed before a complete response */
    HTTP_E_PARTIAL,      /* body shorter than its Content-Length */
    HTTP_E_PROTOCOL,     /* malformed HTTP */
    HTTP_E_NOMEM,
    HTTP_E_REQUEST,      /* the request itself is unsendable (a header with CR/LF…) */
    HTTP_E_OTHER
} http_status_t;

typedef struct http_req {
    const char *method;          /* "GET", "POST", "PUT", … */
    const char *url;
    const kv_t *headers;         /* name/value pairs */
    size_t      nheaders;
    const char *body;            /* may be NULL */
    size_t      body_len;
    long        timeout_ms;      /* > 0 overrides the handle's total timeout */
    int         no_proxy;        /* never through a proxy (instance metadata) */
} http_req_t;

/* One transfer slot: an easy handle, its response, and what it last sent (reused when
 * the next request is the same, as every POST of one client is). */
typedef struct http_xfer {
    void         *easy;            /* CURL * */
    void         *slist;           /* struct curl_slist * of the current header lines */
    buf_t         lines;           /* the header lines the slist was built from */
    buf_t         scratch;
    buf_t         url;             /* the URL set on the handle */
    long          set_timeout_ms;
    int           proxy_off;       /* CURLOPT_NOPROXY "*" is set */
    char          set_method[8];   /* the method the handle has ("" unknown) */
    const char   *set_body;        /* and CURLOPT_POSTFIELDS/…SIZE, for POST-like ones */
    size_t        set_body_len;
    long          status;          /* HTTP status, 0 if none arrived */
    buf_t         body;
    char          content_type[96];
    kv_t          captured[HTTP_MAX_CAPTURE];
    size_t        ncaptured;
    char          capbuf[HTTP_CAPTURE_BYTES];
    size_t        caplen;
    size_t        header_bytes;
    int           got_response;    /* any response byte arrived */
    int           headers_done;    /* the blank line after the headers arrived */
    size_t        max_body;
    long          timeout_ms;      /* the handle's default total timeout */
    const char *const *capture;
    size_t        capture_len[HTTP_MAX_CAPTURE];
    http_status_t result;
    const char   *why;             /* set when one of our callbacks stopped the transfer */
    int           done;            /* set by the multi driver when the transfer ended */
    char          errbuf[HTTP_ERRLEN];
} http_xfer_t;

/* Process-wide libcurl initialisation, done once and thread-safely. */
int  http_global_init(char err[HTTP_ERRLEN]);
const char *http_curl_version(void);

int  http_xfer_init(http_xfer_t *x, const http_opts_t *o, char err[HTTP_ERRLEN]);
void http_xfer_cleanup(http_xfer_t *x);

/* Blocking request on x's handle. Returns x->result; the response is in x. */
http_status_t http_perform(http_xfer_t *x, const http_req_t *r);

/* For the multi driver: set a request up, and record how the transfer ended. */
http_status_t http_prepare(http_xfer_t *x, const http_req_t *r);
http_status_t http_finish(http_xfer_t *x, int curlcode);

/* Name of a transport status ("timeout", …): the facts the Lua layer maps to codes. */
const char *http_status_name(http_status_t s);

#pragma GCC visibility pop

#endif
