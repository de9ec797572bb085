/* Limiter store `shm:NAME`: the slot table in a file-backed shared mapping
 * (/dev/shm/aliyun-live-NAME), shared by every process of this user on the host.
 *
 * - One process-shared, robust mutex in the mapping serializes decisions. A holder
 *   that died does not wedge the others: the next locker gets EOWNERDEAD, and since
 *   every slot mutation is a single aligned store (see limiter.h) the table is still
 *   valid; only its counters are recomputed. A holder that is stopped (SIGSTOP, a
 *   debugger) cannot be told from a slow one, so the wait is bounded (lock_timeout).
 * - The file is trusted only as far as it has to be. It is made complete under a
 *   temporary name (O_EXCL, 0600) and published with link(2), so the path never holds
 *   a half-made table; an existing file must be a regular file of ours (owner, no
 *   group/other write: in a world-writable directory someone else could have made it
 *   to hold the lock) with our header and exactly the size it declares. Only an empty
 *   file is initialized in place (under flock); anything else is refused untouched.
 * - Someone may still truncate or remove the file while it is mapped: touching a page
 *   past the end would be a SIGBUS. Every decision checks the file with fstat first
 *   and, when it changed, maps it again (re-creating or re-initializing an emptied
 *   one) or fails naming the file.
 * - Times are CLOCK_MONOTONIC nanoseconds, one clock for the whole host on Linux. */
#define _GNU_SOURCE   /* flock(2), pthread_mutex_clocklock */
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
#define SHM_VERSION       2u          /* 2: window logs, expiry, declared file size */
#define SHM_DIR           "/dev/shm"
#define SHM_PREFIX        "aliyun-live-"
#define SHM_NAME_MAX      64
#define SHM_DEFAULT_SLOTS 4096u
#define SHM_MAX_SLOTS     (1u << 20)
#define SHM_LOCK_TIMEOUT  2.0

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
    uint64_t         file_size;
    limiter_counts_t counts;
    pthread_mutex_t  lock;
} shm_header_t;

#define ROUND64(x)  (((x) + 63) / 64 * 64)
#define SLOTS_OFF   ROUND64(sizeof(shm_header_t))
#define CELLS_OFF(n) ROUND64(SLOTS_OFF + (size_t)(n) * sizeof(limiter_slot_t))
#define MAP_SIZE(n) (CELLS_OFF(n) + (size_t)(n) * LIMITER_RING_CELLS * sizeof(int64_t))

typedef struct shm_store {
    limiter_store_t base;
    shm_header_t   *hdr;          /* NULL: map again before the next decision */
    size_t          size;
    uint32_t        nslots;       /* as mapped; the header's copy is not trusted */
    int             fd;           /* kept open: fstat before each decision */
    uint32_t        want;         /* slots, should this store have to create the file */
    double          lock_timeout;
    char            path[4096];
} shm_store_t;

static const limiter_ops_t shm_ops;

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *errtext(int e, char *buf, size_t n) {
#ifdef __GLIBC__
    const char *m = strerror_r(e, buf, n);   /* the GNU one (_GNU_SOURCE above) */
    if (m != buf) snprintf(buf, n, "%s", m);
#else
    if (strerror_r(e, buf, n) != 0) snprintf(buf, n, "error %d", e);
#endif
    return buf;
}

/* Every failure names the file (whose name holds the store's). */
static void fail(const shm_store_t *s, char *err, const char *why) {
    snprintf(err, LIMITER_ERRLEN, "shm store %.100s: %.140s", s->path, why);
}

static void view(shm_store_t *s, limiter_table_t *t) {
    t->slots = (limiter_slot_t *)((char *)s->hdr + SLOTS_OFF);
    t->n = s->nslots;
    t->counts = &s->hdr->counts;
    t->sweep_at = t->n / 4 * 3;
    t->max_filled = t->n - 1;
    t->cells = (int64_t *)((char *)s->hdr + CELLS_OFF(s->nslots));
    t->rings = NULL;
}

static void detach(shm_store_t *s) {
    if (s->hdr) munmap(s->hdr, s->size);
    if (s->fd >= 0) close(s->fd);
    s->hdr = NULL;
    s->fd = -1;
}

/* ------------------------------------------------------------------- opening --- */

/* Write a fresh header and an empty table of n slots into the empty file fd. */
static int init_file(int fd, uint32_t n, shm_header_t **hdr, char *why, size_t whylen) {
    pthread_mutexattr_t a;
    size_t size = MAP_SIZE(n);
    shm_header_t *h;
    void *p;
    int rc;
    if (ftruncate(fd, (off_t)size) != 0) {
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
    h = p;
    h->version = SHM_VERSION;
    h->header_size = (uint32_t)sizeof(shm_header_t);
    h->slot_size = (uint32_t)sizeof(limiter_slot_t);
    h->nslots = n;
    h->mutex_size = (uint32_t)sizeof(pthread_mutex_t);
    h->ring_cells = LIMITER_RING_CELLS;
    h->file_size = size;
    if ((rc = pthread_mutexattr_init(&a)) == 0) {
        if ((rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED)) == 0 &&
            (rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) == 0)
            rc = pthread_mutex_init(&h->lock, &a);
        pthread_mutexattr_destroy(&a);
    }
    if (rc != 0) {
        munmap(p, size);
        errtext(rc, why, whylen);
        return -1;
    }
#if defined(__GNUC__) || defined(__clang__)
    __atomic_thread_fence(__ATOMIC_RELEASE);
#endif
    memcpy(h->magic, SHM_MAGIC, 8);   /* last: a file without it is never used */
    *hdr = h;
    return 0;
}

/* Map an existing, locked file after checking that its layout is ours. */
static int map_file(shm_store_t *s, const struct stat *st, char *why, size_t whylen) {
    shm_header_t h;
    void *p;
    if (st->st_size < (off_t)sizeof h || pread(s->fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
        memcmp(h.magic, SHM_MAGIC, 8) != 0) {
        snprintf(why, whylen, "not a limiter store (%lld bytes without its header: a foreign "
                 "or unfinished file; remove it)", (long long)st->st_size);
        return -1;
    }
    if (h.version != SHM_VERSION || h.header_size != sizeof(shm_header_t) ||
        h.slot_size != sizeof(limiter_slot_t) || h.mutex_size != sizeof(pthread_mutex_t) ||
        h.ring_cells != LIMITER_RING_CELLS) {
        snprintf(why, whylen, "made by an incompatible version (layout %u, this one is %u; "
                 "remove it once no process uses it)", h.version, SHM_VERSION);
        return -1;
    }
    if (h.nslots < 8 || h.nslots > SHM_MAX_SLOTS || (h.nslots & (h.nslots - 1)) != 0 ||
        h.file_size != MAP_SIZE(h.nslots) || st->st_size != (off_t)h.file_size) {
        snprintf(why, whylen, "corrupt header or wrong size (%lld bytes; remove it)",
                 (long long)st->st_size);
        return -1;
    }
    p = mmap(NULL, h.file_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    if (p == MAP_FAILED) {
        errtext(errno, why, whylen);
        return -1;
    }
    s->hdr = p;
    s->nslots = h.nslots;
    s->size = h.file_size;
    return 0;
}

/* Ours to use: a regular file, owned by us, writable by nobody else. */
static int check_owner(const struct stat *st, char *why, size_t whylen) {
    if (!S_ISREG(st->st_mode)) {
        snprintf(why, whylen, "not a regular file");
        return -1;
    }
    if (st->st_uid != geteuid()) {
        snprintf(why, whylen, "owned by uid %ld, not by this process's uid %ld (another user "
                 "could hold its lock)", (long)st->st_uid, (long)geteuid());
        return -1;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(why, whylen, "writable by group or others (mode %04o)",
                 (unsigned)(st->st_mode & 07777));
        return -1;
    }
    return 0;
}

/* Make the file under a temporary name and link it into place. 1: published (s->fd
 * and the mapping are set), 0: someone else published first, -1: failed. */
static int create_file(shm_store_t *s, char *why, size_t whylen) {
    char tmp[sizeof s->path + 8];
    shm_header_t *h;
    int fd, rc;
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", s->path);
    if ((fd = mkstemp(tmp)) < 0) {   /* O_CREAT|O_EXCL, 0600: never follows a link */
        errtext(errno, why, whylen);
        return -1;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (init_file(fd, s->want, &h, why, whylen) != 0) {
        unlink(tmp);
        close(fd);
        return -1;
    }
    rc = link(tmp, s->path) == 0 ? 0 : errno;   /* atomic, and fails if anything is there */
    unlink(tmp);
    if (rc != 0) {
        snprintf(why, whylen, "link: ");
        errtext(rc, why + 6, whylen - 6);
        munmap(h, MAP_SIZE(s->want));
        close(fd);
        return rc == EEXIST ? 0 : -1;
    }
    s->fd = fd;
    s->hdr = h;
    s->nslots = s->want;
    s->size = MAP_SIZE(s->want);
    return 1;
}

/* Open (or create) and map the file. */
static int attach(shm_store_t *s, char *err) {
    char why[200];
    struct stat st;
    int attempt, rc;
    for (attempt = 0; ; attempt++) {
        s->fd = open(s->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (s->fd >= 0) break;
        if (errno != ENOENT || attempt == 3) {
            fail(s, err, errno == ELOOP ? "a symbolic link (refused)" : errtext(errno, why, sizeof why));
            return -1;
        }
        rc = create_file(s, why, sizeof why);
        if (rc > 0) return 0;
        if (rc < 0) {
            fail(s, err, why);
            return -1;
        }
    }
    rc = -1;
    if (fstat(s->fd, &st) != 0) errtext(errno, why, sizeof why);
    else if (check_owner(&st, why, sizeof why) == 0) {
        while ((rc = flock(s->fd, LOCK_EX)) != 0 && errno == EINTR) {}
        if (rc != 0 || fstat(s->fd, &st) != 0) {
            errtext(errno, why, sizeof why);
            rc = -1;
        } else if (st.st_size == 0) {
            rc = init_file(s->fd, s->want, &s->hdr, why, sizeof why);
            if (rc == 0) {
                s->nslots = s->want;
                s->size = MAP_SIZE(s->want);
            }
        } else {
            rc = map_file(s, &st, why, sizeof why);
        }
        /* Explicitly: the mapping holds a reference to the open file description, so
         * close() alone would not release the flock. */
        flock(s->fd, LOCK_UN);
    }
    if (rc != 0) {
        fail(s, err, why);
        detach(s);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------- locking --- */

/* The holder's thread id: glibc keeps it in the futex word of a robust mutex. */
static long holder_of(pthread_mutex_t *m) {
#ifdef __GLIBC__
    return (long)(__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) & 0x3fffffff);
#else
    (void)m;
    return 0;
#endif
}

/* " (stopped)" when /proc says the thread is stopped or traced. */
static const char *stopped(long tid) {
    char path[64], buf[256], *p;
    FILE *f;
    size_t n;
    snprintf(path, sizeof path, "/proc/%ld/stat", tid);
    if (!(f = fopen(path, "r"))) return "";
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    return p && (p[2] == 'T' || p[2] == 't') ? " (stopped)" : "";
}

static int timed_lock(shm_store_t *s) {
    struct timespec ts;
    double t = s->lock_timeout;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
    clock_gettime(CLOCK_MONOTONIC, &ts);   /* immune to wall-clock steps */
#  define LOCK_UNTIL(m, ts) pthread_mutex_clocklock(m, CLOCK_MONOTONIC, ts)
#else
    clock_gettime(CLOCK_REALTIME, &ts);
#  define LOCK_UNTIL(m, ts) pthread_mutex_timedlock(m, ts)
#endif
    ts.tv_sec += (time_t)t;
    ts.tv_nsec += (long)((t - (double)(time_t)t) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return LOCK_UNTIL(&s->hdr->lock, &ts);
}

/* The file is what we mapped (not truncated, resized or removed), or mapped again. */
static int check_file(shm_store_t *s, char *err) {
    struct stat st;
    if (s->hdr) {
        if (fstat(s->fd, &st) == 0 && st.st_nlink > 0 && st.st_size == (off_t)s->size)
            return 0;
        detach(s);   /* the old mapping may now SIGBUS: never touch it again */
    }
    return attach(s, err);
}

static int shm_lock(shm_store_t *s, char *err) {
    char why[160];
    int rc;
    if (check_file(s, err) != 0) return -1;
    rc = pthread_mutex_trylock(&s->hdr->lock);
    if (rc == EBUSY) rc = timed_lock(s);
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
    if (rc == ETIMEDOUT) {
        long tid = holder_of(&s->hdr->lock);
        if (tid > 0)
            snprintf(why, sizeof why, "the lock is held by thread %ld%s for more than "
                     "lock_timeout (%g s)", tid, stopped(tid), s->lock_timeout);
        else
            snprintf(why, sizeof why, "the lock was held for more than lock_timeout (%g s)",
                     s->lock_timeout);
    } else if (rc == ENOTRECOVERABLE) {
        snprintf(why, sizeof why, "the lock is unrecoverable (remove the file to start over)");
    } else {
        snprintf(why, sizeof why, "lock: ");
        errtext(rc, why + 6, sizeof why - 6);
    }
    fail(s, err, why);
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
    if (rc != 0) {
        char why[120];
        snprintf(why, sizeof why, "the table is full (%u slots; remove the file and open "
                 "it with a larger 'slots')", t.n);
        fail(s, err, why);
    }
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
    detach(s);
    free(s);
}

static const limiter_ops_t shm_ops = { shm_take, shm_reset, shm_close,
                                        NULL, NULL, NULL, NULL, NULL };   /* decides at once */

#ifdef LIMITER_TEST_HOOKS
int limiter_shm_hold_lock(limiter_store_t *base, char *err) {
    if (base->ops != &shm_ops) {
        snprintf(err, LIMITER_ERRLEN, "not an shm store");
        return -1;
    }
    return shm_lock((shm_store_t *)base, err);
}

void limiter_shm_release_lock(limiter_store_t *base) { shm_unlock((shm_store_t *)base); }
#endif

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

limiter_status_t limiter_shm_open(const char *name, const limiter_opts_t *o,
                                  limiter_store_t **out, char *err) {
    const char *dir = o && o->dir ? o->dir : SHM_DIR;
    uint32_t want = o && o->slots ? o->slots : SHM_DEFAULT_SLOTS, n = 8;
    double lt = o && o->lock_timeout > 0 ? o->lock_timeout : SHM_LOCK_TIMEOUT;
    shm_store_t *s;

    if (!valid_name(name)) {
        snprintf(err, LIMITER_ERRLEN, "shm store name must be 1 to %d characters "
                 "from A-Z a-z 0-9 _ . -", SHM_NAME_MAX);
        return LIMITER_EARG;
    }
    if (want > SHM_MAX_SLOTS) {
        snprintf(err, LIMITER_ERRLEN, "shm store 'slots' must be at most %u", SHM_MAX_SLOTS);
        return LIMITER_EARG;
    }
    if (!(lt > 0 && lt <= 3600)) {
        snprintf(err, LIMITER_ERRLEN, "shm store 'lock_timeout' must be between 0 and 3600 seconds");
        return LIMITER_EARG;
    }
    if (!(s = calloc(1, sizeof *s))) {
        snprintf(err, LIMITER_ERRLEN, "limiter: out of memory");
        return LIMITER_EFAIL;
    }
    if ((size_t)snprintf(s->path, sizeof s->path - 8, "%s/%s%s", dir, SHM_PREFIX, name) >=
        sizeof s->path - 8) {
        free(s);
        snprintf(err, LIMITER_ERRLEN, "shm store directory is too long");
        return LIMITER_EARG;
    }
    while (n < want) n <<= 1;
    s->base.ops = &shm_ops;
    snprintf(s->base.name, sizeof s->base.name, "shm:%s", name);
    s->fd = -1;
    s->want = n;
    s->lock_timeout = lt;
    if (attach(s, err) != 0) {
        free(s);
        return LIMITER_EFAIL;
    }
    *out = &s->base;
    return LIMITER_OK;
}
