/* Test host for the `process` limiter store (spec/20-limiter_spec.lua): NTHREADS
 * pthreads, each with its own lua_State that requires aliyun.live.core and takes
 * NGRANTS slots of one key from STORE. Each thread prints one line
 *     T<i> <grant> <grant> …
 * and the spec checks, across all threads, that grants are spaced at least 1/RATE
 * apart and that none is missing or doubled. MODE:
 *   try        spin on take(reserve=false) with now = core.monotonic(); a grant is `now`
 *   reserve    take(reserve=true) with injected now; a grant is now + wait
 *   try_clock  spin on take(reserve=false) on the store's own clock; a grant is
 *              "before:after", the monotonic times around the call that got it
 * usage: threads CPATH STORE KEY NTHREADS NGRANTS RATE MODE */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#define MAX_THREADS 64

static const char chunk[] =
    "local cpath, store, key, rate, n, mode, start = ...\n"
    "package.cpath = cpath\n"
    "local core = require 'aliyun.live.core'\n"
    "local lim = assert(core.limiter(store))\n"
    "local fmt, out = string.format, {}\n"
    "local deadline = start + 60\n"
    "while core.monotonic() < start do end\n"
    "while #out < n do\n"
    "  local now = core.monotonic()\n"
    "  if now > deadline then error('no progress after 60 s') end\n"
    "  if mode == 'reserve' then\n"
    "    local w = assert(lim:take(key, rate, 1, true, now))\n"
    "    out[#out + 1] = fmt('%.9f', now + w)\n"
    "  elseif mode == 'try' then\n"
    "    local w = assert(lim:take(key, rate, 1, false, now))\n"
    "    if w == 0 then out[#out + 1] = fmt('%.9f', now) end\n"
    "  else\n"
    "    local w = assert(lim:take(key, rate, 1, false))\n"
    "    if w == 0 then out[#out + 1] = fmt('%.9f:%.9f', now, core.monotonic()) end\n"
    "  end\n"
    "end\n"
    "lim:close()\n"
    "return table.concat(out, ' ')\n";

typedef struct job {
    const char *cpath, *store, *key, *mode;
    double      rate, start;
    int         n;
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
        lua_pushnumber(L, j->rate);
        lua_pushinteger(L, j->n);
        lua_pushstring(L, j->mode);
        lua_pushnumber(L, j->start);
        j->failed = lua_pcall(L, 7, 1, 0) != 0;
    }
    s = lua_tostring(L, -1);
    j->result = strdup(s ? s : "(no message)");
    lua_close(L);
    return NULL;
}

/* The start line: every thread begins taking at the same monotonic instant, after the
 * slow part (require) is done everywhere. */
static double start_time(const char *cpath) {
    lua_State *L = luaL_newstate();
    double t = 0;
    luaL_openlibs(L);
    lua_pushstring(L, cpath);
    lua_setglobal(L, "CPATH");
    if (luaL_dostring(L, "package.cpath = CPATH\n"
                         "return require('aliyun.live.core').monotonic() + 0.5") == 0)
        t = lua_tonumber(L, -1);
    else
        fprintf(stderr, "threads: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return t;
}

int main(int argc, char **argv) {
    pthread_t th[MAX_THREADS];
    job_t jobs[MAX_THREADS];
    int i, nthreads, failed = 0;
    double start;
    if (argc != 8) {
        fprintf(stderr, "usage: threads CPATH STORE KEY NTHREADS NGRANTS RATE MODE\n");
        return 2;
    }
    nthreads = atoi(argv[4]);
    if (nthreads < 1 || nthreads > MAX_THREADS) {
        fprintf(stderr, "threads: NTHREADS must be 1 to %d\n", MAX_THREADS);
        return 2;
    }
    if (!(start = start_time(argv[1]))) return 1;
    for (i = 0; i < nthreads; i++) {
        jobs[i].cpath = argv[1];
        jobs[i].store = argv[2];
        jobs[i].key = argv[3];
        jobs[i].n = atoi(argv[5]);
        jobs[i].rate = atof(argv[6]);
        jobs[i].mode = argv[7];
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
    return failed;
}
