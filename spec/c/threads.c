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
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A lua_State on the main thread with `core` (and `lim`, a handle on STORE). */
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

int main(int argc, char **argv) {
    pthread_t th[MAX_THREADS];
    job_t jobs[MAX_THREADS];
    int i, nthreads, failed = 0;
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
