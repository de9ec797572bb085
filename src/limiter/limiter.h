/* The limiter decision (GCRA + a window log, /work/notes/limiter-algorithm.md), the
 * crash-safe slot table every local store shares, and the store interface the binding
 * drives.
 *
 * GCRA keeps one "theoretical arrival time" (TAT) per key and spaces grants smoothly;
 * the window log keeps the key's last 64 grant times, so that "at most N grants in any
 * window W" holds however late callers act on their grants. One decision:
 *
 *   t0   = max(now, TAT - tau, ring[stored - N] + W, ring[stored - 1])
 *   wait = t0 - now; TOO_LONG if wait > max_wait >= 0, DENIED if wait > 0 and no
 *   reserve, else GRANTED: TAT = max(TAT, t0) + T, t0 pushed onto the ring.
 *
 * Times are int64 nanoseconds on a clock the store chooses (CLOCK_MONOTONIC; Redis: the
 * server's TIME); an injected `now` is only accepted by the private `local` store.
 * Nothing here reads a clock or does I/O except through a store's ops. */
#ifndef ALIYUN_LIVE_LIMITER_H
#define ALIYUN_LIVE_LIMITER_H

#include <stddef.h>
#include <stdint.h>

/* Internal to the module whatever the build flags (LuaRocks builds without
 * -fvisibility=hidden): only luaopen_* is exported. */
#pragma GCC visibility push(hidden)

#define LIMITER_KEY_MAX    128          /* bytes; the same cap for every store */
#define LIMITER_ERRLEN     256
#define LIMITER_NOW_STORE  INT64_MIN    /* req.now_ns: "read the store's own clock" */
#define LIMITER_COUNT_MAX  64           /* N, and the grants a key's ring keeps */
#define LIMITER_RING_CELLS 65           /* one spare cell: a push never overwrites a
                                           live one before the ring word moves */

/* Ranges (ns). Every sum below stays far from INT64_MAX: times saturate at TIME_MAX,
 * spans are at most SPAN_MAX, an injected now is within ±NOW_MAX. */
#define LIMITER_TIME_MAX   ((int64_t)4000000000000000000LL)   /* ~126 years */
#define LIMITER_SPAN_MAX   ((int64_t)1000000000000000000LL)   /* T, tau, W, max_wait */
#define LIMITER_NOW_MAX    ((int64_t)1000000000000000000LL)
#define LIMITER_WAIT_MAX   (LIMITER_TIME_MAX + LIMITER_NOW_MAX) /* no decision waits longer */

/* One decision's inputs (the binding bounds them). */
typedef struct limiter_req {
    int64_t interval_ns;   /* T >= 1 */
    int64_t tau_ns;        /* >= 0 */
    int     count;         /* N, 0..64; 0: no window rule */
    int64_t window_ns;     /* W, >= 1 when N > 0 */
    int     reserve;       /* take a future slot instead of refusing */
    int64_t max_wait_ns;   /* < 0: no limit; a longer wait takes nothing */
    int64_t now_ns;        /* LIMITER_NOW_STORE or an injected time (`local` only) */
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

/* One key's state as a store read it. cells/head/stored: the window log (cells NULL
 * when the key keeps none); logical entry j is cells[(head + j) % LIMITER_RING_CELLS]. */
typedef struct limiter_view {
    int            present;
    int64_t        tat;
    int64_t        last;       /* the newest grant (every present key has one) */
    const int64_t *cells;
    uint32_t       head, stored;
} limiter_view_t;

/* The decision. Returns 1 when granted: *t0 is the grant time, *tat the new TAT and
 * *expires when the new state may be forgotten (at least `old_expires`); 0 when nothing
 * changes. Values read from a store are clamped first: a corrupt word cannot overflow. */
int limiter_decide(const limiter_view_t *v, int64_t old_expires, const limiter_req_t *r,
                   int64_t now, limiter_res_t *out, int64_t *t0, int64_t *tat,
                   int64_t *expires);

/* NULL when `res` is a possible answer to `r`, else what is wrong with it (the binding
 * checks every store's reply with this: a reply that breaks it is never trusted). */
const char *limiter_check_reply(const limiter_req_t *r, const limiter_res_t *res);

/* ------------------------------------------------------------------ slot table ---
 * An open-addressing (linear probing) table of fixed-size slots, used by the in-memory
 * stores and, inside a shared mapping, by the shm store. Its mutations are built so
 * that a writer killed at any instruction leaves a valid table: a slot becomes visible
 * through one aligned store of its `state` (after its key is written), each field of a
 * grant (ring word, last, TAT, expiry) changes in one aligned store, a ring push writes
 * a spare cell before the ring word moves, and removal only turns a slot into a
 * tombstone (or a tombstone that no probe chain can cross into an empty slot). Only the
 * counters can go stale; limiter_table_recount repairs them. Callers serialize access
 * (a lock, or one owner). */
enum { LIMITER_SLOT_EMPTY = 0, LIMITER_SLOT_USED = 1, LIMITER_SLOT_TOMB = 2 };

typedef struct limiter_slot {
    uint32_t state;
    uint32_t hash;
    int64_t  tat;
    int64_t  last;         /* newest grant time */
    int64_t  expires;      /* the key is equivalent to an absent one from here on */
    uint32_t ring;         /* window log: head | stored << 8, moved in one store */
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
    /* Where the window logs are: shm keeps LIMITER_RING_CELLS cells per slot in one
     * array parallel to the slots (`cells`); the memory stores keep a pointer per slot
     * (`rings`), allocated at a key's first grant with N > 0 and freed with the key. */
    int64_t          *cells;
    int64_t         **rings;
} limiter_table_t;

uint32_t limiter_hash(const char *key, size_t klen);

/* Look `key` up, decide, store the grant. Returns 0; -1 when the key is new, granted,
 * and no slot is left even after dropping expired keys (the caller may grow the table
 * and retry; nothing was changed); -2 when a window log could not be allocated
 * (nothing changed). */
int limiter_table_take(limiter_table_t *t, const char *key, size_t klen,
                       const limiter_req_t *r, int64_t now, limiter_res_t *out);

/* Forget a key (a no-op when absent). */
void limiter_table_remove(limiter_table_t *t, const char *key, size_t klen);

/* Drop keys that expired by `now` (they are equivalent to absent ones). */
void limiter_table_sweep(limiter_table_t *t, int64_t now);

/* Move the live keys of `from` into the empty table `to` (rehash, memory stores);
 * their window logs change owner, those of expired keys are freed. Returns -1 when
 * they do not fit (`from` is then unchanged except for freed expired logs). */
int limiter_table_move(limiter_table_t *to, limiter_table_t *from, int64_t now);

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

    /* Non-blocking decisions, for a store that asks a server (redis); NULL in the
     * others, which decide at once through take. send: queue a decision, 0 and
     * *ticket or -1 with err. pump: the I/O that can be done without waiting, and
     * decisions past their deadline failed. collect: LIMITER_PENDING; 0 with the
     * request in *r and the answer in *out; -1 with err (the ticket is gone after 0 and
     * -1); -2 for a ticket it does not know. forget: a ticket nobody will collect.
     * wait_info: the descriptor to watch (-1: none) with LIMITER_WANT_* events, and
     * the ns until the next deadline (-1: none). None of them waits. */
    int  (*send)(limiter_store_t *s, const char *key, size_t klen, const limiter_req_t *r,
                 uint64_t *ticket, char *err);
    void (*pump)(limiter_store_t *s);
    int  (*collect)(limiter_store_t *s, uint64_t ticket, limiter_req_t *r,
                    limiter_res_t *out, char *err);
    void (*forget)(limiter_store_t *s, uint64_t ticket);
    void (*wait_info)(limiter_store_t *s, int *fd, int *events, int64_t *timeout_ns);
} limiter_ops_t;

#define LIMITER_PENDING    1
#define LIMITER_WANT_READ  1
#define LIMITER_WANT_WRITE 2

struct limiter_store {
    const limiter_ops_t *ops;
    int                  injectable;             /* accepts req.now_ns (`local` only) */
    char                 name[LIMITER_ERRLEN];   /* for tostring: no secrets */
};

/* Options of limiter_open; zero means the default. */
typedef struct limiter_opts {
    double      timeout;        /* redis: connect and command timeout, and the deadline
                                   of a non-blocking decision, seconds (1) */
    uint32_t    slots;          /* shm: table size when this call creates it (4096) */
    const char *dir;            /* shm: directory of the mapping ("/dev/shm") */
    double      lock_timeout;   /* shm: longest wait for the lock, seconds (2) */
} limiter_opts_t;

typedef enum { LIMITER_OK = 0, LIMITER_EARG, LIMITER_EFAIL } limiter_status_t;

/* Open a store from its spec: "local", "process", "shm:NAME", "redis://…" (no NUL
 * inside: the binding refuses them). LIMITER_EARG: the spec or an option is malformed;
 * LIMITER_EFAIL: it could not be opened (err says why). */
limiter_status_t limiter_open(const char *spec, const limiter_opts_t *o,
                              limiter_store_t **out, char *err);

/* The constructors limiter_open dispatches to (memory.c, shm.c, redis.c); same
 * return convention. */
limiter_status_t limiter_local_open(limiter_store_t **out, char *err);
limiter_status_t limiter_process_open(limiter_store_t **out, char *err);
limiter_status_t limiter_shm_open(const char *name, const limiter_opts_t *o,
                                  limiter_store_t **out, char *err);
limiter_status_t limiter_redis_open(const char *url, const limiter_opts_t *o,
                                    limiter_store_t **out, char *err);

#ifdef LIMITER_TEST_HOOKS
/* Test hosts only (spec/c/, built by mk/limiter-tests.mk; never in the module): take
 * the shm store's lock and return holding it, so that a test can stop or kill the
 * process inside the critical section; and give it back. */
int  limiter_shm_hold_lock(limiter_store_t *s, char *err);
void limiter_shm_release_lock(limiter_store_t *s);
#endif

#pragma GCC visibility pop

#endif
