/* The libcurl multi driver. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <curl/curl.h>

#include "multi.h"

struct http_multi {
    CURLM *multi;
    int    running;
};

http_multi_t *http_multi_new(char err[HTTP_ERRLEN]) {
    http_multi_t *m;
    if (http_global_init(err) != 0) return NULL;
    m = calloc(1, sizeof *m);
    if (!m || !(m->multi = curl_multi_init())) {
        free(m);
        snprintf(err, HTTP_ERRLEN, "curl_multi_init failed");
        return NULL;
    }
    return m;
}

void http_multi_free(http_multi_t *m) {
    if (!m) return;
    curl_multi_cleanup(m->multi);
    free(m);
}

int http_multi_add(http_multi_t *m, http_xfer_t *x, char err[HTTP_ERRLEN]) {
    CURLMcode rc;
    x->done = 0;
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (void *)x);
    rc = curl_multi_add_handle(m->multi, x->easy);
    if (rc != CURLM_OK) {
        snprintf(err, HTTP_ERRLEN, "curl_multi_add_handle: %s", curl_multi_strerror(rc));
        return -1;
    }
    m->running++;
    return 0;
}

void http_multi_remove(http_multi_t *m, http_xfer_t *x) {
    if (curl_multi_remove_handle(m->multi, x->easy) == CURLM_OK && m->running > 0)
        m->running--;
}

int http_multi_running(const http_multi_t *m) { return m->running; }

static int collect_done(http_multi_t *m) {
    CURLMsg *msg;
    int left, finished = 0;
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        http_xfer_t *x = NULL;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;   /* msg dies with remove_handle */
        if (msg->msg != CURLMSG_DONE) continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(m->multi, easy);
        if (!x) continue;
        http_finish(x, (int)result);
        x->done = 1;
        finished++;
    }
    return finished;
}

static long monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait (curl_multi_poll returns at once when a new transfer wants starting, and early
 * on a signal), then one curl_multi_perform: perform looks at every transfer in flight,
 * so one per wake-up rather than one before and one after the wait. */
int http_multi_run(http_multi_t *m, int timeout_ms, char err[HTTP_ERRLEN]) {
    long deadline = monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int finished, still;
    for (;;) {
        long left = deadline - monotonic_ms();
        CURLMcode rc = curl_multi_poll(m->multi, NULL, 0, left > 0 ? (int)left : 0, NULL);
        if (rc == CURLM_OK) rc = curl_multi_perform(m->multi, &still);
        if (rc != CURLM_OK) {
            snprintf(err, HTTP_ERRLEN, "curl multi: %s", curl_multi_strerror(rc));
            return -1;
        }
        finished = collect_done(m);
        m->running = still;
        if (finished || still == 0 || monotonic_ms() >= deadline) return finished;
    }
}
