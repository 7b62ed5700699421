/* t_locked.c: cairn in a program that locks its memory (mlockall).
 *
 * - cairn's own reservations must not become locked memory: the segment
 *   map (64 MiB of address space) stays read-only where it records
 *   nothing, so locking it maps no memory. Resident memory right after
 *   mlockall must stay far below what a writable map would cost.
 * - The kernel refuses to purge locked pages, so memory freed and trimmed
 *   keeps its bytes: calloc must clear it all the same, for small, large
 *   and huge blocks, and blocks keep their contents through the churn.
 *
 * Where mlockall is refused (no CAP_IPC_LOCK and a low RLIMIT_MEMLOCK) the
 * footprint check cannot run and says so; the calloc checks then run with
 * nothing locked, where the purges succeed. */
#include "testutil.h"
#include <stdbool.h>
#include <sys/mman.h>

/* A field of /proc/self/status, in KiB. */
static long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    CHECK(f);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

/* Blocks of `size` filled, freed, trimmed (purges refused when locked),
 * then calloc'd again: every byte must read zero. A block allocated
 * first and kept keeps the segments (and their purged pages) in use. */
static void calloc_after_trim(size_t size, size_t n)
{
    void *keep = malloc(size);
    void **p = malloc(n * sizeof *p);
    CHECK(keep && p);
    memset(keep, 0x11, size);
    for (size_t i = 0; i < n; i++) {
        CHECK((p[i] = malloc(size)) != NULL, "malloc(%zu)", size);
        memset(p[i], 0xC3, size);
    }
    for (size_t i = 0; i < n; i++) free(p[i]);
    malloc_trim(0);
    for (size_t i = 0; i < n; i++) {
        unsigned char *q = calloc(1, size);
        CHECK(q, "calloc(1, %zu)", size);
        for (size_t j = 0; j < size; j++)
            CHECK(q[j] == 0, "calloc(%zu) after a trim: byte %zu is 0x%02x", size, j, q[j]);
        p[i] = q;
    }
    for (size_t i = 0; i < n; i++) free(p[i]);
    for (size_t j = 0; j < size; j++) CHECK(((unsigned char *)keep)[j] == 0x11, "kept block changed");
    free(keep);
    free(p);
}

int main(void)
{
    void *warm = malloc(100);           /* cairn is set up before the lock */
    CHECK(warm);
    bool locked = mlockall(MCL_CURRENT | MCL_FUTURE) == 0;
    if (locked) {
        long rss = status_kib("VmRSS"), lck = status_kib("VmLck");
        printf("t_locked: after mlockall: VmRSS %ld KiB, VmLck %ld KiB\n", rss, lck);
        CHECK(rss > 0 && rss < 40 * 1024, "mlockall made %ld KiB resident: cairn's reservations "
              "are locked in (the segment map should stay read-only where unused)", rss);
    } else {
        printf("t_locked: mlockall refused (%s): footprint not checked, nothing locked\n",
               strerror(errno));
    }
    const size_t sizes[] = { 24, 200, 3000, 20000, 300000, (size_t)36 << 20 };
    const size_t counts[] = { 4000, 2000, 400, 100, 8, 1 };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) calloc_after_trim(sizes[k], counts[k]);
    free(warm);
    CHECK(heap_check_ok());
    if (locked) munlockall();
    printf("t_locked: ok (%s)\n", locked ? "memory locked" : "not locked");
    return 0;
}
