/* Limiter store `redis://[USER:PASSWORD@]HOST[:PORT][/DB]`: the state of a whole fleet
 * in one Redis. Each decision is one server-side script (atomic on the server) that
 * reads the server's TIME, so hosts whose clocks disagree still agree on the spacing,
 * and sets an expiry so that idle keys vanish.
 *
 * The connection is synchronous (hiredis), made on the first decision, with connect
 * and command timeouts; a host name is resolved here first, within the same timeout
 * (hiredis's blocking getaddrinfo is not covered by it). Any transport failure drops
 * the connection (a reply may still be in flight), and so does a fork (the child
 * must not read its parent's replies); the next decision reconnects. Failures are
 * returned as messages, never raised; the password appears in none of them, nor in
 * the store's name. */
#define _GNU_SOURCE   /* getaddrinfo_a */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "limiter.h"

#define REDIS_KEY_PREFIX "aliyun-live:"
#define REDIS_DEFAULT_PORT 6379
#define REDIS_DEFAULT_TIMEOUT 1.0

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
static const char script[] =
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

typedef struct redis_store {
    limiter_store_t base;
    redisContext   *c;            /* NULL: connect on the next decision */
    pid_t           pid;          /* the process that made c (a child must not share it) */
    struct timeval  tv;
    int             port;
    long            db;
    char            host[100];
    char            user[64];
    char            pass[256];    /* "" = no AUTH */
    char            sha[41];      /* of `script`, for EVALSHA */
} redis_store_t;

/* Wipe the password before the memory goes back to the allocator. */
static void wipe(char *p, size_t n) {
    volatile char *v = p;
    while (n--) *v++ = 0;
}

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
static int parse_url(redis_store_t *s, const char *url, const char **why) {
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

/* ------------------------------------------------------------- connection --- */

static void drop(redis_store_t *s) {
    if (s->c) redisFree(s->c);
    s->c = NULL;
}

/* Every message starts with the server it concerns; what and msg are bounded. */
static void fail(redis_store_t *s, char *err, const char *what, const char *msg, size_t len) {
    snprintf(err, LIMITER_ERRLEN, "redis %.99s:%d: %.20s%s%.*s", s->host, s->port, what,
             what[0] ? ": " : "", (int)(len > 120 ? 120 : len), msg);
}

/* Describe a failed context; a read that timed out shows as EAGAIN in hiredis 0.14. */
static void context_error(redis_store_t *s, redisContext *c, const char *what, char *err) {
    const char *msg = c && c->err ? c->errstr : "out of memory";
    if (c && c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK ||
                                        errno == EINPROGRESS))
        msg = "timed out";
    fail(s, err, what, msg, strlen(msg));
}

/* Run a command on the fresh context c; -1 with err set unless it answered OK. */
static int setup_command(redis_store_t *s, redisContext *c, const char *what, int argc,
                         const char **argv, char *err) {
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r) { context_error(s, c, what, err); return -1; }
    if (r->type == REDIS_REPLY_ERROR) {
        fail(s, err, what, r->str, r->len);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* ---------------------------------------------------------------- resolving --- */

#ifdef __GLIBC__
/* A lookup glibc's resolver thread may still write to when we stopped waiting: kept
 * (reachable) until it completes, then freed by a later resolve. */
typedef struct lookup {
    struct gaicb    cb;
    struct addrinfo hints;
    char            name[100];
    struct lookup  *next;
} lookup_t;

static pthread_mutex_t abandoned_lock = PTHREAD_MUTEX_INITIALIZER;
static lookup_t *abandoned;

static void lookup_free(lookup_t *lk) {
    if (lk->cb.ar_result) freeaddrinfo(lk->cb.ar_result);
    free(lk);
}

static void reap(lookup_t *add) {
    lookup_t **p, *done = NULL;
    pthread_mutex_lock(&abandoned_lock);
    for (p = &abandoned; *p; ) {
        if (gai_error(&(*p)->cb) != EAI_INPROGRESS) {
            lookup_t *d = *p;
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
        lookup_t *d = done;
        done = d->next;
        lookup_free(d);
    }
}

/* The first address of s->host, as text, waiting at most the store's timeout. */
static int lookup_name(redis_store_t *s, char *addr, size_t n, char *err) {
    struct gaicb *list[1];
    struct timespec now, end, left;
    lookup_t *lk = calloc(1, sizeof *lk);
    int rc;
    reap(NULL);
    if (!lk) {
        fail(s, err, "resolve", "out of memory", 13);
        return -1;
    }
    snprintf(lk->name, sizeof lk->name, "%s", s->host);
    lk->hints.ai_socktype = SOCK_STREAM;
    lk->cb.ar_name = lk->name;
    lk->cb.ar_request = &lk->hints;
    list[0] = &lk->cb;
    if ((rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL)) != 0) {
        free(lk);
        fail(s, err, "resolve", gai_strerror(rc), strlen(gai_strerror(rc)));
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += s->tv.tv_sec;
    end.tv_nsec += (long)s->tv.tv_usec * 1000;
    if (end.tv_nsec >= 1000000000L) { end.tv_sec++; end.tv_nsec -= 1000000000L; }
    while ((rc = gai_error(&lk->cb)) == EAI_INPROGRESS) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        left.tv_sec = end.tv_sec - now.tv_sec;
        left.tv_nsec = end.tv_nsec - now.tv_nsec;
        if (left.tv_nsec < 0) { left.tv_sec--; left.tv_nsec += 1000000000L; }
        if (left.tv_sec < 0) break;
        gai_suspend((const struct gaicb *const *)list, 1, &left);
    }
    if (rc == EAI_INPROGRESS && gai_cancel(&lk->cb) != EAI_CANCELED) {
        reap(lk);   /* still running: not ours to free yet */
        fail(s, err, "resolve", "timed out", 9);
        return -1;
    }
    rc = gai_error(&lk->cb);
    if (rc != 0 || !lk->cb.ar_result) {
        const char *m = rc == EAI_CANCELED ? "timed out" : gai_strerror(rc);
        lookup_free(lk);
        fail(s, err, "resolve", m, strlen(m));
        return -1;
    }
    rc = lk->cb.ar_result->ai_family == AF_INET6
        ? inet_ntop(AF_INET6, &((struct sockaddr_in6 *)lk->cb.ar_result->ai_addr)->sin6_addr, addr, (socklen_t)n) != NULL
        : inet_ntop(AF_INET, &((struct sockaddr_in *)lk->cb.ar_result->ai_addr)->sin_addr, addr, (socklen_t)n) != NULL;
    lookup_free(lk);
    if (!rc) {
        fail(s, err, "resolve", "no usable address", 17);
        return -1;
    }
    return 0;
}
#endif

/* The address to connect to: s->host itself when it is one. */
static int resolve(redis_store_t *s, char *addr, size_t n, char *err) {
    unsigned char bin[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, s->host, bin) == 1 || inet_pton(AF_INET6, s->host, bin) == 1) {
        snprintf(addr, n, "%s", s->host);
        return 0;
    }
#ifdef __GLIBC__
    return lookup_name(s, addr, n, err);
#else
    (void)err;   /* hiredis resolves it, blocking, outside its timeout */
    snprintf(addr, n, "%s", s->host);
    return 0;
#endif
}

static int connect_now(redis_store_t *s, char *err) {
    char addr[sizeof s->host];   /* a numeric host, or INET6_ADDRSTRLEN */
    redisContext *c;
    char db[16];
    if (resolve(s, addr, sizeof addr, err) != 0) return -1;
    c = redisConnectWithTimeout(addr, s->port, s->tv);
    if (!c || c->err) {
        context_error(s, c, "connect", err);
        if (c) redisFree(c);
        return -1;
    }
    if (redisSetTimeout(c, s->tv) != REDIS_OK) {
        context_error(s, c, "set timeout", err);
        redisFree(c);
        return -1;
    }
    if (s->pass[0]) {
        const char *auth2[2] = { "AUTH", s->pass }, *auth3[3] = { "AUTH", s->user, s->pass };
        if (s->user[0] ? setup_command(s, c, "AUTH", 3, auth3, err)
                       : setup_command(s, c, "AUTH", 2, auth2, err)) {
            redisFree(c);
            return -1;
        }
    }
    if (s->db) {
        const char *sel[2] = { "SELECT", db };
        snprintf(db, sizeof db, "%ld", s->db);
        if (setup_command(s, c, "SELECT", 2, sel, err) != 0) {
            redisFree(c);
            return -1;
        }
    }
    s->c = c;
    s->pid = getpid();
    return 0;
}

/* ---------------------------------------------------------------- the ops --- */

/* µs: the interval and window rounded up, tolerance and max_wait rounded down (all
 * stricter than asked). */
static void us_arg(char *buf, int64_t ns, int up) {
    snprintf(buf, 24, "%lld", (long long)(up ? (ns + 999) / 1000 : ns / 1000));
}

/* A fork()ed child must not talk on its parent's connection: the replies would go to
 * whichever process reads first. */
static int ready(redis_store_t *s, char *err) {
    if (s->c && s->pid != getpid()) drop(s);
    return s->c || connect_now(s, err) == 0 ? 0 : -1;
}

static int redis_take(limiter_store_t *base, const char *key, size_t klen,
                      const limiter_req_t *r, limiter_res_t *out, char *err) {
    redis_store_t *s = (redis_store_t *)base;
    char k[sizeof REDIS_KEY_PREFIX + LIMITER_KEY_MAX], a[6][24];
    const char *argv[10];
    size_t argl[10];
    redisReply *rep, *w, *o;
    int i, attempt;

    memcpy(k, REDIS_KEY_PREFIX, sizeof REDIS_KEY_PREFIX - 1);
    memcpy(k + sizeof REDIS_KEY_PREFIX - 1, key, klen);
    us_arg(a[0], r->interval_ns, 1);
    us_arg(a[1], r->tau_ns, 0);
    snprintf(a[2], 24, "%d", r->count);
    us_arg(a[3], r->window_ns, 1);
    snprintf(a[4], 24, "%d", r->reserve ? 1 : 0);
    if (r->max_wait_ns < 0) snprintf(a[5], 24, "-1");
    else us_arg(a[5], r->max_wait_ns, 0);
    argv[0] = "EVALSHA"; argv[1] = s->sha; argv[2] = "1"; argv[3] = k;
    for (i = 0; i < 6; i++) argv[4 + i] = a[i];
    for (i = 0; i < 10; i++)   /* the key is binary and not NUL-terminated */
        argl[i] = i == 3 ? sizeof REDIS_KEY_PREFIX - 1 + klen : strlen(argv[i]);

    if (ready(s, err) != 0) return -1;
    for (attempt = 0; ; attempt++) {
        rep = redisCommandArgv(s->c, 10, argv, argl);
        if (!rep) {
            context_error(s, s->c, "script", err);
            drop(s);
            return -1;
        }
        /* The server forgot the script (restart, SCRIPT FLUSH): send it in full once;
         * EVAL caches it again for the following EVALSHAs. */
        if (attempt == 0 && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(rep);
            argv[0] = "EVAL"; argl[0] = 4;
            argv[1] = script; argl[1] = sizeof script - 1;
            continue;
        }
        break;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        fail(s, err, "", rep->str, rep->len);
        freeReplyObject(rep);
        return -1;
    }
    /* Trust nothing: a wait outside what any decision can produce (a server that is
     * not Redis, a proxy, a tampered script cache) is a failure, not a wait. */
    w = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 ? rep->element[0] : NULL;
    o = w ? rep->element[1] : NULL;
    if (!w || w->type != REDIS_REPLY_INTEGER || o->type != REDIS_REPLY_INTEGER ||
        o->integer < 0 || o->integer > 2 || w->integer < 0 ||
        w->integer > LIMITER_WAIT_MAX / 1000) {
        fail(s, err, "", "nonsense reply to the limiter script", 36);
        freeReplyObject(rep);
        return -1;
    }
    out->wait_ns = (int64_t)w->integer * 1000;
    out->outcome = (limiter_outcome_t)o->integer;
    freeReplyObject(rep);
    return 0;
}

static int redis_reset(limiter_store_t *base, const char *key, size_t klen, char *err) {
    redis_store_t *s = (redis_store_t *)base;
    char k[sizeof REDIS_KEY_PREFIX + LIMITER_KEY_MAX];
    const char *argv[2] = { "DEL", k };
    size_t argl[2] = { 3, sizeof REDIS_KEY_PREFIX - 1 + klen };
    redisReply *rep;
    memcpy(k, REDIS_KEY_PREFIX, sizeof REDIS_KEY_PREFIX - 1);
    memcpy(k + sizeof REDIS_KEY_PREFIX - 1, key, klen);
    if (ready(s, err) != 0) return -1;
    if (!(rep = redisCommandArgv(s->c, 2, argv, argl))) {
        context_error(s, s->c, "DEL", err);
        drop(s);
        return -1;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        fail(s, err, "", rep->str, rep->len);
        freeReplyObject(rep);
        return -1;
    }
    freeReplyObject(rep);
    return 0;
}

static void redis_close(limiter_store_t *base) {
    redis_store_t *s = (redis_store_t *)base;
    drop(s);
    wipe(s->pass, sizeof s->pass);
    free(s);
}

static const limiter_ops_t redis_ops = { redis_take, redis_reset, redis_close };

static int script_sha1(char out[41]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    if (EVP_Digest(script, sizeof script - 1, md, &n, EVP_sha1(), NULL) != 1 || n != 20)
        return -1;
    for (i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

limiter_status_t limiter_redis_open(const char *url, const limiter_opts_t *o,
                                    limiter_store_t **out, char *err) {
    double t = o && o->timeout > 0 ? o->timeout : REDIS_DEFAULT_TIMEOUT;
    const char *why = NULL;
    redis_store_t *s;
    if (!(t > 0 && t <= 3600)) {
        snprintf(err, LIMITER_ERRLEN, "redis 'timeout' must be between 0 and 3600 seconds");
        return LIMITER_EARG;
    }
    if (!(s = calloc(1, sizeof *s))) {
        snprintf(err, LIMITER_ERRLEN, "limiter: out of memory");
        return LIMITER_EFAIL;
    }
    s->base.ops = &redis_ops;
    if (parse_url(s, url, &why) != 0) {
        snprintf(err, LIMITER_ERRLEN, "%s", why);
        redis_close(&s->base);
        return LIMITER_EARG;
    }
    if (script_sha1(s->sha) != 0) {
        snprintf(err, LIMITER_ERRLEN, "limiter: SHA-1 unavailable");
        redis_close(&s->base);
        return LIMITER_EFAIL;
    }
    s->tv.tv_sec = (time_t)t;
    s->tv.tv_usec = (suseconds_t)((t - floor(t)) * 1e6);
    snprintf(s->base.name, sizeof s->base.name, "redis://%.63s%s%s%.99s%s:%d/%ld",
             s->user, s->user[0] || s->pass[0] ? ":***@" : "", strchr(s->host, ':') ? "[" : "",
             s->host, strchr(s->host, ':') ? "]" : "", s->port, s->db);
    *out = &s->base;
    return LIMITER_OK;
}
