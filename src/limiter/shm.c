/* Limiter store `shm:NAME`: the slot table in a file-backed shared mapping
 * (/dev/shm/aliyun-live-NAME), shared by every process on the host that opens NAME.
 *
 * - One process-shared, robust mutex in the mapping serializes decisions. A process
 *   killed while holding it must not wedge the others: the next locker gets EOWNERDEAD,
 *   and since every slot mutation is a single aligned store (see limiter.h) the table is
 *   still valid; only its counters are recomputed before pthread_mutex_consistent.
 * - Creation races between processes are settled with flock(2) on the file while the
 *   header is checked or written; the magic is written last, so a creator that died
 *   half-way leaves a file the next opener initializes again.
 * - Times are CLOCK_MONOTONIC nanoseconds, one clock for the whole host on Linux. */
#define _DEFAULT_SOURCE   /* flock(2): locks the open file description, so it also
                             excludes other threads of this process, unlike fcntl locks */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "limiter.h"

#define SHM_MAGIC         "ALVLIMIT"
#define SHM_VERSION       2u          /* 2: window logs and expiry per key */
#define SHM_DIR           "/dev/shm"
#define SHM_PREFIX        "aliyun-live-"
#define SHM_NAME_MAX      64
#define SHM_DEFAULT_SLOTS 4096u
#define SHM_MAX_SLOTS     (1u << 20)

/* The layout at the start of the mapping; the slots follow at SLOTS_OFF, the window
 * logs (LIMITER_RING_CELLS per slot) at CELLS_OFF. The sizes are recorded so that a
 * build with another layout (or pthread ABI) refuses the file instead of misreading it. */
typedef struct shm_header {
    char             magic[8];
    uint32_t         version;
    uint32_t         header_size;
    uint32_t         slot_size;
    uint32_t         nslots;
    uint32_t         mutex_size;
    uint32_t         ring_cells;
    limiter_counts_t counts;
    pthread_mutex_t  lock;
} shm_header_t;

#define ROUND64(x)  (((x) + 63) / 64 * 64)
#define SLOTS_OFF   ROUND64(sizeof(shm_header_t))
#define CELLS_OFF(n) ROUND64(SLOTS_OFF + (size_t)(n) * sizeof(limiter_slot_t))
#define MAP_SIZE(n) (CELLS_OFF(n) + (size_t)(n) * LIMITER_RING_CELLS * sizeof(int64_t))

typedef struct shm_store {
    limiter_store_t base;
    shm_header_t   *hdr;
    size_t          size;
} shm_store_t;

static const limiter_ops_t shm_ops;

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *errtext(int e, char *buf, size_t n) {
    if (strerror_r(e, buf, n) != 0) snprintf(buf, n, "error %d", e);
    return buf;
}

static void view(shm_store_t *s, limiter_table_t *t) {
    t->slots = (limiter_slot_t *)((char *)s->hdr + SLOTS_OFF);
    t->n = s->hdr->nslots;
    t->counts = &s->hdr->counts;
    t->sweep_at = t->n / 4 * 3;
    t->max_filled = t->n - 1;
    t->cells = (int64_t *)((char *)s->hdr + CELLS_OFF(t->n));
    t->rings = NULL;
}

/* ------------------------------------------------------------------- locking --- */

static int shm_lock(shm_store_t *s, char *err) {
    char why[128];
    int rc = pthread_mutex_lock(&s->hdr->lock);
    if (rc == 0) return 0;
    if (rc == EOWNERDEAD) {
        /* Its owner died inside the critical section; the slots are valid by
         * construction, the counters may lag by one update. */
        limiter_table_t t;
        view(s, &t);
        limiter_table_recount(&t);
        rc = pthread_mutex_consistent(&s->hdr->lock);
        if (rc == 0) return 0;
        pthread_mutex_unlock(&s->hdr->lock);
    }
    if (rc == ENOTRECOVERABLE)
        snprintf(err, LIMITER_ERRLEN, "%.68s: the lock is unrecoverable (remove the file "
                 "to start over)", s->base.name);
    else
        snprintf(err, LIMITER_ERRLEN, "%.68s: lock failed: %.100s", s->base.name,
                 errtext(rc, why, sizeof why));
    return -1;
}

static void shm_unlock(shm_store_t *s) { pthread_mutex_unlock(&s->hdr->lock); }

/* -------------------------------------------------------------------- the ops --- */

/* Always the store's own clock: the table is shared, a caller's clock is not. */
static int shm_take(limiter_store_t *base, const char *key, size_t klen,
                    const limiter_req_t *r, limiter_res_t *out, char *err) {
    shm_store_t *s = (shm_store_t *)base;
    limiter_table_t t;
    int rc;
    if (shm_lock(s, err) != 0) return -1;
    view(s, &t);
    rc = limiter_table_take(&t, key, klen, r, monotonic_ns(), out);
    shm_unlock(s);
    if (rc != 0)
        snprintf(err, LIMITER_ERRLEN, "%.68s: the table is full (%u slots; remove the file "
                 "and open it with a larger 'slots')", base->name, t.n);
    return rc;
}

static int shm_reset(limiter_store_t *base, const char *key, size_t klen, char *err) {
    shm_store_t *s = (shm_store_t *)base;
    limiter_table_t t;
    if (shm_lock(s, err) != 0) return -1;
    view(s, &t);
    limiter_table_remove(&t, key, klen);
    shm_unlock(s);
    return 0;
}

static void shm_close(limiter_store_t *base) {
    shm_store_t *s = (shm_store_t *)base;
    if (s->hdr) munmap(s->hdr, s->size);
    free(s);
}

static const limiter_ops_t shm_ops = { shm_take, shm_reset, shm_close };

#ifdef LIMITER_TEST_HOOKS
int limiter_shm_hold_lock(limiter_store_t *base, char *err) {
    if (base->ops != &shm_ops) {
        snprintf(err, LIMITER_ERRLEN, "not an shm store");
        return -1;
    }
    return shm_lock((shm_store_t *)base, err);
}
#endif

/* ------------------------------------------------------------------- opening --- */

static int valid_name(const char *name) {
    size_t i, n = strlen(name);
    if (n < 1 || n > SHM_NAME_MAX) return 0;
    for (i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static uint32_t pow2_at_least(uint32_t n) {
    uint32_t p = 8;
    while (p < n) p <<= 1;
    return p;
}

/* Write a fresh header and empty table into fd (locked, any size). */
static int init_file(int fd, uint32_t nslots, shm_header_t **hdr, char *why, size_t whylen) {
    pthread_mutexattr_t a;
    size_t size = MAP_SIZE(nslots);
    void *p;
    int rc;
    /* Truncating to 0 first zeroes whatever a failed creator left behind. */
    if (ftruncate(fd, 0) != 0 || ftruncate(fd, (off_t)size) != 0) {
        errtext(errno, why, whylen);
        return -1;
    }
    /* Reserve the pages now: on tmpfs, a page that cannot be had later is a SIGBUS. */
    if ((rc = posix_fallocate(fd, 0, (off_t)size)) != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
        errtext(rc, why, whylen);
        return -1;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        errtext(errno, why, whylen);
        return -1;
    }
    *hdr = p;
    (*hdr)->version = SHM_VERSION;
    (*hdr)->header_size = (uint32_t)sizeof(shm_header_t);
    (*hdr)->slot_size = (uint32_t)sizeof(limiter_slot_t);
    (*hdr)->nslots = nslots;
    (*hdr)->mutex_size = (uint32_t)sizeof(pthread_mutex_t);
    (*hdr)->ring_cells = LIMITER_RING_CELLS;
    if ((rc = pthread_mutexattr_init(&a)) == 0) {
        if ((rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED)) == 0 &&
            (rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) == 0)
            rc = pthread_mutex_init(&(*hdr)->lock, &a);
        pthread_mutexattr_destroy(&a);
    }
    if (rc != 0) {
        munmap(p, size);
        *hdr = NULL;
        errtext(rc, why, whylen);
        return -1;
    }
#if defined(__GNUC__) || defined(__clang__)
    __atomic_thread_fence(__ATOMIC_RELEASE);
#endif
    memcpy((*hdr)->magic, SHM_MAGIC, 8);
    return 0;
}

/* Map an initialized file after checking that its layout is ours. */
static int map_file(int fd, const shm_header_t *h, off_t fsize, shm_header_t **hdr,
                    char *why, size_t whylen) {
    void *p;
    if (h->version != SHM_VERSION || h->header_size != sizeof(shm_header_t) ||
        h->slot_size != sizeof(limiter_slot_t) || h->mutex_size != sizeof(pthread_mutex_t) ||
        h->ring_cells != LIMITER_RING_CELLS) {
        snprintf(why, whylen, "made by an incompatible version (layout %u)", h->version);
        return -1;
    }
    if (h->nslots < 8 || h->nslots > SHM_MAX_SLOTS || (h->nslots & (h->nslots - 1)) != 0 ||
        fsize < (off_t)MAP_SIZE(h->nslots)) {
        snprintf(why, whylen, "corrupt header");
        return -1;
    }
    p = mmap(NULL, MAP_SIZE(h->nslots), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        errtext(errno, why, whylen);
        return -1;
    }
    *hdr = p;
    return 0;
}

limiter_status_t limiter_shm_open(const char *name, const limiter_opts_t *o,
                                  limiter_store_t **out, char *err) {
    char path[4096], why[160];
    const char *dir = o && o->dir ? o->dir : SHM_DIR;
    uint32_t want = o && o->slots ? o->slots : SHM_DEFAULT_SLOTS;
    shm_store_t *s;
    shm_header_t h;
    struct stat st;
    ssize_t got;
    int fd, rc;

    if (!valid_name(name)) {
        snprintf(err, LIMITER_ERRLEN, "shm store name must be 1 to %d characters "
                 "from A-Z a-z 0-9 _ . -", SHM_NAME_MAX);
        return LIMITER_EARG;
    }
    if (want > SHM_MAX_SLOTS) {
        snprintf(err, LIMITER_ERRLEN, "shm store 'slots' must be at most %u", SHM_MAX_SLOTS);
        return LIMITER_EARG;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/%s%s", dir, SHM_PREFIX, name) >= sizeof path) {
        snprintf(err, LIMITER_ERRLEN, "shm store directory is too long");
        return LIMITER_EARG;
    }
    if (!(s = calloc(1, sizeof *s))) {
        snprintf(err, LIMITER_ERRLEN, "limiter: out of memory");
        return LIMITER_EFAIL;
    }
    s->base.ops = &shm_ops;
    snprintf(s->base.name, sizeof s->base.name, "shm:%s", name);

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, LIMITER_ERRLEN, "shm:%.64s: %.100s: %.80s", name, path, errtext(errno, why, sizeof why));
        free(s);
        return LIMITER_EFAIL;
    }
    while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR) {}
    if (rc != 0 || fstat(fd, &st) != 0) {
        errtext(errno, why, sizeof why);
        rc = -1;
    } else {
        got = st.st_size >= (off_t)sizeof h ? pread(fd, &h, sizeof h, 0) : 0;
        if (got == (ssize_t)sizeof h && memcmp(h.magic, SHM_MAGIC, 8) == 0) {
            rc = map_file(fd, &h, st.st_size, &s->hdr, why, sizeof why);
            if (rc == 0) s->size = MAP_SIZE(h.nslots);
        } else {
            uint32_t n = pow2_at_least(want);
            rc = init_file(fd, n, &s->hdr, why, sizeof why);
            if (rc == 0) s->size = MAP_SIZE(n);
        }
    }
    /* Unlock explicitly: the mapping holds a reference to this open file description,
     * so close() alone would keep the flock for as long as the mapping lives. */
    flock(fd, LOCK_UN);
    close(fd);
    if (rc != 0) {
        snprintf(err, LIMITER_ERRLEN, "shm:%.64s: %.100s: %.80s", name, path, why);
        free(s);
        return LIMITER_EFAIL;
    }
    *out = &s->base;
    return LIMITER_OK;
}
