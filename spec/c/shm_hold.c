/* Test host for the `shm:` limiter store (spec/20, spec/22): opens shm:NAME, takes its
 * lock and says "locked", then, holding it:
 *   die    waits to be killed — a process that dies inside the critical section;
 *   stop   stops itself (SIGSTOP, as a debugger would); once continued, releases the
 *          lock, says "released" and exits.
 * Linked with limiter objects built with LIMITER_TEST_HOOKS (mk/limiter-tests.mk), the
 * only place limiter_shm_hold_lock exists.
 * usage: shm_hold NAME die|stop [DIR] */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "limiter.h"

int main(int argc, char **argv) {
    limiter_store_t *s;
    limiter_opts_t o;
    char err[LIMITER_ERRLEN];
    if (argc < 3 || argc > 4 || (strcmp(argv[2], "die") != 0 && strcmp(argv[2], "stop") != 0)) {
        fprintf(stderr, "usage: shm_hold NAME die|stop [DIR]\n");
        return 2;
    }
    memset(&o, 0, sizeof o);
    if (argc == 4) o.dir = argv[3];
    if (limiter_shm_open(argv[1], &o, &s, err) != LIMITER_OK ||
        limiter_shm_hold_lock(s, err) != 0) {
        fprintf(stderr, "shm_hold: %s\n", err);
        return 1;
    }
    printf("locked\n");
    fflush(stdout);
    if (strcmp(argv[2], "die") == 0)
        for (;;) pause();
    raise(SIGSTOP);
    limiter_shm_release_lock(s);
    printf("released\n");
    fflush(stdout);
    s->ops->close(s);
    return 0;
}
