/* Limiter store `redis://[USER:PASSWORD@]HOST[:PORT][/DB]`: the state of a whole fleet
 * in one Redis. Each decision is one server-side script (atomic on the server) that
 * reads the server's TIME, so hosts whose clocks disagree still agree on the spacing,
 * and sets an expiry so that idle keys vanish (redis_proto.c).
 *
 * A store has two connections, each made when first needed. take/reset use the
 * synchronous one (here): hiredis with connect and command timeouts, a host name
 * resolved first within the same timeout (hiredis's blocking getaddrinfo is not
 * covered by it). send/pump/collect use the non-blocking one (redis_async.c), for
 * callers that must never wait. Any transport failure drops the connection (a reply
 * may still be in flight), and so does a fork (the child must not read its parent's
 * replies); the next decision reconnects. Failures are returned as messages, never
 * raised; the password appears in none of them, nor in the store's name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include "redis.h"

typedef struct redis_store {
    limiter_store_t base;
    redis_conf_t    conf;
    redisContext   *c;            /* NULL: connect on the next decision */
    pid_t           pid;          /* the process that made c (a child must not share it) */
    redis_async_t  *async;        /* the non-blocking connection, made by the first send */
} redis_store_t;

/* ------------------------------------------------------------- connection --- */

static void drop(redis_store_t *s) {
    if (s->c) redisFree(s->c);
    s->c = NULL;
}

/* Describe a failed context; a read that timed out shows as EAGAIN in hiredis 0.14. */
static void context_error(redis_store_t *s, redisContext *c, const char *what, char *err) {
    const char *msg = c && c->err ? c->errstr : "out of memory";
    if (c && c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK ||
                                        errno == EINPROGRESS))
        msg = "timed out";
    redis_fail(&s->conf, err, what, msg, strlen(msg));
}

/* Run a command on the fresh context c; -1 with err set unless it answered OK. */
static int setup_command(redis_store_t *s, redisContext *c, const char *what, int argc,
                         const char **argv, char *err) {
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r) { context_error(s, c, what, err); return -1; }
    if (r->type == REDIS_REPLY_ERROR) {
        redis_fail(&s->conf, err, what, r->str, r->len);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* The address to connect to, waiting at most the store's timeout for a lookup. */
static int resolve(redis_store_t *s, char *addr, size_t n, char *err) {
    redis_lookup_t *lk;
    int64_t end = redis_now_ns() + (int64_t)(s->conf.timeout * 1e9);
    int rc;
    if (redis_numeric(&s->conf, addr, n)) return 0;
    if (!(lk = redis_lookup_start(&s->conf, err))) return -1;
    while ((rc = redis_lookup_poll(lk, &s->conf, addr, n, err)) == 1) {
        int64_t left = end - redis_now_ns();
        if (left <= 0) {
            redis_lookup_abandon(lk, 1);
            redis_fail(&s->conf, err, "resolve", "timed out", 9);
            return -1;
        }
        redis_lookup_wait(lk, left);
    }
    return rc;
}

static int connect_now(redis_store_t *s, char *err) {
    char addr[sizeof s->conf.host];   /* a numeric host, or INET6_ADDRSTRLEN */
    redisContext *c;
    struct timeval tv;
    char db[16];
    if (resolve(s, addr, sizeof addr, err) != 0) return -1;
    tv.tv_sec = (time_t)s->conf.timeout;
    tv.tv_usec = (suseconds_t)((s->conf.timeout - (double)tv.tv_sec) * 1e6);
    c = redisConnectWithTimeout(addr, s->conf.port, tv);
    if (!c || c->err) {
        context_error(s, c, "connect", err);
        if (c) redisFree(c);
        return -1;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        context_error(s, c, "set timeout", err);
        redisFree(c);
        return -1;
    }
    if (s->conf.pass[0]) {
        const char *auth2[2] = { "AUTH", s->conf.pass };
        const char *auth3[3] = { "AUTH", s->conf.user, s->conf.pass };
        if (s->conf.user[0] ? setup_command(s, c, "AUTH", 3, auth3, err)
                            : setup_command(s, c, "AUTH", 2, auth2, err)) {
            redisFree(c);
            return -1;
        }
    }
    if (s->conf.db) {
        const char *sel[2] = { "SELECT", db };
        snprintf(db, sizeof db, "%ld", s->conf.db);
        if (setup_command(s, c, "SELECT", 2, sel, err) != 0) {
            redisFree(c);
            return -1;
        }
    }
    s->c = c;
    s->pid = getpid();
    return 0;
}

/* A fork()ed child must not talk on its parent's connection: the replies would go to
 * whichever process reads first. */
static int ready(redis_store_t *s, char *err) {
    if (s->c && s->pid != getpid()) drop(s);
    return s->c || connect_now(s, err) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------ blocking ops --- */

static int redis_take(limiter_store_t *base, const char *key, size_t klen,
                      const limiter_req_t *r, limiter_res_t *out, char *err) {
    redis_store_t *s = (redis_store_t *)base;
    redis_cmd_t cmd;
    redisReply *rep;
    const char *bad, *msg;
    size_t len = 0;
    int attempt;

    redis_cmd_init(&cmd, s->conf.sha, key, klen, r);
    if (ready(s, err) != 0) return -1;
    for (attempt = 0; ; attempt++) {
        rep = redisCommandArgv(s->c, 10, cmd.argv, cmd.argl);
        if (!rep) {
            context_error(s, s->c, "script", err);
            drop(s);
            return -1;
        }
        /* The server forgot the script (restart, SCRIPT FLUSH): send it in full once;
         * EVAL caches it again for the following EVALSHAs. */
        if (attempt == 0 && redis_reply_noscript(rep)) {
            freeReplyObject(rep);
            redis_cmd_eval(&cmd);
            continue;
        }
        break;
    }
    bad = redis_reply_decode(rep, out, &msg, &len);
    if (bad) redis_fail(&s->conf, err, "", msg ? msg : bad, msg ? len : strlen(bad));
    freeReplyObject(rep);
    return bad ? -1 : 0;
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
        redis_fail(&s->conf, err, "", rep->str, rep->len);
        freeReplyObject(rep);
        return -1;
    }
    freeReplyObject(rep);
    return 0;
}

static void redis_close(limiter_store_t *base) {
    redis_store_t *s = (redis_store_t *)base;
    drop(s);
    redis_async_free(s->async);
    redis_conf_wipe(&s->conf);
    free(s);
}

/* -------------------------------------------------------- non-blocking ops --- */

static int redis_send(limiter_store_t *base, const char *key, size_t klen,
                      const limiter_req_t *r, uint64_t *ticket, char *err) {
    redis_store_t *s = (redis_store_t *)base;
    if (!s->async && !(s->async = redis_async_new(&s->conf))) {
        snprintf(err, LIMITER_ERRLEN, "limiter: out of memory");
        return -1;
    }
    return redis_async_send(s->async, key, klen, r, ticket, err);
}

static void redis_pump(limiter_store_t *base) {
    redis_store_t *s = (redis_store_t *)base;
    if (s->async) redis_async_pump(s->async);
}

static int redis_collect(limiter_store_t *base, uint64_t ticket, limiter_req_t *r,
                         limiter_res_t *out, char *err) {
    redis_store_t *s = (redis_store_t *)base;
    return s->async ? redis_async_collect(s->async, ticket, r, out, err) : -2;
}

static void redis_forget(limiter_store_t *base, uint64_t ticket) {
    redis_store_t *s = (redis_store_t *)base;
    if (s->async) redis_async_forget(s->async, ticket);
}

static void redis_wait_info(limiter_store_t *base, int *fd, int *events, int64_t *timeout_ns) {
    redis_store_t *s = (redis_store_t *)base;
    *fd = -1;
    *events = 0;
    *timeout_ns = -1;
    if (s->async) redis_async_wait_info(s->async, fd, events, timeout_ns);
}

static const limiter_ops_t redis_ops = {
    redis_take, redis_reset, redis_close,
    redis_send, redis_pump, redis_collect, redis_forget, redis_wait_info
};

limiter_status_t limiter_redis_open(const char *url, const limiter_opts_t *o,
                                    limiter_store_t **out, char *err) {
    redis_store_t *s = calloc(1, sizeof *s);
    limiter_status_t st;
    if (!s) {
        snprintf(err, LIMITER_ERRLEN, "limiter: out of memory");
        return LIMITER_EFAIL;
    }
    s->base.ops = &redis_ops;
    if ((st = redis_conf_init(&s->conf, url, o, err)) != LIMITER_OK) {
        free(s);
        return st;
    }
    redis_conf_name(&s->conf, s->base.name, sizeof s->base.name);
    *out = &s->base;
    return LIMITER_OK;
}
