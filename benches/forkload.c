/* Fork load for benches/procs.sh: start RATE short programs a second for SECONDS
 * (half `/bin/true`, half `/bin/sh -c true`: a build server's shells), reaping as it
 * goes. Prints how many it started. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    long rate = argc > 1 ? atol(argv[1]) : 1000;
    double seconds = argc > 2 ? atof(argv[2]) : 30;
    char *truth[] = {"/bin/true", NULL};
    char *shell[] = {"/bin/sh", "-c", "true", NULL};
    double start = now();
    long started = 0;
    for (;;) {
        double elapsed = now() - start;
        if (elapsed >= seconds)
            break;
        while (started < (long)(elapsed * rate)) {
            char **args = started % 2 ? shell : truth;
            pid_t pid;
            if (posix_spawn(&pid, args[0], NULL, NULL, args, environ) == 0)
                started++;
        }
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        struct timespec tick = {0, 1000000};
        nanosleep(&tick, NULL);
    }
    while (wait(NULL) > 0) {
    }
    printf("%ld\n", started);
    return 0;
}
