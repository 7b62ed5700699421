/* t_early.c: the first allocation of the process is malloc(0), made by a
 * library constructor (early_lib.c) before cairn's own constructor has
 * run; run under LD_PRELOAD of each cairn library. Everything after it
 * must work: small, large and huge blocks, calloc, and freeing the early
 * block. (The secure build serves malloc(0) from a region of its own, set
 * up on that path; it once ran ahead of cairn's set-up.) */
#include "testutil.h"

extern void *early_block;

int main(void)
{
    CHECK(early_block, "malloc(0) in a constructor returned NULL");
    static const size_t sizes[] = { 0, 24, 3000, 100000, 5u << 20, 64u << 20 };
    void *p[sizeof sizes / sizeof sizes[0]];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        p[i] = calloc(1, sizes[i]);
        CHECK(p[i], "calloc(1, %zu)", sizes[i]);
        for (size_t j = 0; j < sizes[i]; j += 4096) CHECK(((unsigned char *)p[i])[j] == 0);
        memset(p[i], 0x3C, sizes[i]);
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) free(p[i]);
    free(early_block);
    printf("t_early: ok\n");
    return 0;
}
