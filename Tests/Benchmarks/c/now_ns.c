// Prints CLOCK_MONOTONIC in nanoseconds (the clock wait_ready measures against).
#include <stdio.h>
#include <time.h>
int main(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    printf("%lld\n", t.tv_sec * 1000000000LL + t.tv_nsec);
    return 0;
}
