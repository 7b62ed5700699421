/* t_fork.c: fork() from a multi-threaded parent whose threads hammer the
 * allocator. The child allocates a lot, checks contents, frees blocks the
 * parent allocated, starts a thread, and exits 0. A watchdog makes a deadlock
 * fail instead of hanging.  usage: t_fork [forks] */
#include "testutil.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

enum { NHAMMER = 3, SHARED = 256, MAINBLK = 64 };

static atomic_int stop;
static void *_Atomic shared[SHARED];    /* blocks passed between hammer threads */
static size_t small_max, large_max;

static size_t pick(rng_t *r)
{
    uint64_t x = rng_below(r, 1000);
    return x < 850 ? rng_range(r, 1, 1024) : x < 996 ? rng_range(r, 1025, 200 * KiB)
                                                      : rng_range(r, large_max + 1, large_max + MiB);
}

static void *hammer(void *arg)
{
    rng_t r;
    rng_seed(&r, 77 + (uint64_t)(intptr_t)arg);
    void *loc[32] = {0};
    while (!atomic_load(&stop)) {
        size_t k = rng_below(&r, 32);
        if (loc[k]) { A_free(loc[k]); loc[k] = NULL; }
        else {
            size_t n = pick(&r);
            loc[k] = rng_below(&r, 4) ? A_malloc(n) : A_realloc(NULL, n);
            CHECK(loc[k]);
            memset(loc[k], 0x11, n < 256 ? n : 256);
        }
        /* swap a block with the shared array: remote frees */
        size_t s = rng_below(&r, SHARED);
        void *mine = A_malloc(rng_range(&r, 1, 300));
        CHECK(mine);
        void *old = atomic_exchange(&shared[s], mine);
        A_free(old);
    }
    for (int k = 0; k < 32; k++) A_free(loc[k]);
    return NULL;
}

static void *child_thread(void *arg)
{
    void **out = arg;
    void *p = A_malloc(12345);
    CHECK(p);
    memset(p, 0x22, 12345);
    *out = p;
    return NULL;
}

static int child_main(void **mainblk, size_t *mainsz, int iter)
{
    watchdog(20);
    /* blocks allocated by the parent's main thread before fork are intact */
    for (int i = 0; i < MAINBLK; i++)
        CHECK(pattern_check(mainblk[i], mainsz[i], (uint64_t)i) == (size_t)-1, "child: parent block %d corrupted", i);
    rng_t r;
    rng_seed(&r, 5000 + (uint64_t)iter);
    enum { N = 512 };
    void *b[N] = {0};
    size_t bs[N];
    for (int op = 0; op < 8000; op++) {
        int k = (int)rng_below(&r, N);
        if (b[k]) {
            CHECK(pattern_check(b[k], bs[k], (uint64_t)k * 31) == (size_t)-1, "child: block corrupted");
            A_free(b[k]);
            b[k] = NULL;
        } else {
            /* one huge block (a direct mapping, every page touched) in
             * every tenth child keeps the cost of huge blocks bounded */
            uint64_t x = rng_below(&r, 1000);
            bs[k] = x < 900 ? rng_range(&r, 1, 1024) : rng_range(&r, 1025, 200 * KiB);
            if (op == 4000 && iter % 10 == 0) bs[k] = large_max + 1 + rng_below(&r, MiB);
            b[k] = A_malloc(bs[k]);
            CHECK(b[k], "child malloc %zu", bs[k]);
            pattern_fill(b[k], bs[k], (uint64_t)k * 31);
        }
    }
    for (int k = 0; k < N; k++) A_free(b[k]);
    /* free what the parent allocated, including blocks of other threads */
    for (int i = 0; i < MAINBLK; i++) A_free(mainblk[i]);
    for (int s = 0; s < SHARED; s += 3) A_free(atomic_exchange(&shared[s], NULL));
    pthread_t t;
    void *tp = NULL;
    CHECK(pthread_create(&t, NULL, child_thread, &tp) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(tp);
    A_free(tp);
    return 0;
}

int main(int argc, char **argv)
{
    int forks = argc > 1 ? atoi(argv[1]) : (test_quick() ? 40 : 150);
    watchdog(240);
    small_max = cairn_small_max();
    large_max = cairn_large_max();
    void *mainblk[MAINBLK];
    size_t mainsz[MAINBLK];
    rng_t r;
    rng_seed(&r, 99);
    for (int i = 0; i < MAINBLK; i++) {
        mainsz[i] = pick(&r);
        mainblk[i] = A_malloc(mainsz[i]);
        CHECK(mainblk[i]);
        pattern_fill(mainblk[i], mainsz[i], (uint64_t)i);
    }
    pthread_t th[NHAMMER];
    for (intptr_t i = 0; i < NHAMMER; i++) CHECK(pthread_create(&th[i], NULL, hammer, (void *)i) == 0);
    double t0 = now_sec();
    for (int f = 0; f < forks; f++) {
        /* the main thread allocates too, right up to the fork */
        void *tmp = A_malloc(pick(&r));
        CHECK(tmp);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork failed");
        if (pid == 0) {
            A_free(tmp);
            exit(child_main(mainblk, mainsz, f));
        }
        A_free(tmp);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        if (WIFSIGNALED(status))
            CHECK(0, "child %d killed by signal %d", f, WTERMSIG(status));
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d exit status %d (3 = watchdog/deadlock)",
              f, WEXITSTATUS(status));
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < NHAMMER; i++) pthread_join(th[i], NULL);
    for (int s = 0; s < SHARED; s++) A_free(atomic_exchange(&shared[s], NULL));
    for (int i = 0; i < MAINBLK; i++) {
        CHECK(pattern_check(mainblk[i], mainsz[i], (uint64_t)i) == (size_t)-1);
        A_free(mainblk[i]);
    }
    CHECK(heap_check_ok());
    printf("t_fork: %d forks with %d busy threads, %.2fs: ok\n", forks, NHAMMER, now_sec() - t0);
    return 0;
}
