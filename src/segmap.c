/* The segment map: one byte per 4 MiB chunk of the 48-bit address space
 * (64 MiB of zero-fill address space). It lets free() reject a pointer
 * cairn never returned before reading anything at that address.
 *
 * The map is read-only but for the parts that cover cairn's memory, made
 * writable when a mapping there is first recorded, 64 KiB of map (256 GiB
 * of addresses) at a time. A read of a part never written maps the
 * kernel's shared zero page, so the rest costs neither memory nor commit
 * charge, even in a program that locks all its memory: mlockall would
 * otherwise make all 64 MiB resident and locked. */
#include "internal.h"
#include <errno.h>

#define MAP_BYTES ((size_t)1 << (ADDR_BITS - SEG_SHIFT))
#define MAP_PART  ((size_t)64 << 10)
#define MAP_PARTS (MAP_BYTES / MAP_PART)

_Atomic uint8_t cairn_segmap[MAP_BYTES] __attribute__((aligned(MAP_PART)));
static _Atomic uint64_t part_writable[MAP_PARTS / 64];   /* bit i: part i */

static void all_writable(void) {
    for (size_t i = 0; i < MAP_PARTS / 64; i++) atomic_store(&part_writable[i], ~(uint64_t)0);
}

static bool part_ready(size_t i) {
    return atomic_load_explicit(&part_writable[i / 64], memory_order_acquire) >> (i % 64) & 1;
}

/* From cairn_init: every part not marked writable becomes read-only (a
 * part recorded in before, by a path that ran ahead of cairn_init, keeps
 * its writes). If the kernel refuses, the map simply stays writable. */
void segmap_init(void) {
    for (size_t i = 0, j; i < MAP_PARTS; i = j) {
        for (j = i; j < MAP_PARTS && part_ready(j) == part_ready(i); j++) {}
        if (!part_ready(i) && !os_readonly((void *)&cairn_segmap[i * MAP_PART], (j - i) * MAP_PART)) {
            (void)os_protect((void *)cairn_segmap, MAP_BYTES, false);   /* undo the runs done */
            all_writable();
            return;
        }
    }
}

/* Make the map writable where it records [a, a + size); false (out of
 * memory or mappings) changes nothing. Racing callers both ask the kernel,
 * which is harmless; a part is marked only once it is writable. */
bool segmap_prepare(uintptr_t a, size_t size) {
    if (!size || (a >> ADDR_BITS) || ((a + size - 1) >> ADDR_BITS)) return false;
    for (size_t i = (a >> SEG_SHIFT) / MAP_PART; i <= ((a + size - 1) >> SEG_SHIFT) / MAP_PART; i++) {
        if (part_ready(i)) continue;
        if (!os_writable((void *)&cairn_segmap[i * MAP_PART], MAP_PART)) { errno = ENOMEM; return false; }
        atomic_fetch_or_explicit(&part_writable[i / 64], (uint64_t)1 << (i % 64), memory_order_release);
    }
    return true;
}

/* Record v for a's chunk. Callers prepared the part when they mapped the
 * memory; one that could not (realloc moving a huge block, whose old
 * mapping is already gone) makes the whole map writable if it must: that
 * merges the map's mappings into one, so neither the fault hook nor the
 * kernel's limit on mappings stands in its way. */
void segmap_set(uintptr_t a, unsigned v) {
    cairn_assert((a >> ADDR_BITS) == 0);
    if (unlikely(!part_ready((a >> SEG_SHIFT) / MAP_PART)) && !segmap_prepare(a, 1)) {
        if (!os_protect((void *)cairn_segmap, MAP_BYTES, false)) cairn_fatal("cannot write the segment map at", (void *)a);
        all_writable();
    }
    atomic_store_explicit(&cairn_segmap[a >> SEG_SHIFT], (uint8_t)v, memory_order_release);
}

void *segmap_header(const void *p) {
    uintptr_t a = (uintptr_t)p, base = a & ~(uintptr_t)SEG_MASK;
    unsigned v = segmap_get(a);
    if (v >= MAP_BACK) return (void *)(base - (uintptr_t)(v - MAP_BACK + 1) * SEG_SIZE);
    return v == MAP_SMALL || v == MAP_LARGE || v == MAP_HUGE ? (void *)base : NULL;
}
