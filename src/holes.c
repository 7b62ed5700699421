/* Holes: giving back free memory inside a small page that is still in use.
 *
 * A page of one size class stays in use while any of its blocks lives, but
 * after a program frees most of them many of its OS pages (os_page_size(),
 * 4 KiB on x86-64) may hold nothing but free blocks. page_punch finds such
 * OS pages, takes every block overlapping them off the free list and
 * purges them: a hole. The page's `holes` bits say which OS pages are
 * holes, `hole_blocks` how many blocks they took out of use. When the page
 * runs out of free blocks, page_fill_holes carves the blocks of its holes
 * again (the kernel hands back zeroed pages as they are touched).
 *
 * A block in a hole is free but on no list and its free cookie is gone (the
 * OS page reads as zero; or, if the kernel refused the purge of locked
 * memory, it is still there but no longer proves the block is on a list),
 * so a second free of it cannot be told by the cookie. Pages with holes therefore have PF_HOLES set in free_slow:
 * every local free into them takes the slow path, which checks the holes,
 * and remote frees are checked when the owner collects them. Only the
 * owner (or the heap lock holder, for a heap without a thread) touches
 * holes, like every other free-list field. */
#include "internal.h"

static unsigned os_shift(void) { return (unsigned)__builtin_ctzl(os_page_size()); }

/* Blocks of pg overlapping OS page j: indices lo..hi (inclusive). */
static void blocks_of(const page_t *pg, unsigned j, unsigned sh, uint32_t *lo, uint32_t *hi) {
    *lo = (uint32_t)(((size_t)j << sh) / pg->block_size);
    *hi = (uint32_t)((((size_t)(j + 1) << sh) - 1) / pg->block_size);
}

/* Bits of the OS pages block idx overlaps. */
static uint32_t pages_of(const page_t *pg, uint32_t idx, unsigned sh) {
    size_t from = (size_t)idx * pg->block_size, to = from + pg->block_size - 1;
    unsigned a = (unsigned)(from >> sh), b = (unsigned)(to >> sh);
    return ((b >= 31 ? ~0u : (1u << (b + 1)) - 1)) & ~((1u << a) - 1);
}

bool page_in_hole(const page_t *pg, uintptr_t a) {
    return pg->holes && (pages_of(pg, page_block_index(pg, a), os_shift()) & pg->holes);
}

static void set_bits(uint64_t *bits, uint32_t lo, uint32_t hi) {
    for (uint32_t i = lo; i <= hi; i++) bits[i / 64] |= (uint64_t)1 << (i % 64);
}

static bool all_set(const uint64_t *bits, uint32_t lo, uint32_t hi) {
    for (uint32_t i = lo; i <= hi; i++)
        if (!(bits[i / 64] >> (i % 64) & 1)) return false;
    return true;
}

/* OS pages of pg, not holes yet, whose every block is free: those on the
 * free list and those in existing holes. Only OS pages wholly inside the
 * carved part count (blocks past capacity were never touched). */
static uint32_t new_holes(const page_t *pg, unsigned sh) {
    uint64_t free_bits[PAGE_SIZE_ / 16 / 64] = { 0 };
    unsigned n = (unsigned)(PAGE_SIZE_ >> sh);
    uint32_t lo, hi, add = 0;
    for (const block_t *b = pg->free; !list_end(b); b = link_next(pg, b)) {
        uint32_t i = page_block_index(pg, (uintptr_t)b);
        set_bits(free_bits, i, i);
    }
    for (unsigned j = 0; j < n; j++)
        if (pg->holes >> j & 1) { blocks_of(pg, j, sh, &lo, &hi); set_bits(free_bits, lo, hi); }
    for (unsigned j = 0; j < n; j++) {
        blocks_of(pg, j, sh, &lo, &hi);
        if (hi >= pg->capacity) break;
        if (!(pg->holes >> j & 1) && all_set(free_bits, lo, hi)) add |= 1u << j;
    }
    return add;
}

/* Take the blocks overlapping `add` off the free list, keeping the order
 * of the others; returns how many went. */
static uint32_t unlink_holed(page_t *pg, uint32_t add, unsigned sh) {
    uint32_t n = 0;
    block_t *head = page_end_mark(pg), *tail = NULL;
    for (block_t *b = pg->free, *next; !list_end(b); b = next) {
        next = link_next(pg, b);
        if (pages_of(pg, page_block_index(pg, (uintptr_t)b), sh) & add) { n++; continue; }
        if (tail) link_set(pg, tail, b);
        else head = b;
        tail = b;
    }
    if (tail) link_set(pg, tail, page_end_mark(pg));
    pg->free = head;
    return n;
}

/* Purge the OS pages of pg that hold only free blocks. Returns the bytes
 * given back. The page keeps its place in its queue. */
uint64_t page_punch(page_t *pg) {
    unsigned sh = os_shift();
    if (sh >= PAGE_SHIFT || pg->block_size == 0) return 0;
    page_collect(pg);
    uint32_t add = new_holes(pg, sh);
    if (!add) return 0;
    pg->hole_blocks = (uint16_t)(pg->hole_blocks + unlink_holed(pg, add, sh));
    pg->holes = (uint16_t)(pg->holes | add);
    page_slow_set(pg, PF_HOLES);
    uintptr_t start = page_start(pg);
    uint64_t bytes = 0;
    for (uint32_t m = add; m;) {                 /* one purge per run of holes */
        unsigned j = (unsigned)__builtin_ctz(m), k = j;
        while (k < 32 && (m >> k & 1)) k++;
        if (os_purge((void *)(start + ((size_t)j << sh)), (size_t)(k - j) << sh))
            bytes += (uint64_t)(k - j) << sh;    /* refused (locked): still holes, not zero */
        m &= ~((k >= 32 ? ~0u : (1u << k) - 1) & ~((1u << j) - 1));
    }
    return bytes;
}

/* Carve the blocks of pg's holes again onto its (empty) free list. */
void page_fill_holes(page_t *pg) {
    unsigned sh = os_shift(), n = (unsigned)(PAGE_SIZE_ >> sh);
    uintptr_t start = page_start(pg);
    uint32_t lo, hi, carved = 0;
    block_t *list = pg->free;
    for (unsigned j = n; j-- > 0;) {             /* from the top: the list ends ascending */
        if (!(pg->holes >> j & 1)) continue;
        blocks_of(pg, j, sh, &lo, &hi);
        for (uint32_t i = hi + 1; i-- > lo;) {
            if (i == lo && j > 0 && (pg->holes >> (j - 1) & 1)) {
                uint32_t plo, phi;
                blocks_of(pg, j - 1, sh, &plo, &phi);
                if (phi == i) break;               /* the hole below carves it */
            }
            block_t *b = (block_t *)(start + (uintptr_t)i * pg->block_size);
            link_set(pg, b, list);
            b->cookie = pg->mark;
            list = b;
            carved++;
        }
    }
    cairn_assert(carved == pg->hole_blocks);
    (void)carved;
    stats_refault((uint64_t)__builtin_popcount(pg->holes) << sh);
    pg->free = list;
    pg->mem &= (uint8_t)~PM_FREE_ZERO;   /* blocks at a hole's edge hold old data */
    pg->holes = 0;
    pg->hole_blocks = 0;
    page_slow_clear(pg, PF_HOLES);
}
