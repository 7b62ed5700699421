/* t_idle.c: memory comes back while the program makes no allocator call.
 * Allocates about 1 GiB of mixed sizes (small, large and huge blocks, every
 * page touched), frees all but a few blocks, and from then on only sleeps
 * and reads its RSS from /proc: RSS must fall below 64 MiB within a few
 * seconds. Only the background purger can do that.
 * usage: t_idle            in this process
 *        t_idle fork       in a child forked after the purger started in
 *                          the parent (the child must get a purger too)
 *        t_idle off        with CAIRN_BACKGROUND=0: RSS must stay high
 *                          (nothing purges without a purger or a call) */
#include "testutil.h"
#include <sys/wait.h>

#define MAXBLK 200000
static void *blk[MAXBLK];

static size_t pick(rng_t *r)
{
    uint64_t x = rng_below(r, 1000);
    if (x < 850) return rng_range(r, 16, 2048);
    if (x < 990) return rng_range(r, 2049, 256 * KiB);
    if (x < 999) return rng_range(r, 256 * KiB, 8 * MiB);
    return cairn_large_max() + rng_range(r, 1, 8 * MiB);
}

/* Allocate `total` bytes, keep one block in 200, free the rest. */
static size_t churn_up(size_t total)
{
    rng_t r;
    rng_seed(&r, 99);
    size_t n = 0, bytes = 0, kept = 0;
    while (bytes < total && n < MAXBLK) {
        size_t s = pick(&r);
        blk[n] = A_malloc(s);
        CHECK(blk[n], "malloc(%zu)", s);
        memset(blk[n], 0x3c, s);
        bytes += s;
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        if (i % 200 == 7) { blk[kept++] = blk[i]; continue; }
        A_free(blk[i]);
    }
    return kept;
}

/* Sleep and watch RSS, calling nothing in the allocator. Returns the
 * milliseconds it took to fall below `limit`, or -1. */
static long wait_for_rss(size_t limit, long max_ms)
{
    for (long ms = 0; ms <= max_ms; ms += 50) {
        if (rss_bytes() < limit) return ms;
        usleep(50 * 1000);
    }
    return -1;
}

static int run(const char *mode)
{
    size_t total = test_quick() ? 384 * MiB : GiB;
    size_t kept = churn_up(total);
    size_t high = rss_bytes();
    long ms = wait_for_rss(64 * MiB, strcmp(mode, "off") ? 8000 : 3000);
    size_t after = rss_bytes();
    fprintf(stderr, "t_idle %s: %zu MiB allocated, RSS %zu MiB right after the frees, %zu MiB after %ld ms\n",
            mode, total / MiB, high / MiB, after / MiB, ms);
    if (!strcmp(mode, "off")) {
        CHECK(ms < 0, "RSS fell to %zu MiB with no purger and no allocator call", after / MiB);
    } else {
        CHECK(ms >= 0, "RSS still %zu MiB after 8 s idle (limit 64 MiB)", after / MiB);
        cairn_stats_t st;
        cairn_stats_get(&st);
        CHECK(st.background_purger == 1, "the background purger is not running");
        CHECK(st.purged_bytes + (st.peak_mapped_bytes - st.mapped_bytes) >= total / 2,
              "only %" PRIu64 " MiB purged", st.purged_bytes / MiB);
    }
    for (size_t i = 0; i < kept; i++) A_free(blk[i]);
    CHECK(heap_check_ok());
    return 0;
}

int main(int argc, char **argv)
{
    watchdog(120);
    const char *mode = argc > 1 ? argv[1] : "here";
    if (strcmp(mode, "fork")) return run(mode);
    /* start the purger in the parent, then fork: the child has no purger
     * thread until it needs one */
    churn_up(64 * MiB);
    cairn_stats_t st;
    for (int i = 0; i < 100; i++) {
        cairn_stats_get(&st);
        if (st.background_purger) break;
        usleep(20 * 1000);
    }
    CHECK(st.background_purger == 1, "no purger in the parent");
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        cairn_stats_get(&st);
        if (st.background_purger) { fprintf(stderr, "child inherited a 'running' purger\n"); _exit(3); }
        _exit(run("fork-child"));
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    printf("t_idle: ok\n");
    return 0;
}
