/* Baseline for the client benchmarks: plain libcurl doing keep-alive GETs of one
 * pre-signed URL, sequentially or with K transfers in flight on a multi handle.
 *   curl_loop URL N [K]   → prints "calls_per_second: X"
 * Bodies are read into a small buffer and dropped, as a minimal client would. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
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

static CURL *easy(const char *url) {
    CURL *c = curl_easy_init();
    if (!c) { fprintf(stderr, "curl_easy_init failed\n"); exit(1); }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    return c;
}

static long sequential(const char *url, long n) {
    CURL *c = easy(url);
    long i, ok = 0, status;
    for (i = 0; i < n; i++) {
        if (curl_easy_perform(c) == CURLE_OK &&
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200)
            ok++;
    }
    curl_easy_cleanup(c);
    return ok;
}

static long concurrent(const char *url, long n, int k) {
    CURLM *m = curl_multi_init();
    CURL **hs = calloc((size_t)k, sizeof *hs);
    long started = 0, ok = 0;
    int running = 0, i, left;
    CURLMsg *msg;
    for (i = 0; i < k && started < n; i++, started++) {
        hs[i] = easy(url);
        curl_multi_add_handle(m, hs[i]);
    }
    do {
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            CURL *c = msg->easy_handle;
            long status = 0;
            if (msg->msg != CURLMSG_DONE) continue;
            if (msg->data.result == CURLE_OK) {
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
                if (status == 200) ok++;
            }
            curl_multi_remove_handle(m, c);
            if (started < n) {   /* same handle again: its connection is kept */
                started++;
                curl_multi_add_handle(m, c);
                running++;
            }
        }
        if (running) curl_multi_poll(m, NULL, 0, 1000, NULL);
    } while (running);
    for (i = 0; i < k; i++) if (hs[i]) curl_easy_cleanup(hs[i]);
    free(hs);
    curl_multi_cleanup(m);
    return ok;
}

int main(int argc, char **argv) {
    long n, ok;
    int k;
    double t0, t;
    if (argc < 3) { fprintf(stderr, "usage: curl_loop URL N [K]\n"); return 2; }
    n = atol(argv[2]);
    k = argc > 3 ? atoi(argv[3]) : 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    t0 = now();
    ok = k > 1 ? concurrent(argv[1], n, k) : sequential(argv[1], n);
    t = now() - t0;
    curl_global_cleanup();
    if (ok != n) { fprintf(stderr, "only %ld of %ld requests succeeded\n", ok, n); return 1; }
    printf("calls_per_second: %.0f\n", (double)n / t);
    return 0;
}
