/* cairn-replay: replay a cairn trace through whatever malloc this process
 * runs with (glibc's, or one preloaded with LD_PRELOAD). It calls only the
 * standard functions and never links cairn, so the same binary measures
 * every allocator the same way.
 *
 * One replay thread per recorded thread replays that thread's events in
 * order. A free or realloc of a block allocated by another thread waits
 * until that allocation has been replayed (a done bit per id). Every block
 * is filled with a pattern derived from its id and checked before it is
 * freed, so an allocator that hands out overlapping memory or loses data
 * on realloc is caught. The checksum sums a hash of (id, size) over the
 * checked blocks: it depends on the trace only, never on the allocator or
 * on how the threads interleaved.
 *
 * Exit status: 0 done, 1 usage, 2 bad trace, 3 the replay failed. */
#include "tracefile.h"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SIZE_BITS  48                     /* a block's size in entry.meta   */
#define SIZE_MASK  (((uint64_t)1 << SIZE_BITS) - 1)
#define TAG_BITS   15                     /* pattern seed, kept across realloc */
#define CONSUMED   ((uint64_t)1 << 63)    /* entry.meta of a freed block    */
#define STEP       0x9E3779B97F4A7C15ull
#define CHECK_EDGE 256                    /* realloc checks this much at each end */

typedef struct entry {
    void *p;
    uint64_t meta;                        /* size | tag << 48, or CONSUMED  */
} entry_t;

/* One replay thread; padded so that counters do not share cache lines. */
typedef struct rthread {
    size_t thread;
    pthread_t pt;
    uint64_t ops, checksum, since_sample;
} __attribute__((aligned(64))) rthread_t;

static trace_t trace;
static tr_index_t ix;
static entry_t *entries;                  /* by id                          */
static _Atomic uint64_t *done;            /* bitmap: allocation replayed    */
static _Atomic uint64_t live_bytes, peak_live;
static _Atomic uint64_t excluded_ns;      /* ledger calls inside the replay */
static size_t peak_thread = SIZE_MAX;     /* where the walk saw the peak    */
static uint64_t peak_evno;
static pthread_barrier_t start_line;
static uint64_t t0_ns;

static void (*free_sized_fn)(void *, size_t);
static void (*free_aligned_sized_fn)(void *, size_t, size_t);
static void (*ledger_print)(FILE *);
static int (*ledger_sample)(uint64_t *, int);
static const char *(*ledger_part_name)(int);
static FILE *ledger_peak;                 /* the ledger at the peak, captured */

static FILE *samples;
static uint64_t sample_every;
static pthread_mutex_t sample_lock = PTHREAD_MUTEX_INITIALIZER;
#define MAX_PARTS 32

/* ---- small helpers --------------------------------------------------------------- */
static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rss_bytes(void) {
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    unsigned long long size, res;
    if (sscanf(buf, "%llu %llu", &size, &res) != 2) return 0;
    return res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cairn-replay: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stdout);
    _exit(status);                        /* other threads may be mid-replay */
}

/* A failure while replaying event evno of thread th. */
#define replay_fail(th, evno, e, fmt, ...)                                           \
    die(3, "thread %zu, event %" PRIu64 " (%s of id %" PRIu64 "): " fmt, (th), (evno), \
        tr_op_name((e)->op), (e)->op == TR_REALLOC ? (e)->id2 : (e)->id, __VA_ARGS__)

/* ---- the pattern ---------------------------------------------------------------- */
/* Byte i of a block holds byte i % 8 (little-endian) of base + (i / 8) *
 * STEP: cheap to write, and a block moved, overlapped or shifted by any
 * multiple of 8 bytes does not match. */
static inline uint64_t pat_word(uint64_t base, size_t k) {
    uint64_t w = base + (uint64_t)k * STEP;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}
static inline uint8_t pat_byte(uint64_t base, size_t i) {
    return (uint8_t)((base + (uint64_t)(i >> 3) * STEP) >> (8 * (i & 7)));
}
static uint64_t pat_base(uint64_t tag) { return mix64(tag + 0x5eed); }

static void fill(uint8_t *p, size_t from, size_t to, uint64_t base) {
    size_t i = from;
    for (; i < to && (i & 7); i++) p[i] = pat_byte(base, i);
    for (; i + 8 <= to; i += 8) {
        uint64_t w = pat_word(base, i >> 3);
        memcpy(p + i, &w, 8);
    }
    for (; i < to; i++) p[i] = pat_byte(base, i);
}

/* The offset of the first byte in [from, to) that does not match, or
 * SIZE_MAX. */
static size_t check(const uint8_t *p, size_t from, size_t to, uint64_t base) {
    size_t i = from;
    for (; i < to && (i & 7); i++)
        if (p[i] != pat_byte(base, i)) return i;
    for (; i + 8 <= to; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w != pat_word(base, i >> 3)) break;
    }
    for (; i < to; i++)
        if (p[i] != pat_byte(base, i)) return i;
    return SIZE_MAX;
}

/* Both ends of [0, n), CHECK_EDGE bytes each: what realloc checks, so a
 * block grown a byte at a time costs no quadratic work. */
static size_t check_edges(const uint8_t *p, size_t n, uint64_t base) {
    if (n <= 2 * CHECK_EDGE) return check(p, 0, n, base);
    size_t at = check(p, 0, CHECK_EDGE, base);
    return at != SIZE_MAX ? at : check(p, (n - CHECK_EDGE) & ~(size_t)7, n, base);
}

static size_t first_nonzero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return i;
    return SIZE_MAX;
}

/* ---- ids: done bits, entries, live bytes ---------------------------------------------- */
static inline bool is_done(uint64_t id) {
    return (atomic_load_explicit(&done[id >> 6], memory_order_acquire) >> (id & 63)) & 1;
}

static void mark_done(uint64_t id) {
    atomic_fetch_or_explicit(&done[id >> 6], (uint64_t)1 << (id & 63), memory_order_release);
}

/* The allocation of id is another thread's: spin a little, then yield. */
static void wait_done(size_t th, uint64_t evno, const tr_event_t *e, uint64_t id) {
    uint64_t since = 0;
    for (unsigned spins = 0; !is_done(id); spins++) {
        if (spins < 2000) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            continue;
        }
        sched_yield();
        if (!since) since = now_ns();
        else if (now_ns() - since > 60ull * 1000000000u)
            replay_fail(th, evno, e, "waited 60 s for id %" PRIu64 " to be allocated", id);
    }
}

static void live_add(uint64_t n) {
    uint64_t v = atomic_fetch_add_explicit(&live_bytes, n, memory_order_relaxed) + n;
    uint64_t p = atomic_load_explicit(&peak_live, memory_order_relaxed);
    while (v > p && !atomic_compare_exchange_weak(&peak_live, &p, v)) {}
}

static void live_sub(uint64_t n) { atomic_fetch_sub_explicit(&live_bytes, n, memory_order_relaxed); }

static uint64_t block_hash(uint64_t id, uint64_t size) { return mix64(id * STEP ^ mix64(size + 1)); }

/* ---- replaying one event ------------------------------------------------------------ */
static bool same_object_as_malloc(void *sym) {
    Dl_info a, b;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    return sym && m && dladdr(sym, &a) && dladdr(m, &b) && a.dli_fname && b.dli_fname &&
           strcmp(a.dli_fname, b.dli_fname) == 0;
}

/* Aligned requests of every kind go through posix_memalign, which every
 * allocator provides: calling a memalign or pvalloc that only glibc has
 * would mix two allocators in one process. */
static void *alloc_for(const tr_event_t *e) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), align = 0, size = e->size;
    switch (e->op) {
    case TR_MALLOC: return malloc(size);
    case TR_CALLOC: return calloc(1, size);
    case TR_MEMALIGN:
    case TR_POSIX_MEMALIGN: align = (size_t)1 << e->align_log; break;
    case TR_VALLOC: align = page; break;
    case TR_PVALLOC:
        align = page;
        size = (size ? size + page - 1 : page) & ~(page - 1);
        break;
    }
    if (align < sizeof(void *)) align = sizeof(void *);
    void *p = NULL;
    return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

static void replay_alloc(rthread_t *rt, uint64_t evno, const tr_event_t *e) {
    void *p = alloc_for(e);
    if (!p && e->size) replay_fail(rt->thread, evno, e, "%s of %" PRIu64 " bytes returned NULL", tr_op_name(e->op), e->size);
    size_t align = e->op == TR_VALLOC || e->op == TR_PVALLOC ? (size_t)sysconf(_SC_PAGESIZE)
                 : tr_has_align(e->op) ? (size_t)1 << e->align_log : 1;
    if ((uintptr_t)p & (align - 1))
        replay_fail(rt->thread, evno, e, "block %p is not aligned to %zu", p, align);
    size_t z;
    if (e->op == TR_CALLOC && p && (z = first_nonzero(p, e->size)) != SIZE_MAX)
        replay_fail(rt->thread, evno, e, "calloc returned memory that is not zero (byte %zu)", z);
    uint64_t tag = mix64(e->id) >> (64 - TAG_BITS);
    if (p) fill(p, 0, e->size, pat_base(tag));
    entries[e->id].p = p;
    entries[e->id].meta = e->size | tag << SIZE_BITS;
    mark_done(e->id);
    live_add(e->size);
}

/* Take the block id (waiting for it if another thread allocates it) and
 * check it whole; it is about to be freed. */
static entry_t take_checked(rthread_t *rt, uint64_t evno, const tr_event_t *e, uint64_t id, bool whole) {
    wait_done(rt->thread, evno, e, id);
    entry_t en = entries[id];
    uint64_t size = en.meta & SIZE_MASK, base = pat_base(en.meta >> SIZE_BITS);
    size_t bad = en.p ? (whole ? check(en.p, 0, size, base) : check_edges(en.p, size, base)) : SIZE_MAX;
    if (bad != SIZE_MAX)
        replay_fail(rt->thread, evno, e, "block %p of %" PRIu64 " bytes was overwritten at byte %zu", en.p, size, bad);
    entries[id].meta = CONSUMED;
    entries[id].p = NULL;
    rt->checksum += block_hash(id, size);
    live_sub(size);
    return en;
}

static void replay_free(rthread_t *rt, uint64_t evno, const tr_event_t *e) {
    entry_t en = take_checked(rt, evno, e, e->id, true);
    if (e->op == TR_FREE_SIZED && free_sized_fn && en.p) free_sized_fn(en.p, e->size);
    else if (e->op == TR_FREE_ALIGNED_SIZED && free_aligned_sized_fn && en.p)
        free_aligned_sized_fn(en.p, (size_t)1 << e->align_log, e->size);
    else free(en.p);
}

/* The new block keeps the old one's pattern, so only the grown tail is
 * written; both ends of the kept part are checked before and after. */
static void replay_realloc(rthread_t *rt, uint64_t evno, const tr_event_t *e) {
    entry_t en = take_checked(rt, evno, e, e->id, false);
    uint64_t old = en.meta & SIZE_MASK, tag = en.meta >> SIZE_BITS, base = pat_base(tag);
    uint8_t *q = en.p ? realloc(en.p, e->size) : malloc(e->size);
    if (!q && e->size) replay_fail(rt->thread, evno, e, "realloc to %" PRIu64 " bytes returned NULL", e->size);
    size_t keep = old < e->size ? old : e->size, bad;
    if (en.p && q && (bad = check_edges(q, keep, base)) != SIZE_MAX)
        replay_fail(rt->thread, evno, e, "realloc did not keep the contents (byte %zu differs)", bad);
    if (q) fill(q, en.p ? keep : 0, e->size, base);
    entries[e->id2].p = q;
    entries[e->id2].meta = e->size | tag << SIZE_BITS;
    mark_done(e->id2);
    live_add(e->size);
}

static void take_sample(void) {
    uint64_t parts[MAX_PARTS];
    int n = ledger_sample ? ledger_sample(parts, MAX_PARTS) : 0;
    pthread_mutex_lock(&sample_lock);
    fprintf(samples, "%.3f %" PRIu64 " %" PRIu64, (double)(now_ns() - t0_ns) / 1e6,
            atomic_load(&live_bytes), rss_bytes());
    for (int i = 0; i < n && i < MAX_PARTS; i++) fprintf(samples, " %" PRIu64, parts[i]);
    fputc('\n', samples);
    pthread_mutex_unlock(&sample_lock);
}

/* The ledger where the walk found the peak of live bytes (exact for one
 * thread; near it for several); its cost is not counted in the time. */
static void ledger_at_peak(void) {
    uint64_t a = now_ns();
    ledger_print(ledger_peak);
    fflush(ledger_peak);
    atomic_fetch_add(&excluded_ns, now_ns() - a);
}

static void *replay_thread(void *arg) {
    rthread_t *rt = arg;
    tr_reader_t r;
    tr_event_t e;
    char err[512];
    int rc;
    tr_reader_init(&r, &trace, rt->thread);
    pthread_barrier_wait(&start_line);
    while ((rc = tr_next(&r, &e, err, sizeof err)) > 0) {
        if (e.flags & TRF_FAILED) continue;
        if (tr_is_alloc(e.op)) replay_alloc(rt, r.evno, &e);
        else if (tr_is_free(e.op)) replay_free(rt, r.evno, &e);
        else replay_realloc(rt, r.evno, &e);
        rt->ops++;
        if (rt->thread == peak_thread && r.evno == peak_evno && ledger_print) ledger_at_peak();
        if (samples && ++rt->since_sample >= sample_every) {
            rt->since_sample = 0;
            take_sample();
        }
    }
    if (rc < 0) die(2, "%s", err);
    return NULL;
}

/* ---- before and after ----------------------------------------------------------------- */
/* The walk (trace_walk) checks the order and finds the peak of live
 * bytes; block sizes are kept in the entries meanwhile. */
typedef struct prepass { uint64_t live, peak; } prepass_t;

static int prepass_visit(void *ctx, size_t th, uint64_t evno, const tr_event_t *e) {
    prepass_t *pp = ctx;
    uint64_t id;
    if (tr_old_id(e, &id)) pp->live -= entries[id].meta;
    if (tr_new_id(e, &id)) {
        if (e->size > SIZE_MASK) {
            fprintf(stderr, "cairn-replay: %s: thread %zu, event %" PRIu64 ": size %" PRIu64 " is too large to replay\n",
                    trace.path, th, evno, e->size);
            return 2;
        }
        entries[id].meta = e->size;
        pp->live += e->size;
    }
    if (pp->live > pp->peak) {
        pp->peak = pp->live;
        peak_thread = th;
        peak_evno = evno;
    }
    return 0;
}

static void *map_zeroed(size_t bytes) {
    void *m = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) die(3, "cannot map %zu bytes for the replay's bookkeeping", bytes);
    return m;
}

static void resolve_functions(void) {
    void *fs = dlsym(RTLD_DEFAULT, "free_sized"), *fas = dlsym(RTLD_DEFAULT, "free_aligned_sized");
    if (same_object_as_malloc(fs)) free_sized_fn = (void (*)(void *, size_t))fs;
    if (same_object_as_malloc(fas)) free_aligned_sized_fn = (void (*)(void *, size_t, size_t))fas;
    ledger_print = (void (*)(FILE *))dlsym(RTLD_DEFAULT, "cairn_ledger_print");
    ledger_sample = (int (*)(uint64_t *, int))dlsym(RTLD_DEFAULT, "cairn_ledger_sample");
    ledger_part_name = (const char *(*)(int))dlsym(RTLD_DEFAULT, "cairn_ledger_part_name");
    if (!ledger_part_name) ledger_sample = NULL;   /* parts without names cannot be labelled */
}

static void samples_header(void) {
    fprintf(samples, "# t_ms live_bytes rss_bytes");
    uint64_t parts[MAX_PARTS];
    int n = ledger_sample ? ledger_sample(parts, MAX_PARTS) : 0;
    for (int i = 0; i < n && i < MAX_PARTS; i++) {
        const char *name = ledger_part_name(i);
        fputc(' ', samples);
        for (const char *c = name ? name : "part"; *c; c++) fputc(*c == ' ' ? '_' : *c, samples);
    }
    fputc('\n', samples);
}

static void print_captured(FILE *f) {
    char buf[4096];
    size_t n;
    rewind(f);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
}

/* Blocks still live at the end are checked (and freed) too, after the
 * timed part, so every id is counted in the checksum exactly once. */
static uint64_t check_leftovers(void) {
    uint64_t sum = 0;
    for (uint64_t id = 0; id < ix.max_id; id++) {
        if (!is_done(id) || entries[id].meta == CONSUMED) continue;
        uint64_t size = entries[id].meta & SIZE_MASK;
        size_t bad = entries[id].p ? check(entries[id].p, 0, size, pat_base(entries[id].meta >> SIZE_BITS)) : SIZE_MAX;
        if (bad != SIZE_MAX) die(3, "block of id %" PRIu64 " (%p) was overwritten at byte %zu", id, entries[id].p, bad);
        sum += block_hash(id, size);
        free(entries[id].p);
        entries[id].meta = CONSUMED;
    }
    return sum;
}

static void usage(FILE *f) {
    fprintf(f, "usage: cairn-replay [--samples FILE] [--every N] TRACE\n"
               "Replays TRACE through the malloc this process runs with (preload one with\n"
               "LD_PRELOAD) and prints the op count, checksum, time, peak live bytes, RSS and\n"
               "utilization. --samples writes \"t_ms live_bytes rss_bytes [ledger parts]\" every\n"
               "N operations of each thread (default: about 2000 lines in all).\n");
}

int main(int argc, char **argv) {
    const char *path = NULL, *samples_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--samples") && i + 1 < argc) samples_path = argv[++i];
        else if (!strcmp(argv[i], "--every") && i + 1 < argc) sample_every = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (argv[i][0] == '-' && argv[i][1]) { usage(stderr); return 1; }
        else if (!path) path = argv[i];
        else { usage(stderr); return 1; }
    }
    if (!path) { usage(stderr); return 1; }
    char err[1024];
    if (trace_open(&trace, path, err, sizeof err) != 0 || trace_index(&trace, &ix, err, sizeof err) != 0)
        die(2, "%s", err);
    entries = map_zeroed(ix.max_id * sizeof(entry_t));
    done = map_zeroed((ix.max_id / 64 + 1) * sizeof(uint64_t));
    prepass_t pp = { 0, 0 };
    int rc = trace_walk(&trace, &ix, prepass_visit, &pp, err, sizeof err);
    if (rc < 0) die(2, "%s", err);
    if (rc > 0) _exit(rc);
    /* Touch all bookkeeping now, so the baseline below includes it. */
    memset(entries, 0, ix.max_id * sizeof(entry_t));
    resolve_functions();
    if (ledger_print && !(ledger_peak = tmpfile())) die(3, "cannot create a temporary file");
    if (samples_path) {
        if (!(samples = fopen(samples_path, "w"))) die(1, "%s: %s", samples_path, strerror(errno));
        if (!sample_every) sample_every = ix.events / 2000 + 1;
        samples_header();
    }

    size_t n = 0;
    for (size_t i = 0; i < trace.nthreads; i++) n += trace.threads[i].events ? 1 : 0;
    rthread_t *rts = aligned_alloc(64, (n ? n : 1) * sizeof *rts);
    if (!rts) die(3, "out of memory");
    memset(rts, 0, (n ? n : 1) * sizeof *rts);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 << 10);
    pthread_barrier_init(&start_line, NULL, (unsigned)n + 1);
    for (size_t i = 0, k = 0; i < trace.nthreads; i++) {
        if (!trace.threads[i].events) continue;
        rts[k].thread = i;
        if (pthread_create(&rts[k].pt, &attr, replay_thread, &rts[k]) != 0)
            die(3, "cannot create replay thread %zu of %zu", k + 1, n);
        k++;
    }
    uint64_t baseline = rss_bytes();
    t0_ns = now_ns();
    pthread_barrier_wait(&start_line);
    for (size_t k = 0; k < n; k++) pthread_join(rts[k].pt, NULL);
    uint64_t t1 = now_ns(), ops = 0, sum = 0;
    double secs = (double)(t1 - t0_ns - atomic_load(&excluded_ns)) / 1e9;
    FILE *ledger_end = NULL;
    if (ledger_print && (ledger_end = tmpfile())) {
        ledger_print(ledger_end);
        fflush(ledger_end);
    }
    for (size_t k = 0; k < n; k++) {
        ops += rts[k].ops;
        sum += rts[k].checksum;
    }
    sum += check_leftovers();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t peak_rss = (uint64_t)ru.ru_maxrss * 1024, peak = atomic_load(&peak_live);
    uint64_t footprint = peak_rss > baseline ? peak_rss - baseline : 0;
    if (samples) fclose(samples);

    printf("trace: %s\n", path);
    printf("threads: %zu\n", n);
    printf("ops: %" PRIu64 "\n", ops);
    printf("skipped: %" PRIu64 " (failed when recorded)\n", ix.events - ops);
    printf("checksum: %016" PRIx64 "\n", sum);
    printf("time: %.6f s\n", secs);
    printf("peak live: %" PRIu64 " bytes\n", peak);
    printf("baseline rss: %" PRIu64 " bytes\n", baseline);
    printf("peak rss: %" PRIu64 " bytes\n", peak_rss);
    printf("utilization: %.3f\n", footprint ? (double)peak / (double)footprint : 0.0);
    if (!ledger_print) {
        printf("(ledger: not cairn)\n");
    } else {
        if (peak_thread != SIZE_MAX) {
            printf("ledger at peak live (thread %zu, event %" PRIu64 "):\n", peak_thread, peak_evno);
            print_captured(ledger_peak);
        }
        if (ledger_end) {
            printf("ledger at end of replay:\n");
            print_captured(ledger_end);
        }
    }
    fflush(stdout);
    return 0;
}
