/* Many transfers at once on a libcurl multi handle, which also keeps their connections
 * alive. Each transfer is an http_xfer_t prepared with http_prepare. The sockets and
 * the timer libcurl wants watched are tracked (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION),
 * so a host with its own event loop can wait on them itself, and our own wait can
 * include other descriptors (a Redis connection) beside them. */
#ifndef ALIYUN_LIVE_MULTI_H
#define ALIYUN_LIVE_MULTI_H

#include <poll.h>

#include "http.h"

#pragma GCC visibility push(hidden)   /* see buf.h */

typedef struct http_multi http_multi_t;

http_multi_t *http_multi_new(char err[HTTP_ERRLEN]);
void          http_multi_free(http_multi_t *m);
/* Start x (already prepared). */
int           http_multi_add(http_multi_t *m, http_xfer_t *x, char err[HTTP_ERRLEN]);
/* Stop x early (it is not reported as done). */
void          http_multi_remove(http_multi_t *m, http_xfer_t *x);
/* Drive the transfers: wait at most timeout_ms (0 = do not wait) for activity on
 * libcurl's sockets or on `extra` (their revents are set on return), act on what is
 * ready, and return after the first wake-up that finished a transfer or made an extra
 * descriptor ready, or at the timeout. Finished transfers get http_finish'ed, leave the
 * multi handle and have `done` set. Returns how many finished, or -1 with err. */
int           http_multi_run(http_multi_t *m, int timeout_ms, struct pollfd *extra,
                             int nextra, char err[HTTP_ERRLEN]);
/* Transfers in progress. */
int           http_multi_running(const http_multi_t *m);
/* What to wait on: up to `cap` descriptors with the events libcurl wants (POLLIN /
 * POLLOUT) into fds; returns how many there are (may exceed cap). */
int           http_multi_fds(const http_multi_t *m, struct pollfd *fds, int cap);
/* Milliseconds until libcurl needs driving even without activity (0: now), -1: none. */
long          http_multi_timeout(const http_multi_t *m);

#pragma GCC visibility pop

#endif
