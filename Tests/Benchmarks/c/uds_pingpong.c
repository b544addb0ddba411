// Raw Unix-socket ping-pong, no protocol: the floor any RPC over a Unix socket pays on this machine.
// One server thread per connection echoes a 40-byte message (the size of a framed Health.Check);
// each client connection has one message in flight. Prints one line:
//   uds connections=N calls=C seconds=S rate=R p50_us=.. p99_us=.. p999_us=..
// Percentiles are exact (every latency kept and sorted), like the other anchors'.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { MSG = 40 };
static double deadline;
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
static int full(int fd, char *b, int n, int wr) {
    for (int d = 0; d < n;) {
        ssize_t r = wr ? write(fd, b + d, n - d) : read(fd, b + d, n - d);
        if (r <= 0) return -1;
        d += (int)r;
    }
    return 0;
}
static void *serve(void *arg) {
    int fd = (int)(long)arg;
    char b[MSG];
    while (full(fd, b, MSG, 0) == 0 && full(fd, b, MSG, 1) == 0) {}
    close(fd);
    return NULL;
}
typedef struct { int fd; double *lat; size_t n, cap; } Client;
static void *drive(void *arg) {
    Client *c = arg;
    char b[MSG] = {0};
    while (now() < deadline) {
        double t0 = now();
        if (full(c->fd, b, MSG, 1) || full(c->fd, b, MSG, 0)) break;
        if (c->n == c->cap) { c->cap = c->cap ? c->cap * 2 : 1 << 16; c->lat = realloc(c->lat, c->cap * sizeof(double)); }
        c->lat[c->n++] = now() - t0;
    }
    return NULL;
}
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s SOCKET CONNECTIONS SECONDS\n", argv[0]); return 2; }
    const char *path = argv[1];
    int conns = atoi(argv[2]);
    double seconds = atof(argv[3]);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    unlink(path);
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(ls, (void *)&addr, sizeof addr) || listen(ls, 128)) { perror("bind"); return 1; }
    Client *cs = calloc(conns, sizeof *cs);
    pthread_t *st = calloc(conns, sizeof *st), *ct = calloc(conns, sizeof *ct);
    for (int i = 0; i < conns; i++) {
        cs[i].fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(cs[i].fd, (void *)&addr, sizeof addr)) { perror("connect"); return 1; }
        int s = accept(ls, NULL, NULL);
        pthread_create(&st[i], NULL, serve, (void *)(long)s);
    }
    double start = now();
    deadline = start + seconds;
    for (int i = 0; i < conns; i++) pthread_create(&ct[i], NULL, drive, &cs[i]);
    for (int i = 0; i < conns; i++) pthread_join(ct[i], NULL);
    double elapsed = now() - start;
    size_t total = 0;
    for (int i = 0; i < conns; i++) total += cs[i].n;
    double *all = malloc((total ? total : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < conns; i++) { memcpy(all + k, cs[i].lat, cs[i].n * sizeof(double)); k += cs[i].n; close(cs[i].fd); }
    qsort(all, total, sizeof(double), cmp);
#define PCT(p) (total ? all[(size_t)((p) * (total - 1))] * 1e6 : 0)
    printf("uds connections=%d calls=%zu seconds=%.3f rate=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f\n", conns, total, elapsed,
           total / elapsed, PCT(0.50), PCT(0.99), PCT(0.999));
    for (int i = 0; i < conns; i++) pthread_join(st[i], NULL);
    unlink(path);
    return 0;
}
