/* faultserver: a loopback HTTP/1.1 server that answers API requests badly on purpose,
 * for spec/30-faults_spec.lua.
 *
 *   faultserver [--port N] [--fault NAME] [--retry-after MS]
 *
 * Listens on 127.0.0.1 (port 0 = any free one), prints "listening on
 * http://127.0.0.1:PORT" once ready and stops on SIGTERM/SIGINT. One thread per
 * connection.
 *
 * The client sends every API request to "/" (parameters in the query or a form body),
 * so the fault is server state, not part of the request: `--fault NAME` sets it at
 * start, and the control request
 *
 *   GET /__fault/NAME[?retry_after=MS][&echo=TEXT]
 *
 * sets it for every API request after it (and zeroes the counters). `echo` is extra
 * text (percent-decoded) the "echo" fault copies into its answer. `GET /__stats`
 * answers {"fault":…, "requests":N, "connections":M, "opened":K}: API requests
 * answered and connections that carried at least one, since the last /__fault, and
 * connections that ever carried one (never zeroed: a client that keeps its connection
 * alive does not raise it). Control answers close their connection; every other path
 * is an API request.
 *
 * Faults (what an API request gets):
 *   ok             200, a success body in the format asked (Format=XML or JSON)
 *   reset          the request is read, then the connection is reset (RST)
 *   reset-body     headers and part of the body, then RST
 *   hang           the request is read, then silence until the client goes away
 *   trickle        headers, then one body byte every 200 ms, forever
 *   short          Content-Length 1000 but 40 bytes of body, then close
 *   huge           Content-Length 50 MB, streamed
 *   huge-chunked   50 MB chunked, without Content-Length
 *   huge-header    200 with one 200 KB response header, then a small body
 *   html502        a gateway's HTML 502 page
 *   text200        200 text/plain "OK"
 *   no-request-id  200 JSON without RequestId
 *   xml200         200 XML success whatever format was asked
 *   bad-utf8       200 JSON with invalid UTF-8 inside a string
 *   unknown-code   400 JSON error with a Code no SDK knows
 *   retry-after    503 JSON ServiceUnavailable with x-acs-retry-after (default 300 ms)
 *   echo           400 JSON SignatureDoesNotMatch echoing the raw request (query and
 *                  body) and the `echo` text in Message, HostId, Recommend and a
 *                  nested object, as servers echo their string to sign
 * Complete answers keep the connection alive (unless the client asks otherwise). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD   (64 * 1024)
#define MAX_BODY   (1024 * 1024)
#define HUGE_BYTES (50L * 1024 * 1024)

/* ------------------------------------------------------------------ fault state --- */

static const char *const fault_names[] = {
    "ok", "reset", "reset-body", "hang", "trickle", "short", "huge", "huge-chunked",
    "html502", "text200", "no-request-id", "xml200", "bad-utf8", "unknown-code",
    "retry-after", "echo", "huge-header", NULL
};
enum {
    FLT_OK, FLT_RESET, FLT_RESET_BODY, FLT_HANG, FLT_TRICKLE, FLT_SHORT, FLT_HUGE, FLT_HUGE_CHUNKED,
    FLT_HTML502, FLT_TEXT200, FLT_NO_REQUEST_ID, FLT_XML200, FLT_BAD_UTF8, FLT_UNKNOWN_CODE,
    FLT_RETRY_AFTER, FLT_ECHO, FLT_HUGE_HEADER
};

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static int   cur_fault = FLT_OK;
static long  cur_retry_after = 300;
static char  cur_echo[1024];
static long  n_requests, n_connections, n_opened, n_ids, generation = 1;
static int   stop_pipe[2] = { -1, -1 };

static int fault_by_name(const char *s, size_t n) {
    int i;
    for (i = 0; fault_names[i]; i++)
        if (strlen(fault_names[i]) == n && memcmp(fault_names[i], s, n) == 0) return i;
    return -1;
}

/* ------------------------------------------------------------------ socket I/O --- */

static int send_all(int fd, const void *p, size_t n) {
    const char *s = p;
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static void sleep_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Close with an RST instead of a FIN. */
static void reset_close(int fd) {
    struct linger l = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

/* Wait until the peer closes (or anything arrives, which we drop). */
static void hold_until_peer_closes(int fd) {
    char junk[4096];
    struct pollfd p = { fd, POLLIN, 0 };
    for (;;) {
        int r = poll(&p, 1, -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return;
        if (recv(fd, junk, sizeof junk, 0) <= 0) return;
    }
}

/* ------------------------------------------------------------------- requests --- */

typedef struct conn {
    int    fd;
    char   buf[MAX_HEAD + 1];
    size_t len;                   /* bytes in buf, the next request's start at 0 */
    char  *body;                  /* the current request's body (malloc'ed) */
    size_t body_len;
    long   counted;               /* generation in which it last carried an API request */
    int    opened;                /* it carried one at all */
} conn_t;

typedef struct request {
    char   method[16];
    char   target[2048];
    int    close;                 /* Connection: close */
} request_t;

/* Case-insensitive search for header `name` in the head; value copied into out. */
static int header(const char *head, const char *name, char *out, size_t outlen) {
    size_t nl = strlen(name);
    const char *p = strstr(head, "\r\n");
    while (p && p[2] != '\r') {
        const char *line = p + 2, *end = strstr(line, "\r\n");
        if (!end) break;
        if ((size_t)(end - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            size_t vl;
            while (v < end && (*v == ' ' || *v == '\t')) v++;
            vl = (size_t)(end - v);
            if (vl >= outlen) vl = outlen - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
        p = end;
    }
    return 0;
}

/* Read one request (head and Content-Length body). 0 = got one, -1 = closed/broken. */
static int read_request(conn_t *c, request_t *r) {
    char *end, value[64];
    size_t head_len, need;
    long cl = 0;
    free(c->body);
    c->body = NULL;
    c->body_len = 0;
    while (!(c->buf[c->len] = '\0', end = strstr(c->buf, "\r\n\r\n"))) {
        ssize_t n;
        if (c->len >= MAX_HEAD) return -1;
        n = recv(c->fd, c->buf + c->len, MAX_HEAD - c->len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        c->len += (size_t)n;
    }
    head_len = (size_t)(end - c->buf) + 4;
    end[2] = '\0';                            /* head ends with its last "\r\n" */
    if (sscanf(c->buf, "%15s %2047s", r->method, r->target) != 2) return -1;
    r->close = header(c->buf, "Connection", value, sizeof value) &&
               strcasecmp(value, "close") == 0;
    if (header(c->buf, "Content-Length", value, sizeof value)) cl = strtol(value, NULL, 10);
    if (cl < 0 || cl > MAX_BODY) return -1;
    if (header(c->buf, "Expect", value, sizeof value) && strcasecmp(value, "100-continue") == 0 &&
        c->len - head_len < (size_t)cl) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (send_all(c->fd, cont, sizeof cont - 1) != 0) return -1;
    }
    need = (size_t)cl;
    c->body = malloc(need + 1);
    if (!c->body) return -1;
    c->body_len = c->len - head_len < need ? c->len - head_len : need;
    memcpy(c->body, c->buf + head_len, c->body_len);
    while (c->body_len < need) {
        ssize_t n = recv(c->fd, c->body + c->body_len, need - c->body_len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        c->body_len += (size_t)n;
    }
    c->body[c->body_len] = '\0';
    /* Keep what follows (a pipelined request) at the start of buf. */
    {
        size_t used = head_len + (c->len - head_len < need ? c->len - head_len : need);
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
    }
    return 0;
}

static int hexval(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Value of query/form parameter `name` in s ("a=b&c=d"), percent-decoded. */
static int param(const char *s, const char *name, char *out, size_t outlen) {
    size_t nl = strlen(name);
    while (s && *s) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        if (len > nl && strncmp(s, name, nl) == 0 && s[nl] == '=') {
            size_t i, o = 0;
            for (i = nl + 1; i < len && o + 1 < outlen; i++) {
                int hi, lo;
                if (s[i] == '%' && i + 2 < len &&
                    (hi = hexval(s[i + 1])) >= 0 && (lo = hexval(s[i + 2])) >= 0) {
                    out[o++] = (char)(hi * 16 + lo);
                    i += 2;
                } else {
                    out[o++] = s[i] == '+' ? ' ' : s[i];
                }
            }
            out[o] = '\0';
            return 1;
        }
        s = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* ------------------------------------------------------------------- answers --- */

static int respond(int fd, int status, const char *reason, const char *ctype,
                   const char *body, size_t len, const char *extra, int keep) {
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "%sConnection: %s\r\n\r\n",
                     status, reason, ctype, len, extra ? extra : "",
                     keep ? "keep-alive" : "close");
    if (n < 0 || (size_t)n >= sizeof head) return -1;
    if (send_all(fd, head, (size_t)n) != 0) return -1;
    return send_all(fd, body, len);
}

/* Append s to out as the inside of a JSON string. */
static size_t json_escape(char *out, size_t cap, const char *s) {
    size_t o = 0;
    for (; *s && o + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') { out[o++] = '\\'; out[o++] = (char)ch; }
        else if (ch < 0x20) o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
        else out[o++] = (char)ch;
    }
    out[o] = '\0';
    return o;
}

static const char html_502[] =
    "<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n"
    "<body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>Tengine</center>\n"
    "</body>\n</html>\n";

/* Answer one API request according to the fault. Returns 1 to keep the connection,
 * 0 when it was closed here (or must be). */
static int answer(conn_t *c, const request_t *r) {
    char rid[64], body[8192], extra[128], fmt[16] = "JSON";
    const char *q = strchr(r->target, '?');
    int fault, keep = !r->close, n;
    long retry_after, id;
    char echo[sizeof cur_echo];

    pthread_mutex_lock(&state_lock);
    fault = cur_fault;
    retry_after = cur_retry_after;
    memcpy(echo, cur_echo, sizeof echo);
    id = ++n_ids;
    n_requests++;
    if (c->counted != generation) { c->counted = generation; n_connections++; }
    if (!c->opened) { c->opened = 1; n_opened++; }
    pthread_mutex_unlock(&state_lock);

    snprintf(rid, sizeof rid, "FA17%04lX-0000-4000-8000-%012lX", id & 0xFFFF, id);
    if (!param(q ? q + 1 : NULL, "Format", fmt, sizeof fmt))
        param(c->body, "Format", fmt, sizeof fmt);

    switch (fault) {
    case FLT_OK:
        if (strcmp(fmt, "XML") == 0) {
            n = snprintf(body, sizeof body, "<?xml version='1.0' encoding='UTF-8'?>"
                         "<ResumeLiveStreamResponse><RequestId>%s</RequestId>"
                         "</ResumeLiveStreamResponse>", rid);
            return respond(c->fd, 200, "OK", "text/xml;charset=utf-8", body, (size_t)n,
                           NULL, keep) == 0 && keep;
        }
        n = snprintf(body, sizeof body, "{\"RequestId\":\"%s\"}", rid);
        return respond(c->fd, 200, "OK", "application/json;charset=utf-8", body, (size_t)n,
                       NULL, keep) == 0 && keep;

    case FLT_RESET:
        reset_close(c->fd);
        c->fd = -1;
        return 0;

    case FLT_RESET_BODY:
        n = snprintf(body, sizeof body, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: 200\r\n\r\n{\"RequestId\":\"%s\",\"Pad", rid);
        send_all(c->fd, body, (size_t)n);
        sleep_ms(50);                         /* let the client read the part first */
        reset_close(c->fd);
        c->fd = -1;
        return 0;

    case FLT_HANG:
        hold_until_peer_closes(c->fd);
        return 0;

    case FLT_TRICKLE: {
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   "Content-Length: 100000\r\n\r\n{";
        if (send_all(c->fd, head, sizeof head - 1) != 0) return 0;
        for (;;) {
            sleep_ms(200);
            if (send_all(c->fd, " ", 1) != 0) return 0;
        }
    }

    case FLT_SHORT:
        n = snprintf(body, sizeof body, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: 1000\r\n\r\n{\"RequestId\":\"%s\"", rid);
        send_all(c->fd, body, (size_t)n);
        return 0;                             /* closed with a FIN by the caller */

    case FLT_HUGE:
    case FLT_HUGE_CHUNKED: {
        char chunk[65536 + 16];
        long sent = 0;
        int chunked = fault == FLT_HUGE_CHUNKED;
        n = snprintf(body, sizeof body, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "%s\r\n", chunked ? "Transfer-Encoding: chunked\r\n"
                                       : "Content-Length: 52428800\r\n");
        if (send_all(c->fd, body, (size_t)n) != 0) return 0;
        while (sent < HUGE_BYTES) {
            size_t off = 0;
            if (chunked) off = (size_t)snprintf(chunk, sizeof chunk, "10000\r\n");
            memset(chunk + off, ' ', 65536);
            if (sent == 0) chunk[off] = '{';
            off += 65536;
            if (chunked) { chunk[off++] = '\r'; chunk[off++] = '\n'; }
            if (send_all(c->fd, chunk, off) != 0) return 0;
            sent += 65536;
        }
        if (chunked) send_all(c->fd, "0\r\n\r\n", 5);
        return 0;
    }

    case FLT_HUGE_HEADER: {
        size_t cap = 200 * 1024 + 64, off;
        char *line = malloc(cap);   /* one connection per thread: no shared buffer */
        if (!line) return 0;
        off = (size_t)snprintf(line, cap, "HTTP/1.1 200 OK\r\nX-Padding: ");
        memset(line + off, 'p', 200 * 1024);
        off += 200 * 1024;
        off += (size_t)snprintf(line + off, cap - off, "\r\nContent-Length: 2\r\n\r\n{}");
        send_all(c->fd, line, off);
        free(line);
        return 0;
    }

    case FLT_HTML502:
        return respond(c->fd, 502, "Bad Gateway", "text/html", html_502, sizeof html_502 - 1,
                       NULL, keep) == 0 && keep;

    case FLT_TEXT200:
        return respond(c->fd, 200, "OK", "text/plain", "OK", 2, NULL, keep) == 0 && keep;

    case FLT_NO_REQUEST_ID:
        n = snprintf(body, sizeof body, "{\"Status\":\"ok\",\"Id\":\"%s\"}", rid);
        return respond(c->fd, 200, "OK", "application/json", body, (size_t)n, NULL, keep) == 0
               && keep;

    case FLT_XML200:
        n = snprintf(body, sizeof body, "<?xml version='1.0' encoding='UTF-8'?>"
                     "<ResumeLiveStreamResponse><RequestId>%s</RequestId>"
                     "</ResumeLiveStreamResponse>", rid);
        return respond(c->fd, 200, "OK", "text/xml", body, (size_t)n, NULL, keep) == 0 && keep;

    case FLT_BAD_UTF8:
        n = snprintf(body, sizeof body, "{\"RequestId\":\"%s\",\"Note\":\"caf\xC3(\xFF\xFE\"}",
                     rid);
        return respond(c->fd, 200, "OK", "application/json", body, (size_t)n, NULL, keep) == 0
               && keep;

    case FLT_UNKNOWN_CODE:
        n = snprintf(body, sizeof body, "{\"RequestId\":\"%s\",\"HostId\":\"live.aliyuncs.com\","
                     "\"Code\":\"Fault.NeverSeenBefore\",\"Message\":\"An error code no SDK "
                     "knows.\"}", rid);
        return respond(c->fd, 400, "Bad Request", "application/json", body, (size_t)n, NULL,
                       keep) == 0 && keep;

    case FLT_RETRY_AFTER:
        n = snprintf(body, sizeof body, "{\"RequestId\":\"%s\",\"HostId\":\"live.aliyuncs.com\","
                     "\"Code\":\"ServiceUnavailable\",\"Message\":\"The request has failed due "
                     "to a temporary failure of the server.\"}", rid);
        snprintf(extra, sizeof extra, "x-acs-retry-after: %ld\r\n", retry_after);
        return respond(c->fd, 503, "Service Unavailable", "application/json", body, (size_t)n,
                       extra, keep) == 0 && keep;

    case FLT_ECHO: {
        /* Everything the client sent that could carry a secret, plus the echo text,
         * JSON-escaped (at most 6 bytes per byte) and repeated in five places. */
        static const size_t rawcap = 4096, esccap = 6 * 4096 + 1;
        char *raw = malloc(rawcap), *esc = malloc(esccap), *big = malloc(6 * esccap + 512);
        int ok = 0;
        if (raw && esc && big) {
            snprintf(raw, rawcap, "%s %s&%s %s", r->method, r->target,
                     c->body ? c->body : "", echo);
            json_escape(esc, esccap, raw);
            n = snprintf(big, 6 * esccap + 512, "{\"RequestId\":\"%s\",\"HostId\":\"%s\","
                         "\"Code\":\"SignatureDoesNotMatch\",\"Message\":\"Specified "
                         "signature is not matched with our calculation. server string to "
                         "sign is:%s\",\"Recommend\":\"%s\",\"Detail\":{\"StringToSign\":"
                         "\"%s\",\"List\":[\"%s\"]}}", rid, esc, esc, esc, esc, esc);
            ok = n > 0 && respond(c->fd, 400, "Bad Request", "application/json", big,
                                  (size_t)n, NULL, keep) == 0;
        }
        free(raw);
        free(esc);
        free(big);
        return ok && keep;
    }
    }
    return 0;
}

/* /__fault/NAME[?…] and /__stats. Returns 0 (the connection is closed after). */
static void control(conn_t *c, const request_t *r) {
    char body[512], value[64];
    int n;
    if (strncmp(r->target, "/__fault/", 9) == 0) {
        const char *name = r->target + 9, *q = strchr(name, '?');
        int f = fault_by_name(name, q ? (size_t)(q - name) : strlen(name));
        if (f < 0) {
            respond(c->fd, 404, "Not Found", "text/plain", "unknown fault\n", 14, NULL, 0);
            return;
        }
        pthread_mutex_lock(&state_lock);
        cur_fault = f;
        cur_retry_after = 300;
        cur_echo[0] = '\0';
        if (q && param(q + 1, "retry_after", value, sizeof value))
            cur_retry_after = strtol(value, NULL, 10);
        if (q) param(q + 1, "echo", cur_echo, sizeof cur_echo);
        n_requests = n_connections = 0;
        generation++;
        pthread_mutex_unlock(&state_lock);
        n = snprintf(body, sizeof body, "fault %s\n", fault_names[f]);
        respond(c->fd, 200, "OK", "text/plain", body, (size_t)n, NULL, 0);
    } else {
        pthread_mutex_lock(&state_lock);
        n = snprintf(body, sizeof body, "{\"fault\":\"%s\",\"requests\":%ld,"
                     "\"connections\":%ld,\"opened\":%ld}",
                     fault_names[cur_fault], n_requests, n_connections, n_opened);
        pthread_mutex_unlock(&state_lock);
        respond(c->fd, 200, "OK", "application/json", body, (size_t)n, NULL, 0);
    }
}

static void *serve(void *arg) {
    conn_t *c = arg;
    request_t r;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    while (read_request(c, &r) == 0) {
        if (strncmp(r.target, "/__fault/", 9) == 0 || strcmp(r.target, "/__stats") == 0) {
            control(c, &r);
            break;
        }
        if (!answer(c, &r)) break;
    }
    if (c->fd >= 0) close(c->fd);
    free(c->body);
    free(c);
    return NULL;
}

/* ---------------------------------------------------------------------- main --- */

static void on_signal(int sig) {
    char b = (char)sig;
    ssize_t w = write(stop_pipe[1], &b, 1);
    (void)w;
}

static void usage(void) {
    fprintf(stderr, "usage: faultserver [--port N] [--fault NAME] [--retry-after MS]\n");
    exit(2);
}

int main(int argc, char **argv) {
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    struct sigaction sa;
    pthread_attr_t attr;
    int lfd, one = 1, i;
    long port = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--fault") == 0 && i + 1 < argc) {
            i++;
            if ((cur_fault = fault_by_name(argv[i], strlen(argv[i]))) < 0) usage();
        } else if (strcmp(argv[i], "--retry-after") == 0 && i + 1 < argc)
            cur_retry_after = strtol(argv[++i], NULL, 10);
        else usage();
    }
    if (port < 0 || port > 65535) usage();

    if (pipe(stop_pipe) != 0) { perror("pipe"); return 1; }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) { perror("socket"); return 1; }
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
        perror("bind/listen");
        return 1;
    }
    printf("listening on http://127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        struct pollfd p[2] = { { lfd, POLLIN, 0 }, { stop_pipe[0], POLLIN, 0 } };
        conn_t *c;
        pthread_t t;
        int fd;
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            perror("poll");
            return 1;
        }
        if (p[1].revents) break;
        if (!(p[0].revents & POLLIN)) continue;
        fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        c = calloc(1, sizeof *c);
        if (!c) { close(fd); continue; }
        c->fd = fd;
        if (pthread_create(&t, &attr, serve, c) != 0) { close(fd); free(c); }
    }
    close(lfd);
    return 0;   /* connection threads end with the process */
}
