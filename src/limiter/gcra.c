/* The decision (GCRA + window log) and the slot table: pure (no clock, no I/O), shared
 * by every store but Redis, whose script (redis.c) is the same decision in Lua. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limiter.h"

#define NONE     UINT32_MAX
#define CELLS    LIMITER_RING_CELLS
#define TIME_MAX LIMITER_TIME_MAX

/* ------------------------------------------------------------------ decision --- */

/* Values read from a store may be anything (a corrupt file): clamp before arithmetic. */
static int64_t clamp(int64_t t) {
    return t > TIME_MAX ? TIME_MAX : t < -TIME_MAX ? -TIME_MAX : t;
}

static int64_t cell(const limiter_view_t *v, uint32_t j) {
    return clamp(v->cells[(v->head + j) % CELLS]);
}

int limiter_decide(const limiter_view_t *v, int64_t old_expires, const limiter_req_t *r,
                   int64_t now, limiter_res_t *out, int64_t *t0, int64_t *tat,
                   int64_t *expires) {
    uint32_t stored = v->cells ? v->stored : 0;
    int64_t t = now, x, e;
    if (v->present) {
        x = clamp(v->tat) - r->tau_ns;             /* GCRA */
        if (x > t) t = x;
        x = clamp(v->last);                        /* grants stay in order */
        if (x > t) t = x;
    }
    if (stored > 0) {
        x = cell(v, stored - 1);                   /* `last` may lag a writer that died */
        if (x > t) t = x;
        if (r->count > 0 && stored >= (uint32_t)r->count) {
            x = cell(v, stored - (uint32_t)r->count) + r->window_ns;   /* N-th newest + W */
            if (x > t) t = x;
        }
    }
    if (t > TIME_MAX) t = TIME_MAX;
    out->wait_ns = t - now;
    if (out->wait_ns > 0 && r->max_wait_ns >= 0 && out->wait_ns > r->max_wait_ns) {
        out->outcome = LIMITER_TOO_LONG;
        return 0;
    }
    if (out->wait_ns > 0 && !r->reserve) {
        out->outcome = LIMITER_DENIED;
        return 0;
    }
    out->outcome = LIMITER_GRANTED;
    *t0 = t;
    x = v->present && clamp(v->tat) > t ? clamp(v->tat) : t;
    *tat = x > TIME_MAX - r->interval_ns ? TIME_MAX : x + r->interval_ns;
    /* Forgettable once the TAT has passed and the newest grant left every window. */
    e = *tat;
    if (r->count > 0 && t + r->window_ns > e) e = clamp(t + r->window_ns);
    if (v->present && clamp(old_expires) > e) e = clamp(old_expires);
    *expires = e;
    return 1;
}

const char *limiter_check_reply(const limiter_req_t *r, const limiter_res_t *res) {
    if (res->wait_ns < 0) return "a negative wait";
    if (res->wait_ns > LIMITER_WAIT_MAX) return "a wait of more than 158 years";
    switch (res->outcome) {
    case LIMITER_GRANTED:
        if (!r->reserve && res->wait_ns != 0) return "granted a later slot without reserve";
        if (r->max_wait_ns >= 0 && res->wait_ns > r->max_wait_ns)
            return "granted a slot further away than max_wait";
        return NULL;
    case LIMITER_DENIED:
        if (r->reserve) return "denied although reserving";
        if (res->wait_ns == 0) return "denied with wait 0";
        return NULL;
    case LIMITER_TOO_LONG:
        if (r->max_wait_ns < 0) return "too long without a max_wait";
        if (res->wait_ns <= r->max_wait_ns) return "too long within max_wait";
        return NULL;
    }
    return "an unknown outcome";
}

/* ------------------------------------------------------------------ slot table --- */

/* The stores that matter for crash safety: the slot's state word (which publishes
 * everything written to the slot before it), and each field of a grant. */
#if defined(__GNUC__) || defined(__clang__)
#  define PUBLISH(slot, st) __atomic_store_n(&(slot)->state, (uint32_t)(st), __ATOMIC_RELEASE)
#  define SET64(field, v)   __atomic_store_n(&(field), (int64_t)(v), __ATOMIC_RELAXED)
#  define SET32(field, v)   __atomic_store_n(&(field), (uint32_t)(v), __ATOMIC_RELEASE)
#else
#  define PUBLISH(slot, st) (*(volatile uint32_t *)&(slot)->state = (uint32_t)(st))
#  define SET64(field, v)   (*(volatile int64_t *)&(field) = (int64_t)(v))
#  define SET32(field, v)   (*(volatile uint32_t *)&(field) = (uint32_t)(v))
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

static int64_t *cells_of(const limiter_table_t *t, uint32_t i) {
    if (t->cells) return t->cells + (size_t)i * CELLS;
    return t->rings ? t->rings[i] : NULL;
}

/* Decoded defensively: a ring word from a shared file cannot index out of bounds. */
static void view_of(const limiter_table_t *t, uint32_t i, limiter_view_t *v) {
    const limiter_slot_t *s = &t->slots[i];
    uint32_t w = s->ring;
    v->present = 1;
    v->tat = s->tat;
    v->last = s->last;
    v->cells = cells_of(t, i);
    v->head = (w & 0xff) % CELLS;
    v->stored = (w >> 8) & 0xff;
    if (v->stored > LIMITER_COUNT_MAX) v->stored = LIMITER_COUNT_MAX;
}

/* Store a grant into slot i: the ring cell first (a spare one), then the ring word,
 * then the other fields, each in one store. */
static void record(limiter_table_t *t, uint32_t i, int64_t t0, int64_t tat, int64_t expires) {
    limiter_slot_t *s = &t->slots[i];
    int64_t *c = cells_of(t, i);
    if (c) {
        uint32_t head = (s->ring & 0xff) % CELLS, stored = (s->ring >> 8) & 0xff;
        if (stored > LIMITER_COUNT_MAX) stored = LIMITER_COUNT_MAX;
        SET64(c[(head + stored) % CELLS], t0);
        if (stored < LIMITER_COUNT_MAX) stored++;
        else head = (head + 1) % CELLS;
        SET32(s->ring, head | stored << 8);
    }
    SET64(s->last, t0);
    SET64(s->tat, tat);
    SET64(s->expires, expires);
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

static void drop(limiter_table_t *t, uint32_t i) {
    PUBLISH(&t->slots[i], LIMITER_SLOT_TOMB);
    t->counts->used--;
    if (t->rings) {
        free(t->rings[i]);
        t->rings[i] = NULL;
    }
}

/* Fill the free slot `at` (its window log, if any, is `ring`), then publish it. */
static void put(limiter_table_t *t, uint32_t at, uint32_t h, const char *key, size_t klen,
                int64_t *ring) {
    limiter_slot_t *s = &t->slots[at];
    if (s->state == LIMITER_SLOT_EMPTY) t->counts->filled++;
    s->hash = h;
    s->klen = (uint16_t)klen;
    memcpy(s->key, key, klen);
    s->ring = 0;
    if (t->rings) t->rings[at] = ring;
}

int limiter_table_take(limiter_table_t *t, const char *key, size_t klen,
                       const limiter_req_t *r, int64_t now, limiter_res_t *out) {
    static const limiter_view_t absent = { 0, 0, 0, NULL, 0, 0 };
    uint32_t h = limiter_hash(key, klen), ins;
    uint32_t at = probe(t, h, key, klen, &ins);
    limiter_view_t v;
    int64_t t0, tat, expires, *ring = NULL;
    int sweep = 0;
    if (at != NONE) {
        view_of(t, at, &v);
        if (!limiter_decide(&v, t->slots[at].expires, r, now, out, &t0, &tat, &expires))
            return 0;
        if (t->rings && !t->rings[at] && r->count > 0) {
            if (!(t->rings[at] = malloc(CELLS * sizeof(int64_t)))) return -2;
            SET32(t->slots[at].ring, 0);
        }
        record(t, at, t0, tat, expires);
        return 0;
    }
    if (!limiter_decide(&absent, 0, r, now, out, &t0, &tat, &expires)) return 0;
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
    if (t->rings && r->count > 0 && !(ring = malloc(CELLS * sizeof(int64_t)))) return -2;
    put(t, ins, h, key, klen, ring);
    record(t, ins, t0, tat, expires);
    PUBLISH(&t->slots[ins], LIMITER_SLOT_USED);
    t->counts->used++;
    return 0;
}

void limiter_table_remove(limiter_table_t *t, const char *key, size_t klen) {
    uint32_t ins, at = probe(t, limiter_hash(key, klen), key, klen, &ins);
    if (at == NONE) return;
    drop(t, at);
    if (t->slots[(at + 1) & (t->n - 1)].state == LIMITER_SLOT_EMPTY)
        reclaim_before(t, (at + 1) & (t->n - 1));
}

void limiter_table_sweep(limiter_table_t *t, int64_t now) {
    uint32_t i;
    for (i = 0; i < t->n; i++)
        if (t->slots[i].state == LIMITER_SLOT_USED && t->slots[i].expires <= now) drop(t, i);
    for (i = 0; i < t->n; i++)
        if (t->slots[i].state == LIMITER_SLOT_EMPTY) reclaim_before(t, i);
    t->counts->skip = t->n / 8;
}

int limiter_table_move(limiter_table_t *to, limiter_table_t *from, int64_t now) {
    uint32_t i, ins, live = 0;
    for (i = 0; i < from->n; i++) {
        limiter_slot_t *s = &from->slots[i];
        if (s->state != LIMITER_SLOT_USED) continue;
        if (s->expires <= now) drop(from, i);
        else live++;
    }
    if (to->counts->filled + live > to->max_filled) return -1;
    for (i = 0; i < from->n; i++) {
        const limiter_slot_t *s = &from->slots[i];
        if (s->state != LIMITER_SLOT_USED) continue;
        probe(to, s->hash, s->key, s->klen, &ins);   /* finds room: counted above */
        if (to->slots[ins].state == LIMITER_SLOT_EMPTY) to->counts->filled++;
        to->slots[ins] = *s;
        to->counts->used++;
        if (to->rings) to->rings[ins] = from->rings ? from->rings[i] : NULL;
        if (from->rings) from->rings[i] = NULL;
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
    if (strncmp(spec, "redis://", 8) == 0) {
#ifdef ALIYUN_LIVE_NO_REDIS
        (void)o;
        snprintf(err, LIMITER_ERRLEN, "this build of aliyun-live has no redis:// store (it was "
                 "built without hiredis: install its headers and rebuild, e.g. with REDIS=1)");
        return LIMITER_EFAIL;
#else
        return limiter_redis_open(spec, o, out, err);
#endif
    }
    /* The spec is not echoed: a mistyped Redis URL may carry a password. */
    snprintf(err, LIMITER_ERRLEN, "unknown limiter store (expected \"local\", \"process\", "
             "\"shm:NAME\" or \"redis://HOST:PORT[/DB]\")");
    return LIMITER_EARG;
}
