/* HTTP transport on libcurl. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "http.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int http_global_init(char err[HTTP_ERRLEN]) {
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        snprintf(err, HTTP_ERRLEN, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
        return -1;
    }
    return 0;
}

const char *http_curl_version(void) { return curl_version_info(CURLVERSION_NOW)->version; }

/* Callbacks only append to C buffers and record; they never call into Lua. */
static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    http_xfer_t *x = ud;
    size_t len = size * n;
    x->got_response = 1;
    if (x->body.len + len > x->max_body) { x->result = HTTP_E_TOO_BIG; return 0; }
    if (buf_add(&x->body, p, len) != 0) { x->result = HTTP_E_NOMEM; return 0; }
    return len;
}

static size_t header_value(const char *line, size_t len, const char *name,
                           const char **v) {
    size_t nl = strlen(name), e;
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':') return 0;
    line += nl + 1; len -= nl + 1;
    while (len && (*line == ' ' || *line == '\t')) { line++; len--; }
    e = len;
    while (e && (line[e - 1] == '\r' || line[e - 1] == '\n' || line[e - 1] == ' ')) e--;
    *v = line;
    return e ? e : (size_t)-1;   /* -1: present but empty */
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    http_xfer_t *x = ud;
    size_t len = size * n, vl;
    const char *v;
    x->got_response = 1;
    if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or 100-continue) replaces the last one. */
        x->content_type[0] = '\0';
        x->retry_after_ms = -1;
    } else if ((vl = header_value(p, len, "content-type", &v)) != 0) {
        if (vl == (size_t)-1) vl = 0;
        if (vl >= sizeof x->content_type) vl = sizeof x->content_type - 1;
        memcpy(x->content_type, v, vl);
        x->content_type[vl] = '\0';
    } else if ((vl = header_value(p, len, "x-acs-retry-after", &v)) != 0 &&
               vl != (size_t)-1 && vl < 20) {
        char tmp[20];
        char *end;
        long ms;
        memcpy(tmp, v, vl);
        tmp[vl] = '\0';
        ms = strtol(tmp, &end, 10);
        if (*end == '\0' && ms >= 0) x->retry_after_ms = ms;
    }
    return len;
}

int http_xfer_init(http_xfer_t *x, const http_opts_t *o, char err[HTTP_ERRLEN]) {
    CURL *c;
    CURLcode rc = CURLE_OK;
    memset(x, 0, sizeof *x);
    x->retry_after_ms = -1;
    x->max_body = o->max_body;
    x->timeout_ms = o->timeout_ms;
    if (http_global_init(err) != 0) return -1;
    c = curl_easy_init();
    if (!c) { snprintf(err, HTTP_ERRLEN, "curl_easy_init failed"); return -1; }
    x->easy = c;
#define SET(opt, val) if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val)
    SET(CURLOPT_NOSIGNAL, 1L);                 /* threads: no SIGALRM for DNS timeouts */
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);           /* a redirect is an answer, not a hop */
#if CURL_AT_LEAST_VERSION(7, 85, 0)
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, o->timeout_ms);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
    SET(CURLOPT_SSL_VERIFYPEER, o->verify ? 1L : 0L);
    SET(CURLOPT_SSL_VERIFYHOST, o->verify ? 2L : 0L);
    if (o->ca_file) SET(CURLOPT_CAINFO, o->ca_file);
    if (o->proxy) SET(CURLOPT_PROXY, o->proxy);
    if (o->user_agent) SET(CURLOPT_USERAGENT, o->user_agent);
#undef SET
    if (rc != CURLE_OK) {
        snprintf(err, HTTP_ERRLEN, "curl_easy_setopt: %s", curl_easy_strerror(rc));
        http_xfer_cleanup(x);
        return -1;
    }
    return 0;
}

void http_xfer_cleanup(http_xfer_t *x) {
    if (x->easy) curl_easy_cleanup(x->easy);
    x->easy = NULL;
    curl_slist_free_all(x->slist);
    x->slist = NULL;
    buf_free(&x->body);
}

http_status_t http_prepare(http_xfer_t *x, const http_req_t *r) {
    CURL *c = x->easy;
    struct curl_slist *sl = NULL;
    const char *const *h;
    CURLcode rc = CURLE_OK;

    buf_reset(&x->body);
    x->status = 0;
    x->content_type[0] = '\0';
    x->retry_after_ms = -1;
    x->got_response = 0;
    x->result = HTTP_OK;
    x->done = 0;
    x->errbuf[0] = '\0';

    /* Most calls send the same headers as the last one (every v1 call does): keep the
     * list then, rather than rebuilding it. */
    for (sl = x->slist, h = r->headers; sl && h && *h; sl = sl->next, h++)
        if (strcmp(sl->data, *h) != 0) break;
    if (sl || (h && *h) || (!h && x->slist)) {
        curl_slist_free_all(x->slist);
        x->slist = NULL;
        sl = NULL;
        for (h = r->headers; h && *h; h++) {
            struct curl_slist *n = curl_slist_append(sl, *h);
            if (!n) { curl_slist_free_all(sl); return x->result = HTTP_E_NOMEM; }
            sl = n;
        }
        x->slist = sl;
    }
    sl = x->slist;
#define SET(opt, val) if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val)
    SET(CURLOPT_URL, r->url);
    SET(CURLOPT_HTTPHEADER, sl);
    SET(CURLOPT_TIMEOUT_MS, r->timeout_ms > 0 ? r->timeout_ms : x->timeout_ms);
    if (strcmp(r->method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
        SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
    } else {
        /* POST semantics (a body, maybe empty) with the method named as asked. */
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->body ? r->body_len : 0));
        SET(CURLOPT_POSTFIELDS, r->body ? r->body : "");
        SET(CURLOPT_CUSTOMREQUEST, strcmp(r->method, "POST") == 0 ? NULL : r->method);
    }
#undef SET
    if (rc != CURLE_OK) {
        snprintf(x->errbuf, sizeof x->errbuf, "%s", curl_easy_strerror(rc));
        return x->result = (rc == CURLE_OUT_OF_MEMORY ? HTTP_E_NOMEM : HTTP_E_OTHER);
    }
    return HTTP_OK;
}

static http_status_t classify(CURLcode rc) {
    switch (rc) {
    case CURLE_OK:                  return HTTP_OK;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:     return HTTP_E_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:  return HTTP_E_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:    return HTTP_E_TLS;
    case CURLE_FILESIZE_EXCEEDED:   return HTTP_E_TOO_BIG;
    case CURLE_SEND_ERROR:          return HTTP_E_SEND;
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:         return HTTP_E_RECV;
    case CURLE_PARTIAL_FILE:        return HTTP_E_PARTIAL;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_BAD_CONTENT_ENCODING: return HTTP_E_PROTOCOL;
    case CURLE_OUT_OF_MEMORY:       return HTTP_E_NOMEM;
    default:                        return HTTP_E_OTHER;
    }
}

http_status_t http_finish(http_xfer_t *x, int curlcode) {
    CURLcode rc = (CURLcode)curlcode;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    x->status = status;
    if (rc == CURLE_OK) return x->result = HTTP_OK;
    /* Our callbacks stopped the transfer: their reason beats libcurl's "write error". */
    if (x->result != HTTP_OK) return x->result;
    if (!x->errbuf[0]) snprintf(x->errbuf, sizeof x->errbuf, "%s", curl_easy_strerror(rc));
    return x->result = classify(rc);
}

http_status_t http_perform(http_xfer_t *x, const http_req_t *r) {
    if (http_prepare(x, r) != HTTP_OK) return x->result;
    return http_finish(x, curl_easy_perform(x->easy));
}

/* ------------------------------------------------------------------- multi --- */

struct http_multi {
    CURLM *multi;
    int    running;
};

http_multi_t *http_multi_new(char err[HTTP_ERRLEN]) {
    http_multi_t *m;
    if (http_global_init(err) != 0) return NULL;
    m = calloc(1, sizeof *m);
    if (!m || !(m->multi = curl_multi_init())) {
        free(m);
        snprintf(err, HTTP_ERRLEN, "curl_multi_init failed");
        return NULL;
    }
    return m;
}

void http_multi_free(http_multi_t *m) {
    if (!m) return;
    curl_multi_cleanup(m->multi);
    free(m);
}

int http_multi_add(http_multi_t *m, http_xfer_t *x, char err[HTTP_ERRLEN]) {
    CURLMcode rc;
    x->done = 0;
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (void *)x);
    rc = curl_multi_add_handle(m->multi, x->easy);
    if (rc != CURLM_OK) {
        snprintf(err, HTTP_ERRLEN, "curl_multi_add_handle: %s", curl_multi_strerror(rc));
        return -1;
    }
    return 0;
}

void http_multi_remove(http_multi_t *m, http_xfer_t *x) {
    curl_multi_remove_handle(m->multi, x->easy);
}

static int collect_done(http_multi_t *m) {
    CURLMsg *msg;
    int left, finished = 0;
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        http_xfer_t *x = NULL;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;   /* msg dies with remove_handle */
        if (msg->msg != CURLMSG_DONE) continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(m->multi, easy);
        if (!x) continue;
        http_finish(x, (int)result);
        x->done = 1;
        finished++;
    }
    return finished;
}

static long monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait (curl_multi_poll, which returns at once when a new transfer wants starting),
 * then one curl_multi_perform: perform looks at every transfer in flight, so one per
 * wake-up rather than one before and one after the wait. Repeats until something
 * finished or the time is up. */
int http_multi_run(http_multi_t *m, int timeout_ms, char err[HTTP_ERRLEN]) {
    long deadline = monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int finished;
    for (;;) {
        long left = deadline - monotonic_ms();
        CURLMcode rc = curl_multi_poll(m->multi, NULL, 0, left > 0 ? (int)left : 0, NULL);
        if (rc == CURLM_OK) rc = curl_multi_perform(m->multi, &m->running);
        if (rc != CURLM_OK) {
            snprintf(err, HTTP_ERRLEN, "curl multi: %s", curl_multi_strerror(rc));
            return -1;
        }
        finished = collect_done(m);
        if (finished || m->running == 0 || monotonic_ms() >= deadline) return finished;
    }
}

const char *http_status_name(http_status_t s) {
    switch (s) {
    case HTTP_OK:         return "ok";
    case HTTP_E_CONNECT:  return "connect";
    case HTTP_E_TIMEOUT:  return "timeout";
    case HTTP_E_TLS:      return "tls";
    case HTTP_E_TOO_BIG:  return "too_big";
    case HTTP_E_SEND:     return "send";
    case HTTP_E_RECV:     return "recv";
    case HTTP_E_PARTIAL:  return "partial";
    case HTTP_E_PROTOCOL: return "protocol";
    case HTTP_E_NOMEM:    return "nomem";
    default:              return "other";
    }
}
