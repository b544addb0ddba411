// A minimal subsidyd client in C, shaped like the gRPC anchor's client (one thread per
// connection, one blocking Health.Check in flight each, every latency kept and sorted): the
// server's capacity with a client as lean as the protocol allows, beside subsidyd-bench rpc
// (the Swift client library) and gRPC C++ (its own client library).
//
// The request is encoded by hand from Protos/foshan/subsidy/v1/frame.proto: a 4-byte
// big-endian length, then a Frame {call_id = 1, kind = REQUEST, method = "/foshan.subsidy.v1.
// Health/Check", payload = empty HealthCheckRequest}. call_id 1 is reused: ids need only be
// unique among a connection's open calls. Each reply must be an END frame of call 1 with
// status OK (no status field, or code 0) carrying SERVING, or the run stops.
//
//   subsidyd_health SOCKET CONNECTIONS SECONDS
// prints: subsidyd-c connections=N calls=C seconds=S rate=R p50_us=.. p99_us=.. p999_us=..
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char method[] = "/foshan.subsidy.v1.Health/Check";
static unsigned char request[128];
static size_t request_len;
static double deadline;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int full(int fd, unsigned char *b, size_t n, int wr) {
    for (size_t d = 0; d < n;) {
        ssize_t r = wr ? write(fd, b + d, n - d) : read(fd, b + d, n - d);
        if (r <= 0) return -1;
        d += (size_t)r;
    }
    return 0;
}

static void encode_request(void) {
    unsigned char *p = request + 4;
    *p++ = 0x08; *p++ = 0x01;                         // call_id = 1
    *p++ = 0x10; *p++ = 0x01;                         // kind = FRAME_KIND_REQUEST
    *p++ = 0x1a; *p++ = (unsigned char)strlen(method);  // method
    memcpy(p, method, strlen(method)); p += strlen(method);
    size_t body = (size_t)(p - (request + 4));
    request[0] = 0; request[1] = 0; request[2] = (unsigned char)(body >> 8); request[3] = (unsigned char)body;
    request_len = body + 4;
}

// Reads one varint at *p (advancing it); -1 on truncation.
static int64_t varint(const unsigned char **p, const unsigned char *end) {
    uint64_t v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char c = *(*p)++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return (int64_t)v;
    }
    return -1;
}

// 0 if `frame` is END of call 1, OK, with a payload saying SERVING (HealthCheckResponse.status = 1).
static int check_reply(const unsigned char *frame, size_t n) {
    const unsigned char *p = frame, *end = frame + n;
    int64_t call = -1, kind = -1, code = 0, serving = 0;
    while (p < end) {
        int64_t key = varint(&p, end);
        if (key < 0) return -1;
        int field = (int)(key >> 3), type = (int)(key & 7);
        if (type == 0) {
            int64_t v = varint(&p, end);
            if (field == 1) call = v;
            if (field == 2) kind = v;
        } else if (type == 2) {
            int64_t len = varint(&p, end);
            if (len < 0 || len > end - p) return -1;
            const unsigned char *q = p, *qend = p + len;
            while (q < qend) {  // status (7) or payload (6): read their field 1
                int64_t k = varint(&q, qend);
                if (k < 0) break;
                if ((k & 7) == 0) {
                    int64_t v = varint(&q, qend);
                    if ((k >> 3) == 1 && field == 7) code = v;
                    if ((k >> 3) == 1 && field == 6) serving = v;
                } else if ((k & 7) == 2) {
                    int64_t l = varint(&q, qend);
                    if (l < 0 || l > qend - q) break;
                    q += l;
                } else {
                    break;
                }
            }
            p += len;
        } else {
            return -1;
        }
    }
    return call == 1 && kind == 3 && code == 0 && serving == 1 ? 0 : -1;
}

typedef struct { int fd; double *lat; size_t n, cap; int failed; } Client;

static int call(Client *c, unsigned char *reply, size_t reply_cap) {
    unsigned char header[4];
    if (full(c->fd, request, request_len, 1) || full(c->fd, header, 4, 0)) return -1;
    size_t n = ((size_t)header[0] << 24) | ((size_t)header[1] << 16) | ((size_t)header[2] << 8) | header[3];
    if (n > reply_cap || full(c->fd, reply, n, 0)) return -1;
    return check_reply(reply, n);
}

static void *drive(void *arg) {
    Client *c = arg;
    unsigned char reply[4096];
    while (now() < deadline) {
        double t0 = now();
        if (call(c, reply, sizeof reply)) { c->failed = 1; break; }
        if (c->n == c->cap) { c->cap = c->cap ? c->cap * 2 : 1 << 16; c->lat = realloc(c->lat, c->cap * sizeof(double)); }
        c->lat[c->n++] = (now() - t0) * 1e6;
    }
    return NULL;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s SOCKET CONNECTIONS SECONDS\n", argv[0]); return 2; }
    int connections = atoi(argv[2]);
    double seconds = atof(argv[3]);
    encode_request();
    Client *clients = calloc((size_t)connections, sizeof(Client));
    unsigned char reply[4096];
    for (int i = 0; i < connections; i++) {
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
        clients[i].fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(clients[i].fd, (struct sockaddr *)&addr, sizeof addr)) { perror("connect"); return 1; }
        // Warm up before the clock starts, and check the reply is what it should be.
        if (call(&clients[i], reply, sizeof reply)) { fprintf(stderr, "connection %d: warm-up call failed\n", i); return 1; }
    }
    pthread_t *threads = calloc((size_t)connections, sizeof(pthread_t));
    double start = now();
    deadline = start + seconds;
    for (int i = 0; i < connections; i++) pthread_create(&threads[i], NULL, drive, &clients[i]);
    size_t total = 0;
    for (int i = 0; i < connections; i++) {
        pthread_join(threads[i], NULL);
        if (clients[i].failed) { fprintf(stderr, "connection %d: a call failed\n", i); return 1; }
        total += clients[i].n;
    }
    double elapsed = now() - start;
    double *all = malloc((total ? total : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < connections; i++) { memcpy(all + k, clients[i].lat, clients[i].n * sizeof(double)); k += clients[i].n; }
    qsort(all, total, sizeof(double), compare);
    #define PCT(p) (total ? all[(size_t)((double)(total - 1) * (p))] : 0)
    printf("subsidyd-c connections=%d calls=%zu seconds=%.3f rate=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f\n", connections, total, elapsed,
           total / elapsed, PCT(0.50), PCT(0.99), PCT(0.999));
    return 0;
}
