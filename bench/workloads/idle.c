/* idle: does memory go back while a program makes no allocator calls?
 *
 * Allocates `total` bytes of mixed sizes (by count 75% 16 B-1 KiB, 20%
 * 1-64 KiB, 5% 64 KiB-4 MiB, log-uniform), touching every page, then frees
 * all but a random `keep_pct` percent of the blocks (in random order), and
 * then calls nothing in the allocator for `wait_ms` while it samples its own
 * RSS every 50 ms. RSS a second after the free and at the end are the
 * metrics; the whole curve is printed as a timeline.
 *
 * Parameters: total=1g keep_pct=1 wait_ms=3000 seed=1
 * Result: blocks allocated and kept. Metrics: rss_1s_kib, rss_end_kib,
 * live_kib (bytes still allocated).
 */
#include "common.h"

static size_t log_uniform(rng_t *r, size_t lo, size_t hi)
{
    double l = __builtin_log((double)lo), h = __builtin_log((double)hi + 1);
    size_t s = (size_t)__builtin_exp(l + (h - l) * rng_unit(r));
    return s < lo ? lo : s > hi ? hi : s;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

int main(int argc, char **argv)
{
    params_init(argc, argv);
    long long total = param("total", 1ll << 30), keep_pct = param("keep_pct", 1);
    long long wait_ms = param("wait_ms", 3000);
    rng_t r;
    rng_seed(&r, (uint64_t)param("seed", 1));
    if (total < (1 << 20) || keep_pct < 0 || keep_pct > 100 || wait_ms < 0)
        die("bad parameters");
    size_t cap = 1 << 16, n = 0;
    unsigned char **b = malloc(cap * sizeof *b);
    size_t *sz = malloc(cap * sizeof *sz);
    if (!b || !sz)
        die("out of memory");
    long long got = 0;
    while (got < total) {
        uint64_t x = rng_below(&r, 100);
        size_t s = x < 75 ? log_uniform(&r, 16, 1024)
                 : x < 95 ? log_uniform(&r, 1025, 64 << 10) : log_uniform(&r, (64 << 10) + 1, 4 << 20);
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap * sizeof *b);
            sz = realloc(sz, cap * sizeof *sz);
            if (!b || !sz)
                die("out of memory");
        }
        b[n] = xmalloc(s);
        memset(b[n], (int)(n & 0xff) | 1, s);
        sz[n++] = s;
        got += (long long)s;
    }
    long long peak = rss_kib();
    for (size_t i = n; i > 1; i--) {          /* free in random order */
        size_t j = rng_below(&r, i);
        unsigned char *tp = b[i - 1]; b[i - 1] = b[j]; b[j] = tp;
        size_t ts = sz[i - 1]; sz[i - 1] = sz[j]; sz[j] = ts;
    }
    size_t kept = 0, live = 0;
    for (size_t i = 0; i < n; i++) {
        if ((long long)rng_below(&r, 100) < keep_pct) {
            b[kept] = b[i];
            sz[kept++] = sz[i];
            live += sz[i];
        } else {
            free(b[i]);
        }
    }
    /* from here on: no allocator call until the end */
    timeline_t tl;
    tl_start(&tl);
    long long rss1 = -1;
    for (long long t = 0; t <= wait_ms; t += 50) {
        tl_sample(&tl);
        if (t == 1000)
            rss1 = tl.kib[tl.n - 1];
        if (t < wait_ms)
            sleep_ms(50);
    }
    long long end = tl.kib[tl.n - 1];
    if (rss1 < 0)
        rss1 = end;
    for (size_t i = 0; i < kept; i++) {
        if (b[i][sz[i] / 2] != b[i][0] || b[i][sz[i] - 1] != b[i][0] || !b[i][0])
            die("idle: kept block changed");
        free(b[i]);
    }
    free(b);
    free(sz);
    print_result("idle", "blocks=%zu kept=%zu", n, kept);
    printf("metric: rss_peak_kib=%lld rss_1s_kib=%lld rss_end_kib=%lld live_kib=%zu\n",
           peak, rss1, end, live >> 10);
    tl_print(&tl);
    return 0;
}
