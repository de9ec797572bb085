/* HTTP transport on libcurl: easy handles, one per transfer slot. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

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

/* ------------------------------------------------------------- callbacks --- */
/* Callbacks only append to C buffers and record; they never call into Lua. */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    http_xfer_t *x = ud;
    size_t len = size * n;
    x->got_response = 1;
    if (x->body.len + len > x->max_body) {
        x->result = HTTP_E_TOO_BIG;
        x->why = "response body larger than max_body";
        return 0;
    }
    if (buf_add(&x->body, p, len) != 0) {
        x->result = HTTP_E_NOMEM;
        x->why = "out of memory for the response body";
        return 0;
    }
    return len;
}

/* The value of header line `line` if its name is `name` (nl bytes, case-insensitive),
 * trimmed. The colon's place rejects most lines before any comparison. */
static int header_value(const char *line, size_t len, const char *name, size_t nl,
                        const char **v, size_t *vl) {
    size_t e;
    if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0) return 0;
    line += nl + 1; len -= nl + 1;
    while (len && (*line == ' ' || *line == '\t')) { line++; len--; }
    e = len;
    while (e && (line[e - 1] == '\r' || line[e - 1] == '\n' || line[e - 1] == ' ' ||
                 line[e - 1] == '\t'))
        e--;
    *v = line;
    *vl = e;
    return 1;
}

static void capture(http_xfer_t *x, const char *name, const char *v, size_t vl) {
    size_t i;
    if (x->ncaptured == HTTP_MAX_CAPTURE || vl > sizeof x->capbuf - x->caplen) return;
    for (i = 0; i < x->ncaptured; i++)
        if (strcmp(x->captured[i].k, name) == 0) return;   /* the first one counts */
    memcpy(x->capbuf + x->caplen, v, vl);
    x->captured[x->ncaptured].k = name;
    x->captured[x->ncaptured].kl = strlen(name);
    x->captured[x->ncaptured].v = x->capbuf + x->caplen;
    x->captured[x->ncaptured].vl = vl;
    x->caplen += vl;
    x->ncaptured++;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    http_xfer_t *x = ud;
    size_t len = size * n, vl;
    const char *v;
    const char *const *c;
    x->got_response = 1;
    x->header_bytes += len;
    if (x->header_bytes > HTTP_MAX_HEADER_BYTES) {
        x->result = HTTP_E_TOO_BIG;
        x->why = "response headers larger than 64 KiB";
        return 0;
    }
    if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* A new response (after 100-continue) replaces the last one. */
        x->content_type[0] = '\0';
        x->ncaptured = x->caplen = 0;
        x->headers_done = 0;
    } else if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
        x->headers_done = 1;
    } else if (header_value(p, len, "content-type", 12, &v, &vl)) {
        if (vl >= sizeof x->content_type) vl = sizeof x->content_type - 1;
        memcpy(x->content_type, v, vl);
        x->content_type[vl] = '\0';
    } else if (x->capture) {
        for (c = x->capture; *c; c++)
            if (header_value(p, len, *c, x->capture_len[c - x->capture], &v, &vl)) {
                capture(x, *c, v, vl);
                break;
            }
    }
    return len;
}

/* ---------------------------------------------------------------- handles --- */

int http_xfer_init(http_xfer_t *x, const http_opts_t *o, char err[HTTP_ERRLEN]) {
    CURL *c;
    CURLcode rc = CURLE_OK;
    size_t i;
    memset(x, 0, sizeof *x);
    x->max_body = o->max_body;
    x->timeout_ms = o->timeout_ms;
    x->capture = o->capture;
    for (i = 0; o->capture && o->capture[i] && i < HTTP_MAX_CAPTURE; i++)
        x->capture_len[i] = strlen(o->capture[i]);
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
    x->set_timeout_ms = o->timeout_ms;
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
    buf_free(&x->lines);
    buf_free(&x->scratch);
    buf_free(&x->url);
    buf_free(&x->body);
}

static int has_control(const char *s, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) return 1;
    return 0;
}

/* "Name: value\0" lines (and "Expect:", which stops libcurl from waiting on
 * 100-continue) into the scratch buffer; the slist is rebuilt only when they differ
 * from what the handle has, which for one client's calls is rare. */
static http_status_t set_headers(http_xfer_t *x, const http_req_t *r) {
    buf_t *s = &x->scratch;
    struct curl_slist *sl = NULL;
    size_t i, off;
    buf_reset(s);
    for (i = 0; i < r->nheaders; i++) {
        const kv_t *h = &r->headers[i];
        if (h->kl == 0 || has_control(h->k, h->kl) || has_control(h->v, h->vl) ||
            memchr(h->k, ':', h->kl)) {
            snprintf(x->errbuf, sizeof x->errbuf, "request header %d has a control "
                     "character or a bad name", (int)i + 1);
            return HTTP_E_REQUEST;
        }
        buf_add(s, h->k, h->kl);
        buf_add(s, ": ", 2);
        buf_add(s, h->v, h->vl);
        buf_addc(s, '\0');
    }
    buf_add(s, "Expect:", 8);
    if (s->oom) return HTTP_E_NOMEM;
    if (x->slist && s->len == x->lines.len && memcmp(s->data, x->lines.data, s->len) == 0)
        return HTTP_OK;
    for (off = 0; off < s->len; off += strlen(s->data + off) + 1) {
        struct curl_slist *n = curl_slist_append(sl, s->data + off);
        if (!n) { curl_slist_free_all(sl); return HTTP_E_NOMEM; }
        sl = n;
    }
    if (curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, sl) != CURLE_OK) {
        curl_slist_free_all(sl);
        return HTTP_E_OTHER;
    }
    curl_slist_free_all(x->slist);
    x->slist = sl;
    { buf_t t = x->lines; x->lines = *s; *s = t; }   /* keep what the slist came from */
    return HTTP_OK;
}

http_status_t http_prepare(http_xfer_t *x, const http_req_t *r) {
    CURL *c = x->easy;
    CURLcode rc = CURLE_OK;
    long timeout = r->timeout_ms > 0 ? r->timeout_ms : x->timeout_ms;
    size_t ul = strlen(r->url);
    http_status_t st;

    buf_reset(&x->body);
    x->status = 0;
    x->content_type[0] = '\0';
    x->ncaptured = x->caplen = 0;
    x->header_bytes = 0;
    x->headers_done = 0;
    x->got_response = 0;
    x->result = HTTP_OK;
    x->why = NULL;
    x->done = 0;
    x->errbuf[0] = '\0';

    if ((st = set_headers(x, r)) != HTTP_OK) return x->result = st;
#define SET(opt, val) if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val)
    /* Setting a URL makes libcurl parse it again: only when it changed (a client's
     * POSTs all go to one URL). */
    if (ul != x->url.len || memcmp(r->url, x->url.data, ul) != 0) {
        buf_reset(&x->url);
        if (buf_add(&x->url, r->url, ul) != 0 || !buf_cstr(&x->url)) return x->result = HTTP_E_NOMEM;
        SET(CURLOPT_URL, x->url.data);
    }
    if (timeout != x->set_timeout_ms) {
        SET(CURLOPT_TIMEOUT_MS, timeout);
        x->set_timeout_ms = timeout;
    }
    if ((r->no_proxy != 0) != x->proxy_off) {
        SET(CURLOPT_NOPROXY, r->no_proxy ? "*" : (char *)NULL);
        x->proxy_off = r->no_proxy != 0;
    }
    /* The method and body as the handle has them are set again only when they changed:
     * a client's calls all send the same method, and its body from the same buffer
     * (libcurl reads CURLOPT_POSTFIELDS at transfer time, it keeps no copy). */
    if (strcmp(r->method, "GET") == 0) {
        if (x->set_method[0] != 'G') {
            SET(CURLOPT_HTTPGET, 1L);
            SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
            strcpy(x->set_method, "GET");
        }
    } else {
        /* POST semantics (a body, maybe empty) with the method named as asked. */
        const char *body = r->body ? r->body : "";
        size_t len = r->body ? r->body_len : 0;
        int custom = strcmp(r->method, "POST") != 0;
        if (x->set_method[0] == 'G' || x->set_method[0] == '\0' || body != x->set_body ||
            len != x->set_body_len) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
            SET(CURLOPT_POSTFIELDS, body);
            x->set_body = body;
            x->set_body_len = len;
        }
        if (strncmp(r->method, x->set_method, sizeof x->set_method) != 0) {
            SET(CURLOPT_CUSTOMREQUEST, custom ? r->method : (char *)NULL);
            snprintf(x->set_method, sizeof x->set_method, "%s", r->method);
        }
    }
#undef SET
    if (rc != CURLE_OK) {
        snprintf(x->errbuf, sizeof x->errbuf, "%s", curl_easy_strerror(rc));
        buf_reset(&x->url);   /* what the handle holds is unknown now */
        x->set_method[0] = '\0';
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
    case CURLE_UNSUPPORTED_PROTOCOL:
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
    if (x->result != HTTP_OK) {
        snprintf(x->errbuf, sizeof x->errbuf, "%s", x->why ? x->why : "transfer stopped");
        return x->result;
    }
    if (!x->errbuf[0]) snprintf(x->errbuf, sizeof x->errbuf, "%s", curl_easy_strerror(rc));
    /* libcurl refuses a header line over its own limit (100 KB) as "out of memory"
     * before our header callback sees it: that is an oversized answer, not our memory. */
    if (rc == CURLE_OUT_OF_MEMORY && x->got_response && !x->headers_done) {
        snprintf(x->errbuf, sizeof x->errbuf, "a response header line is larger than 100 KB");
        return x->result = HTTP_E_TOO_BIG;
    }
    return x->result = classify(rc);
}

http_status_t http_perform(http_xfer_t *x, const http_req_t *r) {
    if (http_prepare(x, r) != HTTP_OK) return x->result;
    return http_finish(x, curl_easy_perform(x->easy));
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
    case HTTP_E_REQUEST:  return "request";
    default:              return "other";
    }
}
