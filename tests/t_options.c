/* t_options.c: prints the options in force (what CAIRN_VERBOSE=1 shows)
 * after one allocation, so tests/t_options.sh can check how CAIRN_*
 * variables are parsed and how invalid values are reported.
 *
 * With the argument "thp" it prints instead, for a small, a large and a
 * huge block, whether the kernel may back the mapping holding it with
 * transparent huge pages (the THPeligible field of /proc/self/smaps):
 * "thp small=S large=L huge=H", each 0 or 1. t_options.sh knows what to
 * expect from CAIRN_THP and the system's THP mode. */
#include "testutil.h"

/* THPeligible of the mapping holding p: 0 or 1, -1 if not found. */
static int thp_eligible(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    CHECK(f);
    char line[512];
    int in = 0, v = -1;
    uintptr_t a = (uintptr_t)p;
    while (v < 0 && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char dash;
        if (sscanf(line, "%lx%c%lx ", &lo, &dash, &hi) == 3 && dash == '-')
            in = a >= lo && a < hi;
        else if (in && sscanf(line, "THPeligible: %d", &v) == 1)
            break;
    }
    fclose(f);
    return v;
}

static int thp_report(void)
{
    size_t sizes[3] = { 64, 256 * 1024, 16u << 20 };   /* small, large, huge */
    void *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = A_malloc(sizes[i]);
        CHECK(p[i]);
        memset(p[i], 1, sizes[i]);
    }
    printf("thp small=%d large=%d huge=%d\n", thp_eligible(p[0]), thp_eligible(p[1]),
           thp_eligible(p[2]));
    for (int i = 0; i < 3; i++)
        A_free(p[i]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "thp"))
        return thp_report();
    void *p = A_malloc(100);
    CHECK(p);
    A_free(p);
    cairn_options_print(stdout);
    return 0;
}
