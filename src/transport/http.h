/* HTTP transport on libcurl: one easy handle per transfer slot, kept alive across calls
 * so the connection is reused; timeouts, a response-size cap, TLS verification on by
 * default. Knows nothing about signing or the API's error codes. */
#ifndef ALIYUN_LIVE_HTTP_H
#define ALIYUN_LIVE_HTTP_H

#include <stddef.h>
#include "buf.h"

#pragma GCC visibility push(hidden)   /* see buf.h */

#define HTTP_ERRLEN 256

typedef struct http_opts {
    long        connect_timeout_ms;   /* 0 = libcurl's default */
    long        timeout_ms;           /* whole transfer; 0 = none */
    size_t      max_body;             /* response bodies larger than this fail */
    int         verify;               /* verify the peer's certificate and name */
    const char *ca_file;              /* NULL = system store */
    const char *proxy;                /* NULL = libcurl's environment variables */
    const char *user_agent;
} http_opts_t;

/* What went wrong, transport-wise. Stable: the binding maps these to error codes. */
typedef enum http_status {
    HTTP_OK = 0,
    HTTP_E_CONNECT,      /* resolve/connect failed: nothing was sent */
    HTTP_E_TIMEOUT,      /* connect or total deadline passed */
    HTTP_E_TLS,          /* handshake or certificate verification failed */
    HTTP_E_TOO_BIG,      /* response body over max_body */
    HTTP_E_SEND,         /* connection broke while sending */
    HTTP_E_RECV,         /* connection broke or closed before a complete response */
    HTTP_E_PARTIAL,      /* body shorter than its Content-Length */
    HTTP_E_PROTOCOL,     /* malformed HTTP */
    HTTP_E_NOMEM,
    HTTP_E_OTHER
} http_status_t;

typedef struct http_req {
    const char        *method;     /* "GET", "POST", "PUT", … */
    const char        *url;
    const char *const *headers;    /* "Name: value" strings, NULL-terminated; may be NULL */
    const char        *body;       /* may be NULL */
    size_t             body_len;
    long               timeout_ms; /* > 0 overrides the handle's total timeout */
} http_req_t;

/* One transfer slot: an easy handle and its response. Reused call after call. */
typedef struct http_xfer {
    void         *easy;            /* CURL * */
    void         *slist;           /* struct curl_slist * of the request in flight */
    long          status;          /* HTTP status, 0 if none arrived */
    buf_t         body;
    char          content_type[96];
    long          retry_after_ms;  /* x-acs-retry-after, -1 when absent */
    int           got_response;    /* any response byte arrived */
    size_t        max_body;
    long          timeout_ms;      /* the handle's default total timeout */
    http_status_t result;
    int           done;            /* set by http_multi_run when the transfer ended */
    char          errbuf[HTTP_ERRLEN];
} http_xfer_t;

/* Process-wide libcurl initialisation, done once and thread-safely. */
int  http_global_init(char err[HTTP_ERRLEN]);
const char *http_curl_version(void);

int  http_xfer_init(http_xfer_t *x, const http_opts_t *o, char err[HTTP_ERRLEN]);
void http_xfer_cleanup(http_xfer_t *x);

/* Blocking request on x's handle. Returns x->result; the response is in x. */
http_status_t http_perform(http_xfer_t *x, const http_req_t *r);

/* Asynchronous use with a curl multi handle: prepare, add x->easy to the multi, and on
 * its CURLMSG_DONE call http_finish with the transfer's CURLcode. */
http_status_t http_prepare(http_xfer_t *x, const http_req_t *r);
http_status_t http_finish(http_xfer_t *x, int curlcode);

/* Many transfers at once on a curl multi handle, which also keeps the connections. */
typedef struct http_multi http_multi_t;

http_multi_t *http_multi_new(char err[HTTP_ERRLEN]);
void          http_multi_free(http_multi_t *m);
/* Start x (already prepared with http_prepare). */
int           http_multi_add(http_multi_t *m, http_xfer_t *x, char err[HTTP_ERRLEN]);
/* Stop x early (it is not reported as done). */
void          http_multi_remove(http_multi_t *m, http_xfer_t *x);
/* Drive the transfers, waiting at most timeout_ms for activity (0 = do not wait).
 * Finished transfers get http_finish'ed, leave the multi handle and have `done` set;
 * returns how many finished, or -1 with err. */
int           http_multi_run(http_multi_t *m, int timeout_ms, char err[HTTP_ERRLEN]);

/* Name of a transport status ("timeout", …) for messages. */
const char *http_status_name(http_status_t s);

#pragma GCC visibility pop

#endif
