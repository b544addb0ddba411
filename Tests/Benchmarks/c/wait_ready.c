// Start-up timer: from a given CLOCK_MONOTONIC start (ns, as run.sh read it just before starting
// subsidyd) until the socket answers a Health.Check with SERVING. Sends the exact frame of
// Protos/README.md §12 and expects that section's reply. Polls every millisecond for up to
// TIMEOUT seconds. Prints: ready_ms=N   (exit 1 on timeout).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}
static const unsigned char request[] = {
    0x00, 0x00, 0x00, 0x28, 0x08, 0x01, 0x10, 0x01, 0x1a, 0x1f, '/', 'f', 'o', 's', 'h', 'a', 'n', '.', 's', 'u', 'b', 's', 'i', 'd',
    'y', '.', 'v', '1', '.', 'H', 'e', 'a', 'l', 't', 'h', '/', 'C', 'h', 'e', 'c', 'k', 0x20, 0xe8, 0x07};
static const unsigned char serving[] = {0x00, 0x00, 0x00, 0x0a, 0x08, 0x01, 0x10, 0x03, 0x32, 0x02, 0x08, 0x01, 0x3a, 0x00};

static int healthy(const char *path) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    int ok = 0;
    if (connect(fd, (void *)&addr, sizeof addr) == 0 && write(fd, request, sizeof request) == (ssize_t)sizeof request) {
        unsigned char reply[sizeof serving];
        size_t got = 0;
        ssize_t r;
        while (got < sizeof reply && (r = read(fd, reply + got, sizeof reply - got)) > 0) got += (size_t)r;
        ok = got == sizeof reply && memcmp(reply, serving, sizeof reply) == 0;
    }
    close(fd);
    return ok;
}
int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s SOCKET START_NS TIMEOUT_SECONDS\n", argv[0]); return 2; }
    long long start = atoll(argv[2]), limit = now_ns() + (long long)(atof(argv[3]) * 1e9);
    while (now_ns() < limit) {
        if (healthy(argv[1])) {
            printf("ready_ms=%.1f\n", (now_ns() - start) / 1e6);
            return 0;
        }
        usleep(1000);
    }
    fprintf(stderr, "%s: not serving after %s s\n", argv[1], argv[3]);
    return 1;
}
