/* t_limits.c: requests the machine can never back fail at the call, with
 * ENOMEM, as under glibc, instead of "succeeding" and getting the process
 * killed when it touches the memory. Needs the kernel's heuristic
 * overcommit (vm.overcommit_memory 0, the default) or strict mode (2);
 * with "always overcommit" (1) the kernel itself grants anything, as for
 * glibc, and the test only checks that cairn stays usable.
 * usage: t_limits                 the impossible sizes
 *        t_limits addr-bits       run with CAIRN_TEST_ADDR_BITS below the
 *                                 address space: every request for new
 *                                 memory is refused cleanly (ENOMEM) */
#include "testutil.h"

static int overcommit_mode(void)
{
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int m = -1;
    if (f) { if (fscanf(f, "%d", &m) != 1) m = -1; fclose(f); }
    return m;
}

static void impossible_sizes(void)
{
    size_t big = (size_t)1 << 46;                    /* 64 TiB */
    CHECK_ENOMEM_NULL(A_malloc(hide_sz(big)), "malloc(64 TiB)");
    CHECK_ENOMEM_NULL(A_calloc(hide_sz((size_t)1 << 23), hide_sz((size_t)1 << 23)), "calloc(2^23, 2^23)");
    CHECK_ENOMEM_NULL(A_aligned_alloc(1 << 21, hide_sz(big)), "aligned_alloc(2 MiB, 64 TiB)");
    CHECK_ENOMEM_NULL(A_memalign(64, hide_sz(big)), "memalign(64, 64 TiB)");
    void *out = (void *)1;
    CHECK(A_posix_memalign(&out, 4096, hide_sz(big)) == ENOMEM && out == (void *)1);
    char *p = A_malloc(1000);
    CHECK(p);
    memset(p, 0x5a, 1000);
    CHECK_ENOMEM_NULL(A_realloc(p, hide_sz(big)), "realloc(p, 64 TiB)");
    for (int i = 0; i < 1000; i++) CHECK(p[i] == 0x5a, "failed realloc damaged the block");
    A_free(p);
}

static void refused_everywhere(void)
{
    const char *b = getenv("CAIRN_TEST_ADDR_BITS");
    CHECK(b && atoi(b) <= 46, "run with CAIRN_TEST_ADDR_BITS=40");
    /* every mapping the kernel hands out lies above 2^40: all refused */
    size_t sizes[] = { 16, 3000, 20000, 300000, 5 * MiB, 40 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        CHECK_ENOMEM_NULL(A_malloc(hide_sz(sizes[i])), "malloc with the map limited");
        CHECK_ENOMEM_NULL(A_calloc(1, hide_sz(sizes[i])), "calloc with the map limited");
    }
    cairn_stats_t st;
    cairn_stats_get(&st);
    CHECK(st.mapped_bytes == 0 && st.live_blocks == 0, "mapped %" PRIu64 " live %" PRIu64,
          st.mapped_bytes, st.live_blocks);
}

int main(int argc, char **argv)
{
    watchdog(60);
    if (argc > 1 && !strcmp(argv[1], "addr-bits")) {
        refused_everywhere();
        /* no stdio: it would want a buffer from the allocator */
        const char msg[] = "t_limits addr-bits: ok\n";
        CHECK(write(1, msg, sizeof msg - 1) > 0);
        return 0;
    }
    int mode = overcommit_mode();
    if (mode == 1) printf("t_limits: vm.overcommit_memory=1: the kernel grants anything; size checks skipped\n");
    else impossible_sizes();
    void *q = A_malloc(100);
    CHECK(q, "cannot allocate after the failures");
    A_free(q);
    CHECK(heap_check_ok());
    printf("t_limits: ok\n");
    return 0;
}
