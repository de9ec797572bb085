/* Test host for the `process` limiter store (spec/20, spec/22): NTHREADS pthreads,
 * each with its own lua_State that requires aliyun.live.core and decides on KEY in
 * STORE with interval T, tolerance TAU and at most N grants per window W (seconds).
 *
 *   threads CPATH STORE KEY NTHREADS NGRANTS MODE T TAU N W
 *
 * Each thread takes NGRANTS grants and prints one line "T<i> <grant> <grant> …"; the
 * spec checks spacing and windows across all threads. MODE:
 *   try            spin on take(reserve=false) with now = core.monotonic() injected
 *                  (the `local` store only); a grant is `now`
 *   try_clock      spin on take(reserve=false) on the store's clock; a grant is
 *                  "before:after", the monotonic times around the call that got it
 *   reserve_clock  take(reserve=true) on the store's clock; a grant is
 *                  "before+wait:after+wait"
 *   fork           the threads spin on take(reserve=false) while the main thread forks
 *                  NGRANTS children one after the other; each child must decide once
 *                  (on its own lua_State, made before the fork) within 5 s. Prints
 *                  "F forks=<n> ok=<k>" and exits 1 at the first child that cannot.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#define MAX_THREADS 64

static const char chunk[] =
    "local cpath, store, key, n, mode, start, T, tau, N, W = ...\n"
    "package.cpath = cpath\n"
    "local core = require 'aliyun.live.core'\n"
    "local lim = assert(core.limiter(store))\n"
    "local fmt, out = string.format, {}\n"
    "local deadline = start + 60\n"
    "while core.monotonic() < start do end\n"
    "if mode == 'fork' then\n"
    "  local takes = 0\n"
    "  while keep_going() do assert(lim:take(key, T, tau, N, W, false)); takes = takes + 1 end\n"
    "  return tostring(takes)\n"
    "end\n"
    "while #out < n do\n"
    "  local now = core.monotonic()\n"
    "  if now > deadline then error('no progress after 60 s') end\n"
    "  if mode == 'try' then\n"
    "    local w = assert(lim:take(key, T, tau, N, W, false, nil, now))\n"
    "    if w == 0 then out[#out + 1] = fmt('%.9f', now) end\n"
    "  elseif mode == 'reserve_clock' then\n"
    "    local w = assert(lim:take(key, T, tau, N, W, true))\n"
    "    out[#out + 1] = fmt('%.9f:%.9f', now + w, core.monotonic() + w)\n"
    "  else\n"
    "    local w = assert(lim:take(key, T, tau, N, W, false))\n"
    "    if w == 0 then out[#out + 1] = fmt('%.9f:%.9f', now, core.monotonic()) end\n"
    "  end\n"
    "end\n"
    "lim:close()\n"
    "return table.concat(out, ' ')\n";

typedef struct job {
    const char *cpath, *store, *key, *mode;
    double      start, t, tau, w;
    int         n, count;
    char       *result;      /* malloc'ed line, or the error message */
    int         failed;
} job_t;

static volatile sig_atomic_t going = 1;
static pthread_mutex_t going_lock = PTHREAD_MUTEX_INITIALIZER;

static void pause_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = ms % 1000 * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {}
}

static int keep_going(lua_State *L) {
    int g;
    pthread_mutex_lock(&going_lock);
    g = going;
    pthread_mutex_unlock(&going_lock);
    lua_pushboolean(L, g);
    return 1;
}

static void *run(void *arg) {
    job_t *j = arg;
    lua_State *L = luaL_newstate();
    const char *s;
    if (!L) {
        j->result = strdup("cannot create a lua_State");
        j->failed = 1;
        return NULL;
    }
    luaL_openlibs(L);
    lua_register(L, "keep_going", keep_going);
    if (luaL_loadbuffer(L, chunk, sizeof chunk - 1, "=threads") != 0) {
        j->failed = 1;
    } else {
        lua_pushstring(L, j->cpath);
        lua_pushstring(L, j->store);
        lua_pushstring(L, j->key);
        lua_pushinteger(L, j->n);
        lua_pushstring(L, j->mode);
        lua_pushnumber(L, j->start);
        lua_pushnumber(L, j->t);
        lua_pushnumber(L, j->tau);
        lua_pushinteger(L, j->count);
        lua_pushnumber(L, j->w);
        j->failed = lua_pcall(L, 10, 1, 0) != 0;
    }
    s = lua_tostring(L, -1);
    j->result = strdup(s ? s : "(no message)");
    lua_close(L);
    return NULL;
}

/* A lua_State on the main thread with `lim` (a handle on STORE) and `core`. */
static lua_State *main_state(const char *cpath, const char *store) {
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_pushstring(L, cpath);
    lua_setglobal(L, "CPATH");
    lua_pushstring(L, store);
    lua_setglobal(L, "STORE");
    if (luaL_dostring(L, "package.cpath = CPATH\n"
                         "core = require('aliyun.live.core')\n"
                         "lim = assert(core.limiter(STORE))") != 0) {
        fprintf(stderr, "threads: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return NULL;
    }
    return L;
}

/* The start line: every thread begins at the same monotonic instant, after the slow
 * part (require) is done everywhere. */
static double start_time(lua_State *L) {
    double t = 0;
    if (luaL_dostring(L, "return core.monotonic() + 0.5") == 0) t = lua_tonumber(L, -1);
    lua_settop(L, 0);
    return t;
}

/* Fork n children while the threads decide; each child decides once on L. */
static int forks(lua_State *L, const char *key, int n) {
    int i, ok = 0, status;
    for (i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("threads: fork");
            break;
        }
        if (pid == 0) {
            alarm(5);   /* a child stuck on a lock inherited held is killed */
            lua_pushstring(L, key);
            lua_setglobal(L, "KEY");
            _exit(luaL_dostring(L, "return (assert(lim:take(KEY .. '/child', 1, 0, 0, 0, false)))") == 0 &&
                  lua_type(L, -1) == LUA_TNUMBER ? 0 : 1);
        }
        if (waitpid(pid, &status, 0) != pid) break;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "threads: child %d of %d %s %d\n", i + 1, n,
                    WIFSIGNALED(status) ? "killed by signal" : "exited with",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            break;
        }
        ok++;
        pause_ms(2);
    }
    printf("F forks=%d ok=%d\n", n, ok);
    return ok == n ? 0 : 1;
}

int main(int argc, char **argv) {
    pthread_t th[MAX_THREADS];
    job_t jobs[MAX_THREADS];
    int i, nthreads, failed = 0, fork_mode;
    double start;
    lua_State *L;
    if (argc != 11) {
        fprintf(stderr, "usage: threads CPATH STORE KEY NTHREADS NGRANTS MODE T TAU N W\n");
        return 2;
    }
    nthreads = atoi(argv[4]);
    if (nthreads < 1 || nthreads > MAX_THREADS) {
        fprintf(stderr, "threads: NTHREADS must be 1 to %d\n", MAX_THREADS);
        return 2;
    }
    fork_mode = strcmp(argv[6], "fork") == 0;
    if (!(L = main_state(argv[1], argv[2])) || !(start = start_time(L))) return 1;
    for (i = 0; i < nthreads; i++) {
        jobs[i].cpath = argv[1];
        jobs[i].store = argv[2];
        jobs[i].key = argv[3];
        jobs[i].n = atoi(argv[5]);
        jobs[i].mode = argv[6];
        jobs[i].t = atof(argv[7]);
        jobs[i].tau = atof(argv[8]);
        jobs[i].count = atoi(argv[9]);
        jobs[i].w = atof(argv[10]);
        jobs[i].start = start;
        jobs[i].result = NULL;
        jobs[i].failed = 0;
        if (pthread_create(&th[i], NULL, run, &jobs[i]) != 0) {
            fprintf(stderr, "threads: pthread_create failed\n");
            nthreads = i;
            failed = 1;
            break;
        }
    }
    if (fork_mode) {
        pause_ms(700);   /* past the start line: the threads are deciding */
        failed |= forks(L, argv[3], atoi(argv[5]));
        pthread_mutex_lock(&going_lock);
        going = 0;
        pthread_mutex_unlock(&going_lock);
    }
    for (i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        if (jobs[i].failed || !jobs[i].result) {
            fprintf(stderr, "threads: T%d: %s\n", i, jobs[i].result ? jobs[i].result : "out of memory");
            failed = 1;
        } else {
            printf("T%d %s\n", i, jobs[i].result);
        }
        free(jobs[i].result);
    }
    lua_close(L);
    return failed;
}
