/* The libcurl multi driver, on curl_multi_socket_action with the sockets and timer it
 * asks for tracked here. */
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <curl/curl.h>

#include "multi.h"

typedef struct msock {
    curl_socket_t fd;
    short         events;   /* POLLIN | POLLOUT */
} msock_t;

struct http_multi {
    CURLM   *multi;
    int      running;
    msock_t *socks;
    int      nsocks, capsocks;
    long     timer_at;      /* monotonic ms when libcurl wants a timeout action; -1 none */
    int      oom;           /* a socket could not be tracked: fall back to polling */
};

static long monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libcurl says which sockets to watch for what; it never calls this re-entrantly. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    http_multi_t *m = userp;
    int i;
    (void)easy; (void)socketp;
    for (i = 0; i < m->nsocks && m->socks[i].fd != s; i++) {}
    if (what == CURL_POLL_REMOVE) {
        if (i < m->nsocks) m->socks[i] = m->socks[--m->nsocks];
        return 0;
    }
    if (i == m->nsocks) {
        if (m->nsocks == m->capsocks) {
            int cap = m->capsocks ? m->capsocks * 2 : 16;
            msock_t *p = realloc(m->socks, (size_t)cap * sizeof *p);
            if (!p) { m->oom = 1; return 0; }
            m->socks = p;
            m->capsocks = cap;
        }
        m->socks[m->nsocks++].fd = s;
    }
    m->socks[i].events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) |
                                 ((what & CURL_POLL_OUT) ? POLLOUT : 0));
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp) {
    http_multi_t *m = userp;
    (void)multi;
    m->timer_at = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
    return 0;
}

http_multi_t *http_multi_new(char err[HTTP_ERRLEN]) {
    http_multi_t *m;
    if (http_global_init(err) != 0) return NULL;
    m = calloc(1, sizeof *m);
    if (!m || !(m->multi = curl_multi_init())) {
        free(m);
        snprintf(err, HTTP_ERRLEN, "curl_multi_init failed");
        return NULL;
    }
    m->timer_at = -1;
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    return m;
}

void http_multi_free(http_multi_t *m) {
    if (!m) return;
    curl_multi_cleanup(m->multi);
    free(m->socks);
    free(m);
}

int http_multi_add(http_multi_t *m, http_xfer_t *x, char err[HTTP_ERRLEN]) {
    CURLMcode rc;
    x->done = 0;
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (void *)x);
    rc = curl_multi_add_handle(m->multi, x->easy);   /* sets the timer: start at once */
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

int http_multi_fds(const http_multi_t *m, struct pollfd *fds, int cap) {
    int i;
    for (i = 0; i < m->nsocks && i < cap; i++) {
        fds[i].fd = m->socks[i].fd;
        fds[i].events = m->socks[i].events;
        fds[i].revents = 0;
    }
    return m->nsocks;
}

long http_multi_timeout(const http_multi_t *m) {
    long left;
    if (m->oom) return 0;              /* untracked sockets: drive it every time */
    if (m->timer_at < 0) return -1;
    left = m->timer_at - monotonic_ms();
    return left > 0 ? left : 0;
}

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
        if (m->running > 0) m->running--;
        if (!x) continue;
        http_finish(x, (int)result);
        x->done = 1;
        finished++;
    }
    return finished;
}

#define POLL_MAX 512   /* sockets of one client: at most its 256 transfers, a few more */

/* Rounds that act without waiting once the call is about to return (time is up, or a
 * transfer finished): a transfer that had to open a connection becomes writable right
 * after the round that started it, and its request should leave in this call, not at
 * the host's next poll a frame later (a late request could bunch with the next ones). */
#define IDLE_ROUNDS 8

int http_multi_run(http_multi_t *m, int timeout_ms, struct pollfd *extra, int nextra,
                   char err[HTTP_ERRLEN]) {
    long deadline = monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    struct pollfd fds[POLL_MAX];
    int finished = 0, i, n, ncurl, extra_ready, late = 0;
    for (;;) {
        long wait = late ? 0 : deadline - monotonic_ms(), t = http_multi_timeout(m);
        int still = 0, acted = 0;
        CURLMcode rc = CURLM_OK;
        if (wait < 0) wait = 0;
        if (t >= 0 && t < wait) wait = t;
        ncurl = http_multi_fds(m, fds, POLL_MAX - nextra);
        if (ncurl > POLL_MAX - nextra) { ncurl = POLL_MAX - nextra; m->oom = 1; }
        for (i = 0; i < nextra; i++) { fds[ncurl + i] = extra[i]; fds[ncurl + i].revents = 0; }
        n = poll(fds, (nfds_t)(ncurl + nextra), (int)wait);
        if (n < 0 && errno != EINTR) {
            snprintf(err, HTTP_ERRLEN, "poll: %s", strerror(errno));
            return -1;
        }
        for (i = 0; n > 0 && i < ncurl && rc == CURLM_OK; i++) {
            int ev = 0;
            if (!fds[i].revents) continue;
            if (fds[i].revents & POLLIN) ev |= CURL_CSELECT_IN;
            if (fds[i].revents & POLLOUT) ev |= CURL_CSELECT_OUT;
            if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) ev |= CURL_CSELECT_ERR;
            rc = curl_multi_socket_action(m->multi, fds[i].fd, ev, &still);
            acted = 1;
        }
        if (rc == CURLM_OK && (m->oom || http_multi_timeout(m) == 0)) {
            rc = curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &still);
            acted = 1;
        }
        if (rc != CURLM_OK) {
            snprintf(err, HTTP_ERRLEN, "curl multi: %s", curl_multi_strerror(rc));
            return -1;
        }
        finished += collect_done(m);
        extra_ready = 0;
        for (i = 0; i < nextra; i++) {
            extra[i].revents = fds[ncurl + i].revents;
            extra_ready |= extra[i].revents != 0;
        }
        if (m->running == 0) return finished;
        if (finished || extra_ready || monotonic_ms() >= deadline) {
            if (!acted || ++late >= IDLE_ROUNDS) return finished;
        }
    }
}
