/* icount: the number of user-mode instructions a program executes, counted
 * by single-stepping it under ptrace.
 *
 *   icount PROGRAM [ARGS...]      prints "icount: N instructions" on stderr
 *
 * Why: the bench counts instructions per malloc+free pair with callgrind,
 * but some allocators cannot start under valgrind (snmalloc reserves more
 * address space than valgrind lets it have), and this machine exposes no
 * hardware counters to perf. Single-stepping runs the real binary on the
 * real CPU, so it works for every allocator; it is slow (a few microseconds
 * per instruction), so the runner uses it with short runs and takes the
 * difference of two lengths, which cancels start-up and exit.
 *
 * It follows one thread: a program that starts threads has them run
 * uncounted. A `rep`-prefixed string instruction traps once per iteration,
 * so it counts as many steps as it repeats (callgrind counts it once). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t start_traced(char **argv) {
    pid_t pid = fork();
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Step the stopped child to its end; returns its wait status. Signals other
 * than the step trap are passed on to it. */
static int step_to_end(pid_t pid, uint64_t *steps) {
    int st, sig = 0;
    for (;;) {
        if (ptrace(PTRACE_SINGLESTEP, pid, NULL, (void *)(intptr_t)sig) != 0) {
            perror("icount: ptrace");
            exit(2);
        }
        if (waitpid(pid, &st, 0) < 0) {
            perror("icount: waitpid");
            exit(2);
        }
        if (WIFEXITED(st) || WIFSIGNALED(st)) return st;
        sig = WSTOPSIG(st) == SIGTRAP ? 0 : WSTOPSIG(st);
        if (sig == 0) (*steps)++;
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: icount PROGRAM [ARGS...]\n");
        return 2;
    }
    pid_t pid = start_traced(argv + 1);
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFSTOPPED(st)) {
        fprintf(stderr, "icount: cannot start %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    uint64_t steps = 0;
    st = step_to_end(pid, &steps);
    fprintf(stderr, "icount: %" PRIu64 " instructions\n", steps);
    if (WIFSIGNALED(st)) {
        fprintf(stderr, "icount: %s died of signal %d\n", argv[1], WTERMSIG(st));
        return 1;
    }
    return WEXITSTATUS(st);
}
