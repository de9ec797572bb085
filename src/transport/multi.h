/* Many transfers at once on a libcurl multi handle, which also keeps their connections
 * alive. Each transfer is an http_xfer_t prepared with http_prepare. */
#ifndef ALIYUN_LIVE_MULTI_H
#define ALIYUN_LIVE_MULTI_H

#include "http.h"

#pragma GCC visibility push(hidden)   /* see buf.h */

typedef struct http_multi http_multi_t;

http_multi_t *http_multi_new(char err[HTTP_ERRLEN]);
void          http_multi_free(http_multi_t *m);
/* Start x (already prepared). */
int           http_multi_add(http_multi_t *m, http_xfer_t *x, char err[HTTP_ERRLEN]);
/* Stop x early (it is not reported as done). */
void          http_multi_remove(http_multi_t *m, http_xfer_t *x);
/* Drive the transfers, waiting at most timeout_ms for activity (0 = do not wait) and
 * returning after the first wake-up that finished something, or at the timeout.
 * Finished transfers get http_finish'ed, leave the multi handle and have `done` set;
 * returns how many finished, or -1 with err. */
int           http_multi_run(http_multi_t *m, int timeout_ms, char err[HTTP_ERRLEN]);
/* Transfers in progress. */
int           http_multi_running(const http_multi_t *m);

#pragma GCC visibility pop

#endif
