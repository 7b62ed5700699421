/* t_internal.c: internal invariants checked directly (built with the core
 * sources and the internal headers, prefixed API).
 *  - the free-time block-start test (one multiplication by the class's
 *    reciprocal) is exact: for every class and every offset of a 64 KiB
 *    page it accepts exactly the block starts below the carved capacity;
 *  - the direct[] size table serves each size up to DIRECT_MAX with the
 *    class size_class() picks. */
#include "testutil.h"
#include "fastpath.h"

static void block_start_exact(void)
{
    static page_t pg;
    long checked = 0;
    for (unsigned c = 0; c < NCLASSES; c++) {
        uint32_t bs = cairn_class_size_tab[c];
        pg.block_size = bs;
        pg.recip = (uint32_t)((((uint64_t)1 << 32) + bs - 1) / bs);
        uint32_t reserved = (uint32_t)(PAGE_SIZE_ / bs);
        for (uint32_t cap = 0; cap <= reserved; cap += (cap < 4 ? 1 : reserved / 3 + 1)) {
            page_set_capacity(&pg, cap);
            for (uint32_t off = 0; off < PAGE_SIZE_; off++) {
                bool want = off % bs == 0 && off / bs < cap;
                bool got = small_block_start(&pg, (uintptr_t)0x7f0000000000 + off, pg.start_lim);
                CHECK(got == want, "class %u (%u B), capacity %u, offset %u: %d, want %d", c, bs, cap, off, got, want);
                checked++;
            }
        }
    }
    printf("block-start test exact over %ld (class, capacity, offset) cases\n", checked);
}

static void direct_table(void)
{
    sizeclass_init();
    for (size_t size = 0; size <= DIRECT_MAX; size++) {
        unsigned i = (unsigned)((size + 15) >> 4), c = size_class(size);
        CHECK(cairn_direct_lo[c] <= i && i < cairn_direct_hi[c], "size %zu: direct index %u not in class %u's range", size, i, c);
    }
    for (unsigned c = 0; c < NCLASSES; c++)
        if (cairn_direct_hi[c])
            CHECK(cairn_class_size_tab[c] <= DIRECT_MAX || c == size_class(DIRECT_MAX), "class %u has direct entries", c);
}

int main(void)
{
    block_start_exact();
    direct_table();
    printf("t_internal: ok\n");
    return 0;
}
