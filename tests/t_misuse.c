/* t_misuse.c: one misuse per run; the program must die by SIGABRT with a
 * "cairn: double free of 0x..." or "cairn: invalid free of 0x..." message.
 * usage: t_misuse <case>. Exits 0 ("survived") if the misuse went unnoticed,
 * which the runner counts as a failure. */
#include "testutil.h"
#include <sys/mman.h>
#include <pthread.h>
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

/* Keep the thread allocating elsewhere until some purge happened. */
static void *punched_block(void)
{
    static void *b[64], *t[3000];
    for (int i = 0; i < 64; i++) b[i] = must(A_malloc(4096));
    uintptr_t pg = (uintptr_t)b[0] & ~(uintptr_t)0xffff;
    void *victim = NULL;
    int kept = 0;
    for (int i = 0; i < 64; i++) {
        if (((uintptr_t)b[i] & ~(uintptr_t)0xffff) != pg) continue;
        if (!kept) { kept = 1; continue; }           /* one live block keeps the page */
        if (!victim) victim = b[i];
        A_free(b[i]);
    }
    cairn_stats_t s0, s1;
    cairn_stats_get(&s0);
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 3000; i++) t[i] = must(A_malloc(700));
        for (int i = 0; i < 3000; i++) A_free(t[i]);
        usleep(10000);
        cairn_stats_get(&s1);
        if (s1.purged_bytes >= s0.purged_bytes + 32 * 1024) return victim;
    }
    fprintf(stderr, "t_misuse: no hole was punched (run with CAIRN_PURGE_DELAY=40)\n");
    exit(1);
}

static void *free_thread(void *p) { A_free(p); return NULL; }

static void free_in_thread(void *p)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_thread, p) == 0);
    pthread_join(t, NULL);
    /* the owner sees the remote free when it collects the page's frees */
    for (int i = 0; i < 4000; i++) stash = must(A_malloc(4096));
}

/* Double-free cases: free p, keeping it in `stash` (volatile, so the
 * compiler cannot see the second free coming) ... */
static void free_once(void *p)
{
    stash = p;
    A_free(p);
}

/* ... then name the pointer and free it again. */
static void free_again(const char *c)
{
    say(c, stash);
    A_free(stash);
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
        free_once(p);
        free_again(c);
    } else if (!strcmp(c, "double-free-small-later")) {
        /* the block is no longer at the head of any free list */
        void *q[10];
        for (int i = 0; i < 10; i++) q[i] = must(A_malloc(64));
        stash = q[3];
        A_free(q[3]);
        for (int i = 0; i < 10; i++) if (i != 3) A_free(q[i]);
        for (int i = 0; i < 5; i++) q[i] = must(A_malloc(200));
        free_again(c);
    } else if (!strcmp(c, "double-free-aligned")) {
        p = must(A_memalign(4096, 5000));
        free_once(p);
        free_again(c);
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
        free_once(p);
        free_again(c);
        (void)d;
    } else if (!strcmp(c, "double-free-large-aligned")) {
        /* the aligned block merges with the free gap cut off in front */
        p = must(A_aligned_alloc(65536, 30000));
        free_once(p);
        free_again(c);
    } else if (!strcmp(c, "double-free-hole") || !strcmp(c, "double-free-hole-remote")) {
        /* a freed 4 KiB block inside a page that keeps a live block: once
         * the page sits idle its free OS pages are purged (a hole) and the
         * block's free cookie is gone; the second free must still be seen */
        p = punched_block();
        say(c, p);
        if (c[16] == '-') free_in_thread(p);
        else A_free(p);
    } else if (!strncmp(c, "free-sized-", 11)) {
        /* a size larger than the block can be */
        size_t n = c[11] == 's' ? 100 : c[11] == 'l' ? large : huge;
        p = must(A_malloc(n));
        say(c, p);
        A_free_sized(hide_ptr(p), n + MiB);
    } else if (!strcmp(c, "free-aligned-sized")) {
        p = must(A_aligned_alloc(64, 128));
        say(c, p + 16);
        A_free_aligned_sized(hide_ptr(p + 16), 64, 128);   /* not 64-aligned: not the block */
    } else if (!strncmp(c, "usable-freed-", 13)) {
        size_t n = c[13] == 's' ? 100 : large;
        p = must(A_malloc(n));
        free_once(p);
        say(c, stash);
        CHECK(A_usable(stash) == 0, "returned a size");
    } else if (!strncmp(c, "usable-interior-", 16)) {
        size_t n = c[16] == 's' ? 256 : c[16] == 'l' ? large : huge;
        p = must(A_malloc(n));
        say(c, p + 64);
        CHECK(A_usable(hide_ptr(p + 64)) == 0, "returned a size");
    } else if (!strcmp(c, "freed-huge-interior")) {
        /* after a huge block is freed its chunk maps to nothing: a pointer
         * into where it was is foreign, not a double free */
        p = must(A_malloc(huge));
        A_free(p);
        say(c, p + 4096);
        A_free(hide_ptr(p + 4096));
    } else if (!strncmp(c, "segment-header-", 15)) {
        /* page 0 of a small segment holds the header in its page slot
         * (types.h): pointers into it, at a field and past the slots, are
         * no blocks, whether freed by the owner or by another thread */
        p = must(A_malloc(48));
        char *seg = (char *)((uintptr_t)p & ~(uintptr_t)(4 * MiB - 1));
        char *q = hide_ptr(seg + (strstr(c, "-far") ? 32768 : 16));
        say(c, q);
        if (strstr(c, "-remote")) free_in_thread(q);
        else if (strstr(c, "-usable")) CHECK(A_usable(q) == 0, "returned a size");
        else A_free(q);
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
    } else if (!strcmp(c, "double-free-interleaved")) {
        char *a = must(A_malloc(64)), *b = must(A_malloc(64));
        stash = a;
        A_free(a);
        A_free(b);
        free_again(c);
    } else if (!strcmp(c, "double-free-delayed")) {
        /* thousands of other calls between the two frees */
        p = must(A_malloc(300));
        free_once(p);
        static void *t[2000];
        for (int r = 0; r < 5; r++) {
            for (int i = 0; i < 2000; i++) t[i] = must(A_malloc(16 + (size_t)(i % 50) * 40));
            for (int i = 0; i < 2000; i++) A_free(t[i]);
        }
        free_again(c);
    } else if (!strcmp(c, "double-free-other-thread")) {
        p = must(A_malloc(80));
        free_once(p);
        say(c, stash);
        free_in_thread(stash);
    } else if (!strcmp(c, "double-free-after-reuse")) {
        /* p is freed, its memory is handed out again (in the default mode
         * at once), then p is freed a second time: only a quarantine can
         * tell this from a free of the new block */
        p = must(A_malloc(96));
        free_once(p);
        char *q = must(A_malloc(96));
        memset(q, 7, 96);
        free_again(c);
        A_free(q);
    } else if (!strcmp(c, "one-past-end-small") || !strcmp(c, "one-past-end-large")) {
        size_t n = c[13] == 's' ? 60 : large;   /* not a class size: p + n is inside */
        p = must(A_malloc(n));
        say(c, p + n);
        A_free(p + n);
    } else if (!strncmp(c, "overflow-", 9) || !strncmp(c, "underflow-", 10)) {
        /* write n bytes past the end (or before the start) of a live
         * block, then free it (and its neighbour) */
        int under = c[0] == 'u';
        const char *w = c + (under ? 10 : 9);
        size_t n = !strcmp(w, "1") ? 1 : !strcmp(w, "32") ? 32 : !strncmp(w, "4k", 2) ? 4096 : MiB;
        size_t sz = n <= 32 ? 100 : n == 4096 ? 20000 : 2 * MiB;
        if (under && n >= 4096) {
            /* large blocks: the damage lands on the block's own header
             * (and the block below, whose body it crosses) */
            char *below = must(A_malloc(sz));
            stash = must(A_malloc(sz));
            char *victim = stash;
            say(c, victim);
            memset((char *)stash - n, 0x41, n);
            A_free(victim);
            A_free(below);
        } else if (under) {
            /* small blocks: the damage lands in the block below, which is
             * live, so its end canary is what breaks */
            static char *b[64];
            for (int i = 0; i < 64; i++) b[i] = must(A_malloc(sz));
            char *victim = NULL, *below = NULL;
            for (int i = 0; i < 64 && !victim; i++)
                for (int j = 0; j < 64; j++)
                    if (b[j] < b[i] && (size_t)(b[i] - b[j]) <= sz + 64 && (size_t)(b[i] - b[j]) >= sz &&
                        ((uintptr_t)b[i] >> 16) == ((uintptr_t)b[j] >> 16)) { victim = b[i]; below = b[j]; break; }
            CHECK(victim, "no two neighbouring blocks");
            say(c, n <= 32 ? below : victim);
            /* every byte changes: a stray write of the value already there
             * is no corruption at all */
            for (size_t k = 1; k <= n; k++) victim[-(ptrdiff_t)k] = (char)~victim[-(ptrdiff_t)k];
            A_free(below);
            A_free(victim);
        } else {
            p = must(A_malloc(sz));
            say(c, p);
            for (size_t k = 0; k < n; k++) p[sz + k] = (char)~p[sz + k];
            /* -realloc: a realloc that keeps the block reads only its own
             * tag; the free after it must still find the damage */
            if (strstr(c, "-realloc")) CHECK(A_realloc(p, sz - 100) == p, "realloc moved the block");
            A_free(p);
        }
    } else if (!strcmp(c, "forged-size-large")) {
        /* an underflow that rewrites a large block's size to a smaller one
         * that looks consistent (the tag's magic and flags kept, the next
         * tag's prev_size forged inside the block's own payload, where any
         * write may land): only the segment's end bitmap knows better. The
         * layout is the one in src/types.h (lblock_t). */
        stash = must(A_malloc(20000));
        char *after = must(A_malloc(20000)), *v = stash;    /* v: untracked */
        say(c, v);
        uint64_t *tag = (uint64_t *)(void *)(v - 8);
        uint64_t size = *tag & (((uint64_t)1 << 48) - 16);
        CHECK(size > 8192 && (*tag >> 48) == 0xCA1B, "not a large block's tag");
        *tag = *tag - size + 4096;
        *(uint64_t *)(void *)(v - 16 + 4096) = 4096;
        A_free(v);
        A_free(after);
    } else if (!strcmp(c, "uaf-write") || !strcmp(c, "uaf-write-large")) {
        /* a write into a freed block that nothing reused yet */
        size_t n = c[9] ? large : 200;
        p = must(A_malloc(n));
        free_once(p);
        say(c, stash);
        ((volatile char *)stash)[40] = 1;
        A_malloc_trim(0);                   /* the quarantine is emptied here */
        for (int i = 0; i < 1000; i++) A_free(must(A_malloc(n)));
    } else if (!strcmp(c, "uaf-write-link") || !strcmp(c, "uaf-write-link-zero")) {
        /* overwrite the free-list link of a freed small block; 0 decodes
         * to the page key, as the end mark's link does, and is still bad */
        p = must(A_malloc(48));
        free_once(p);
        say(c, stash);
        *(void *volatile *)stash = c[14] ? NULL : (void *)0x4141414141414141ull;
        A_malloc_trim(0);
        for (int i = 0; i < 1000; i++) stash = must(A_malloc(48));
    } else if (!strcmp(c, "uaf-read-huge")) {
        /* a read of a freed huge block faults (secure mode) */
        p = must(A_malloc(huge));
        memset(p, 3, huge);
        free_once(p);
        say(c, stash);
        fprintf(stderr, "t_misuse: read %d\n", ((volatile char *)stash)[100]);
    } else if (!strcmp(c, "uaf-read-small")) {
        /* what a freed block shows to a stale reader: exit 3 if the old
         * contents are still there */
        p = must(A_malloc(200));
        memset(p, 0x5a, 200);
        free_once(p);
        say(c, stash);
        int same = 0;
        for (int i = 16; i < 200; i++) same += ((volatile char *)stash)[i] == 0x5a;
        fprintf(stderr, "t_misuse: %d of 184 old bytes readable after free\n", same);
        return same ? 3 : 4;
    } else if (!strcmp(c, "zero-size-write")) {
        p = must(A_malloc(0));
        stash = p;
        say(c, p);
        ((volatile char *)stash)[0] = 1;
        A_free(p);
    } else if (!strcmp(c, "realloc-stack") || !strcmp(c, "realloc-freed") || !strcmp(c, "realloc-interior")) {
        char buf[64];
        p = must(A_malloc(48));
        stash = c[8] == 's' ? buf : c[8] == 'f' ? p : p + 16;
        if (c[8] == 'f') A_free(p);
        say(c, stash);
        stash = A_realloc(stash, 100);
    } else if (!strncmp(c, "realloc-freed-", 14) || !strncmp(c, "sized-free-freed-", 17)) {
        /* a freed block passed to realloc or free_sized: each size range
         * (and a small block whose memory was purged, a hole) must name
         * it freed, not report something else or carry on */
        const char *k = c + (c[0] == 'r' ? 14 : 17);
        size_t n = !strcmp(k, "large") ? large : !strcmp(k, "huge") ? huge : 100;
        if (!strcmp(k, "hole")) {
            p = punched_block();
            stash = p;
        } else {
            p = must(A_malloc(n));
            free_once(p);
        }
        say(c, stash);
        if (c[0] == 'r') stash = A_realloc(stash, n + 1000);
        else A_free_sized(stash, 16);
    } else if (!strcmp(c, "usable-stack")) {
        char buf[64];
        stash = buf;
        say(c, stash);
        (void)A_usable(stash);
    } else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    fprintf(stderr, "t_misuse: %s was NOT detected\n", c);
    return 0;
}
