/* GCRA and the slot table: pure (no clock, no I/O), shared by every store. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "limiter.h"

/* TATs saturate here, so `allow - now` cannot overflow for any now in ±1e18 ns. */
#define TIME_MAX ((int64_t)4000000000000000000LL)
#define SPAN_MAX 1e18                         /* ns: tolerances and waits, ~31 years */
#define NONE     UINT32_MAX

/* ------------------------------------------------------------------------ GCRA --- */

int limiter_req_init(limiter_req_t *r, double rate, double burst, int reserve,
                     double max_wait, int64_t now_ns, const char **why) {
    double t, tau;
    if (!(rate >= LIMITER_RATE_MIN && rate <= LIMITER_RATE_MAX)) {
        *why = "rate must be between 1e-9 and 1e9 per second";
        return -1;
    }
    if (!(burst >= 1 && burst <= LIMITER_BURST_MAX)) {
        *why = "burst must be between 1 and 1e6";
        return -1;
    }
    /* Rounding T up keeps the spacing at or above 1/rate; burst - 1 whole intervals
     * (rounded down) of tolerance keep a burst at or below `burst` slots. */
    t = ceil(1e9 / rate);
    tau = floor((burst - 1) * t);
    r->interval_ns = (int64_t)t;
    r->tau_ns = (int64_t)(tau > SPAN_MAX ? SPAN_MAX : tau);
    r->reserve = reserve != 0;
    if (!(max_wait >= 0)) r->max_wait_ns = -1;
    else r->max_wait_ns = (int64_t)(max_wait * 1e9 > SPAN_MAX ? SPAN_MAX : floor(max_wait * 1e9));
    r->now_ns = now_ns;
    return 0;
}

int limiter_gcra(int64_t *tat, int present, const limiter_req_t *r, int64_t now,
                 limiter_res_t *out) {
    int64_t t = (present && *tat > now) ? *tat : now;
    int64_t allow = t - r->tau_ns;
    int64_t wait = allow > now ? allow - now : 0;
    out->wait_ns = wait;
    if (wait > 0 && r->max_wait_ns >= 0 && wait > r->max_wait_ns) {
        out->outcome = LIMITER_TOO_LONG;
        return 0;
    }
    if (wait > 0 && !r->reserve) {
        out->outcome = LIMITER_DENIED;
        return 0;
    }
    out->outcome = LIMITER_GRANTED;
    *tat = t > TIME_MAX - r->interval_ns ? TIME_MAX : t + r->interval_ns;
    return 1;
}

/* ------------------------------------------------------------------ slot table --- */

/* The stores that matter for crash safety are these two: the slot's state word (which
 * publishes everything written to the slot before it) and its TAT. */
#if defined(__GNUC__) || defined(__clang__)
#  define PUBLISH(slot, st) __atomic_store_n(&(slot)->state, (uint32_t)(st), __ATOMIC_RELEASE)
#  define SET_TAT(slot, v)  __atomic_store_n(&(slot)->tat, (int64_t)(v), __ATOMIC_RELAXED)
#else
#  define PUBLISH(slot, st) (*(volatile uint32_t *)&(slot)->state = (uint32_t)(st))
#  define SET_TAT(slot, v)  (*(volatile int64_t *)&(slot)->tat = (int64_t)(v))
#endif

/* FNV-1a: keys come from the application, not from an adversary. */
uint32_t limiter_hash(const char *key, size_t klen) {
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < klen; i++) {
        h ^= (unsigned char)key[i];
        h *= 16777619u;
    }
    return h;
}

/* Index of `key`, or NONE; *ins gets where it would go: the first tombstone on its
 * chain, else the empty slot that ends it (NONE when there is neither). */
static uint32_t probe(const limiter_table_t *t, uint32_t h, const char *key, size_t klen,
                      uint32_t *ins) {
    uint32_t mask = t->n - 1, i = h & mask, k;
    *ins = NONE;
    for (k = 0; k < t->n; k++, i = (i + 1) & mask) {
        const limiter_slot_t *s = &t->slots[i];
        if (s->state == LIMITER_SLOT_EMPTY) {
            if (*ins == NONE) *ins = i;
            return NONE;
        }
        if (s->state == LIMITER_SLOT_TOMB) {
            if (*ins == NONE) *ins = i;
            continue;
        }
        if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0) return i;
    }
    return NONE;
}

/* A tombstone just before an empty slot ends no probe chain that reaches further, so
 * it may become empty too; walk back from the empty slot `i`. */
static void reclaim_before(limiter_table_t *t, uint32_t i) {
    uint32_t mask = t->n - 1, j = (i - 1) & mask;
    while (j != i && t->slots[j].state == LIMITER_SLOT_TOMB) {
        PUBLISH(&t->slots[j], LIMITER_SLOT_EMPTY);
        t->counts->filled--;
        j = (j - 1) & mask;
    }
}

static void put(limiter_table_t *t, uint32_t at, uint32_t h, const char *key, size_t klen,
                int64_t tat) {
    limiter_slot_t *s = &t->slots[at];
    int was_empty = s->state == LIMITER_SLOT_EMPTY;
    s->hash = h;
    s->klen = (uint16_t)klen;
    memcpy(s->key, key, klen);
    SET_TAT(s, tat);
    PUBLISH(s, LIMITER_SLOT_USED);
    if (was_empty) t->counts->filled++;
    t->counts->used++;
}

int limiter_table_take(limiter_table_t *t, const char *key, size_t klen,
                       const limiter_req_t *r, int64_t now, limiter_res_t *out) {
    uint32_t h = limiter_hash(key, klen), ins;
    uint32_t at = probe(t, h, key, klen, &ins);
    int64_t tat = 0;
    int sweep = 0;
    if (at != NONE) {
        tat = t->slots[at].tat;
        if (limiter_gcra(&tat, 1, r, now, out)) SET_TAT(&t->slots[at], tat);
        return 0;
    }
    if (!limiter_gcra(&tat, 0, r, now, out)) return 0;
    if (ins == NONE) sweep = 1;
    else if (t->slots[ins].state == LIMITER_SLOT_EMPTY && t->counts->filled + 1 > t->sweep_at) {
        /* A sweep is O(n): past sweep_at, one every n/8 new keys unless out of room. */
        if (t->counts->skip > 0 && t->counts->filled + 1 <= t->max_filled) t->counts->skip--;
        else sweep = 1;
    }
    if (sweep) {
        limiter_table_sweep(t, now);
        probe(t, h, key, klen, &ins);
    }
    if (ins == NONE) return -1;
    if (t->slots[ins].state == LIMITER_SLOT_EMPTY && t->counts->filled + 1 > t->max_filled)
        return -1;
    put(t, ins, h, key, klen, tat);
    return 0;
}

void limiter_table_remove(limiter_table_t *t, const char *key, size_t klen) {
    uint32_t ins, at = probe(t, limiter_hash(key, klen), key, klen, &ins);
    if (at == NONE) return;
    PUBLISH(&t->slots[at], LIMITER_SLOT_TOMB);
    t->counts->used--;
    if (t->slots[(at + 1) & (t->n - 1)].state == LIMITER_SLOT_EMPTY)
        reclaim_before(t, (at + 1) & (t->n - 1));
}

void limiter_table_sweep(limiter_table_t *t, int64_t now) {
    uint32_t i;
    for (i = 0; i < t->n; i++) {
        limiter_slot_t *s = &t->slots[i];
        if (s->state == LIMITER_SLOT_USED && s->tat <= now) {
            PUBLISH(s, LIMITER_SLOT_TOMB);
            t->counts->used--;
        }
    }
    for (i = 0; i < t->n; i++)
        if (t->slots[i].state == LIMITER_SLOT_EMPTY) reclaim_before(t, i);
    t->counts->skip = t->n / 8;
}

int limiter_table_copy(limiter_table_t *to, const limiter_table_t *from, int64_t now) {
    uint32_t i, ins;
    for (i = 0; i < from->n; i++) {
        const limiter_slot_t *s = &from->slots[i];
        if (s->state != LIMITER_SLOT_USED || s->tat <= now) continue;
        if (to->counts->filled + 1 > to->max_filled) return -1;
        probe(to, s->hash, s->key, s->klen, &ins);
        if (ins == NONE) return -1;
        put(to, ins, s->hash, s->key, s->klen, s->tat);
    }
    return 0;
}

void limiter_table_recount(limiter_table_t *t) {
    uint32_t i, filled = 0, used = 0;
    for (i = 0; i < t->n; i++) {
        uint32_t st = t->slots[i].state;
        if (st == LIMITER_SLOT_USED) used++;
        if (st != LIMITER_SLOT_EMPTY) filled++;
    }
    t->counts->filled = filled;
    t->counts->used = used;
    t->counts->skip = 0;
}

/* ------------------------------------------------------------ store dispatch --- */

limiter_status_t limiter_open(const char *spec, const limiter_opts_t *o,
                              limiter_store_t **out, char *err) {
    *out = NULL;
    if (strcmp(spec, "local") == 0) return limiter_local_open(out, err);
    if (strcmp(spec, "process") == 0) return limiter_process_open(out, err);
    if (strncmp(spec, "shm:", 4) == 0) return limiter_shm_open(spec + 4, o, out, err);
    if (strncmp(spec, "redis://", 8) == 0) return limiter_redis_open(spec, o, out, err);
    /* The spec is not echoed: a mistyped Redis URL may carry a password. */
    snprintf(err, LIMITER_ERRLEN, "unknown limiter store (expected \"local\", \"process\", "
             "\"shm:NAME\" or \"redis://HOST:PORT[/DB]\")");
    return LIMITER_EARG;
}
