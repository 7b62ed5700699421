/* testutil.h: shared helpers for the cairn test programs.
 *
 * Tests call the allocator through the A_* macros. By default they map to
 * the standard names (malloc, free, ...), which resolve to libcairn.so when a
 * test links against it. Compiled with -DCAIRN_PREFIXED they map to the
 * cairn_* names, so the same test can be linked directly with the allocator
 * core sources (sanitizer builds) while the system malloc stays in place.
 */
#ifndef CAIRN_TESTUTIL_H
#define CAIRN_TESTUTIL_H

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"

/* glibc 2.36 does not declare these C23 functions. */
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t alignment, size_t size);

#ifdef CAIRN_PREFIXED
#define A_NAME "cairn_*"
#define A_malloc cairn_malloc
#define A_free cairn_free
#define A_calloc cairn_calloc
#define A_realloc cairn_realloc
#define A_reallocarray cairn_reallocarray
#define A_memalign cairn_memalign
#define A_aligned_alloc cairn_aligned_alloc
#define A_posix_memalign cairn_posix_memalign
#define A_valloc cairn_valloc
#define A_pvalloc cairn_pvalloc
#define A_usable cairn_malloc_usable_size
#define A_free_sized cairn_free_sized
#define A_free_aligned_sized cairn_free_aligned_sized
#define A_malloc_trim cairn_malloc_trim
#else
#define A_NAME "standard"
#define A_malloc malloc
#define A_free free
#define A_calloc calloc
#define A_realloc realloc
#define A_reallocarray reallocarray
#define A_memalign memalign
#define A_aligned_alloc aligned_alloc
#define A_posix_memalign posix_memalign
#define A_valloc valloc
#define A_pvalloc pvalloc
#define A_usable malloc_usable_size
#define A_free_sized free_sized
#define A_free_aligned_sized free_aligned_sized
#define A_malloc_trim malloc_trim
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

/* ---- assertions: print file:line and exit non-zero -------------------- */
static void tu_fail(const char *file, int line, const char *expr,
                    const char *fmt, ...) __attribute__((noreturn, format(printf, 4, 5)));
static void tu_fail(const char *file, int line, const char *expr,
                    const char *fmt, ...)
{
    fprintf(stderr, "%s:%d: CHECK failed: %s", file, line, expr);
    if (fmt && fmt[0] && fmt[1]) { /* fmt starts with a space */
        va_list ap;
        va_start(ap, fmt);
        fputs(" --", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

/* CHECK(cond) or CHECK(cond, "fmt", args...) */
#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond))                                                       \
            tu_fail(__FILE__, __LINE__, #cond, " " __VA_ARGS__);            \
    } while (0)

#define CHECK_ENOMEM_NULL(expr_ptr, what)                                  \
    do {                                                                   \
        errno = 0;                                                         \
        void *tu_p_ = (expr_ptr);                                          \
        int tu_e_ = errno;                                                 \
        CHECK(tu_p_ == NULL, "%s returned %p, expected NULL", what, tu_p_); \
        CHECK(tu_e_ == ENOMEM, "%s: errno=%d, expected ENOMEM", what, tu_e_); \
    } while (0)

/* Keep the compiler from folding sizes it can see (and warning about them). */
static inline size_t hide_sz(size_t v)
{
    volatile size_t x = v;
    return x;
}
static inline void *hide_ptr(void *p)
{
    void *volatile x = p;
    return x;
}

/* ---- deterministic PRNG (splitmix64 seeding an xorshift64*) ------------ */
typedef struct { uint64_t s; } rng_t;

static inline uint64_t tu_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline void rng_seed(rng_t *r, uint64_t seed) { r->s = tu_mix64(seed) | 1; }
static inline uint64_t rng_next(rng_t *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dULL;
}
/* uniform in [0, n) (n > 0) */
static inline uint64_t rng_below(rng_t *r, uint64_t n) { return rng_next(r) % n; }
/* uniform in [lo, hi] */
static inline uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

/* ---- content patterns --------------------------------------------------
 * pattern_fill writes bytes derived from `tag` over [0,n). For blocks larger
 * than 8 KiB only the first and last 2 KiB plus one 8-byte word per 4 KiB are
 * written and checked (keeps stress tests fast while still catching overlap
 * and corruption anywhere in the block). */
static inline uint8_t tu_byte(uint64_t tag, size_t i)
{
    uint64_t w = tu_mix64(tag ^ (uint64_t)(i >> 3) * 0x100000001b3ULL);
    return (uint8_t)(w >> ((i & 7) * 8));
}
static inline void tu_fill_range(uint8_t *p, size_t from, size_t to, uint64_t tag)
{
    size_t i = from;
    while (i < to && (i & 7)) { p[i] = tu_byte(tag, i); i++; }
    for (; i + 8 <= to; i += 8) {
        uint64_t w = tu_mix64(tag ^ (uint64_t)(i >> 3) * 0x100000001b3ULL);
        memcpy(p + i, &w, 8);
    }
    for (; i < to; i++) p[i] = tu_byte(tag, i);
}
static inline size_t tu_check_range(const uint8_t *p, size_t from, size_t to, uint64_t tag)
{
    for (size_t i = from; i < to; i++)
        if (p[i] != tu_byte(tag, i)) return i;
    return (size_t)-1;
}
static inline void pattern_fill(void *ptr, size_t n, uint64_t tag)
{
    uint8_t *p = ptr;
    if (n <= 8192) { tu_fill_range(p, 0, n, tag); return; }
    tu_fill_range(p, 0, 2048, tag);
    for (size_t o = 4096; o + 8 <= n - 2048; o += 4096) tu_fill_range(p, o, o + 8, tag);
    tu_fill_range(p, n - 2048, n, tag);
}
/* Returns (size_t)-1 if intact, else offset of first bad byte. Checks only
 * the first `n` bytes of what pattern_fill(ptr, filled_n, tag) wrote, where
 * n <= filled_n (used after shrinking realloc). */
static inline size_t pattern_check2(const void *ptr, size_t n, size_t filled_n, uint64_t tag)
{
    const uint8_t *p = ptr;
    if (n > filled_n) n = filled_n;
    if (filled_n <= 8192) return tu_check_range(p, 0, n, tag);
    size_t r = tu_check_range(p, 0, n < 2048 ? n : 2048, tag);
    if (r != (size_t)-1) return r;
    for (size_t o = 4096; o + 8 <= filled_n - 2048 && o + 8 <= n; o += 4096)
        if ((r = tu_check_range(p, o, o + 8, tag)) != (size_t)-1) return r;
    size_t t0 = filled_n - 2048;
    if (t0 < n) return tu_check_range(p, t0, n, tag);
    return (size_t)-1;
}
static inline size_t pattern_check(const void *ptr, size_t n, uint64_t tag)
{
    return pattern_check2(ptr, n, n, tag);
}

/* ---- misc ---------------------------------------------------------------- */
static inline int is_aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static inline int test_quick(void)
{
    const char *q = getenv("CAIRN_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

/* resident set size in bytes from /proc/self/statm */
static inline size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (!f) return 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
    fclose(f);
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static inline double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Kill the process with a message if it runs longer than `sec` seconds
 * (a deadlock must fail, not hang). */
static void tu_alarm_handler(int sig)
{
    (void)sig;
    static const char msg[] = "watchdog: test timed out (deadlock?)\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(3);
}
static inline void watchdog(unsigned sec)
{
    signal(SIGALRM, tu_alarm_handler);
    alarm(sec);
}

static inline int heap_check_ok(void)
{
    int n = cairn_check_heap(stderr);
    if (n != 0) fprintf(stderr, "cairn_check_heap found %d problem(s)\n", n);
    return n == 0;
}


/* Threads of this process whose name (/proc/self/task/N/comm) is `name`. */
#include <dirent.h>
static inline int threads_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = 0;
        fclose(f);
        if (!strcmp(comm, name)) n++;
    }
    closedir(d);
    return n;
}

#endif /* CAIRN_TESTUTIL_H */
