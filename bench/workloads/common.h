/* Shared helpers for cairn's benchmark workloads.
 *
 * Every workload:
 *   - takes `key=value` parameters (see param()), so quick and full runs
 *     differ only in parameters;
 *   - prints exactly one deterministic, allocator-independent line
 *     `result: <workload> <checksum...>` on stdout (the runner compares it
 *     across allocators);
 *   - prints timing/informational lines as `metric: key=value ...` (never
 *     compared);
 *   - exits non-zero (and prints `error: ...` on stderr) when it detects a
 *     corrupted block or a failed allocation.
 *
 * Blocks carry a stamp (a tag in the first bytes, a check byte at the end)
 * that is verified before every free: an allocator that hands out
 * overlapping blocks or corrupts memory fails the run instead of producing
 * a time.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

/* Keep the compiler from eliding or merging malloc/free pairs. */
#define ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((unused)) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stdout);
    _exit(2);
}

/* ---- parameters -------------------------------------------------------- */
static int g_argc;
static char **g_argv;

__attribute__((unused)) static void params_init(int argc, char **argv)
{
    g_argc = argc;
    g_argv = argv;
    for (int i = 1; i < argc; i++)
        if (!strchr(argv[i], '='))
            die("bad argument '%s' (expected key=value)", argv[i]);
}

/* Integer parameter with k/m/g suffixes (powers of 1024). */
__attribute__((unused)) static long long param(const char *key, long long def)
{
    size_t kl = strlen(key);
    for (int i = 1; i < g_argc; i++) {
        if (strncmp(g_argv[i], key, kl) == 0 && g_argv[i][kl] == '=') {
            char *end;
            long long v = strtoll(g_argv[i] + kl + 1, &end, 0);
            switch (*end) {
            case 'k': case 'K': v <<= 10; break;
            case 'm': case 'M': v <<= 20; break;
            case 'g': case 'G': v <<= 30; break;
            case 0: break;
            default: die("bad value for %s: %s", key, g_argv[i]);
            }
            return v;
        }
    }
    return def;
}

/* ---- random numbers ---------------------------------------------------- */
static inline uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct { uint64_t s; } rng_t;

static inline void rng_seed(rng_t *r, uint64_t seed)
{
    uint64_t s = seed;
    r->s = splitmix64(&s) | 1;
}

static inline uint64_t rng_next(rng_t *r) /* xorshift64* */
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, n). */
static inline uint64_t rng_below(rng_t *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

/* A size in [lo, hi]: a power-of-two range picked uniformly, then a size
 * uniformly within it (so log-uniform, in steps of doubling). */
static inline size_t rng_log2_uniform(rng_t *r, size_t lo, size_t hi)
{
    int klo = 63 - __builtin_clzll(lo), khi = 63 - __builtin_clzll(hi);
    for (;;) {
        int k = klo + (int)rng_below(r, (uint64_t)(khi - klo + 1));
        size_t a = (size_t)1 << k;
        size_t s = (size_t)rng_range(r, a, 2 * a - 1);
        if (s >= lo && s <= hi)
            return s;
    }
}

static inline double rng_unit(rng_t *r) /* (0, 1] */
{
    return ((rng_next(r) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

static inline uint64_t mix64(uint64_t x)
{
    return splitmix64(&x);
}

/* ---- block stamps ------------------------------------------------------ */
/* Write `tag` into the first min(size, 8) bytes and a check byte at the end. */
static inline void stamp(void *p, size_t size, uint64_t tag)
{
    unsigned char *b = p;
    if (size > 8) {
        memcpy(b, &tag, 8);
        b[size - 1] = (unsigned char)(0x5a ^ size);
    } else {
        memcpy(b, &tag, size);
        b[size - 1] ^= (unsigned char)(0x5a ^ size);
    }
}

static inline int stamp_ok(const void *p, size_t size, uint64_t tag)
{
    unsigned char want[8];
    const unsigned char *b = p;
    size_t n = size >= 8 ? 8 : size;
    memcpy(want, &tag, 8);
    if (size > 8) {
        if (memcmp(b, want, 8) != 0)
            return 0;
        return b[size - 1] == (unsigned char)(0x5a ^ size);
    }
    want[n - 1] ^= (unsigned char)(0x5a ^ size);
    return memcmp(b, want, n) == 0;
}

/* Self-describing block (size >= 16): a 64-bit tag, the size as 32 bits,
 * and a check byte in the last byte (at offset >= 15, past the header).
 * Used when the freeing thread does not know what the allocating thread
 * stored. */
static inline uint8_t hdr_check_byte(uint64_t tag, uint32_t size)
{
    return (uint8_t)(tag ^ (tag >> 8) ^ size ^ 0xa5);
}

static inline void stamp_hdr(void *p, size_t size, uint64_t tag)
{
    uint32_t sz = (uint32_t)size;
    memcpy(p, &tag, 8);
    memcpy((char *)p + 8, &sz, 4);
    ((unsigned char *)p)[size - 1] = hdr_check_byte(tag, sz);
}

/* Returns the tag, or dies on a corrupt block. */
static inline uint64_t check_hdr(const void *p, const char *where)
{
    uint64_t tag;
    uint32_t size;
    memcpy(&tag, p, 8);
    memcpy(&size, (const char *)p + 8, 4);
    if (size < 16 || size > (1u << 30) ||
        ((const unsigned char *)p)[size - 1] != hdr_check_byte(tag, size))
        die("%s: corrupt block %p (size field %" PRIu32 ")", where, p, size);
    return tag;
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        die("malloc(%zu) failed", n);
    ESCAPE(p);
    return p;
}

/* ---- threads ----------------------------------------------------------- */
__attribute__((unused)) static void run_threads(int n, void *(*fn)(void *), void *args, size_t argsz)
{
    pthread_t *t = malloc(sizeof(pthread_t) * (size_t)n);
    if (!t)
        die("out of memory");
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, fn, (char *)args + argsz * (size_t)i))
            die("pthread_create failed");
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    free(t);
}

static inline void print_result(const char *name, const char *fmt, ...)
{
    va_list ap;
    printf("result: %s ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* ---- resident memory, sampled by the workload itself --------------------- */
/* RSS in KiB from /proc/self/statm; read without allocating, so sampling
 * does not disturb the allocator under test. */
static inline long long rss_kib(void)
{
    char buf[128];
    long long size = 0, res = -1;
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    if (sscanf(buf, "%lld %lld", &size, &res) != 2)
        return -1;
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A timeline of (milliseconds since start, RSS KiB) samples, printed as one
 * "timeline:" line the runner turns into an RSS-over-time chart. */
#define TL_MAX 400
typedef struct {
    uint64_t t0;
    int n;
    unsigned ms[TL_MAX];
    long long kib[TL_MAX];
} timeline_t;

static inline void tl_start(timeline_t *tl)
{
    tl->t0 = now_ns();
    tl->n = 0;
}

static inline void tl_sample(timeline_t *tl)
{
    if (tl->n < TL_MAX) {
        tl->ms[tl->n] = (unsigned)((now_ns() - tl->t0) / 1000000);
        tl->kib[tl->n++] = rss_kib();
    }
}

static inline void tl_print(const timeline_t *tl)
{
    printf("timeline:");
    for (int i = 0; i < tl->n; i++)
        printf(" %u:%lld", tl->ms[i], tl->kib[i]);
    putchar('\n');
}

#endif
