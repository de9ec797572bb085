/* GCRA rate limiting: the pure math, the slot table every local store shares, and the
 * store-independent interface the binding drives.
 *
 * GCRA keeps one "theoretical arrival time" (TAT) per key. With emission interval
 * T = 1/rate and tolerance tau = (burst - 1) * T, a request at `now` may go at
 * max(TAT, now) - tau; taking the slot advances TAT by T. A key whose TAT is not after
 * `now` behaves exactly like an absent key, which is what lets every store forget it.
 *
 * Times are int64 nanoseconds on a clock the caller chooses (the stores use
 * CLOCK_MONOTONIC unless the caller injects `now`; Redis uses the server's TIME).
 * Nothing here reads a clock or does I/O except through a store's ops. */
#ifndef ALIYUN_LIVE_LIMITER_H
#define ALIYUN_LIVE_LIMITER_H

#include <stddef.h>
#include <stdint.h>

/* Internal to the module whatever the build flags (LuaRocks builds without
 * -fvisibility=hidden): only luaopen_* is exported. */
#pragma GCC visibility push(hidden)

#define LIMITER_KEY_MAX   128          /* bytes; the same cap for every store */
#define LIMITER_ERRLEN    256
#define LIMITER_NOW_STORE INT64_MIN    /* req.now_ns: "read the store's own clock" */

/* Accepted ranges (the binding raises outside them). */
#define LIMITER_RATE_MIN  1e-9         /* per second: one slot per ~31.7 years */
#define LIMITER_RATE_MAX  1e9          /* per second: T = 1 ns */
#define LIMITER_BURST_MAX 1e6

/* One decision's inputs. */
typedef struct limiter_req {
    int64_t interval_ns;   /* T, rounded up so that the spacing is never below 1/rate */
    int64_t tau_ns;        /* (burst - 1) * T */
    int     reserve;       /* take a future slot instead of refusing */
    int64_t max_wait_ns;   /* < 0: no limit; a longer wait takes nothing */
    int64_t now_ns;        /* LIMITER_NOW_STORE or an injected time */
} limiter_req_t;

typedef enum limiter_outcome {
    LIMITER_GRANTED = 0,   /* a slot is taken: now (wait 0) or reserved wait_ns ahead */
    LIMITER_DENIED,        /* reserve off and the slot is wait_ns ahead: nothing taken */
    LIMITER_TOO_LONG       /* the wait passes max_wait: nothing taken */
} limiter_outcome_t;

typedef struct limiter_res {
    int64_t           wait_ns;
    limiter_outcome_t outcome;
} limiter_res_t;

/* Fill `r` from user units; returns -1 with a reason when a value is out of range.
 * max_wait < 0 means none; now_ns as in limiter_req_t. */
int limiter_req_init(limiter_req_t *r, double rate, double burst, int reserve,
                     double max_wait, int64_t now_ns, const char **why);

/* The GCRA step. `*tat` is the key's state (absent keys pass present = 0). Returns 1
 * when *tat changed and must be stored, 0 when nothing was taken. */
int limiter_gcra(int64_t *tat, int present, const limiter_req_t *r, int64_t now,
                 limiter_res_t *out);

/* ------------------------------------------------------------------ slot table ---
 * An open-addressing (linear probing) table of fixed-size slots, used by the in-memory
 * stores and, inside a shared mapping, by the shm store. Its mutations are built so
 * that a writer killed at any instruction leaves a valid table: a slot becomes visible
 * through one aligned store of its `state` (after its key is written), a TAT changes in
 * one aligned store, and removal only turns a slot into a tombstone (or a tombstone
 * that no probe chain can cross into an empty slot). Only the counters can go stale;
 * limiter_table_recount repairs them. Callers serialize access (a lock, or one owner). */
enum { LIMITER_SLOT_EMPTY = 0, LIMITER_SLOT_USED = 1, LIMITER_SLOT_TOMB = 2 };

typedef struct limiter_slot {
    uint32_t state;
    uint32_t hash;
    int64_t  tat;
    uint16_t klen;
    char     key[LIMITER_KEY_MAX];
} limiter_slot_t;

typedef struct limiter_counts {
    uint32_t filled;       /* USED + TOMB: what probes must cross */
    uint32_t used;
    uint32_t skip;         /* new keys to admit past sweep_at before sweeping again */
} limiter_counts_t;

typedef struct limiter_table {
    limiter_slot_t   *slots;
    uint32_t          n;           /* a power of two, >= 8 */
    limiter_counts_t *counts;
    uint32_t          sweep_at;    /* sweep expired keys before filling past this
                                      (then at most every n/8 new keys: O(1) amortized) */
    uint32_t          max_filled;  /* never past this (<= n - 1: a probe must end) */
} limiter_table_t;

uint32_t limiter_hash(const char *key, size_t klen);

/* Look `key` up, decide, store the TAT. Returns 0, or -1 when the key is new, granted,
 * and no slot is left even after dropping expired keys (the caller may grow the table
 * and retry; nothing was changed). */
int limiter_table_take(limiter_table_t *t, const char *key, size_t klen,
                       const limiter_req_t *r, int64_t now, limiter_res_t *out);

/* Forget a key (a no-op when absent). */
void limiter_table_remove(limiter_table_t *t, const char *key, size_t klen);

/* Drop keys whose TAT is not after `now` (they are equivalent to absent ones). */
void limiter_table_sweep(limiter_table_t *t, int64_t now);

/* Copy the live keys of `from` into the empty table `to` (rehash for growth). Returns
 * -1 when they do not fit. */
int limiter_table_copy(limiter_table_t *to, const limiter_table_t *from, int64_t now);

/* Recompute the counters from the slots (after a writer died holding the lock). */
void limiter_table_recount(limiter_table_t *t);

/* ------------------------------------------------------------------- the stores --- */

typedef struct limiter_store limiter_store_t;

typedef struct limiter_ops {
    /* 0 and *out set, or -1 with a message in err (the store's state unchanged). */
    int  (*take)(limiter_store_t *s, const char *key, size_t klen, const limiter_req_t *r,
                 limiter_res_t *out, char *err);
    int  (*reset)(limiter_store_t *s, const char *key, size_t klen, char *err);
    void (*close)(limiter_store_t *s);   /* frees s */
} limiter_ops_t;

struct limiter_store {
    const limiter_ops_t *ops;
    char                 name[LIMITER_ERRLEN];   /* for tostring: no secrets */
};

/* Options of limiter_open; zero means the default. */
typedef struct limiter_opts {
    double      timeout;   /* redis: connect and command timeout, seconds (1) */
    uint32_t    slots;     /* shm: table size when this call creates it (4096) */
    const char *dir;       /* shm: directory of the mapping ("/dev/shm") */
} limiter_opts_t;

typedef enum { LIMITER_OK = 0, LIMITER_EARG, LIMITER_EFAIL } limiter_status_t;

/* Open a store from its spec: "local", "process", "shm:NAME", "redis://…".
 * LIMITER_EARG: the spec or an option is malformed; LIMITER_EFAIL: it could not be
 * opened (err says why). */
limiter_status_t limiter_open(const char *spec, const limiter_opts_t *o,
                              limiter_store_t **out, char *err);

/* The constructors limiter_open dispatches to (limiter_process.c, limiter_shm.c,
 * limiter_redis.c); same return convention. */
limiter_status_t limiter_local_open(limiter_store_t **out, char *err);
limiter_status_t limiter_process_open(limiter_store_t **out, char *err);
limiter_status_t limiter_shm_open(const char *name, const limiter_opts_t *o,
                                  limiter_store_t **out, char *err);
limiter_status_t limiter_redis_open(const char *url, const limiter_opts_t *o,
                                    limiter_store_t **out, char *err);

#ifdef LIMITER_TEST_HOOKS
/* Test hosts only (spec/c/, built by mk/limiter-tests.mk; never in the module): take
 * the shm store's lock and return holding it, so a test can kill the process inside
 * the critical section. */
int limiter_shm_hold_lock(limiter_store_t *s, char *err);
#endif

#pragma GCC visibility pop

#endif
