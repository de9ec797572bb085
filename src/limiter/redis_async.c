/* The Redis store's non-blocking connection: decisions for callers that must never
 * wait (the async scheduler of lua/aliyun/live/async.lua, a game's frame loop).
 *
 * hiredis's async API does the protocol; its event hooks only record whether it wants
 * to read or write, and pump() does what the descriptor allows right now (poll with
 * no wait), so the caller's loop owns all waiting (wait_info says on what and until
 * when). A host name is resolved with getaddrinfo_a, polled; the connect is
 * non-blocking; AUTH and SELECT are pipelined ahead of the first decisions, and a
 * refusal fails the decisions behind them with its message.
 *
 * Each decision is a ticket with a deadline (the store's timeout from send). Replies
 * come in order on one connection, so once one is overdue the connection is dropped,
 * failing every decision on it (their answers can no longer come); the next decision
 * reconnects. NOSCRIPT is answered by sending the decision once more with EVAL. A
 * forked child drops what it inherited (its replies belong to the parent) and
 * connects anew. Every reply goes through the synchronous path's check. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/async.h>

#include "redis.h"

#define MAX_TICKETS    1024          /* decisions queued or uncollected per store */
#define LOOKUP_POLL_NS 5000000       /* a lookup has no descriptor: look every 5 ms */

enum { T_QUEUED, T_SENT, T_DONE, T_FAILED };

typedef struct ticket {
    struct ticket *prev, *next;
    uint64_t       id;
    int            state;
    int            evaled;       /* NOSCRIPT seen: sent again with EVAL */
    int            orphan;       /* forgotten while hiredis holds it: freed by its callback */
    int64_t        deadline;     /* CLOCK_MONOTONIC ns */
    limiter_req_t  req;
    limiter_res_t  res;
    redis_cmd_t    cmd;
    char           err[LIMITER_ERRLEN];
} ticket_t;

struct redis_async {
    const redis_conf_t *conf;
    redisAsyncContext  *ac;          /* NULL: none (connect on the next decision) */
    pid_t               pid;         /* the process ac and lookup belong to */
    int                 want;        /* LIMITER_WANT_*, as hiredis asked */
    int                 drop_later;  /* set by a callback: drop once hiredis returns */
    redis_lookup_t     *lookup;      /* resolving the host name */
    char                why[LIMITER_ERRLEN];        /* for decisions a drop fails */
    char                setup_err[LIMITER_ERRLEN];  /* AUTH/SELECT refused */
    ticket_t           *head, *tail;  /* linked tickets, oldest first */
    int                 count;
    uint64_t            next_id;
};

static char what_auth[] = "AUTH", what_select[] = "SELECT";

/* ------------------------------------------------------------------ tickets --- */

static void unlink_ticket(redis_async_t *a, ticket_t *t) {
    if (t->prev) t->prev->next = t->next; else a->head = t->next;
    if (t->next) t->next->prev = t->prev; else a->tail = t->prev;
    t->prev = t->next = NULL;
    a->count--;
}

static ticket_t *find(redis_async_t *a, uint64_t id) {
    ticket_t *t;
    for (t = a->head; t && t->id != id; t = t->next) {}
    return t;
}

/* The end of a decision hiredis was holding: kept for collect, or freed if forgotten. */
static void finish(ticket_t *t, int state, const char *err) {
    if (t->orphan) {
        free(t);
        return;
    }
    t->state = state;
    if (err) snprintf(t->err, sizeof t->err, "%s", err);
}

static void fail_queued(redis_async_t *a, const char *err) {
    ticket_t *t;
    for (t = a->head; t; t = t->next)
        if (t->state == T_QUEUED) finish(t, T_FAILED, err);
}

static int has_queued(const redis_async_t *a) {
    const ticket_t *t;
    for (t = a->head; t; t = t->next)
        if (t->state == T_QUEUED) return 1;
    return 0;
}

/* ----------------------------------------------------------- hiredis hooks --- */

static void ev_add_read(void *p) { ((redis_async_t *)p)->want |= LIMITER_WANT_READ; }
static void ev_del_read(void *p) { ((redis_async_t *)p)->want &= ~LIMITER_WANT_READ; }
static void ev_add_write(void *p) { ((redis_async_t *)p)->want |= LIMITER_WANT_WRITE; }
static void ev_del_write(void *p) { ((redis_async_t *)p)->want &= ~LIMITER_WANT_WRITE; }

/* hiredis frees the context itself on a transport error: this is how we learn it. */
static void ev_cleanup(void *p) {
    redis_async_t *a = p;
    a->ac = NULL;
    a->want = 0;
}

static int connected(const redisAsyncContext *ac) {
    return (ac->c.flags & REDIS_CONNECTED) != 0;
}

static void setup_cb(redisAsyncContext *ac, void *reply, void *what) {
    redis_async_t *a = ac->data;
    const redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR && !a->setup_err[0]) {
        redis_fail(a->conf, a->setup_err, what, r->str, r->len);
        a->drop_later = 1;
    }
}

static void reply_cb(redisAsyncContext *ac, void *reply, void *priv) {
    redis_async_t *a = ac->data;
    const redisReply *r = reply;
    ticket_t *t = priv;
    const char *bad, *msg = NULL;
    size_t len = 0;
    char err[LIMITER_ERRLEN];

    if (t->orphan) {   /* forgotten: nobody wants the answer */
        free(t);
        return;
    }
    if (!r) {   /* the connection went away before the answer */
        if (!a->why[0]) {
            const char *m = ac->err && ac->errstr[0] ? ac->errstr : "connection lost";
            redis_fail(a->conf, err, connected(ac) ? "script" : "connect", m, strlen(m));
        }
        finish(t, T_FAILED, a->why[0] ? a->why : err);
        return;
    }
    if (a->setup_err[0]) {
        finish(t, T_FAILED, a->setup_err);
        return;
    }
    /* The server forgot the script (restart, SCRIPT FLUSH): send it in full once;
     * EVAL caches it again for the following EVALSHAs. */
    if (!t->evaled && redis_reply_noscript(r)) {
        t->evaled = 1;
        redis_cmd_eval(&t->cmd);
        if (redisAsyncCommandArgv(ac, reply_cb, t, 10, t->cmd.argv, t->cmd.argl) == REDIS_OK)
            return;
        redis_fail(a->conf, err, "script", "connection closing", 18);
        finish(t, T_FAILED, err);
        return;
    }
    bad = redis_reply_decode(r, &t->res, &msg, &len);
    if (bad) {
        redis_fail(a->conf, err, "", msg ? msg : bad, msg ? len : strlen(bad));
        finish(t, T_FAILED, err);
        return;
    }
    finish(t, T_DONE, NULL);
}

/* ---------------------------------------------------------- the connection --- */

/* Close the connection; every decision on it fails with `why` (a full message). */
static void drop(redis_async_t *a, const char *why) {
    redisAsyncContext *ac = a->ac;
    if (!ac) return;
    snprintf(a->why, sizeof a->why, "%s", why);
    redisAsyncFree(ac);          /* runs the callbacks, then ev_cleanup */
    a->ac = NULL;
    a->want = 0;
    a->why[0] = '\0';
}

static void issue(redis_async_t *a, ticket_t *t) {
    char err[LIMITER_ERRLEN];
    if (redisAsyncCommandArgv(a->ac, reply_cb, t, 10, t->cmd.argv, t->cmd.argl) == REDIS_OK) {
        t->state = T_SENT;
        return;
    }
    redis_fail(a->conf, err, "script", "cannot queue the command", 24);
    finish(t, T_FAILED, err);
}

static void connect_to(redis_async_t *a, const char *addr) {
    const redis_conf_t *c = a->conf;
    redisAsyncContext *ac = redisAsyncConnect(addr, c->port);
    char err[LIMITER_ERRLEN], db[16];
    ticket_t *t;
    if (!ac || ac->err) {
        const char *m = ac ? ac->errstr : "out of memory";
        redis_fail(c, err, "connect", m, strlen(m));
        if (ac) redisAsyncFree(ac);
        fail_queued(a, err);
        return;
    }
    ac->data = a;
    ac->ev.data = a;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    a->ac = ac;
    a->want = 0;
    a->setup_err[0] = '\0';
    /* Pipelined: hiredis sends them once connected, in this order. */
    if (c->pass[0]) {
        const char *auth[3] = { "AUTH", c->user, c->pass };
        if (c->user[0]) redisAsyncCommandArgv(ac, setup_cb, what_auth, 3, auth, NULL);
        else { auth[1] = c->pass; redisAsyncCommandArgv(ac, setup_cb, what_auth, 2, auth, NULL); }
    }
    if (c->db) {
        const char *sel[2] = { "SELECT", db };
        snprintf(db, sizeof db, "%ld", c->db);
        redisAsyncCommandArgv(ac, setup_cb, what_select, 2, sel, NULL);
    }
    for (t = a->head; t; t = t->next)
        if (t->state == T_QUEUED) issue(a, t);
}

/* Get queued decisions under way: connect, or resolve the name first. */
static void advance(redis_async_t *a) {
    char addr[sizeof a->conf->host], err[LIMITER_ERRLEN];
    int rc;
    if (a->ac || !has_queued(a)) return;
    if (!a->lookup) {
        if (redis_numeric(a->conf, addr, sizeof addr)) {
            connect_to(a, addr);
            return;
        }
        if (!(a->lookup = redis_lookup_start(a->conf, err))) {
            fail_queued(a, err);
            return;
        }
    }
    if ((rc = redis_lookup_poll(a->lookup, a->conf, addr, sizeof addr, err)) == 1) return;
    a->lookup = NULL;
    if (rc < 0) fail_queued(a, err);
    else connect_to(a, addr);
}

/* What the descriptor allows now, without waiting. */
static void pump_io(redis_async_t *a) {
    struct pollfd p;
    if (!a->ac || !a->want) return;
    p.fd = a->ac->c.fd;
    p.events = (short)(((a->want & LIMITER_WANT_READ) ? POLLIN : 0) |
                       ((a->want & LIMITER_WANT_WRITE) ? POLLOUT : 0));
    p.revents = 0;
    if (poll(&p, 1, 0) <= 0) return;
    if ((a->want & LIMITER_WANT_WRITE) && (p.revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL)))
        redisAsyncHandleWrite(a->ac);   /* completes the connect, then writes */
    if (a->ac && (a->want & LIMITER_WANT_READ) && (p.revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)))
        redisAsyncHandleRead(a->ac);
    if (a->drop_later) {
        char why[LIMITER_ERRLEN];
        a->drop_later = 0;
        snprintf(why, sizeof why, "%s", a->setup_err);
        drop(a, why);
    }
}

/* Decisions past their deadline: a lookup's fail alone; one on the connection fails
 * them all (nothing behind it can be answered first). */
static void expire(redis_async_t *a) {
    int64_t now = redis_now_ns();
    int overdue = 0;
    ticket_t *t;
    char err[LIMITER_ERRLEN];
    for (t = a->head; t; t = t->next) {
        if (t->deadline > now) continue;
        if (t->state == T_QUEUED) {
            redis_fail(a->conf, err, "resolve", "timed out", 9);
            finish(t, T_FAILED, err);
        } else if (t->state == T_SENT) {
            overdue = 1;
        }
    }
    if (overdue && a->ac) {
        redis_fail(a->conf, err, connected(a->ac) ? "script" : "connect", "timed out", 9);
        drop(a, err);
    }
    if (a->lookup && !has_queued(a)) {
        redis_lookup_abandon(a->lookup, 1);
        a->lookup = NULL;
    }
}

/* A fork()ed child must not read its parent's replies, nor wait on its lookup. */
static void check_fork(redis_async_t *a) {
    pid_t me = getpid();
    char err[LIMITER_ERRLEN];
    if (a->pid == me) return;
    if (a->ac) {
        redis_fail(a->conf, err, "", "the process forked (the decision belongs to the parent)", 55);
        drop(a, err);
    }
    if (a->lookup) redis_lookup_abandon(a->lookup, 0);
    a->lookup = NULL;
    a->pid = me;
}

/* ---------------------------------------------------------------- the API --- */

redis_async_t *redis_async_new(const redis_conf_t *c) {
    redis_async_t *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->conf = c;
    a->pid = getpid();
    return a;
}

void redis_async_free(redis_async_t *a) {
    ticket_t *t;
    char err[LIMITER_ERRLEN];
    if (!a) return;
    redis_fail(a->conf, err, "", "the store was closed", 20);
    drop(a, err);
    if (a->lookup) redis_lookup_abandon(a->lookup, a->pid == getpid());
    while ((t = a->head) != NULL) {
        unlink_ticket(a, t);
        free(t);
    }
    free(a);
}

int redis_async_send(redis_async_t *a, const char *key, size_t klen, const limiter_req_t *r,
                     uint64_t *ticket, char *err) {
    ticket_t *t;
    check_fork(a);
    if (a->count >= MAX_TICKETS) {
        snprintf(err, LIMITER_ERRLEN, "redis %.99s:%d: more than %d decisions in flight or "
                 "uncollected", a->conf->host, a->conf->port, MAX_TICKETS);
        return -1;
    }
    if (!(t = calloc(1, sizeof *t))) {
        snprintf(err, LIMITER_ERRLEN, "limiter: out of memory");
        return -1;
    }
    t->id = ++a->next_id;
    t->state = T_QUEUED;
    t->req = *r;
    t->deadline = redis_now_ns() + (int64_t)(a->conf->timeout * 1e9);
    redis_cmd_init(&t->cmd, a->conf->sha, key, klen, r);
    t->prev = a->tail;
    if (a->tail) a->tail->next = t; else a->head = t;
    a->tail = t;
    a->count++;
    if (a->ac) issue(a, t);
    else advance(a);
    pump_io(a);   /* out on the wire now if the socket takes it */
    *ticket = t->id;
    return 0;
}

void redis_async_pump(redis_async_t *a) {
    check_fork(a);
    pump_io(a);
    advance(a);
    pump_io(a);   /* what the answers queued (EVAL after NOSCRIPT) goes out now */
    expire(a);
}

int redis_async_collect(redis_async_t *a, uint64_t ticket, limiter_req_t *r,
                        limiter_res_t *out, char *err) {
    ticket_t *t = find(a, ticket);
    int rc;
    if (!t) return -2;
    if (t->state == T_QUEUED || t->state == T_SENT) return LIMITER_PENDING;
    *r = t->req;
    if (t->state == T_DONE) {
        *out = t->res;
        rc = 0;
    } else {
        snprintf(err, LIMITER_ERRLEN, "%s", t->err);
        rc = -1;
    }
    unlink_ticket(a, t);
    free(t);
    return rc;
}

void redis_async_forget(redis_async_t *a, uint64_t ticket) {
    ticket_t *t = find(a, ticket);
    if (!t) return;
    unlink_ticket(a, t);
    if (t->state == T_SENT) t->orphan = 1;   /* hiredis calls back with it once */
    else free(t);
}

void redis_async_wait_info(redis_async_t *a, int *fd, int *events, int64_t *timeout_ns) {
    int64_t next = -1, now = redis_now_ns();
    const ticket_t *t;
    check_fork(a);
    if (a->ac && a->want) {
        *fd = a->ac->c.fd;
        *events = a->want;
    }
    for (t = a->head; t; t = t->next)
        if ((t->state == T_QUEUED || t->state == T_SENT) && (next < 0 || t->deadline < next))
            next = t->deadline;
    if (a->lookup && (next < 0 || next > now + LOOKUP_POLL_NS)) next = now + LOOKUP_POLL_NS;
    if (next >= 0) *timeout_ns = next > now ? next - now : 0;
}
