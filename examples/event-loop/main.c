/* event-loop: an example C host that sleeps in its own event loop — poll(2) here, epoll
 * or libuv the same way — instead of calling client:poll(0) every frame.
 *
 *   event-loop [--resumes N] ENDPOINT
 *
 * It starts N resumes (10) with resume_async, then loops: client:poll(0) does the work,
 * client:fds() says which descriptors to watch and client:timeout() for how long at most,
 * and poll(2) sleeps until one is ready or the time is up. It prints
 *     done completed=N errors=E wakeups=W
 * (W: how many times poll(2) returned) and exits 0 when every resume succeeded.
 * Lua finds aliyun.live, its core and cjson through LUA_PATH / LUA_CPATH (from a
 * checkout: `. scripts/env.sh`); credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID and
 * ALIBABA_CLOUD_ACCESS_KEY_SECRET. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#if LUA_VERSION_NUM < 502
#define lua_rawlen lua_objlen
#endif

/* The Lua side: the client, the requests, and one step of the loop for C to call:
 * step() → pending, { fd, events, fd, events, … }, seconds to wait at most. */
static const char chunk[] =
    "local endpoint, n = ...\n"
    "local live = require 'aliyun.live'\n"
    "local client = live.new { endpoint = endpoint }\n"
    "local count = { completed = 0, errors = 0 }\n"
    "for i = 1, n do\n"
    "  client:resume_async({ domain = 'demo.aliyundoc.com', app = 'liveApp',\n"
    "                        stream = 'room' .. i }, function(res, err)\n"
    "    if res then count.completed = count.completed + 1 return end\n"
    "    count.errors = count.errors + 1\n"
    "    io.stderr:write('event-loop: ', tostring(err), '\\n')\n"
    "  end)\n"
    "end\n"
    "local function step()\n"
    "  local pending = client:poll(0)\n"
    "  local flat = {}\n"
    "  for _, w in ipairs(client:fds()) do\n"
    "    flat[#flat + 1], flat[#flat + 2] = w.fd, w.events\n"
    "  end\n"
    "  return pending, flat, client:timeout() or 1\n"
    "end\n"
    "return step, count\n";

static int fail(lua_State *L, const char *what) {
    fprintf(stderr, "event-loop: %s: %s\n", what, lua_tostring(L, -1));
    lua_close(L);
    return 1;
}

/* The descriptors of the flat list at the top of the stack into *fds (grown as needed). */
static nfds_t watch(lua_State *L, struct pollfd **fds, size_t *cap) {
    size_t n = lua_rawlen(L, -1) / 2, i;
    if (n > *cap) {
        struct pollfd *p = realloc(*fds, n * sizeof *p);
        if (!p) return 0;   /* no memory: wait for the timeout only */
        *fds = p;
        *cap = n;
    }
    for (i = 0; i < n; i++) {
        const char *ev;
        lua_rawgeti(L, -1, (int)(2 * i + 1));
        lua_rawgeti(L, -2, (int)(2 * i + 2));
        ev = lua_tostring(L, -1);
        (*fds)[i].fd = (int)lua_tointeger(L, -2);
        (*fds)[i].events = (short)((strchr(ev, 'r') ? POLLIN : 0) | (strchr(ev, 'w') ? POLLOUT : 0));
        (*fds)[i].revents = 0;
        lua_pop(L, 2);
    }
    return (nfds_t)n;
}

int main(int argc, char **argv) {
    long resumes = 10, wakeups = 0, completed, errors;
    const char *endpoint = NULL;
    struct pollfd *fds = NULL;
    size_t cap = 0;
    lua_State *L;
    int i;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--resumes") && i + 1 < argc) resumes = strtol(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !endpoint) endpoint = argv[i];
        else { fputs("usage: event-loop [--resumes N] ENDPOINT\n", stderr); return 2; }
    }
    if (!endpoint || resumes < 0 || resumes > 100000) {
        fputs("usage: event-loop [--resumes N (0-100000)] ENDPOINT\n", stderr);
        return 2;
    }

    L = luaL_newstate();
    if (!L) return 1;
    luaL_openlibs(L);
    if (luaL_loadbuffer(L, chunk, sizeof chunk - 1, "=event-loop")) return fail(L, "load");
    lua_pushstring(L, endpoint);
    lua_pushinteger(L, (lua_Integer)resumes);
    if (lua_pcall(L, 2, 2, 0)) return fail(L, "start");   /* stack: step, count */

    for (;;) {
        lua_Integer pending;
        double secs;
        nfds_t n;
        int ms;
        lua_pushvalue(L, 1);
        if (lua_pcall(L, 0, 3, 0)) { free(fds); return fail(L, "step"); }
        pending = lua_tointeger(L, -3);
        secs = lua_tonumber(L, -1);
        lua_pop(L, 1);
        n = watch(L, &fds, &cap);
        lua_pop(L, 2);
        if (pending == 0) break;
        /* The host's own wait: here poll(2), for what the client needs and no longer. */
        ms = (int)ceil((secs < 0 ? 0 : secs > 1 ? 1 : secs) * 1000);
        poll(fds, n, ms);
        wakeups++;
    }
    free(fds);

    lua_getfield(L, 2, "completed");
    lua_getfield(L, 2, "errors");
    completed = (long)lua_tointeger(L, -2);
    errors = (long)lua_tointeger(L, -1);
    printf("done completed=%ld errors=%ld wakeups=%ld\n", completed, errors, wakeups);
    lua_close(L);
    return errors == 0 && completed == resumes ? 0 : 1;
}
