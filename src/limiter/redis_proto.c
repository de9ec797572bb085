/* The pieces both Redis connections share (redis.h): the URL, the script, one
 * decision's command and the check of its reply, and host name lookups that never
 * block anybody (getaddrinfo_a, polled). Nothing here does network I/O. */
#define _GNU_SOURCE   /* getaddrinfo_a */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/evp.h>

#include "redis.h"

/* The decision of limiter.h in microseconds (TIME's resolution; µs since the epoch, and
 * every sum below, stay exact in a double). ARGV: T, tau, N, W, reserve (0/1), max_wait
 * (-1: none). Returns {wait, outcome}, outcome 0 granted, 1 denied, 2 too long
 * (limiter_outcome_t's values). The key's state is one string: a format byte (2), the
 * TAT, then up to 64 grant times, oldest first, each a little-endian double; only the
 * three a decision needs are decoded (the rest is moved as bytes). A value that is not
 * that, or whose TAT, newest or N-th newest grant is out of range or out of order
 * (another type, an older format, garbage such as "1e300"), is treated as absent and
 * replaced at the next grant: only this script writes the key. It expires when its
 * state is forgettable: max(TAT, newest grant + W). */
const char redis_script[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local T, tau = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local N, W = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local reserve, max_wait = ARGV[5] == '1', tonumber(ARGV[6])\n"
    "local MAX, KEEP = 4e15, 64\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local function good(x) return x >= 0 and x <= MAX and x == math.floor(x) end\n"
    "local tat, stored, ring, last, nth = nil, 0, ''\n"
    "local v = redis.pcall('GET', KEYS[1])\n"
    "if type(v) == 'string' and #v >= 9 and #v <= 9 + 8 * KEEP and (#v - 9) % 8 == 0\n"
    "   and v:byte(1) == 2 then\n"
    "  tat, stored, ring = struct.unpack('<d', v, 2), (#v - 9) / 8, v:sub(10)\n"
    "  if stored > 0 then last = struct.unpack('<d', ring, 8 * stored - 7) end\n"
    "  if N > 0 and stored >= N then nth = struct.unpack('<d', ring, 8 * (stored - N) + 1) end\n"
    "  if not (good(tat) and (not last or good(last)) and (not nth or (good(nth) and nth <= last))) then\n"
    "    tat, stored, ring, last, nth = nil, 0, '', nil, nil\n"
    "  end\n"
    "end\n"
    "local t0 = now\n"
    "if tat and tat - tau > t0 then t0 = tat - tau end\n"
    "if last and last > t0 then t0 = last end\n"
    "if nth and nth + W > t0 then t0 = nth + W end\n"
    "if t0 > MAX then t0 = MAX end\n"
    "local wait = t0 - now\n"
    "if wait > 0 and max_wait >= 0 and wait > max_wait then return {wait, 2} end\n"
    "if wait > 0 and not reserve then return {wait, 1} end\n"
    "local nt = ((tat and tat > t0) and tat or t0) + T\n"
    "if nt > MAX then nt = MAX end\n"
    "ring = ring .. struct.pack('<d', t0)\n"
    "if stored >= KEEP then ring = ring:sub(9) end\n"
    "local exp = nt\n"
    "if N > 0 and t0 + W > exp then exp = t0 + W end\n"
    "redis.call('SET', KEYS[1], struct.pack('<Bd', 2, nt) .. ring, 'PX',\n"
    "           math.ceil((exp - now) / 1000))\n"
    "return {wait, 0}\n";
const size_t redis_script_len = sizeof redis_script - 1;

/* ------------------------------------------------------------- URL parsing --- */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into out (cap bytes with the NUL); -1 when malformed/long. */
static int pct_decode(const char *s, size_t n, char *out, size_t cap) {
    size_t i, o = 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n) return -1;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap) return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_uint(const char *s, size_t n, long max, long *out) {
    long v = 0;
    size_t i;
    if (n == 0 || n > 9) return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max) return -1;
    *out = v;
    return 0;
}

/* redis://[USER:PASSWORD@]HOST[:PORT][/DB], HOST a name, an IPv4 address or [IPv6]. */
static int parse_url(redis_conf_t *s, const char *url, const char **why) {
    const char *p = url + 8, *at, *end, *slash, *colon, *hend;
    long port = REDIS_DEFAULT_PORT;
    end = p + strlen(p);
    slash = strchr(p, '/');
    at = NULL;
    /* The userinfo ends at the last '@' before the path. */
    for (colon = p; colon < (slash ? slash : end); colon++)
        if (*colon == '@') at = colon;
    if (at) {
        const char *sep = memchr(p, ':', (size_t)(at - p));
        if (!sep) { *why = "redis URL credentials must be USER:PASSWORD (USER may be empty)"; return -1; }
        if (pct_decode(p, (size_t)(sep - p), s->user, sizeof s->user) != 0 ||
            pct_decode(sep + 1, (size_t)(at - sep - 1), s->pass, sizeof s->pass) != 0) {
            *why = "redis URL credentials are malformed or too long";
            return -1;
        }
        p = at + 1;
    }
    hend = slash ? slash : end;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(hend - p));
        if (!rb || rb == p + 1) { *why = "redis URL has a malformed [IPv6] host"; return -1; }
        if ((size_t)(rb - p - 1) >= sizeof s->host) { *why = "redis URL host is too long"; return -1; }
        memcpy(s->host, p + 1, (size_t)(rb - p - 1));
        s->host[rb - p - 1] = '\0';
        colon = rb + 1 < hend && rb[1] == ':' ? rb + 1 : NULL;
        if (!colon && rb + 1 != hend) { *why = "redis URL has junk after the host"; return -1; }
    } else {
        colon = memchr(p, ':', (size_t)(hend - p));
        if ((colon ? colon : hend) == p) { *why = "redis URL needs a host"; return -1; }
        if ((size_t)((colon ? colon : hend) - p) >= sizeof s->host) { *why = "redis URL host is too long"; return -1; }
        memcpy(s->host, p, (size_t)((colon ? colon : hend) - p));
        s->host[(colon ? colon : hend) - p] = '\0';
    }
    if (colon && (parse_uint(colon + 1, (size_t)(hend - colon - 1), 65535, &port) != 0 || port == 0)) {
        *why = "redis URL port must be 1 to 65535";
        return -1;
    }
    s->port = (int)port;
    s->db = 0;
    if (slash && slash + 1 != end && parse_uint(slash + 1, (size_t)(end - slash - 1), 1000000, &s->db) != 0) {
        *why = "redis URL database must be a number";
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------- the conf --- */

static void wipe(char *p, size_t n) {
    volatile char *v = p;
    while (n--) *v++ = 0;
}

void redis_conf_wipe(redis_conf_t *c) { wipe(c->pass, sizeof c->pass); }

static int script_sha1(char out[41]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    if (EVP_Digest(redis_script, redis_script_len, md, &n, EVP_sha1(), NULL) != 1 || n != 20)
        return -1;
    for (i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

limiter_status_t redis_conf_init(redis_conf_t *c, const char *url, const limiter_opts_t *o,
                                 char *err) {
    double t = o && o->timeout > 0 ? o->timeout : REDIS_DEFAULT_TIMEOUT;
    const char *why = NULL;
    memset(c, 0, sizeof *c);
    if (!(t > 0 && t <= 3600)) {
        snprintf(err, LIMITER_ERRLEN, "redis 'timeout' must be between 0 and 3600 seconds");
        return LIMITER_EARG;
    }
    c->timeout = t;
    if (strncmp(url, "redis://", 8) != 0 || parse_url(c, url, &why) != 0) {
        snprintf(err, LIMITER_ERRLEN, "%s", why ? why : "a redis URL starts with redis://");
        redis_conf_wipe(c);
        return LIMITER_EARG;
    }
    if (script_sha1(c->sha) != 0) {
        snprintf(err, LIMITER_ERRLEN, "limiter: SHA-1 unavailable");
        redis_conf_wipe(c);
        return LIMITER_EFAIL;
    }
    return LIMITER_OK;
}

void redis_conf_name(const redis_conf_t *c, char *out, size_t n) {
    int v6 = strchr(c->host, ':') != NULL;
    snprintf(out, n, "redis://%.63s%s%s%.99s%s:%d/%ld", c->user,
             c->user[0] || c->pass[0] ? ":***@" : "", v6 ? "[" : "", c->host, v6 ? "]" : "",
             c->port, c->db);
}

/* Every message starts with the server it concerns; what and msg are bounded. */
/* What a server said, fit for an error message: it may echo what it was sent (AUTH's
 * password: shown as ***, also when the message ends inside it) and any bytes (a
 * control or non-ASCII byte becomes '?', so the message stays one printable line). */
static void server_text(const redis_conf_t *c, char *out, size_t n, const char *msg,
                        size_t len) {
    size_t plen = strlen(c->pass), i = 0, o = 0;
    while (i < len && o + 4 < n) {
        size_t rest = len - i;
        if (plen && (rest >= plen ? memcmp(msg + i, c->pass, plen) == 0
                                  : rest >= 4 && memcmp(msg + i, c->pass, rest) == 0)) {
            memcpy(out + o, "***", 3);
            o += 3;
            i += rest >= plen ? plen : rest;
            continue;
        }
        out[o++] = (unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] > 0x7e ? '?' : msg[i];
        i++;
    }
    out[o] = '\0';
}

void redis_fail(const redis_conf_t *c, char *err, const char *what, const char *msg, size_t len) {
    char text[124];
    server_text(c, text, sizeof text, msg, len);
    snprintf(err, LIMITER_ERRLEN, "redis %.99s:%d: %.20s%s%s", c->host, c->port, what,
             what[0] ? ": " : "", text);
}

/* ---------------------------------------------------------------- a decision --- */

/* µs: the interval and window rounded up, tolerance and max_wait rounded down (all
 * stricter than asked). */
static void us_arg(char *buf, int64_t ns, int up) {
    snprintf(buf, 24, "%lld", (long long)(up ? (ns + 999) / 1000 : ns / 1000));
}

void redis_req_args(const limiter_req_t *r, char a[6][24]) {
    us_arg(a[0], r->interval_ns, 1);
    us_arg(a[1], r->tau_ns, 0);
    snprintf(a[2], 24, "%d", r->count);
    us_arg(a[3], r->window_ns, 1);
    snprintf(a[4], 24, "%d", r->reserve ? 1 : 0);
    if (r->max_wait_ns < 0) snprintf(a[5], 24, "-1");
    else us_arg(a[5], r->max_wait_ns, 0);
}

void redis_cmd_init(redis_cmd_t *cmd, const char *sha, const char *key, size_t klen,
                    const limiter_req_t *r) {
    int i;
    memcpy(cmd->key, REDIS_KEY_PREFIX, sizeof REDIS_KEY_PREFIX - 1);
    memcpy(cmd->key + sizeof REDIS_KEY_PREFIX - 1, key, klen);
    redis_req_args(r, cmd->a);
    cmd->argv[0] = "EVALSHA"; cmd->argv[1] = sha; cmd->argv[2] = "1"; cmd->argv[3] = cmd->key;
    for (i = 0; i < 6; i++) cmd->argv[4 + i] = cmd->a[i];
    for (i = 0; i < 10; i++)   /* the key is binary and not NUL-terminated */
        cmd->argl[i] = i == 3 ? sizeof REDIS_KEY_PREFIX - 1 + klen : strlen(cmd->argv[i]);
}

void redis_cmd_eval(redis_cmd_t *cmd) {
    cmd->argv[0] = "EVAL"; cmd->argl[0] = 4;
    cmd->argv[1] = redis_script; cmd->argl[1] = redis_script_len;
}

int redis_reply_noscript(const redisReply *rep) {
    return rep->type == REDIS_REPLY_ERROR && rep->len >= 8 && strncmp(rep->str, "NOSCRIPT", 8) == 0;
}

/* Trust nothing: a wait outside what any decision can produce (a server that is not
 * Redis, a proxy, a tampered script cache) is a failure, not a wait. */
const char *redis_reply_decode(const redisReply *rep, limiter_res_t *out, const char **msg,
                               size_t *len) {
    const redisReply *w, *o;
    *msg = NULL;
    if (rep->type == REDIS_REPLY_ERROR) {
        *msg = rep->str;
        *len = rep->len;
        return "error";
    }
    w = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 ? rep->element[0] : NULL;
    o = w ? rep->element[1] : NULL;
    if (!w || w->type != REDIS_REPLY_INTEGER || o->type != REDIS_REPLY_INTEGER ||
        o->integer < 0 || o->integer > 2 || w->integer < 0 ||
        w->integer > LIMITER_WAIT_MAX / 1000)
        return "nonsense reply to the limiter script";
    out->wait_ns = (int64_t)w->integer * 1000;
    out->outcome = (limiter_outcome_t)o->integer;
    return NULL;
}

/* ------------------------------------------------------------------ lookups --- */

int64_t redis_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int redis_numeric(const redis_conf_t *c, char *addr, size_t n) {
    unsigned char bin[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, c->host, bin) == 1 || inet_pton(AF_INET6, c->host, bin) == 1) {
        snprintf(addr, n, "%s", c->host);
        return 1;
    }
    return 0;
}

#ifdef __GLIBC__
struct redis_lookup {
    struct gaicb    cb;
    struct addrinfo hints;
    char            name[100];
    redis_lookup_t *next;
};

/* Lookups glibc's resolver thread may still write to: kept (reachable) until they
 * complete, then freed by a later call. */
static pthread_mutex_t abandoned_lock = PTHREAD_MUTEX_INITIALIZER;
static redis_lookup_t *abandoned;

static void lookup_free(redis_lookup_t *lk) {
    if (lk->cb.ar_result) freeaddrinfo(lk->cb.ar_result);
    free(lk);
}

static void reap(redis_lookup_t *add) {
    redis_lookup_t **p, *done = NULL;
    pthread_mutex_lock(&abandoned_lock);
    for (p = &abandoned; *p; ) {
        if (gai_error(&(*p)->cb) != EAI_INPROGRESS) {
            redis_lookup_t *d = *p;
            *p = d->next;
            d->next = done;
            done = d;
        } else {
            p = &(*p)->next;
        }
    }
    if (add) {
        add->next = abandoned;
        abandoned = add;
    }
    pthread_mutex_unlock(&abandoned_lock);
    while (done) {
        redis_lookup_t *d = done;
        done = d->next;
        lookup_free(d);
    }
}

redis_lookup_t *redis_lookup_start(const redis_conf_t *c, char *err) {
    struct gaicb *list[1];
    redis_lookup_t *lk = calloc(1, sizeof *lk);
    int rc;
    reap(NULL);
    if (!lk) {
        redis_fail(c, err, "resolve", "out of memory", 13);
        return NULL;
    }
    snprintf(lk->name, sizeof lk->name, "%s", c->host);
    lk->hints.ai_socktype = SOCK_STREAM;
    lk->cb.ar_name = lk->name;
    lk->cb.ar_request = &lk->hints;
    list[0] = &lk->cb;
    if ((rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL)) != 0) {
        free(lk);
        redis_fail(c, err, "resolve", gai_strerror(rc), strlen(gai_strerror(rc)));
        return NULL;
    }
    return lk;
}

int redis_lookup_poll(redis_lookup_t *lk, const redis_conf_t *c, char *addr, size_t n,
                      char *err) {
    const struct addrinfo *ai;
    int rc = gai_error(&lk->cb), ok;
    if (rc == EAI_INPROGRESS) return 1;
    ai = lk->cb.ar_result;
    if (rc != 0 || !ai) {
        const char *m = rc == 0 ? "no address" : gai_strerror(rc);
        lookup_free(lk);
        redis_fail(c, err, "resolve", m, strlen(m));
        return -1;
    }
    ok = ai->ai_family == AF_INET6
        ? inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, addr, (socklen_t)n) != NULL
        : inet_ntop(AF_INET, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr, addr, (socklen_t)n) != NULL;
    lookup_free(lk);
    if (!ok) {
        redis_fail(c, err, "resolve", "no usable address", 17);
        return -1;
    }
    return 0;
}

void redis_lookup_wait(redis_lookup_t *lk, int64_t ns) {
    const struct gaicb *list[1];
    struct timespec left;
    if (ns <= 0) return;
    list[0] = &lk->cb;
    left.tv_sec = (time_t)(ns / 1000000000);
    left.tv_nsec = (long)(ns % 1000000000);
    gai_suspend(list, 1, &left);
}

/* A cancelled lookup is ours to free at once; one that runs on is kept until it ends.
 * A forked child must not cancel (glibc's request list is the parent's): its copy
 * never ends, so it stays listed, reachable, and is never freed. */
void redis_lookup_abandon(redis_lookup_t *lk, int cancel) {
    int rc;
    if (!lk) return;
    rc = cancel ? gai_cancel(&lk->cb) : EAI_NOTCANCELED;
    if (rc == EAI_CANCELED || rc == EAI_ALLDONE) lookup_free(lk);   /* glibc is done with it */
    else reap(lk);
}
#else
/* Without getaddrinfo_a the name is resolved at once (blocking, as hiredis would). */
struct redis_lookup {
    char addr[INET6_ADDRSTRLEN];
    char err[LIMITER_ERRLEN];
    int  failed;
};

redis_lookup_t *redis_lookup_start(const redis_conf_t *c, char *err) {
    struct addrinfo hints, *res = NULL;
    redis_lookup_t *lk = calloc(1, sizeof *lk);
    int rc;
    if (!lk) {
        redis_fail(c, err, "resolve", "out of memory", 13);
        return NULL;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(c->host, NULL, &hints, &res)) != 0 || !res) {
        const char *m = rc ? gai_strerror(rc) : "no address";
        redis_fail(c, lk->err, "resolve", m, strlen(m));
        lk->failed = 1;
    } else {
        const void *a = res->ai_family == AF_INET6
            ? (const void *)&((const struct sockaddr_in6 *)res->ai_addr)->sin6_addr
            : (const void *)&((const struct sockaddr_in *)res->ai_addr)->sin_addr;
        if (!inet_ntop(res->ai_family, a, lk->addr, sizeof lk->addr)) {
            redis_fail(c, lk->err, "resolve", "no usable address", 17);
            lk->failed = 1;
        }
    }
    if (res) freeaddrinfo(res);
    return lk;
}

int redis_lookup_poll(redis_lookup_t *lk, const redis_conf_t *c, char *addr, size_t n,
                      char *err) {
    int failed = lk->failed;
    (void)c;
    if (failed) snprintf(err, LIMITER_ERRLEN, "%s", lk->err);
    else snprintf(addr, n, "%s", lk->addr);
    free(lk);
    return failed ? -1 : 0;
}

void redis_lookup_wait(redis_lookup_t *lk, int64_t ns) { (void)lk; (void)ns; }
void redis_lookup_abandon(redis_lookup_t *lk, int cancel) { (void)cancel; free(lk); }
#endif
