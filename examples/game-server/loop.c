/* The threads of the game-server example: each makes its own lua_State, registers the
 * statically linked modules in package.preload, loads game.server (lua/game/server.lua)
 * and runs its frame loop, idle then loaded. The states share nothing; the one thing
 * the threads share through the library is its `process` limiter store (a mutex in
 * the core), which is how four clients keep to one account's quota. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "game.h"

/* The statically linked modules (libaliyun_live_core.a, lua-cjson's archive). */
int luaopen_aliyun_live_core(lua_State *L);
int luaopen_cjson_safe(lua_State *L);

/* Stack slots of a thread's state while its loop runs. */
#define SLOT_MSGH  1   /* message handler (traceback) */
#define SLOT_SRV   2   /* the game.server object */
#define SLOT_FRAME 3   /* its frame method */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;   /* stopping, cjson's open */
static int stopping;                                       /* a thread failed: all stop */
static pthread_barrier_t start_line;                       /* phases start together */

static void stop_all(void) {
    pthread_mutex_lock(&lock);
    stopping = 1;
    pthread_mutex_unlock(&lock);
}

static int stopped(void) {
    int s;
    pthread_mutex_lock(&lock);
    s = stopping;
    pthread_mutex_unlock(&lock);
    return s;
}

static void fail(worker_t *w, const char *what, const char *msg) {
    fprintf(stderr, "game-server: thread %d: %s: %s\n", w->index + 1, what,
            msg ? msg : "(no message)");
    w->failed = 1;
    stop_all();
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

static int msgh(lua_State *L) {
    const char *m = lua_tostring(L, 1);
    luaL_traceback(L, L, m ? m : "(error object is not a string)", 1);
    return 1;
}

/* lua-cjson's open writes a process-wide static (fpconv_init's decimal point) every
 * time a state opens it: opens are serialized so states on several threads do not
 * race on it. A pcall keeps an error from leaving the mutex locked. */
static int open_cjson_safe(lua_State *L) {
    int rc;
    pthread_mutex_lock(&lock);
    lua_pushcfunction(L, luaopen_cjson_safe);
    rc = lua_pcall(L, 0, 1, 0);
    pthread_mutex_unlock(&lock);
    if (rc != LUA_OK) return lua_error(L);
    return 1;
}

/* package.preload gets the static modules (they win over LUA_CPATH: a second copy of
 * the core from a core.so would have a `process` store, and so a quota, of its own);
 * package.path gets the game scripts and, unless LUA_PATH was set, the checkout's lua/. */
static const char paths_chunk[] =
    "local scripts, root, core, cjson = ...\n"
    "package.preload['aliyun.live.core'] = core\n"
    "package.preload['cjson.safe'] = cjson\n"
    "local v = _VERSION:match('%d+%.%d+')\n"
    "local env = v ~= '5.1' and os.getenv('LUA_PATH_' .. (v:gsub('%.', '_')))\n"
    "env = env or os.getenv('LUA_PATH')   -- as package.path was made from them\n"
    "local prefix = scripts .. '/?.lua;'\n"
    "if not env then\n"
    "  if not root then error('LUA_PATH is not set and the checkout was not found') end\n"
    "  prefix = prefix .. root .. '/lua/?.lua;' .. root .. '/lua/?/init.lua;'\n"
    "end\n"
    "package.path = prefix .. package.path\n";

static void push_cfg(lua_State *L, const worker_t *w) {
    const opts_t *o = w->o;
    lua_createtable(L, 0, 12);
    lua_pushinteger(L, w->index + 1);       lua_setfield(L, -2, "thread");
    lua_pushinteger(L, o->threads);         lua_setfield(L, -2, "threads");
    lua_pushinteger(L, w->resumes);         lua_setfield(L, -2, "resumes");
    lua_pushinteger(L, o->rooms);           lua_setfield(L, -2, "rooms");
    lua_pushinteger(L, o->players);         lua_setfield(L, -2, "players");
    lua_pushinteger(L, o->fps);             lua_setfield(L, -2, "fps");
    lua_pushstring(L, o->endpoint);         lua_setfield(L, -2, "endpoint");
    lua_pushstring(L, o->access_key_id);    lua_setfield(L, -2, "access_key_id");
    lua_pushstring(L, o->access_key_secret); lua_setfield(L, -2, "access_key_secret");
    if (o->security_token) {
        lua_pushstring(L, o->security_token);
        lua_setfield(L, -2, "security_token");
    }
}

/* A state with the server object and its frame method in their slots, or NULL. */
static lua_State *setup(worker_t *w) {
    const opts_t *o = w->o;
    char scripts[PATH_MAX + 32];
    lua_State *L = luaL_newstate();
    if (!L) { fail(w, "setup", "cannot create a lua_State (out of memory)"); return NULL; }
    luaL_openlibs(L);
    lua_pushcfunction(L, msgh);                                        /* SLOT_MSGH */
    if (o->scripts) snprintf(scripts, sizeof scripts, "%s", o->scripts);
    else snprintf(scripts, sizeof scripts, "%s/examples/game-server/lua", o->root);
    if (luaL_loadbuffer(L, paths_chunk, sizeof paths_chunk - 1, "=paths") != LUA_OK) goto lua_fail;
    lua_pushstring(L, scripts);
    if (o->root) lua_pushstring(L, o->root); else lua_pushnil(L);
    lua_pushcfunction(L, luaopen_aliyun_live_core);
    lua_pushcfunction(L, open_cjson_safe);
    if (lua_pcall(L, 4, 0, SLOT_MSGH) != LUA_OK) goto lua_fail;
    /* require "game.server" → module; module.new(cfg) → server */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "game.server");
    if (lua_pcall(L, 1, 1, SLOT_MSGH) != LUA_OK) goto lua_fail;
    lua_getfield(L, -1, "new");
    lua_remove(L, -2);
    push_cfg(L, w);
    if (lua_pcall(L, 1, 1, SLOT_MSGH) != LUA_OK) goto lua_fail;        /* SLOT_SRV */
    if (!lua_istable(L, SLOT_SRV)) {
        fail(w, "setup", "game.server.new did not return a server");
        lua_close(L);
        return NULL;
    }
    lua_getfield(L, SLOT_SRV, "frame");                                /* SLOT_FRAME */
    return L;
lua_fail:
    fail(w, "setup", lua_tostring(L, -1));
    lua_close(L);
    return NULL;
}

/* srv:NAME(arg) with one string argument or none; 0 or -1 (after fail). */
static int call_method(worker_t *w, lua_State *L, const char *name, const char *arg, int nres) {
    lua_getfield(L, SLOT_SRV, name);
    lua_pushvalue(L, SLOT_SRV);
    if (arg) lua_pushstring(L, arg);
    if (lua_pcall(L, arg ? 2 : 1, nres, SLOT_MSGH) != LUA_OK) {
        fail(w, name, lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

static int record(samples_t *s, double ms) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        double *v = realloc(s->v, cap * sizeof *v);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = ms;
    return 0;
}

/* The frame loop of one phase: frames at 1/fps on the monotonic clock; a frame that
 * overruns its slot is followed at once by the next (counted late), never by a burst
 * of catch-up frames. The idle phase runs idle_seconds; the loaded one until the
 * server says it is done (or the timeout). 0 or -1. */
static int run_phase(worker_t *w, lua_State *L, int phase) {
    const opts_t *o = w->o;
    const long period = 1000000000L / o->fps;
    const long frames = phase == PHASE_IDLE ? (long)(o->idle_seconds * o->fps + 0.5) : LONG_MAX;
    const double dt = 1.0 / o->fps;
    double t_start, deadline;
    struct timespec next;
    long n;
    if (call_method(w, L, "phase", phase == PHASE_IDLE ? "idle" : "load", 0) != 0) return -1;
    t_start = now_s();
    deadline = t_start + o->timeout;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (n = 0; n < frames; n++) {
        double t0, t1, c0, c1;
        int done;
        if (stopped()) return -1;
        c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        t0 = now_s();
        lua_pushvalue(L, SLOT_FRAME);
        lua_pushvalue(L, SLOT_SRV);
        lua_pushnumber(L, dt);
        if (lua_pcall(L, 2, 1, SLOT_MSGH) != LUA_OK) {
            fail(w, "frame", lua_tostring(L, -1));
            lua_pop(L, 1);
            return -1;
        }
        t1 = now_s();   /* the moment the loop would sleep */
        c1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        done = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (record(&w->frames[phase], (t1 - t0) * 1000) != 0 ||
            record(&w->cpu[phase], (c1 - c0) * 1000) != 0) {
            fail(w, "frame", "out of memory for frame times");
            return -1;
        }
        if (phase == PHASE_LOAD) {
            w->seconds = t1 - t_start;
            if (done) return 0;
            if (t1 > deadline) {
                char msg[96];
                snprintf(msg, sizeof msg, "not done after %.0f s (--timeout)", o->timeout);
                fail(w, "load", msg);
                return -1;
            }
        }
        next.tv_nsec += period;
        if (next.tv_nsec >= 1000000000L) { next.tv_sec++; next.tv_nsec -= 1000000000L; }
        if ((double)next.tv_sec + (double)next.tv_nsec / 1e9 < now_s()) {
            w->late++;
            clock_gettime(CLOCK_MONOTONIC, &next);
            continue;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {}
    }
    return 0;
}

/* srv:report() → {completed=, errors=, retries=, summary=} into w. */
static void report(worker_t *w, lua_State *L) {
    const char *summary;
    if (call_method(w, L, "report", NULL, 1) != 0) return;
    if (!lua_istable(L, -1)) {   /* lua_getfield on anything else could raise, unprotected */
        fail(w, "report", "game.server's report() did not return a table");
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, -1, "completed");
    w->completed = (long)lua_tointeger(L, -1);
    lua_getfield(L, -2, "errors");
    w->errors = (long)lua_tointeger(L, -1);
    lua_getfield(L, -3, "retries");
    w->retries = (long)lua_tointeger(L, -1);
    lua_getfield(L, -4, "summary");
    summary = lua_tostring(L, -1);
    if (w->errors && summary)
        fprintf(stderr, "game-server: thread %d: %s\n", w->index + 1, summary);
    lua_pop(L, 5);
}

static void *thread_main(void *arg) {
    worker_t *w = arg;
    lua_State *L = setup(w);
    int ok = L != NULL;
    pthread_barrier_wait(&start_line);     /* every state is ready: idle run */
    if (ok) ok = run_phase(w, L, PHASE_IDLE) == 0;
    pthread_barrier_wait(&start_line);     /* every idle run is over: loaded run */
    if (ok) ok = run_phase(w, L, PHASE_LOAD) == 0;
    if (L) {
        report(w, L);
        call_method(w, L, "close", NULL, 0);
        lua_close(L);
    }
    return NULL;
}

int game_run(const opts_t *o, worker_t *w) {
    pthread_t th[GAME_MAX_THREADS];
    int i, started, failed = 0, rc;
    if ((rc = pthread_barrier_init(&start_line, NULL, (unsigned)o->threads)) != 0) {
        fprintf(stderr, "game-server: pthread_barrier_init: %s\n", strerror(rc));
        return 1;
    }
    for (i = 0; i < o->threads; i++) {
        w[i].o = o;
        w[i].index = i;
        w[i].resumes = o->resumes / o->threads + (i < o->resumes % o->threads ? 1 : 0);
    }
    for (started = 0; started < o->threads; started++) {
        if ((rc = pthread_create(&th[started], NULL, thread_main, &w[started])) != 0) {
            /* The barrier counts every thread: without them all, none can pass it. */
            fprintf(stderr, "game-server: pthread_create: %s\n", strerror(rc));
            exit(1);
        }
    }
    for (i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        failed |= w[i].failed;
    }
    pthread_barrier_destroy(&start_line);
    return failed;
}
