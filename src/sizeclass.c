/* Size classes, computed: 16..128 in steps of 16, then four classes per
 * power of two up to SMALL_MAX, so rounding waste stays below 25%
 * (worst case 129 -> 160) and averages about 12.5%. */
#include "internal.h"
#include "cairn.h"

const uint32_t cairn_class_size_tab[NCLASSES] = {
#define Q(b) (1u << (b)) + (1u << ((b) - 2)), (1u << (b)) + (2u << ((b) - 2)), \
             (1u << (b)) + (3u << ((b) - 2)), (1u << ((b) + 1))
    16, 32, 48, 64, 80, 96, 112, 128,
    Q(7), Q(8), Q(9), Q(10), Q(11), Q(12), Q(13)
#undef Q
};

/* cairn_class_of_tiny[(size + 15) >> 4] for size <= 1024; filled by a
 * constructor-free static table generated from size_class's formula. */
const uint8_t cairn_class_of_tiny[65] = {
    0, 0, 1, 2, 3, 4, 5, 6, 7,                   /* 0..128 by 16            */
    8, 8, 9, 9, 10, 10, 11, 11,                  /* 144..256 (32 apart)     */
    12, 12, 12, 12, 13, 13, 13, 13,              /* 272..384 (64 apart)     */
    14, 14, 14, 14, 15, 15, 15, 15,              /* 400..512                */
    16, 16, 16, 16, 16, 16, 16, 16,              /* 528..640 (128 apart)    */
    17, 17, 17, 17, 17, 17, 17, 17,              /* 656..768                */
    18, 18, 18, 18, 18, 18, 18, 18,              /* 784..896                */
    19, 19, 19, 19, 19, 19, 19, 19,              /* 912..1024               */
};

uint8_t cairn_direct_lo[NCLASSES], cairn_direct_hi[NCLASSES];

/* The direct[] indices of each class: (size + 15) / 16 for the sizes up to
 * DIRECT_MAX it serves, a contiguous range. */
void sizeclass_init(void) {
    for (unsigned i = 0; i < DIRECT_N; i++) {
        unsigned c = cairn_class_of_tiny[i];
        if (cairn_direct_hi[c] == 0) cairn_direct_lo[c] = (uint8_t)i;
        cairn_direct_hi[c] = (uint8_t)(i + 1);
    }
}

int size_class_aligned(size_t size, size_t align) {
    if (size > SMALL_MAX || align > SMALL_MAX) return -1;
    for (unsigned c = size_class(size ? size : 1); c < NCLASSES; c++)
        if (cairn_class_size_tab[c] % align == 0) return (int)c;
    return -1;
}

API int cairn_class_count(void) { return NCLASSES; }
API size_t cairn_class_size(int cls) {
    return (cls >= 0 && cls < NCLASSES) ? cairn_class_size_tab[cls] : 0;
}
API int cairn_size_class(size_t size) {
    return size <= SMALL_MAX ? (int)size_class(size) : -1;
}
API size_t cairn_small_max(void) { return SMALL_MAX; }
API size_t cairn_large_max(void) { return LARGE_MAX; }
