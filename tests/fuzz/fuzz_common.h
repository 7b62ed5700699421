/* fuzz_common.h: the shadow model shared by the cairn fuzzers
 * (t_fuzz.c, the seeded random driver, and fuzz_ops.c, the libFuzzer
 * target).
 *
 * What the model knows about every live block (blk_t): where it is, the
 * size asked for, the usable size cairn reported, the alignment it must
 * have, how it was allocated (which decides how it may be freed) and the
 * tag its contents were filled from. What it checks:
 *   - contents: a pattern from the block's tag over the first `fill` bytes
 *     (the whole block up to 16 KiB; above, the first and last 256 bytes
 *     and one word per 4 KiB), checked before every free and realloc and
 *     at random times; a realloc must keep the old prefix;
 *   - every result is 16-aligned, and aligned to what was asked;
 *   - usable size >= size asked, and it does not change while live;
 *   - no two live blocks overlap: the usable ranges [p, p + usable) of all
 *     live blocks (of every thread) are kept in one sorted set (a treap),
 *     and a new block is checked against its neighbours there;
 *   - calloc returns zeros; free keeps errno; the glibc rules for zero
 *     sizes, overflow and bad alignments (fz_edge_case()).
 * Blocks leave the set before the allocator is asked to free them and join
 * it after it returned them, so the set never holds a block another thread
 * may already have been given again.
 *
 * The fuzzers' own bookkeeping lives in mmap'd memory (fz_meta_alloc), never
 * in the allocator under test nor in one it may be sharing a process with. */
#ifndef CAIRN_FUZZ_COMMON_H
#define CAIRN_FUZZ_COMMON_H

#include "testutil.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>

#define MIN_ALIGN_FZ ((size_t)16)   /* what every result must be aligned to */

/* FZ_TSAN: built with ThreadSanitizer (gcc defines __SANITIZE_THREAD__,
 * clang only answers __has_feature) */
#if defined(__SANITIZE_THREAD__)
#define FZ_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FZ_TSAN 1
#endif
#endif

/* testutil.h's CHECK() helper is not used here (failures go through
 * fz_fail, which knows the seed and the operation) */
__attribute__((unused)) static void (*const fz_tu_fail_unused)(const char *, int, const char *, const char *, ...) = tu_fail;

/* ---- the functions under test ------------------------------------------ */
typedef struct {
    const char *name;
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*usable)(void *);
    void (*free_sized)(void *, size_t);
    void (*free_aligned_sized)(void *, size_t, size_t);
    int (*trim)(size_t);
} fz_api_t;

static const fz_api_t fz_api_cairn = {
    "cairn_*", cairn_malloc, cairn_free, cairn_calloc, cairn_realloc, cairn_reallocarray,
    cairn_memalign, cairn_aligned_alloc, cairn_posix_memalign, cairn_valloc, cairn_pvalloc,
    cairn_malloc_usable_size, cairn_free_sized, cairn_free_aligned_sized, cairn_malloc_trim,
};
#ifdef FUZZ_STD_NAMES
/* Only when linked against libcairn.so, whose standard names are cairn's. */
static const fz_api_t fz_api_std = {
    "standard", malloc, free, calloc, realloc, reallocarray, memalign, aligned_alloc,
    posix_memalign, valloc, pvalloc, malloc_usable_size, free_sized, free_aligned_sized,
    malloc_trim,
};
#endif

/* ---- bookkeeping memory, outside every allocator ------------------------- */
static void *fz_meta_alloc(size_t n)
{
    void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "fuzz: mmap of %zu bytes for bookkeeping failed\n", n);
        _exit(2);
    }
    return p;
}

/* ---- failure context ------------------------------------------------------
 * Each thread points fz_cur at its context. A failure (or a crash signal,
 * or the sanitizer's death callback) prints the seed, the thread, the
 * operation number and the last operations of that thread. */
enum { FZ_RING = 24 };
typedef struct {
    uint64_t op;
    const char *what;
    const void *p, *q;
    size_t a, b;
} fz_trace_t;

typedef struct {
    int wid;            /* worker slot, -1 for the main thread            */
    unsigned gen;       /* generation of the thread in that slot          */
    uint64_t seed;      /* the thread's own seed                          */
    uint64_t op;        /* operations this context has done               */
    const char *what;   /* operation in progress                          */
    fz_trace_t ring[FZ_RING];
} fz_ctx_t;

static __thread fz_ctx_t *fz_cur;
static uint64_t fz_seed;                 /* the run's seed                  */
static const char *fz_prog = "fuzz";
static char fz_cmdline[512];             /* how to run this again           */
static volatile int fz_in_child;         /* in a fork child                 */
static void (*fz_die)(void);             /* how to die: _exit(1) or abort() */
static atomic_int fz_failing;
static unsigned long long (*fz_total_ops)(void);   /* operations of all threads so far, if known */

/* Record the operation in progress (before calling the allocator, so a
 * crash inside it is in the record); the result can be filled in later. */
static fz_trace_t *fz_trace(fz_ctx_t *c, const char *what, const void *p, size_t a, size_t b, const void *q)
{
    fz_trace_t *t = &c->ring[c->op % FZ_RING];
    t->op = c->op;
    t->what = what;
    t->p = p;
    t->q = q;
    t->a = a;
    t->b = b;
    c->what = what;
    return t;
}

/* Print the context with write(2) and snprintf only (also from signal
 * handlers; the process is dying anyway). */
static void fz_print_context(void)
{
    char buf[512];
    fz_ctx_t *c = fz_cur;
    int n;
    if (!c) {
        n = snprintf(buf, sizeof buf, "%s: seed %llu (no thread context)\n", fz_prog,
                     (unsigned long long)fz_seed);
        if (write(2, buf, (size_t)n) < 0) return;
        return;
    }
    n = snprintf(buf, sizeof buf,
                 "%s: seed %llu, thread %d.%u (thread seed %#llx)%s, op %llu (%s)\n", fz_prog,
                 (unsigned long long)fz_seed, c->wid, c->gen, (unsigned long long)c->seed,
                 fz_in_child ? " in a fork child" : "", (unsigned long long)c->op,
                 c->what ? c->what : "-");
    if (write(2, buf, (size_t)n) < 0) return;
    n = snprintf(buf, sizeof buf, "%s: last operations of this thread (op what ptr a b -> result):\n", fz_prog);
    if (write(2, buf, (size_t)n) < 0) return;
    uint64_t first = c->op >= FZ_RING ? c->op - FZ_RING + 1 : 0;
    for (uint64_t o = first; o <= c->op; o++) {
        const fz_trace_t *t = &c->ring[o % FZ_RING];
        if (!t->what || t->op != o) continue;
        n = snprintf(buf, sizeof buf, "    %8llu %-22s %p %#zx %#zx -> %p\n", (unsigned long long)t->op,
                     t->what, t->p, t->a, t->b, t->q);
        if (write(2, buf, (size_t)n) < 0) return;
    }
    if (fz_total_ops) {
        n = snprintf(buf, sizeof buf, "%s: %llu operations in all had been started (all threads)\n", fz_prog,
                     fz_total_ops());
        if (write(2, buf, (size_t)n) < 0) return;
    }
    if (fz_cmdline[0]) {
        n = snprintf(buf, sizeof buf, "%s: reproduce with: %s\n", fz_prog, fz_cmdline);
        if (write(2, buf, (size_t)n) < 0) return;
    }
}

static void fz_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fz_fail(const char *fmt, ...)
{
    /* the first failing thread reports; others wait to be killed */
    if (atomic_exchange(&fz_failing, 1)) for (;;) pause();
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "%s: FAIL: %s\n", fz_prog, msg);
    fflush(stderr);
    fz_print_context();
    if (fz_die) fz_die();
    _exit(1);
}

#define FZ_CHECK(cond, ...)                                                  \
    do {                                                                     \
        if (!(cond)) fz_fail(__VA_ARGS__);                                   \
    } while (0)

/* Crash signals (cairn_fatal aborts, segfaults): say where we were. */
static void fz_signal_handler(int sig)
{
    if (!atomic_exchange(&fz_failing, 1)) {
        char buf[128];
        int n = snprintf(buf, sizeof buf, "%s: FAIL: killed by signal %d (%s)\n", fz_prog, sig,
                         sig == SIGABRT ? "abort: see the cairn: message above" : "crash");
        if (write(2, buf, (size_t)n) < 0) {}
        fz_print_context();
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Sanitizer builds report and exit on their own; this prints the context
 * after their report. Weak: absent without a sanitizer runtime. */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));
static void fz_sanitizer_death(void)
{
    if (!atomic_exchange(&fz_failing, 1)) fz_print_context();
}

__attribute__((unused)) static void fz_install_handlers(void)
{
    int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = fz_signal_handler;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_NODEFER | SA_ONSTACK;
        sigaction(sigs[i], &sa, NULL);
    }
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(fz_sanitizer_death);
}

/* ---- the sorted set of live ranges (a treap under one mutex) ------------ */
typedef struct {
    uintptr_t lo, hi;      /* [lo, hi)                                      */
    uint32_t l, r, prio;
    int32_t who;           /* worker slot that inserted it (for messages)   */
    uint64_t tag;
    size_t size;
} fz_node_t;

typedef struct {
    pthread_mutex_t mu;
    fz_node_t *n;          /* n[0] is the null node                         */
    uint32_t cap, free_head, root, count, max_count;
    uint64_t rng;
} fz_set_t;

static void fz_set_init(fz_set_t *s, uint32_t cap)
{
    pthread_mutex_init(&s->mu, NULL);
    s->cap = cap + 1;
    s->n = fz_meta_alloc(sizeof(fz_node_t) * s->cap);
    s->free_head = 0;
    for (uint32_t i = s->cap - 1; i >= 1; i--) { s->n[i].l = s->free_head; s->free_head = i; }
    s->root = 0;
    s->count = s->max_count = 0;
    s->rng = 0x243f6a8885a308d3ULL;
}

/* split t into keys < key (*a) and >= key (*b) */
static void fz_split(fz_node_t *n, uint32_t t, uintptr_t key, uint32_t *a, uint32_t *b)
{
    if (!t) { *a = *b = 0; return; }
    if (n[t].lo < key) { fz_split(n, n[t].r, key, &n[t].r, b); *a = t; }
    else { fz_split(n, n[t].l, key, a, &n[t].l); *b = t; }
}
static uint32_t fz_merge(fz_node_t *n, uint32_t a, uint32_t b)
{
    if (!a) return b;
    if (!b) return a;
    if (n[a].prio > n[b].prio) { n[a].r = fz_merge(n, n[a].r, b); return a; }
    n[b].l = fz_merge(n, a, n[b].l);
    return b;
}
static uint32_t fz_insert_node(fz_node_t *n, uint32_t t, uint32_t x)
{
    if (!t) return x;
    if (n[x].prio > n[t].prio) { fz_split(n, t, n[x].lo, &n[x].l, &n[x].r); return x; }
    if (n[x].lo < n[t].lo) n[t].l = fz_insert_node(n, n[t].l, x);
    else n[t].r = fz_insert_node(n, n[t].r, x);
    return t;
}
static uint32_t fz_remove_node(fz_node_t *n, uint32_t t, uintptr_t key, uint32_t *found)
{
    if (!t) return 0;
    if (n[t].lo == key) { *found = t; return fz_merge(n, n[t].l, n[t].r); }
    if (key < n[t].lo) n[t].l = fz_remove_node(n, n[t].l, key, found);
    else n[t].r = fz_remove_node(n, n[t].r, key, found);
    return t;
}

/* Add [p, p + len) (len 0 counts as 1). Fails the run when it overlaps a
 * live block: two live blocks share memory. */
static void fz_set_add(fz_set_t *s, const void *p, size_t len, size_t size, uint64_t tag, int who)
{
    uintptr_t lo = (uintptr_t)p, hi = lo + (len ? len : 1);
    FZ_CHECK(hi > lo, "block %p + %zu wraps around the address space", p, len);
    pthread_mutex_lock(&s->mu);
    fz_node_t *n = s->n;
    uint32_t pred = 0, succ = 0;
    for (uint32_t t = s->root; t;) {
        if (n[t].lo <= lo) { pred = t; t = n[t].r; }
        else { succ = t; t = n[t].l; }
    }
    uint32_t bad = pred && n[pred].hi > lo ? pred : succ && n[succ].lo < hi ? succ : 0;
    if (bad) {
        fz_node_t o = n[bad];
        pthread_mutex_unlock(&s->mu);
        fz_fail("overlap: new block [%p, %#lx) (size %zu, usable %zu) overlaps live block "
                "[%#lx, %#lx) (size %zu, tag %#llx, from worker %d)",
                p, (unsigned long)hi, size, len, (unsigned long)o.lo, (unsigned long)o.hi, o.size,
                (unsigned long long)o.tag, o.who);
    }
    uint32_t x = s->free_head;
    if (!x) {
        pthread_mutex_unlock(&s->mu);
        fz_fail("internal: range set full (%u entries)", s->cap - 1);
    }
    s->free_head = n[x].l;
    s->rng ^= s->rng << 13; s->rng ^= s->rng >> 7; s->rng ^= s->rng << 17;
    n[x] = (fz_node_t){ .lo = lo, .hi = hi, .prio = (uint32_t)(s->rng >> 32), .who = who,
                        .tag = tag, .size = size };
    s->root = fz_insert_node(n, s->root, x);
    if (++s->count > s->max_count) s->max_count = s->count;
    pthread_mutex_unlock(&s->mu);
}

static void fz_set_del(fz_set_t *s, const void *p)
{
    uint32_t found = 0;
    pthread_mutex_lock(&s->mu);
    s->root = fz_remove_node(s->n, s->root, (uintptr_t)p, &found);
    if (found) { s->n[found].l = s->free_head; s->free_head = found; s->count--; }
    pthread_mutex_unlock(&s->mu);
    FZ_CHECK(found, "internal: block %p is not in the range set", p);
}

/* ---- contents ---------------------------------------------------------------
 * A block is filled from its tag: byte i is byte (i % 8) of fz_word(tag,
 * i / 8) (little-endian). Different tags give different words (the
 * multiplier is odd), so a byte written through another block shows. Up to
 * FZ_DENSE bytes the whole block is filled and checked; above, the first
 * and last FZ_EDGE bytes and one word per 4 KiB (every page is touched,
 * so a block that shares a page with another one is caught). */
enum { FZ_DENSE = 16384, FZ_EDGE = 256, FZ_STRIDE = 4096 };

/* The allocator's memory is invisible to ASan anyway (it comes from mmap),
 * so checking every store of a fill would only cost time. */
#if defined(__clang__) || __GNUC__ >= 8
#define FZ_NOSAN __attribute__((no_sanitize("address", "thread")))
#else
#define FZ_NOSAN
#endif

static inline uint64_t fz_word(uint64_t tag, size_t wi)
{
    return (tag ^ ((uint64_t)wi * 0x9e3779b97f4a7c15ULL)) * 0xd6e8feb86659fd93ULL;
}
static inline uint8_t fz_byte(uint64_t tag, size_t i) { return (uint8_t)(fz_word(tag, i >> 3) >> ((i & 7) * 8)); }

FZ_NOSAN static void fz_fill_range(uint8_t *p, size_t from, size_t to, uint64_t tag)
{
    size_t i = from;
    for (; i < to && (i & 7); i++) p[i] = fz_byte(tag, i);
    for (; i + 8 <= to; i += 8) {
        uint64_t w = fz_word(tag, i >> 3);
        memcpy(p + i, &w, 8);
    }
    for (; i < to; i++) p[i] = fz_byte(tag, i);
}
/* first offset in [from, to) that is wrong, or SIZE_MAX */
FZ_NOSAN static size_t fz_check_range(const uint8_t *p, size_t from, size_t to, uint64_t tag)
{
    size_t i = from;
    for (; i < to && (i & 7); i++) if (p[i] != fz_byte(tag, i)) return i;
    for (; i + 8 <= to; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w != fz_word(tag, i >> 3)) break;
    }
    for (; i < to; i++) if (p[i] != fz_byte(tag, i)) return i;
    return SIZE_MAX;
}

static void fz_pattern_fill(void *ptr, size_t n, uint64_t tag)
{
    uint8_t *p = ptr;
    if (n <= FZ_DENSE) { fz_fill_range(p, 0, n, tag); return; }
    fz_fill_range(p, 0, FZ_EDGE, tag);
    for (size_t o = FZ_STRIDE; o + 8 <= n - FZ_EDGE; o += FZ_STRIDE) fz_fill_range(p, o, o + 8, tag);
    fz_fill_range(p, n - FZ_EDGE, n, tag);
}
/* Check the first n bytes of what fz_pattern_fill(ptr, filled, tag) wrote
 * (n < filled after a shrinking realloc). First bad offset, or SIZE_MAX. */
static size_t fz_pattern_check(const void *ptr, size_t n, size_t filled, uint64_t tag)
{
    const uint8_t *p = ptr;
    size_t r;
    if (n > filled) n = filled;
    if (filled <= FZ_DENSE) return fz_check_range(p, 0, n, tag);
    if ((r = fz_check_range(p, 0, n < FZ_EDGE ? n : FZ_EDGE, tag)) != SIZE_MAX) return r;
    for (size_t o = FZ_STRIDE; o + 8 <= filled - FZ_EDGE && o + 8 <= n; o += FZ_STRIDE)
        if ((r = fz_check_range(p, o, o + 8, tag)) != SIZE_MAX) return r;
    if (filled - FZ_EDGE < n) return fz_check_range(p, filled - FZ_EDGE, n, tag);
    return SIZE_MAX;
}

/* ---- blocks ----------------------------------------------------------------- */
enum fz_kind {
    FK_MALLOC,      /* malloc, realloc, reallocarray: free_sized allowed    */
    FK_CALLOC,      /* calloc: free_sized allowed (n * size)                */
    FK_ALIGNED,     /* aligned_alloc: free_aligned_sized allowed            */
    FK_MEMALIGN,    /* memalign, posix_memalign, valloc, pvalloc: free only */
};

typedef struct {
    uint8_t *p;      /* NULL: empty slot                                     */
    size_t size;     /* bytes asked for                                      */
    size_t usable;   /* malloc_usable_size when it was allocated             */
    size_t fill;     /* bytes covered by the pattern (size, or usable)       */
    size_t align;    /* alignment asked for (16 when none)                   */
    uint64_t tag;
    uint8_t kind;
    int8_t born;     /* worker slot that allocated it (-1: main)             */
} fz_blk_t;

typedef struct {
    const fz_api_t *api;
    fz_set_t *set;
    size_t page;          /* sysconf(_SC_PAGESIZE)                          */
    size_t small_max, large_max;
    int who;
    atomic_llong *live_bytes;   /* optional: requested bytes of live blocks */
} fz_env_t;

static inline size_t fz_pow2_at_least(size_t a)
{
    size_t r = MIN_ALIGN_FZ;
    while (r < a) r <<= 1;
    return r;
}

/* Check the contents of b against its pattern. */
static void fz_verify(const fz_blk_t *b, const char *when)
{
    size_t bad = fz_pattern_check(b->p, b->fill, b->fill, b->tag);
    if (bad != SIZE_MAX)
        fz_fail("block %p (size %zu, usable %zu, align %zu, kind %d, tag %#llx, from worker %d) "
                "corrupted at byte %zu (of %zu checked: %#04x, want %#04x) before %s",
                (void *)b->p, b->size, b->usable, b->align, b->kind, (unsigned long long)b->tag,
                b->born, bad, b->fill, b->p[bad], fz_byte(b->tag, bad), when);
}

static void fz_verify_usable(fz_env_t *e, const fz_blk_t *b)
{
    size_t u = e->api->usable(b->p);
    FZ_CHECK(u == b->usable, "usable size of live block %p (size %zu) changed from %zu to %zu",
             (void *)b->p, b->size, b->usable, u);
}

/* calloc'd memory reads as zero: all of it up to 64 KiB, above that the
 * first and last 4 KiB and one byte per 4 KiB. */
static void fz_check_zero(const uint8_t *p, size_t n, const char *what)
{
    size_t lim = n < 65536 ? n : 4096;
    for (size_t i = 0; i < lim; i++)
        FZ_CHECK(p[i] == 0, "%s(%zu) = %p: byte %zu is %#x, not 0", what, n, (void *)p, i, p[i]);
    if (n > lim) {
        for (size_t i = lim; i < n; i += 4093)
            FZ_CHECK(p[i] == 0, "%s(%zu) = %p: byte %zu is %#x, not 0", what, n, (void *)p, i, p[i]);
        for (size_t i = n - 4096; i < n; i++)
            FZ_CHECK(p[i] == 0, "%s(%zu) = %p: byte %zu is %#x, not 0", what, n, (void *)p, i, p[i]);
    }
}

/* A block the allocator just returned: check it, fill it, add it to the
 * set. `align` is the alignment it must have (>= 16). `fill_usable` asks
 * for the pattern over the whole usable size (all of it must be writable
 * and nobody else's). */
static void fz_accept(fz_env_t *e, fz_blk_t *b, void *p, size_t size, size_t align, int kind,
                      uint64_t tag, bool fill_usable, const char *what)
{
    FZ_CHECK(p != NULL, "%s(size %zu, align %zu) returned NULL", what, size, align);
    FZ_CHECK(is_aligned(p, MIN_ALIGN_FZ), "%s(size %zu) = %p is not 16-aligned", what, size, p);
    FZ_CHECK(is_aligned(p, align), "%s(size %zu, align %zu) = %p is misaligned", what, size, align, p);
    size_t u = e->api->usable(p);
    FZ_CHECK(u >= size, "%s(size %zu, align %zu) = %p: usable size %zu < %zu", what, size, align, p, u, size);
    b->p = p;
    b->size = size;
    b->usable = u;
    b->fill = fill_usable && u <= 65536 ? u : size;
    b->align = align;
    b->tag = tag;
    b->kind = (uint8_t)kind;
    b->born = (int8_t)e->who;
    fz_set_add(e->set, p, u, size, tag, e->who);
    fz_pattern_fill(p, b->fill, tag);
    if (e->live_bytes) atomic_fetch_add(e->live_bytes, (long long)size);
}

/* The block is about to go back: out of the set first. */
static void fz_release(fz_env_t *e, fz_blk_t *b)
{
    fz_set_del(e->set, b->p);
    if (e->live_bytes) atomic_fetch_sub(e->live_bytes, (long long)b->size);
}

/* Free b in one of the ways its kind allows (how: any number), checking
 * errno is kept. */
static void fz_free(fz_env_t *e, fz_blk_t *b, unsigned how)
{
    fz_verify(b, "free");
    fz_verify_usable(e, b);
    fz_release(e, b);
    int want = 1000 + (int)(how % 1000);
    errno = want;
    switch (how % 3) {
    case 1:
        if (b->kind == FK_MALLOC || b->kind == FK_CALLOC) { e->api->free_sized(b->p, b->size); break; }
        e->api->free(b->p);
        break;
    case 2:
        if (b->kind == FK_ALIGNED) { e->api->free_aligned_sized(b->p, b->align, b->size); break; }
        e->api->free(b->p);
        break;
    default: e->api->free(b->p); break;
    }
    FZ_CHECK(errno == want, "free of %p (size %zu, kind %d, way %u) changed errno from %d to %d",
             (void *)b->p, b->size, b->kind, how % 3, want, errno);
    b->p = NULL;
}

/* realloc (or reallocarray) b to `size` (> 0). On success the old prefix
 * must be there and the block is refilled with `tag`. Returns false when
 * the allocator said no (only allowed when `may_fail`: then NULL, ENOMEM,
 * and the old block intact). */
static bool fz_realloc(fz_env_t *e, fz_blk_t *b, size_t size, size_t n_elems, uint64_t tag, bool may_fail,
                       bool fill_usable)
{
    fz_verify(b, "realloc");
    fz_verify_usable(e, b);
    fz_release(e, b);
    errno = 0;
    void *q;
    const char *what = n_elems ? "reallocarray" : "realloc";
    if (n_elems) q = e->api->reallocarray(b->p, n_elems, size / n_elems);
    else q = e->api->realloc(b->p, size);
    int err = errno;
    if (!q) {
        FZ_CHECK(may_fail, "%s(%p [size %zu], %zu) failed, errno %d", what, (void *)b->p, b->size, size, err);
        FZ_CHECK(err == ENOMEM, "%s(%p, %zu) returned NULL with errno %d, not ENOMEM", what, (void *)b->p, size, err);
        fz_set_add(e->set, b->p, b->usable, b->size, b->tag, e->who);
        if (e->live_bytes) atomic_fetch_add(e->live_bytes, (long long)b->size);
        fz_verify(b, "use after a failed realloc");
        return false;
    }
    size_t keep = b->size < size ? b->size : size;
    size_t bad = fz_pattern_check(q, keep, b->fill, b->tag);
    if (bad != SIZE_MAX)
        fz_fail("%s(%p [size %zu, usable %zu], %zu) = %p lost the old contents at byte %zu", what,
                (void *)b->p, b->size, b->usable, size, q, bad);
    fz_accept(e, b, q, size, MIN_ALIGN_FZ, FK_MALLOC, tag, fill_usable, what);
    return true;
}

/* ---- glibc's rules for odd requests ----------------------------------------
 * Runs edge case `which` (any number; taken modulo the count). `b` is a
 * live block some cases use (realloc or reallocarray that must fail and
 * leave it alone); it stays live. Each case ends with nothing allocated,
 * unless a block it got is returned through *out for the caller to keep. */
enum { FZ_EDGE_CASES = 16 };
static void fz_expect_null(void *p, int err, int want, const char *what)
{
    FZ_CHECK(p == NULL, "%s returned %p, expected NULL", what, p);
    FZ_CHECK(err == want, "%s: errno %d, expected %d", what, err, want);
}

static const char *fz_edge_case(fz_env_t *e, unsigned which, size_t arg, fz_blk_t *b)
{
    const fz_api_t *A = e->api;
    size_t big[] = {SIZE_MAX, SIZE_MAX - 15, (size_t)PTRDIFF_MAX + 1, SIZE_MAX / 2 + 4096, (size_t)1 << 62,
                    SIZE_MAX - e->page};
    size_t huge = big[arg % (sizeof big / sizeof big[0])];
    char what[128];
    void *p;
    int err;
    switch (which % FZ_EDGE_CASES) {
    case 0: /* malloc(0): a unique, freeable, 16-aligned block */
    case 1: {
        fz_blk_t z = {0};
        p = which % 2 ? A->calloc(arg % 3, 0) : A->malloc(0);
        fz_accept(e, &z, p, 0, MIN_ALIGN_FZ, FK_MALLOC, 0, false, which % 2 ? "calloc(n, 0)" : "malloc(0)");
        fz_free(e, &z, (unsigned)arg);
        return which % 2 ? "calloc(n,0)" : "malloc(0)";
    }
    case 2: /* calloc overflow */
    {
        size_t n = (size_t)1 << (33 + arg % 20), m = SIZE_MAX / n + 1 + arg % 7;
        errno = 0;
        p = A->calloc(arg & 1 ? n : m, arg & 1 ? m : n);
        err = errno;
        snprintf(what, sizeof what, "calloc(%#zx, %#zx)", n, m);
        fz_expect_null(p, err, ENOMEM, what);
        return "calloc overflow";
    }
    case 3: /* reallocarray overflow: NULL, ENOMEM, block intact */
    {
        size_t n = SIZE_MAX / 3 + 1 + arg % 5, m = 3 + arg % 9;
        errno = 0;
        p = A->reallocarray(b ? b->p : NULL, n, m);
        err = errno;
        snprintf(what, sizeof what, "reallocarray(%p, %#zx, %#zx)", b ? (void *)b->p : NULL, n, m);
        fz_expect_null(p, err, ENOMEM, what);
        if (b) { fz_verify(b, "use after a failed reallocarray"); fz_verify_usable(e, b); }
        return "reallocarray overflow";
    }
    case 4: /* malloc of an impossible size */
        errno = 0;
        p = A->malloc(huge);
        err = errno;
        snprintf(what, sizeof what, "malloc(%#zx)", huge);
        fz_expect_null(p, err, ENOMEM, what);
        return "malloc too big";
    case 5: /* realloc of an impossible size: NULL, ENOMEM, block intact */
        errno = 0;
        p = A->realloc(b ? b->p : NULL, huge);
        err = errno;
        snprintf(what, sizeof what, "realloc(%p, %#zx)", b ? (void *)b->p : NULL, huge);
        fz_expect_null(p, err, ENOMEM, what);
        if (b) { fz_verify(b, "use after a failed realloc"); fz_verify_usable(e, b); }
        return "realloc too big";
    case 6: /* posix_memalign with a bad alignment: EINVAL, *out untouched */
    {
        size_t bad[] = {0, 1, 2, 4, 12, 24, 48, 100, 4095, 4097, 3 * 4096, ((size_t)1 << 63) | 8, SIZE_MAX};
        size_t al = bad[arg % (sizeof bad / sizeof bad[0])];
        void *out = (void *)0x5a5a;
        int rc = A->posix_memalign(&out, al, arg % 3 == 0 ? 0 : arg % 3 == 1 ? 64 : 70000);
        FZ_CHECK(rc == EINVAL, "posix_memalign(align %#zx) = %d, want EINVAL", al, rc);
        FZ_CHECK(out == (void *)0x5a5a, "posix_memalign(align %#zx) changed *out on EINVAL", al);
        return "posix_memalign EINVAL";
    }
    case 7: /* posix_memalign of an impossible size: ENOMEM, *out untouched */
    {
        void *out = (void *)0x5a5a;
        int rc = A->posix_memalign(&out, (size_t)8 << (arg % 14), huge);
        FZ_CHECK(rc == ENOMEM, "posix_memalign(size %#zx) = %d, want ENOMEM", huge, rc);
        FZ_CHECK(out == (void *)0x5a5a, "posix_memalign(size %#zx) changed *out on failure", huge);
        return "posix_memalign ENOMEM";
    }
    case 8: /* memalign and friends of impossible sizes */
        errno = 0;
        switch (arg % 4) {
        case 0: p = A->memalign((size_t)16 << (arg % 17), huge); break;
        case 1: p = A->aligned_alloc((size_t)1 << (arg % 21), huge); break;
        case 2: p = A->valloc(huge); break;
        default: p = A->pvalloc(huge); break;
        }
        err = errno;
        snprintf(what, sizeof what, "aligned request %zu of size %#zx", arg % 4, huge);
        fz_expect_null(p, err, ENOMEM, what);
        return "aligned too big";
    case 9: /* memalign with an absurd alignment: EINVAL (glibc) */
        errno = 0;
        p = A->memalign(SIZE_MAX / 2 + 2 + arg % 1000, 64);
        err = errno;
        fz_expect_null(p, err, EINVAL, "memalign(> SIZE_MAX/2 + 1, 64)");
        return "memalign EINVAL";
    case 10: /* free(NULL) and friends: nothing happens, errno kept */
        errno = 4321;
        A->free(NULL);
        A->free_sized(NULL, arg);
        A->free_aligned_sized(NULL, 64, arg);
        FZ_CHECK(errno == 4321, "free(NULL) changed errno to %d", errno);
        FZ_CHECK(A->usable(NULL) == 0, "malloc_usable_size(NULL) != 0");
        return "free(NULL)";
    case 11: /* realloc(NULL, n) is malloc(n) */
    {
        fz_blk_t z = {0};
        size_t n = arg % 5000;
        p = A->realloc(NULL, n);
        fz_accept(e, &z, p, n, MIN_ALIGN_FZ, FK_MALLOC, 0x11 + arg, false, "realloc(NULL, n)");
        fz_free(e, &z, (unsigned)arg);
        return "realloc(NULL,n)";
    }
    case 12: /* reallocarray(NULL, n, m) is malloc(n * m) */
    {
        fz_blk_t z = {0};
        size_t n = 1 + arg % 100, m = 1 + arg % 77;
        p = A->reallocarray(NULL, n, m);
        fz_accept(e, &z, p, n * m, MIN_ALIGN_FZ, FK_MALLOC, 0x12 + arg, false, "reallocarray(NULL, n, m)");
        fz_free(e, &z, (unsigned)arg);
        return "reallocarray(NULL,n,m)";
    }
    case 13: /* memalign with a non-power-of-two alignment rounds it up */
    {
        fz_blk_t z = {0};
        size_t al = 1 + arg % 70000, n = arg % 3000;
        p = A->memalign(al, n);
        fz_accept(e, &z, p, n, fz_pow2_at_least(al), FK_MEMALIGN, 0x13 + arg, false, "memalign(odd alignment)");
        fz_free(e, &z, (unsigned)arg);
        return "memalign odd alignment";
    }
    case 14: /* calloc(0, n) and calloc(n, 0) */
    {
        fz_blk_t z = {0};
        p = A->calloc(0, arg);
        fz_accept(e, &z, p, 0, MIN_ALIGN_FZ, FK_CALLOC, 0, false, "calloc(0, n)");
        fz_free(e, &z, (unsigned)arg);
        return "calloc(0,n)";
    }
    default: /* aligned_alloc with a non-power-of-two alignment: glibc
              * before 2.38 treats it like memalign, later ones fail with
              * EINVAL; either is accepted */
    {
        size_t al = 3 + 2 * (arg % 5000);
        errno = 0;
        p = A->aligned_alloc(al, 100);
        err = errno;
        if (!p) {
            FZ_CHECK(err == EINVAL, "aligned_alloc(%zu, 100) = NULL with errno %d", al, err);
        } else {
            fz_blk_t z = {0};
            fz_accept(e, &z, p, 100, fz_pow2_at_least(al), FK_MEMALIGN, 0x15, false, "aligned_alloc(odd)");
            fz_free(e, &z, (unsigned)arg);
        }
        return "aligned_alloc odd alignment";
    }
    }
}

#endif /* CAIRN_FUZZ_COMMON_H */
