/* Test host for the `shm:` limiter store (spec/20-limiter_spec.lua): opens shm:NAME,
 * takes its lock, says "locked" and waits to be killed — a process that dies inside
 * the critical section. Linked with limiter objects built with LIMITER_TEST_HOOKS
 * (mk/limiter-tests.mk), the only place limiter_shm_hold_lock exists.
 * usage: shm_hold NAME */
#include <stdio.h>
#include <unistd.h>

#include "limiter.h"

int main(int argc, char **argv) {
    limiter_store_t *s;
    char err[LIMITER_ERRLEN];
    if (argc != 2) {
        fprintf(stderr, "usage: shm_hold NAME\n");
        return 2;
    }
    if (limiter_shm_open(argv[1], NULL, &s, err) != LIMITER_OK ||
        limiter_shm_hold_lock(s, err) != 0) {
        fprintf(stderr, "shm_hold: %s\n", err);
        return 1;
    }
    printf("locked\n");
    fflush(stdout);
    for (;;) pause();
}
