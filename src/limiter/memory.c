/* In-memory limiter stores: `local` (a table owned by one limiter object) and `process`
 * (one table for every lua_State and thread of the process, behind a mutex — the one
 * piece of C state the module shares process-wide). Both grow from 16 slots up to
 * MAP_MAX_SLOTS, dropping expired keys before growing; at the cap they evict the keys
 * whose state expires soonest. Memory follows the number of keys in use (at most
 * MAP_MAX_SLOTS slots of 168 bytes, plus a 520-byte window log for each key used with
 * N > 0), never the number of calls. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "limiter.h"

#define MAP_MIN_SLOTS 16u
#define MAP_MAX_SLOTS (1u << 16)   /* at most 49152 live keys */

typedef struct map {
    limiter_slot_t  *slots;        /* NULL until the first take */
    int64_t        **rings;        /* a window log per slot, NULL until needed */
    uint32_t         n;
    limiter_counts_t counts;
} map_t;

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int oom(char *err) {
    snprintf(err, LIMITER_ERRLEN, "limiter: out of memory");
    return -1;
}

/* Kept under 3/4 full: probes stay short. */
static void map_view(map_t *m, limiter_table_t *t) {
    t->slots = m->slots;
    t->n = m->n;
    t->counts = &m->counts;
    t->sweep_at = t->max_filled = m->n / 4 * 3;
    t->cells = NULL;
    t->rings = m->rings;
}

/* Move the live keys into fresh arrays of n slots (growth, or at the cap a rebuild
 * that leaves no tombstones). */
static int map_resize(map_t *m, uint32_t n, int64_t now, char *err) {
    map_t b;
    limiter_table_t to, from;
    memset(&b, 0, sizeof b);
    b.n = n;
    b.slots = calloc(n, sizeof *b.slots);
    b.rings = calloc(n, sizeof *b.rings);
    if (!b.slots || !b.rings) {
        free(b.slots);
        free(b.rings);
        return oom(err);
    }
    if (m->slots) {
        map_view(&b, &to);
        map_view(m, &from);
        if (limiter_table_move(&to, &from, now) != 0) {   /* the callers make room first */
            free(b.slots);
            free(b.rings);
            snprintf(err, LIMITER_ERRLEN, "limiter: table rehash failed");
            return -1;
        }
    }
    free(m->slots);
    free(m->rings);
    *m = b;
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* At the cap with no expired key to drop: forget the keys whose state expires soonest
 * (the least to lose), n/16 of them at once so that the O(n log n) pass is paid once
 * per n/16 new keys, then rebuild without tombstones. */
static int map_evict(map_t *m, int64_t now, char *err) {
    limiter_table_t t;
    uint32_t keep = m->n / 4 * 3 - m->n / 16, i, k = 0, lt = 0, ties;
    int64_t *ex, thr;
    map_view(m, &t);
    limiter_table_sweep(&t, now);
    if (m->counts.used > keep) {
        uint32_t drop = m->counts.used - keep;
        if (!(ex = malloc((size_t)m->counts.used * sizeof *ex))) return oom(err);
        for (i = 0; i < m->n; i++)
            if (m->slots[i].state == LIMITER_SLOT_USED) ex[k++] = m->slots[i].expires;
        qsort(ex, k, sizeof *ex, cmp_i64);
        thr = ex[drop - 1];
        while (lt < drop && ex[lt] < thr) lt++;
        ties = drop - lt;
        free(ex);
        for (i = 0; i < m->n; i++) {
            limiter_slot_t *s = &m->slots[i];
            if (s->state != LIMITER_SLOT_USED) continue;
            if (s->expires < thr || (s->expires == thr && ties > 0 && ties--))
                limiter_table_remove(&t, s->key, s->klen);
        }
    }
    return map_resize(m, m->n, now, err);
}

static int map_take(map_t *m, const char *key, size_t klen, const limiter_req_t *r,
                    int64_t now, limiter_res_t *out, char *err) {
    limiter_table_t t;
    int rc;
    if (!m->slots && map_resize(m, MAP_MIN_SLOTS, now, err) != 0) return -1;
    for (;;) {
        map_view(m, &t);
        rc = limiter_table_take(&t, key, klen, r, now, out);
        if (rc == 0) return 0;
        if (rc == -2) return oom(err);
        rc = m->n < MAP_MAX_SLOTS ? map_resize(m, m->n * 2, now, err) : map_evict(m, now, err);
        if (rc != 0) return -1;
    }
}

static void map_remove(map_t *m, const char *key, size_t klen) {
    limiter_table_t t;
    if (!m->slots) return;
    map_view(m, &t);
    limiter_table_remove(&t, key, klen);
}

static void map_free(map_t *m) {
    uint32_t i;
    if (m->rings)
        for (i = 0; i < m->n; i++) free(m->rings[i]);
    free(m->slots);
    free(m->rings);
    memset(m, 0, sizeof *m);
}

/* ----------------------------------------------------------------------- local --- */

typedef struct local_store {
    limiter_store_t base;
    map_t           map;
} local_store_t;

static int local_take(limiter_store_t *s, const char *key, size_t klen,
                      const limiter_req_t *r, limiter_res_t *out, char *err) {
    local_store_t *ls = (local_store_t *)s;
    int64_t now = r->now_ns == LIMITER_NOW_STORE ? monotonic_ns() : r->now_ns;
    return map_take(&ls->map, key, klen, r, now, out, err);
}

static int local_reset(limiter_store_t *s, const char *key, size_t klen, char *err) {
    (void)err;
    map_remove(&((local_store_t *)s)->map, key, klen);
    return 0;
}

static void local_close(limiter_store_t *s) {
    local_store_t *ls = (local_store_t *)s;
    map_free(&ls->map);
    free(ls);
}

static const limiter_ops_t local_ops = { local_take, local_reset, local_close,
                                        NULL, NULL, NULL, NULL, NULL };   /* decides at once */

limiter_status_t limiter_local_open(limiter_store_t **out, char *err) {
    local_store_t *ls = calloc(1, sizeof *ls);
    if (!ls) {
        oom(err);
        return LIMITER_EFAIL;
    }
    ls->base.ops = &local_ops;
    ls->base.injectable = 1;   /* private: an injected clock misleads only its owner */
    strcpy(ls->base.name, "local");
    *out = &ls->base;
    return LIMITER_OK;
}

/* --------------------------------------------------------------------- process --- */

static struct {
    pthread_mutex_t lock;
    map_t           map;
} process = { PTHREAD_MUTEX_INITIALIZER, { NULL, NULL, 0, { 0, 0, 0 } } };

/* fork() copies the lock in whatever state another thread left it: held across the
 * fork, it is released on both sides, so the child can decide (and sees the table as
 * it was at the fork). */
static void fork_prepare(void) { pthread_mutex_lock(&process.lock); }
static void fork_release(void) { pthread_mutex_unlock(&process.lock); }

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_rc;
static void register_atfork(void) {
    atfork_rc = pthread_atfork(fork_prepare, fork_release, fork_release);
}

/* The clock is read inside the lock, so grants in lock order have ordered times; it is
 * always the store's own (an injected one would shift every sharer's time base). */
static int process_take(limiter_store_t *s, const char *key, size_t klen,
                        const limiter_req_t *r, limiter_res_t *out, char *err) {
    int rc;
    (void)s;
    pthread_mutex_lock(&process.lock);
    rc = map_take(&process.map, key, klen, r, monotonic_ns(), out, err);
    pthread_mutex_unlock(&process.lock);
    return rc;
}

static int process_reset(limiter_store_t *s, const char *key, size_t klen, char *err) {
    (void)s; (void)err;
    pthread_mutex_lock(&process.lock);
    map_remove(&process.map, key, klen);
    pthread_mutex_unlock(&process.lock);
    return 0;
}

/* A handle is only a view: the table outlives every limiter object, so a key's state
 * survives objects being dropped and made again. */
static void process_close(limiter_store_t *s) { free(s); }

static const limiter_ops_t process_ops = { process_take, process_reset, process_close,
                                        NULL, NULL, NULL, NULL, NULL };   /* decides at once */

limiter_status_t limiter_process_open(limiter_store_t **out, char *err) {
    limiter_store_t *s;
    pthread_once(&atfork_once, register_atfork);
    if (atfork_rc != 0) {
        snprintf(err, LIMITER_ERRLEN, "limiter: pthread_atfork failed");
        return LIMITER_EFAIL;
    }
    if (!(s = calloc(1, sizeof *s))) {
        oom(err);
        return LIMITER_EFAIL;
    }
    s->ops = &process_ops;
    strcpy(s->name, "process");
    *out = s;
    return LIMITER_OK;
}

#if defined(__GNUC__) || defined(__clang__)
/* When the module is unloaded (the last lua_State that loaded it closed, or exit), the
 * table goes with it. Locked: another thread may still be inside a take at exit. */
__attribute__((destructor)) static void process_unload(void) {
    pthread_mutex_lock(&process.lock);
    map_free(&process.map);
    pthread_mutex_unlock(&process.lock);
}
#endif
