/* The segment map: one byte per 4 MiB chunk of the 47-bit address space
 * (32 MiB of zero-fill address space; only the parts covering addresses
 * cairn uses are ever touched). It lets free() reject a pointer cairn never
 * returned before reading anything at that address. */
#include "internal.h"

_Atomic uint8_t cairn_segmap[(size_t)1 << (ADDR_BITS - SEG_SHIFT)];

void segmap_set(uintptr_t a, unsigned v) {
    cairn_assert((a >> ADDR_BITS) == 0);
    atomic_store_explicit(&cairn_segmap[a >> SEG_SHIFT], (uint8_t)v, memory_order_release);
}

void *segmap_header(const void *p) {
    uintptr_t a = (uintptr_t)p, base = a & ~(uintptr_t)SEG_MASK;
    unsigned v = segmap_get(a);
    if (v >= MAP_BACK) return (void *)(base - (uintptr_t)(v - MAP_BACK + 1) * SEG_SIZE);
    return v == MAP_SMALL || v == MAP_LARGE || v == MAP_HUGE ? (void *)base : NULL;
}
