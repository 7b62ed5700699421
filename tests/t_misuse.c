/* t_misuse.c: one misuse per run; the program must die by SIGABRT with a
 * "cairn: double free of 0x..." or "cairn: invalid free of 0x..." message.
 * usage: t_misuse <case>. Exits 0 ("survived") if the misuse went unnoticed,
 * which the runner counts as a failure. */
#include "testutil.h"
#include <sys/mman.h>
#ifdef CAIRN_PREFIXED
#include <dlfcn.h>
#endif

/* a pointer the compiler cannot track across free() */
static void *volatile stash;

static void *must(void *p)
{
    CHECK(p != NULL);
    return p;
}

static void say(const char *c, void *p)
{
    fprintf(stderr, "t_misuse: case %s, pointer %p\n", c, p);
    fflush(stderr);
}

int main(int argc, char **argv)
{
    CHECK(argc == 2, "usage: t_misuse <case>");
    const char *c = argv[1];
    size_t large = cairn_small_max() + 5000, huge = cairn_large_max() + 3 * MiB;
    char *p;
    if (!strcmp(c, "double-free-small") || !strcmp(c, "double-free-large") ||
        !strcmp(c, "double-free-huge")) {
        size_t n = c[12] == 's' ? 48 : c[12] == 'l' ? large : huge;
        p = must(A_malloc(n));
        memset(p, 1, n);
        stash = p;
        A_free(p);
        say(c, stash);
        A_free(stash);
    } else if (!strcmp(c, "double-free-small-later")) {
        /* the block is no longer at the head of any free list */
        void *q[10];
        for (int i = 0; i < 10; i++) q[i] = must(A_malloc(64));
        stash = q[3];
        A_free(q[3]);
        for (int i = 0; i < 10; i++) if (i != 3) A_free(q[i]);
        for (int i = 0; i < 5; i++) q[i] = must(A_malloc(200));
        say(c, stash);
        A_free(stash);
    } else if (!strcmp(c, "double-free-aligned")) {
        p = must(A_memalign(4096, 5000));
        stash = p;
        A_free(p);
        say(c, stash);
        A_free(stash);
    } else if (!strcmp(c, "double-free-large-merged")) {
        /* p is merged with both free neighbours on its first free; its
         * stale header must not make the second free look valid */
        size_t n = 20000;
        char *a = must(A_malloc(n)), *b, *d;
        p = must(A_malloc(n));
        b = must(A_malloc(n));
        d = must(A_malloc(n));
        memset(d, 7, n);
        A_free(a);
        A_free(b);
        stash = p;
        A_free(p);
        say(c, stash);
        A_free(stash);
        (void)d;
    } else if (!strcmp(c, "double-free-large-aligned")) {
        /* the aligned block merges with the free gap cut off in front */
        p = must(A_aligned_alloc(65536, 30000));
        stash = p;
        A_free(p);
        say(c, stash);
        A_free(stash);
    } else if (!strcmp(c, "free-stack")) {
        char buf[256];
        memset(buf, 0, sizeof buf);
        p = hide_ptr(buf + 64);
        say(c, p);
        A_free(p);
    } else if (!strcmp(c, "interior-small")) {
        p = must(A_malloc(256));
        say(c, p + 32);
        A_free(hide_ptr(p + 32));
    } else if (!strcmp(c, "interior-large")) {
        p = must(A_malloc(large));
        say(c, p + 4096);
        A_free(hide_ptr(p + 4096));
    } else if (!strcmp(c, "interior-huge")) {
        p = must(A_malloc(huge));
        say(c, p + MiB);
        A_free(hide_ptr(p + MiB));
    } else if (!strcmp(c, "interior-huge-16")) {
        p = must(A_malloc(huge));
        say(c, p + 16);
        A_free(hide_ptr(p + 16));
    } else if (!strcmp(c, "foreign-mmap")) {
        size_t len = 16 * MiB;
        char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(m != MAP_FAILED);
        memset(m, 0, len);
        /* a 4 MiB-aligned address inside the mapping, as a segment would be */
        char *a = (char *)(((uintptr_t)m + 4 * MiB - 1) & ~(uintptr_t)(4 * MiB - 1));
        say(c, a + 64);
        A_free(hide_ptr(a + 64));
    } else if (!strcmp(c, "foreign-static")) {
        static char sbuf[4096] __attribute__((aligned(64)));
        say(c, sbuf + 128);
        A_free(hide_ptr(sbuf + 128));
#ifdef CAIRN_PREFIXED
    } else if (!strcmp(c, "foreign-glibc")) {
        void *(*libc_malloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "malloc");
        CHECK(libc_malloc);
        p = must(libc_malloc(100));
        say(c, p);
        A_free(hide_ptr(p));
    } else if (!strcmp(c, "foreign-glibc-large")) {
        p = must(malloc(300000)); /* system malloc: this build has no override */
        say(c, p);
        A_free(hide_ptr(p));
#endif
    } else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    fprintf(stderr, "t_misuse: %s was NOT detected\n", c);
    return 0;
}
