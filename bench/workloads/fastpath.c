/* fastpath: cost of one small malloc+free pair on the allocator's fast path.
 *
 * Phase "pair":  n times { p = malloc(size); write p[0]; free(p); }
 * Phase "batch": n/64 times { 64 x malloc(size) ; 64 x free } (LIFO), so the
 *                free list is actually exercised rather than a single slot.
 * The size cycles through 16, 32, 48, 64 when size=0 (the default is a
 * fixed size of 32 bytes).
 *
 * Parameters: n=20000000 size=32 phases=both|pair|batch
 * Result: pair count and checksum. Metric: ns_pair, ns_batch (nanoseconds
 * per malloc+free pair). The runner additionally measures instructions per
 * pair with valgrind --tool=callgrind (two run lengths, difference divided
 * by the difference in pairs, so start-up costs cancel).
 */
#include "common.h"

int main(int argc, char **argv)
{
    params_init(argc, argv);
    long long n = param("n", 20000000);
    size_t fixed = (size_t)param("size", 32);
    int do_pair = 1, do_batch = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "phases=pair") == 0)
            do_batch = 0;
        else if (strcmp(argv[i], "phases=batch") == 0)
            do_pair = 0;
    }
    uint64_t sum = 0, pairs = 0;
    double ns_pair = 0, ns_batch = 0;
    if (do_pair) {
        uint64_t t0 = now_ns();
        for (long long i = 0; i < n; i++) {
            size_t sz = fixed ? fixed : 16 + 16 * (size_t)(i & 3);
            unsigned char *p = xmalloc(sz);
            p[0] = (unsigned char)i;
            sum += p[0];
            free(p);
        }
        ns_pair = (double)(now_ns() - t0) / (double)n;
        pairs += (uint64_t)n;
    }
    if (do_batch) {
        void *b[64];
        long long rounds = n / 64;
        uint64_t t0 = now_ns();
        for (long long r = 0; r < rounds; r++) {
            for (int i = 0; i < 64; i++) {
                size_t sz = fixed ? fixed : 16 + 16 * (size_t)(i & 3);
                unsigned char *p = xmalloc(sz);
                p[0] = (unsigned char)i;
                b[i] = p;
            }
            for (int i = 63; i >= 0; i--) {
                sum += *(unsigned char *)b[i];
                free(b[i]);
            }
        }
        ns_batch = rounds ? (double)(now_ns() - t0) / (double)(rounds * 64) : 0;
        pairs += (uint64_t)(rounds * 64);
    }
    print_result("fastpath", "pairs=%" PRIu64 " sum=%" PRIu64, pairs, sum);
    printf("metric:");
    if (do_pair)
        printf(" ns_pair=%.2f", ns_pair);
    if (do_batch)
        printf(" ns_batch=%.2f", ns_batch);
    printf("\n");
    return 0;
}
