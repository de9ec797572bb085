/* resp_canned: a loopback server speaking just enough RESP (the Redis protocol) to
 * answer every command with one canned reply — replies that a real Redis running the
 * limiter's script cannot give (an absurd wait, a denial with wait 0, a wrong shape),
 * for spec/22-limiter_stores_spec.lua. One connection at a time.
 * usage: resp_canned REPLY    (REPLY with \r and \n written as escapes)
 * Prints "listening on PORT" once ready; stops on SIGTERM. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_MAX (1 << 20)

static char reply[4096];
static size_t reply_len;
static char buf[BUF_MAX];

static void decode(const char *s) {
    for (; *s && reply_len < sizeof reply; s++) {
        if (s[0] == '\\' && (s[1] == 'r' || s[1] == 'n')) {
            reply[reply_len++] = s[1] == 'r' ? '\r' : '\n';
            s++;
        } else {
            reply[reply_len++] = *s;
        }
    }
}

/* A number ending in \r\n at buf[*p]; -1 when incomplete or malformed. */
static long number(size_t len, size_t *p) {
    long v = 0;
    size_t i = *p;
    while (i < len && buf[i] >= '0' && buf[i] <= '9' && v < 100000000) v = v * 10 + (buf[i++] - '0');
    if (i + 1 >= len || buf[i] != '\r' || buf[i + 1] != '\n') return -1;
    *p = i + 2;
    return v;
}

/* Bytes of the first complete command in buf, 0 when there is none yet. */
static size_t command(size_t len) {
    size_t p = 1;
    long n, k, l;
    if (len == 0 || buf[0] != '*' || (n = number(len, &p)) < 0) return 0;
    for (k = 0; k < n; k++) {
        if (p >= len || buf[p] != '$') return 0;
        p++;
        if ((l = number(len, &p)) < 0 || p + (size_t)l + 2 > len) return 0;
        p += (size_t)l + 2;
    }
    return p;
}

static void serve(int c) {
    size_t len = 0, used;
    ssize_t got;
    while ((got = read(c, buf + len, sizeof buf - len)) > 0) {
        len += (size_t)got;
        while ((used = command(len)) > 0) {
            if (write(c, reply, reply_len) != (ssize_t)reply_len) return;
            memmove(buf, buf + used, len - used);
            len -= used;
        }
        if (len == sizeof buf) return;
    }
}

int main(int argc, char **argv) {
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int s, one = 1;
    if (argc != 2) {
        fprintf(stderr, "usage: resp_canned REPLY\n");
        return 2;
    }
    decode(argv[1]);
    signal(SIGPIPE, SIG_IGN);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 16) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &alen) != 0) {
        perror("resp_canned");
        return 1;
    }
    printf("listening on %d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        serve(c);
        close(c);
    }
}
