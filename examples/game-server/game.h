/* The game-server example host: options (main.c) and the threads' frame loops (loop.c). */
#ifndef GAME_SERVER_H
#define GAME_SERVER_H

#include <stddef.h>

#define GAME_MAX_THREADS 64

enum { PHASE_IDLE = 0, PHASE_LOAD = 1 };

typedef struct opts {
    const char *endpoint;
    const char *access_key_id, *access_key_secret, *security_token;   /* never printed */
    const char *scripts;     /* directory of the game.* modules, or NULL: ROOT/examples/game-server/lua */
    const char *root;        /* the checkout, or NULL when it cannot be found */
    int         threads, rooms, players, fps;
    long        resumes;     /* in total, across threads */
    double      idle_seconds, timeout;
} opts_t;

typedef struct samples {
    double *v;               /* frame times, ms */
    size_t  n, cap;
} samples_t;

/* One thread: its share of the resumes and what it measured. */
typedef struct worker {
    const opts_t *o;
    int           index;     /* 0-based */
    long          resumes;
    samples_t     frames[2]; /* wall time of each frame: PHASE_IDLE, PHASE_LOAD */
    samples_t     cpu[2];    /* this thread's CPU time in each frame */
    long          completed, errors, retries, late;
    double        seconds;   /* the loaded run, first frame to last */
    int           failed;
} worker_t;

/* Run every thread (w[0..o->threads-1], zeroed) to the end; nonzero when a thread
 * could not set up or run its frames (the reason is on stderr). */
int game_run(const opts_t *o, worker_t *w);

#endif
