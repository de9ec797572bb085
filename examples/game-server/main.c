/* game-server: an example C host embedding Lua with aliyun.live linked in statically.
 *
 *   game-server --endpoint URL [--threads 4] [--resumes 300] [options]
 *
 * Each thread owns one lua_State (its own aliyun.live client) and runs a 60 Hz frame
 * loop over Lua "room" scripts (lua/game/): the rooms play, and game events start
 * ResumeLiveStream requests with resume_async; every frame ends with client:poll(0).
 * The `process` limiter store, one per process, shares the 30/s quota between the
 * threads. A frame's time is its work: from its start to the moment the loop would
 * sleep. The loop first runs idle (the same rooms, no requests), then loaded, and
 * prints
 *     idle p50_ms=… p99_ms=… max_ms=…
 *     load seconds=… per_second=… retries=… late_frames=… frames=…
 *     cpu idle_p50_ms=… … frame_max_ms=…   (the thread's CPU time in its frames)
 *     frame p50_ms=X p99_ms=Y max_ms=Z completed=N errors=E
 * (completed: resumes that succeeded; errors: those that failed). Exit status 0 when
 * every resume succeeded, 1 when one failed or frames could not run, 2 on bad usage.
 * The threads and the frame loop are in loop.c. */
/* realpath is XSI. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "game.h"

static void usage(FILE *f) {
    fputs("usage: game-server --endpoint URL [options]\n"
          "  --endpoint URL            the Live API (or $ALIYUN_LIVE_ENDPOINT), e.g. the emulator\n"
          "  --threads N               threads, one lua_State each (4; 1-64)\n"
          "  --resumes N               ResumeLiveStream calls in total, across threads (300)\n"
          "  --rooms N                 rooms per thread (4; 1-64)\n"
          "  --players N               players per room (32; 2-1000)\n"
          "  --fps N                   frames per second (60; 1-1000)\n"
          "  --idle-seconds S          length of the idle run (3; 0-600)\n"
          "  --timeout S               give up on the loaded run after S s (resumes/10 + 60)\n"
          "  --access-key-id ID, --access-key-secret SECRET\n"
          "                            credentials (else ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET;\n"
          "                            else, for a loopback endpoint, the emulator's testid)\n"
          "  --scripts DIR             where game/*.lua are (the checkout's examples/game-server/lua)\n"
          "Lua files are found through LUA_PATH when it is set, else in the checkout.\n", f);
}

/* A whole decimal number within [lo, hi], or -1 after a message. */
static int parse_long(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "game-server: %s must be a whole number from %ld to %ld, got '%s'\n",
                opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_seconds(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "game-server: %s must be a number of seconds from %g to %g, got '%s'\n",
                opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Whether the URL's host is a loopback address (127.0.0.0/8, ::1, localhost): only
 * then may the emulator's well-known key be used. */
static int loopback_endpoint(const char *url) {
    const char *h = strstr(url, "://");
    size_t n;
    h = h ? h + 3 : url;
    if (strchr(h, '@')) return 0;             /* user info: not an emulator URL */
    if (strncmp(h, "[::1]", 5) == 0) return h[5] == '\0' || strchr(":/", h[5]) != NULL;
    n = strcspn(h, ":/?#");
    if (n == 9 && strncasecmp(h, "localhost", 9) == 0) return 1;
    if (n >= 9 && strncmp(h, "127.", 4) == 0) {
        size_t i;
        int dots = 0;
        for (i = 0; i < n; i++) {
            if (h[i] == '.') dots++;
            else if (h[i] < '0' || h[i] > '9') return 0;
        }
        return dots == 3;
    }
    return 0;
}

static const char *nonempty_env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Credentials: the flags, else the environment, else (loopback only) the emulator's. */
static int resolve_credentials(opts_t *o) {
    if (o->access_key_id || o->access_key_secret) {
        if (!(o->access_key_id && o->access_key_secret)) {
            fputs("game-server: --access-key-id and --access-key-secret go together\n", stderr);
            return -1;
        }
        return 0;
    }
    o->access_key_id = nonempty_env("ALIBABA_CLOUD_ACCESS_KEY_ID");
    o->access_key_secret = nonempty_env("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    if (o->access_key_id && o->access_key_secret) {
        o->security_token = nonempty_env("ALIBABA_CLOUD_SECURITY_TOKEN");
        return 0;
    }
    if (o->access_key_id || o->access_key_secret) {
        fputs("game-server: ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET "
              "go together\n", stderr);
        return -1;
    }
    if (!loopback_endpoint(o->endpoint)) {
        fputs("game-server: no credentials: give --access-key-id/--access-key-secret or set "
              "ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET\n", stderr);
        return -1;
    }
    o->access_key_id = "testid";
    o->access_key_secret = "testsecret";
    fputs("game-server: no credentials given; using the emulator's testid/testsecret "
          "(the endpoint is on loopback)\n", stderr);
    return 0;
}

/* The checkout root as seen from the executable (GAME_ROOT_REL, set by the makefile:
 * the executable lives in BUILD/examples/). */
#ifndef GAME_ROOT_REL
#define GAME_ROOT_REL "../../.."
#endif
static int checkout_root(char *out, size_t len) {
    char exe[PATH_MAX], joined[PATH_MAX + sizeof GAME_ROOT_REL + 1];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash;
    if (n <= 0) return -1;
    exe[n] = '\0';
    if (!(slash = strrchr(exe, '/'))) return -1;
    *slash = '\0';
    snprintf(joined, sizeof joined, "%s/%s", exe, GAME_ROOT_REL);
    if (!realpath(joined, out) || strlen(out) >= len) return -1;
    return 0;
}

static int parse_args(int argc, char **argv, opts_t *o) {
    int i;
    long v;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); exit(0); }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "game-server: unexpected argument '%s'\n", a);
            return -1;
        }
        if (!val) { fprintf(stderr, "game-server: %s needs a value\n", a); return -1; }
        i++;
        if (!strcmp(a, "--endpoint")) o->endpoint = val;
        else if (!strcmp(a, "--access-key-id")) o->access_key_id = val;
        else if (!strcmp(a, "--access-key-secret")) o->access_key_secret = val;
        else if (!strcmp(a, "--scripts")) o->scripts = val;
        else if (!strcmp(a, "--threads")) {
            if (parse_long(a, val, 1, GAME_MAX_THREADS, &v)) return -1;
            o->threads = (int)v;
        } else if (!strcmp(a, "--resumes")) {
            if (parse_long(a, val, 0, 1000000, &v)) return -1;
            o->resumes = v;
        } else if (!strcmp(a, "--rooms")) {
            if (parse_long(a, val, 1, 64, &v)) return -1;
            o->rooms = (int)v;
        } else if (!strcmp(a, "--players")) {
            if (parse_long(a, val, 2, 1000, &v)) return -1;
            o->players = (int)v;
        } else if (!strcmp(a, "--fps")) {
            if (parse_long(a, val, 1, 1000, &v)) return -1;
            o->fps = (int)v;
        } else if (!strcmp(a, "--idle-seconds")) {
            if (parse_seconds(a, val, 0, 600, &o->idle_seconds)) return -1;
        } else if (!strcmp(a, "--timeout")) {
            if (parse_seconds(a, val, 1, 86400, &o->timeout)) return -1;
        } else {
            fprintf(stderr, "game-server: unknown option '%s' (see --help)\n", a);
            return -1;
        }
    }
    if (!o->endpoint) o->endpoint = nonempty_env("ALIYUN_LIVE_ENDPOINT");
    if (!o->endpoint) {
        fputs("game-server: --endpoint URL is required (e.g. the emulator's "
              "http://127.0.0.1:PORT)\n", stderr);
        return -1;
    }
    return resolve_credentials(o);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *v, size_t n, double p) {
    size_t rank = (size_t)ceil(p * (double)n);
    if (rank < 1) rank = 1;
    return v[rank - 1];
}

/* Every thread's frame times (wall or CPU) of one phase, sorted; NULL when none. */
static double *merge(const worker_t *w, int n, int phase, int cpu, size_t *count) {
    size_t total = 0, at = 0;
    double *all;
    int i;
    for (i = 0; i < n; i++) total += (cpu ? w[i].cpu : w[i].frames)[phase].n;
    *count = total;
    if (!total || !(all = malloc(total * sizeof *all))) return NULL;
    for (i = 0; i < n; i++) {
        const samples_t *s = &(cpu ? w[i].cpu : w[i].frames)[phase];
        memcpy(all + at, s->v, s->n * sizeof *all);
        at += s->n;
    }
    qsort(all, total, sizeof *all, cmp_double);
    return all;
}

/* "p50_ms=… p99_ms=… max_ms=…" of sorted values, with a prefix for the names. */
static void print_spread(const char *prefix, const double *v, size_t n) {
    printf("%sp50_ms=%.3f %sp99_ms=%.3f %smax_ms=%.3f", prefix, percentile(v, n, 0.50),
           prefix, percentile(v, n, 0.99), prefix, v[n - 1]);
}

int main(int argc, char **argv) {
    opts_t o;
    worker_t *w;
    char root[PATH_MAX];
    double *idle, *load, *idle_cpu, *load_cpu, seconds = 0;
    size_t nidle, nload, n;
    long completed = 0, errors = 0, retries = 0, late = 0;
    int i, failed;

    memset(&o, 0, sizeof o);
    o.threads = 4;
    o.resumes = 300;
    o.rooms = 4;
    o.players = 32;
    o.fps = 60;
    o.idle_seconds = 3;
    if (parse_args(argc, argv, &o) != 0) return 2;
    if (o.timeout == 0) o.timeout = (double)o.resumes / 10 + 60;   /* 3x the quota's pace */
    if (checkout_root(root, sizeof root) == 0) o.root = root;
    if (!o.scripts && !o.root) {
        fputs("game-server: cannot find the checkout from the executable; give --scripts "
              "DIR and LUA_PATH\n", stderr);
        return 2;
    }

    if (!(w = calloc((size_t)o.threads, sizeof *w))) {
        fputs("game-server: out of memory\n", stderr);
        return 1;
    }
    failed = game_run(&o, w);

    for (i = 0; i < o.threads; i++) {
        completed += w[i].completed;
        errors += w[i].errors;
        retries += w[i].retries;
        late += w[i].late;
        if (w[i].seconds > seconds) seconds = w[i].seconds;
    }
    idle = merge(w, o.threads, PHASE_IDLE, 0, &nidle);
    load = merge(w, o.threads, PHASE_LOAD, 0, &nload);
    idle_cpu = merge(w, o.threads, PHASE_IDLE, 1, &n);
    load_cpu = merge(w, o.threads, PHASE_LOAD, 1, &n);
    if (idle) {
        fputs("idle ", stdout);
        print_spread("", idle, nidle);
        putchar('\n');
    }
    if (load) {
        printf("load seconds=%.3f per_second=%.2f retries=%ld late_frames=%ld frames=%zu\n",
               seconds, seconds > 0 ? (double)(completed + errors) / seconds : 0.0, retries,
               late, nload);
        /* The thread's CPU time in its frames: the work itself, without the time the
         * thread was not running (another thread, the server, other programs). */
        if (load_cpu) {
            fputs("cpu ", stdout);
            if (idle_cpu) {
                print_spread("idle_", idle_cpu, nidle);
                putchar(' ');
            }
            print_spread("frame_", load_cpu, nload);
            putchar('\n');
        }
        fputs("frame ", stdout);
        print_spread("", load, nload);
        printf(" completed=%ld errors=%ld\n", completed, errors);
    } else if (!failed) {
        fputs("game-server: no frames ran\n", stderr);
        failed = 1;
    }
    fflush(stdout);
    if (errors) fprintf(stderr, "game-server: %ld of %ld resumes failed\n", errors, o.resumes);
    free(idle);
    free(load);
    free(idle_cpu);
    free(load_cpu);
    for (i = 0; i < o.threads; i++) {
        free(w[i].frames[PHASE_IDLE].v);
        free(w[i].frames[PHASE_LOAD].v);
        free(w[i].cpu[PHASE_IDLE].v);
        free(w[i].cpu[PHASE_LOAD].v);
    }
    free(w);
    return failed || errors ? 1 : 0;
}
