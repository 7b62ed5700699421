/* Regression program (found by tests/fuzz/fuzz_ops.c): undefined behaviour
 * in src/heap.c, heap_new().
 *
 * The heap metadata bump region starts empty (meta_next == meta_end ==
 * NULL), and the first heap of the process is made by evaluating
 *     if (meta_next + sz > meta_end)
 * with meta_next == NULL: arithmetic on a null pointer, undefined in C11
 * (6.5.6p8; only an offset of 0 is allowed). It works with today's
 * compilers, but a compiler may assume meta_next != NULL afterwards, and
 * clang's UBSan stops the program:
 *     src/heap.c:42:19: runtime error: applying non-zero offset 1664 to null pointer
 * Any first allocation shows it. Build and run (tests/tests.mk):
 *     make BUILD=build-fuzz fuzz-regress
 * It fails (UBSan report, non-zero exit) until heap_new compares sizes
 * instead, e.g. `if ((size_t)(meta_end - meta_next) < sz)` (0 - 0 is fine
 * for two null pointers) or `if (!meta_next || ...)`. */
#include "cairn.h"
#include <stdio.h>

int main(void)
{
    void *p = cairn_malloc(1);
    if (!p) return 1;
    cairn_free(p);
    puts("ub_heap_new_null: ok");
    return 0;
}
