/* realloc-grow: string builders that grow by realloc to the exact new length
 * on every append (no capacity doubling), which is what naive string and
 * buffer code does.
 *
 * Phase 1 (small): `strings` strings, each with a random target length in
 *   [64, smax]; round-robin over the unfinished strings, append 1..32 bytes
 *   to each with realloc. Growth of neighbouring blocks is interleaved, so
 *   in-place growth is not always possible.
 * Phase 2 (large): `builders` builders appended to in turn, chunks of
 *   1 B .. `chunk` bytes, until each holds `large` bytes (tens of MiB):
 *   exercises realloc of huge blocks (in-place growth, mremap or copy).
 * Contents are verified by hashing at the end.
 *
 * Parameters: strings=20000 smax=4096 builders=2 large=32m chunk=256k seed=1
 * Result: lengths and content hashes. Metric: reallocs_per_sec.
 */
#include "common.h"

static uint64_t hash_bytes(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

typedef struct {
    unsigned char *p;
    size_t len, target;
} str_t;

int main(int argc, char **argv)
{
    params_init(argc, argv);
    long long nstr = param("strings", 20000);
    size_t smax = (size_t)param("smax", 4096);
    long long nb = param("builders", 2);
    size_t large = (size_t)param("large", 32ll << 20);
    size_t chunk = (size_t)param("chunk", 256 << 10);
    rng_t r;
    rng_seed(&r, (uint64_t)param("seed", 1));
    if (nstr < 0 || smax < 64 || nb < 0 || chunk < 1)
        die("bad parameters");
    uint64_t reallocs = 0;
    uint64_t t0 = now_ns();

    /* phase 1 */
    str_t *s = calloc((size_t)nstr + 1, sizeof(str_t));
    for (long long i = 0; i < nstr; i++)
        s[i].target = (size_t)rng_range(&r, 64, smax);
    long long active = nstr;
    while (active > 0) {
        active = 0;
        for (long long i = 0; i < nstr; i++) {
            if (s[i].len >= s[i].target)
                continue;
            size_t add = (size_t)rng_range(&r, 1, 32);
            unsigned char *np = realloc(s[i].p, s[i].len + add + 1);
            if (!np)
                die("realloc failed");
            ESCAPE(np);
            memset(np + s[i].len, (int)('a' + (s[i].len + i) % 26), add);
            np[s[i].len + add] = 0;
            s[i].p = np;
            s[i].len += add;
            reallocs++;
            active++;
        }
    }
    uint64_t hsmall = 0, lsmall = 0;
    for (long long i = 0; i < nstr; i++) {
        hsmall += hash_bytes(s[i].p, s[i].len);
        lsmall += s[i].len;
        free(s[i].p);
    }
    free(s);

    /* phase 2 */
    str_t *b = calloc((size_t)nb + 1, sizeof(str_t));
    for (;;) {
        int more = 0;
        for (long long i = 0; i < nb; i++) {
            if (b[i].len >= large)
                continue;
            more = 1;
            size_t add = (size_t)rng_range(&r, 1, chunk);
            if (b[i].len + add > large)
                add = large - b[i].len;
            unsigned char *np = realloc(b[i].p, b[i].len + add);
            if (!np)
                die("realloc(%zu) failed", b[i].len + add);
            ESCAPE(np);
            memset(np + b[i].len, (int)(rng_next(&r) & 0xff), add);
            b[i].p = np;
            b[i].len += add;
            reallocs++;
        }
        if (!more)
            break;
    }
    uint64_t hlarge = 0;
    for (long long i = 0; i < nb; i++) {
        hlarge += hash_bytes(b[i].p, b[i].len);
        free(b[i].p);
    }
    free(b);
    uint64_t t1 = now_ns();
    double secs = (double)(t1 - t0) / 1e9;
    print_result("realloc-grow", "small_bytes=%" PRIu64 " small_hash=%016" PRIx64
                 " large_hash=%016" PRIx64 " reallocs=%" PRIu64,
                 lsmall, hsmall, hlarge, reallocs);
    printf("metric: reallocs_per_sec=%.0f seconds=%.3f\n", (double)reallocs / secs, secs);
    return 0;
}
