/* What the Redis store's two connections share (redis_proto.c): the URL, the script
 * and its SHA-1, one decision's command, the check of its reply, and host name lookups
 * that never block. redis.c is the synchronous connection, redis_async.c the
 * non-blocking one (hiredis's async API driven by the caller's loop); the binding
 * (src/binding/redis.c) lends the same pieces to the cosocket client used inside nginx
 * (lua/aliyun/live/ngx/redis.lua). Only built with hiredis. */
#ifndef ALIYUN_LIVE_REDIS_H
#define ALIYUN_LIVE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "limiter.h"

#pragma GCC visibility push(hidden)   /* see limiter.h */

#define REDIS_KEY_PREFIX "aliyun-live:"
#define REDIS_DEFAULT_PORT 6379
#define REDIS_DEFAULT_TIMEOUT 1.0

/* A parsed redis://[USER:PASSWORD@]HOST[:PORT][/DB] and the store's options. */
typedef struct redis_conf {
    int     port;
    long    db;
    double  timeout;          /* seconds: connect, each command, each async decision */
    char    host[100];
    char    user[64];
    char    pass[256];        /* "" = no AUTH; wiped by redis_conf_wipe */
    char    sha[41];          /* of the script, for EVALSHA */
} redis_conf_t;

/* The decision of limiter.h as a server-side script (see redis_proto.c). */
extern const char   redis_script[];
extern const size_t redis_script_len;

/* Parse url and options into c. LIMITER_EARG with the reason in err when malformed. */
limiter_status_t redis_conf_init(redis_conf_t *c, const char *url, const limiter_opts_t *o,
                                 char *err);
void redis_conf_wipe(redis_conf_t *c);
/* The store's name, password shown as ***: "redis://[USER:***@]HOST:PORT/DB". */
void redis_conf_name(const redis_conf_t *c, char *out, size_t n);
/* err = "redis HOST:PORT: WHAT: MSG" (what may be ""), bounded. */
void redis_fail(const redis_conf_t *c, char *err, const char *what, const char *msg, size_t len);

/* One decision's command: EVALSHA sha 1 KEY T tau N W reserve max_wait (µs), binary
 * safe. argv/argl point into the struct itself: it must not be moved once filled. */
typedef struct redis_cmd {
    const char *argv[10];
    size_t      argl[10];
    char        key[sizeof REDIS_KEY_PREFIX + LIMITER_KEY_MAX];
    char        a[6][24];
} redis_cmd_t;

void redis_cmd_init(redis_cmd_t *cmd, const char *sha, const char *key, size_t klen,
                    const limiter_req_t *r);
/* The same decision as EVAL with the whole script (after NOSCRIPT). */
void redis_cmd_eval(redis_cmd_t *cmd);
/* Just the six ARGV values (for the cosocket client). */
void redis_req_args(const limiter_req_t *r, char a[6][24]);

/* A reply to the script → NULL and *out, or what is wrong with it. A server error's
 * text is returned through msg and len instead (*msg NULL when it is not one). */
const char *redis_reply_decode(const redisReply *rep, limiter_res_t *out, const char **msg,
                               size_t *len);
/* 1 when the reply is NOSCRIPT (the server forgot the script: send it with EVAL). */
int redis_reply_noscript(const redisReply *rep);

/* Host name lookups (getaddrinfo_a on glibc), polled so that nobody blocks on them.
 * A lookup stopped before it ends stays allocated (reachable) until glibc is done
 * with it, then a later lookup frees it. */
typedef struct redis_lookup redis_lookup_t;

/* 1 and the address into addr when c->host is numeric already; else 0. */
int redis_numeric(const redis_conf_t *c, char *addr, size_t n);
/* Start resolving c->host; NULL with err on failure. */
redis_lookup_t *redis_lookup_start(const redis_conf_t *c, char *err);
/* 1: still running; 0: the first address is in addr; -1: failed (err). On 0 and -1
 * the lookup is freed. */
int redis_lookup_poll(redis_lookup_t *lk, const redis_conf_t *c, char *addr, size_t n,
                      char *err);
/* Wait at most `ns` for it to end (the synchronous connection only). */
void redis_lookup_wait(redis_lookup_t *lk, int64_t ns);
/* Stop caring: freed once glibc has finished with it (cancel 0: in a forked child,
 * where the lookup belongs to the parent). */
void redis_lookup_abandon(redis_lookup_t *lk, int cancel);

int64_t redis_now_ns(void);   /* CLOCK_MONOTONIC */

/* The non-blocking connection of one store (redis_async.c). */
typedef struct redis_async redis_async_t;

redis_async_t *redis_async_new(const redis_conf_t *c);
void redis_async_free(redis_async_t *a);
int  redis_async_send(redis_async_t *a, const char *key, size_t klen, const limiter_req_t *r,
                      uint64_t *ticket, char *err);
void redis_async_pump(redis_async_t *a);
int  redis_async_collect(redis_async_t *a, uint64_t ticket, limiter_req_t *r,
                         limiter_res_t *out, char *err);
void redis_async_forget(redis_async_t *a, uint64_t ticket);
void redis_async_wait_info(redis_async_t *a, int *fd, int *events, int64_t *timeout_ns);

#pragma GCC visibility pop

#endif
