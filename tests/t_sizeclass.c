/* t_sizeclass.c: size-class table properties. */
#include "testutil.h"

int main(void)
{
    int n = cairn_class_count();
    size_t smax = cairn_small_max();
    CHECK(n > 0 && n < 1000, "class count %d", n);
    CHECK(smax >= 16384, "small_max %zu below the documented 16384", smax);
    CHECK(cairn_large_max() >= 2 * MiB - 64 * KiB, "large_max %zu", cairn_large_max());
    CHECK(cairn_class_size(0) == 16, "smallest class %zu, expected 16", cairn_class_size(0));
    CHECK(cairn_class_size(n - 1) == smax, "largest class %zu != small_max %zu",
          cairn_class_size(n - 1), smax);
    for (int c = 0; c < n; c++) {
        size_t cs = cairn_class_size(c);
        CHECK(cs % 16 == 0, "class %d size %zu not a multiple of 16", c, cs);
        if (c > 0) CHECK(cs > cairn_class_size(c - 1), "class sizes not increasing at %d", c);
        CHECK(cairn_size_class(cs) == c, "size_class(class_size(%d)=%zu) = %d", c, cs,
              cairn_size_class(cs));
    }
    for (size_t s = 1; s <= smax; s++) {
        int c = cairn_size_class(s);
        CHECK(c >= 0 && c < n, "size_class(%zu) = %d", s, c);
        size_t cs = cairn_class_size(c);
        CHECK(cs >= s, "size %zu in class %d of size %zu", s, c, cs);
        if (c > 0) CHECK(cairn_class_size(c - 1) < s, "size %zu not in the smallest fitting class", s);
        if (s <= 128) CHECK(cs - s <= 15, "size %zu wastes %zu bytes", s, cs - s);
        else CHECK((cs - s) * 4 <= s, "size %zu -> %zu wastes more than 25%%", s, cs);
    }
    CHECK(cairn_size_class(0) == 0, "size_class(0) = %d", cairn_size_class(0));
    size_t above[] = {smax + 1, smax + 16, 100000, cairn_large_max(), SIZE_MAX};
    for (size_t i = 0; i < sizeof above / sizeof above[0]; i++)
        CHECK(cairn_size_class(above[i]) == -1, "size_class(%zu) = %d", above[i],
              cairn_size_class(above[i]));
    /* classes are at most 4 per power of two above 128 (waste bound is the
     * contract; this checks the class count is not excessive either) */
    int above128 = 0;
    for (int c = 0; c < n; c++) if (cairn_class_size(c) > 128) above128++;
    int doublings = 0;
    for (size_t s = 128; s < smax; s <<= 1) doublings++;
    CHECK(above128 <= 4 * doublings, "%d classes above 128 for %d doublings", above128, doublings);
    /* the class of an allocation is reflected by malloc_usable_size */
    for (size_t s = 1; s <= smax; s += (s < 512 ? 1 : 37)) {
        void *p = A_malloc(s);
        CHECK(p);
        size_t u = A_usable(p);
        CHECK(u >= s && u <= cairn_class_size(cairn_size_class(s)) + 0,
              "usable_size(malloc(%zu)) = %zu, class size %zu", s, u,
              cairn_class_size(cairn_size_class(s)));
        A_free(p);
    }
    printf("t_sizeclass: %d classes, small_max %zu, large_max %zu: ok\n", n, smax, cairn_large_max());
    return 0;
}
