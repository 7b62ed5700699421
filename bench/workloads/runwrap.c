/* runwrap: run a command and report its resource usage as the kernel
 * accounts it.
 *
 *   runwrap RESULT_FILE [NAME=VALUE ...] -- command [args...]
 *
 * Forks, applies the NAME=VALUE settings to the child's environment (this
 * is how LD_PRELOAD reaches the measured program without also being loaded
 * into the runner or this wrapper), execs the command, waits for it with
 * wait4 and writes one line to RESULT_FILE:
 *
 *   <wait status> <ru_maxrss KiB> <wall ns> <user us> <sys us>
 *
 * Why a wrapper: a child started directly from the Python runner inherits
 * the runner's RSS high-water mark across fork/vfork+exec (the kernel
 * carries the old mm's peak into the exec'd process), so its ru_maxrss
 * could never be lower than the runner's. This wrapper is tiny, so the
 * figure is the measured program's own peak (plus that of any descendants
 * it waited for, e.g. gcc's cc1). Exits 0 when it could run the command,
 * 127 when the exec failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: runwrap RESULT_FILE [NAME=VALUE ...] -- command [args...]\n");
        return 2;
    }
    int sep = 2;
    while (sep < argc && strcmp(argv[sep], "--") != 0)
        sep++;
    if (sep >= argc - 1) {
        fprintf(stderr, "runwrap: missing -- command\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("runwrap: fork");
        return 2;
    }
    if (pid == 0) {
        for (int i = 2; i < sep; i++) {
            char *eq = strchr(argv[i], '=');
            if (!eq)
                continue;
            *eq = 0;
            if (eq[1] == 0)
                unsetenv(argv[i]);
            else
                setenv(argv[i], eq + 1, 1);
        }
        execvp(argv[sep + 1], argv + sep + 1);
        fprintf(stderr, "runwrap: cannot exec %s: %s\n", argv[sep + 1], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("runwrap: wait4");
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long wall = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec);
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror("runwrap: result file");
        return 2;
    }
    fprintf(f, "%d %ld %lld %lld %lld\n", status, ru.ru_maxrss, wall,
            (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
            (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
    fclose(f);
    return 0;
}
