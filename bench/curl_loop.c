/* Baseline for the client benchmarks: plain libcurl sending what the client sends — the
 * same method, URL, header lines and body, prepared once — over keep-alive connections,
 * sequentially or with K transfers in flight on a multi handle.
 *   curl_loop [-k K] [-w poll|socket] [-X METHOD] [-d BODY] [-A UA] [-H LINE]… URL N
 * prints "calls_per_second: X" and "cpu_us_per_call: Y" (user + sys of this process,
 * getrusage, over the N calls). -w: how the multi loop waits: poll (the usual
 * curl_multi_perform + curl_multi_poll, the default) or socket (curl_multi_socket_action
 * on the sockets libcurl asks for, watched with poll(2), as src/transport/multi.c does).
 * Bodies are read into nothing, as a minimal client would. */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>

static size_t sink(char *p, size_t size, size_t n, void *ud) {
    (void)p; (void)ud;
    return size * n;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static const char *method = "GET", *body, *url, *agent;
static struct curl_slist *headers;

static CURL *easy(void) {
    CURL *c = curl_easy_init();
    if (!c) { fprintf(stderr, "curl_easy_init failed\n"); exit(1); }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    if (agent) curl_easy_setopt(c, CURLOPT_USERAGENT, agent);
    if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    }
    return c;
}

static int good(CURL *c, CURLcode rc) {
    long status = 0;
    return rc == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
           status == 200;
}

static long sequential(long n) {
    CURL *c = easy();
    long i, ok = 0;
    for (i = 0; i < n; i++) ok += good(c, curl_easy_perform(c));
    curl_easy_cleanup(c);
    return ok;
}

/* ------------------------------------------------ K in flight on a multi --- */

typedef struct { curl_socket_t fd; short events; } sock_t;
static sock_t socks[1024];
static int nsocks;
static long timer_ms = -1;   /* what libcurl last asked for: -1 none */

static int on_socket(CURL *e, curl_socket_t s, int what, void *u, void *sp) {
    int i;
    (void)e; (void)u; (void)sp;
    for (i = 0; i < nsocks && socks[i].fd != s; i++) {}
    if (what == CURL_POLL_REMOVE) {
        if (i < nsocks) socks[i] = socks[--nsocks];
        return 0;
    }
    if (i == nsocks) {
        if (nsocks == (int)(sizeof socks / sizeof socks[0])) { fprintf(stderr, "sockets\n"); exit(1); }
        socks[nsocks++].fd = s;
    }
    socks[i].events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) |
                              ((what & CURL_POLL_OUT) ? POLLOUT : 0));
    return 0;
}

static int on_timer(CURLM *m, long ms, void *u) {
    (void)m; (void)u;
    timer_ms = ms;
    return 0;
}

/* Completed transfers: count them, start the next on the same handle (its connection
 * is kept). */
static void reap(CURLM *m, long n, long *started, long *ok, int *running) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
        CURL *c = msg->easy_handle;
        CURLcode rc = msg->data.result;
        if (msg->msg != CURLMSG_DONE) continue;
        *ok += good(c, rc);
        curl_multi_remove_handle(m, c);
        if (*started < n) {
            (*started)++;
            curl_multi_add_handle(m, c);
            (*running)++;
        }
    }
}

static long concurrent(long n, int k, int socket_mode) {
    CURLM *m = curl_multi_init();
    CURL **hs = calloc((size_t)k, sizeof *hs);
    long started = 0, ok = 0;
    int running = 0, i;
    if (socket_mode) {
        curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
    }
    for (i = 0; i < k && started < n; i++, started++) {
        hs[i] = easy();
        curl_multi_add_handle(m, hs[i]);
    }
    if (!socket_mode) {
        do {
            curl_multi_perform(m, &running);
            reap(m, n, &started, &ok, &running);
            if (running) curl_multi_poll(m, NULL, 0, 1000, NULL);
        } while (running);
    } else {
        struct pollfd fds[1024];
        running = (int)started;
        curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
        while (running) {
            int nf = nsocks, r;
            for (i = 0; i < nf; i++) { fds[i].fd = socks[i].fd; fds[i].events = socks[i].events; }
            r = poll(fds, (nfds_t)nf, timer_ms < 0 ? 1000 : (int)timer_ms);
            for (i = 0; r > 0 && i < nf; i++) {
                int ev = 0;
                if (!fds[i].revents) continue;
                if (fds[i].revents & POLLIN) ev |= CURL_CSELECT_IN;
                if (fds[i].revents & POLLOUT) ev |= CURL_CSELECT_OUT;
                if (fds[i].revents & (POLLERR | POLLHUP)) ev |= CURL_CSELECT_ERR;
                curl_multi_socket_action(m, fds[i].fd, ev, &running);
            }
            if (r == 0 || timer_ms == 0)
                curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
            reap(m, n, &started, &ok, &running);
        }
    }
    for (i = 0; i < k; i++) if (hs[i]) curl_easy_cleanup(hs[i]);
    free(hs);
    curl_multi_cleanup(m);
    return ok;
}

int main(int argc, char **argv) {
    long n, ok;
    int k = 1, socket_mode = 0, a;
    double t0, c0, t, c;
    for (a = 1; a + 1 < argc && argv[a][0] == '-'; a += 2) {
        const char *v = argv[a + 1];
        switch (argv[a][1]) {
        case 'k': k = atoi(v); break;
        case 'w': socket_mode = strcmp(v, "socket") == 0; break;
        case 'X': method = v; break;
        case 'd': body = v; break;
        case 'A': agent = v; break;
        case 'H': headers = curl_slist_append(headers, v); break;
        default: a = argc; break;
        }
    }
    if (argc - a != 2 || k < 1) {
        fprintf(stderr, "usage: curl_loop [-k K] [-w poll|socket] [-X METHOD] [-d BODY] "
                        "[-A UA] [-H LINE]... URL N\n");
        return 2;
    }
    url = argv[a];
    n = atol(argv[a + 1]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    t0 = now();
    c0 = cpu_seconds();
    ok = k > 1 ? concurrent(n, k, socket_mode) : sequential(n);
    c = cpu_seconds() - c0;
    t = now() - t0;
    curl_slist_free_all(headers);
    curl_global_cleanup();
    if (ok != n) { fprintf(stderr, "only %ld of %ld requests succeeded\n", ok, n); return 1; }
    printf("calls_per_second: %.0f\ncpu_us_per_call: %.2f\n", (double)n / t, c * 1e6 / (double)n);
    return 0;
}
