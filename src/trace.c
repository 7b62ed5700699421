/* The recorder of libcairn-trace.so (docs/TRACE.md). That library is the
 * same allocator built with -DCAIRN_TRACING plus this file; libcairn.so
 * never contains it. With CAIRN_TRACE=path in the environment, the entry
 * points of override.c and override_cxx.c report every call here: each
 * thread appends compact events to a buffer of its own, and full buffers go
 * to the file as chunks, one write() each.
 *
 * This code runs inside malloc, so it never allocates: buffers and the
 * pointer table come from mmap, output goes through write(2), and the few
 * libc calls that may allocate (pthread_setspecific, pthread_atfork) run
 * with the thread's guard set, so the recorder's own allocations are not
 * recorded. */
#include "fastpath.h"
#include "cairn.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define HAVE_TSC 1
#endif

/* ---- the format (docs/TRACE.md) ----------------------------------------- */
enum { TR_MALLOC = 1, TR_CALLOC, TR_REALLOC, TR_FREE, TR_MEMALIGN, TR_POSIX_MEMALIGN,
       TR_VALLOC, TR_PVALLOC, TR_FREE_SIZED, TR_FREE_ALIGNED_SIZED };
#define TRF_FAILED  0x10u             /* the call failed (returned NULL)   */
#define TRF_ZERO    0x20u             /* calloc: the block is zero-filled  */
#define HDR_BYTES   32
#define CHUNK_MAGIC 0x4B435443u       /* "CTCK" read as a little-endian u32 */
#define CHUNK_HDR   16
#define BUF_BYTES   (64u << 10)       /* payload of one chunk              */
#define EVENT_MAX   48                /* op, 4 varints of <= 10, align byte */

void *trace_realloc(void *p, size_t size);
void trace_alloc(unsigned op, const void *p, size_t size, size_t align);
void trace_free(unsigned op, const void *p, size_t size, size_t align);

/* ---- global state ---------------------------------------------------------- */
enum { ST_UNKNOWN, ST_STARTING, ST_ON, ST_OFF };
static _Atomic int state;             /* ST_*: is this process recording?  */
static int trace_fd = -1;
static uint64_t start_ns;             /* CLOCK_MONOTONIC at start (header) */
static pid_t owner_pid;               /* the process that opened the file  */
static _Atomic bool forked;           /* set in fork children: never write */
static _Atomic uint64_t next_id;      /* block ids, one per allocation     */
static _Atomic uint32_t next_thread;  /* thread indices, in order of first event */

/* A thread's buffer: the chunk header, then the payload being filled. */
typedef struct tbuf {
    lock_t lock;                      /* owner appends; the exit flush writes */
    bool closed;                      /* flushed at exit: take no more events */
    uint32_t thread, count, used;     /* index, events and payload bytes held */
    struct tbuf *next, *prev;         /* registry of buffers in use        */
    uint8_t data[CHUNK_HDR + BUF_BYTES];
} tbuf_t;

/* Lock order: reg_lock, then a buffer's lock, then write_lock. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static tbuf_t *reg_head;
static pthread_key_t exit_key;
static bool key_ok;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* Per thread: the encoder's state lives here, not in the buffer, so a
 * thread whose buffer was flushed at its exit and that allocates again (in
 * later destructors) goes on with the same index and deltas. */
static __thread struct {
    tbuf_t *buf;
    uint64_t last_id, last_us;        /* previous event's id and time      */
    uint64_t clock_tsc, clock_us;     /* the last clock reading, and its TSC */
    uint32_t index;                   /* thread index + 1; 0 before its first event */
    bool busy;                        /* inside the recorder: record nothing */
} tl;

/* ---- small helpers --------------------------------------------------------- */
static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Event times, in microseconds since the start. Reading the clock costs
 * more than the rest of an event where the clock is paravirtual (a fifth of
 * the recording time in a KVM guest), so with an invariant TSC the clock is
 * read again only when the TSC says a microsecond has passed since the
 * thread's last reading: an event within it gets that reading's time. */
#ifdef HAVE_TSC
static bool tsc_ok;                   /* the TSC ticks at a constant rate   */
static uint64_t tsc_start;
static _Atomic uint64_t tsc_per_us = 1000;   /* at most a microsecond at >= 1 GHz */

static void tsc_init(void) {
    unsigned a, b, c, d;
    if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000007 &&
        __get_cpuid(0x80000007, &a, &b, &c, &d))
        tsc_ok = (d >> 8) & 1;        /* "invariant TSC" */
    tsc_start = __builtin_ia32_rdtsc();
}

/* Once enough time has passed, the real rate (called at each chunk). */
static void tsc_calibrate(void) {
    uint64_t ns = now_ns() - start_ns, ticks = __builtin_ia32_rdtsc() - tsc_start;
    if (tsc_ok && ns > 10000000) atomic_store_explicit(&tsc_per_us, ticks / (ns / 1000), memory_order_relaxed);
}
#else
static void tsc_init(void) {}
static void tsc_calibrate(void) {}
#endif

static inline uint64_t event_us(void) {
#ifdef HAVE_TSC
    if (tsc_ok) {
        uint64_t t = __builtin_ia32_rdtsc();
        if (t - tl.clock_tsc < atomic_load_explicit(&tsc_per_us, memory_order_relaxed)) return tl.clock_us;
        tl.clock_tsc = t;
        return tl.clock_us = (now_ns() - start_ns) / 1000;
    }
#endif
    return (now_ns() - start_ns) / 1000;
}

static void put_le32(uint8_t *o, uint32_t v) {
    for (int i = 0; i < 4; i++) o[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *o, uint64_t v) {
    for (int i = 0; i < 8; i++) o[i] = (uint8_t)(v >> (8 * i));
}

static inline uint8_t *put_varint(uint8_t *o, uint64_t v) {
    while (v >= 0x80) { *o++ = (uint8_t)(v | 0x80); v >>= 7; }
    *o++ = (uint8_t)v;
    return o;
}

/* Ids are written as the difference from the thread's previous id, which
 * is small and of either sign; zigzag keeps small negatives small. */
static inline uint64_t zigzag(uint64_t id, uint64_t last) {
    int64_t d = (int64_t)(id - last);
    return ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
}

/* log2 of the alignment, rounded up (glibc rounds odd alignments up too). */
static int align_log(size_t a) {
    if (a <= 1) return 0;
    return 64 - __builtin_clzll((unsigned long long)(a - 1));
}

static bool write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void stop(const char *why) {
    if (atomic_exchange(&state, ST_OFF) == ST_ON && why) cairn_warn(why, "; recording stopped");
}

/* ---- pointer -> id table --------------------------------------------------- */
/* Open addressing with linear probing, split into stripes by the top bits
 * of the hash: each stripe is a table of its own with its own spinlock, so
 * threads rarely contend and a stripe grows (doubling, under its lock)
 * without stopping the others. Memory grows with the live blocks instead
 * of being one huge table whose every page a random hash would touch. */
#define STRIPES     256
#ifndef STRIPE_MAX                     /* (overridable to test a full table) */
#define STRIPE_MIN  ((size_t)1 << 10)
#define STRIPE_MAX  ((size_t)1 << 19)   /* 128 Mi slots in all: ~96 M live blocks */
#endif

typedef struct slot { uintptr_t key; uint64_t id; } slot_t;
typedef struct stripe {
    lock_t lock;
    size_t cap, count;                /* slots (a power of two), used      */
    slot_t *slots;
} __attribute__((aligned(64))) stripe_t;
static stripe_t stripes[STRIPES];

static inline uint64_t ptr_hash(uintptr_t p) { return (p >> 4) * 0x9E3779B97F4A7C15ull; }
static inline size_t home_slot(uintptr_t p, size_t cap) { return (size_t)(ptr_hash(p) >> 24) & (cap - 1); }

static slot_t *map_slots(size_t n) {
    void *m = mmap(NULL, n * sizeof(slot_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

static void put_slot(slot_t *slots, size_t cap, uintptr_t key, uint64_t id) {
    size_t i = home_slot(key, cap);
    while (slots[i].key) i = (i + 1) & (cap - 1);
    slots[i].key = key;
    slots[i].id = id;
}

/* Double s (its lock held); false when it is at its limit or mmap fails. */
static bool stripe_grow(stripe_t *s) {
    size_t cap = s->cap ? s->cap * 2 : STRIPE_MIN;
    if (cap > STRIPE_MAX) return false;
    slot_t *n = map_slots(cap);
    if (!n) return false;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].key) put_slot(n, cap, s->slots[i].key, s->slots[i].id);
    if (s->slots) munmap(s->slots, s->cap * sizeof(slot_t));
    s->slots = n;
    s->cap = cap;
    return true;
}

/* An address already present was freed where the recorder could not see
 * it (before recording started, say): the new block replaces it. */
static bool table_insert(const void *p, uint64_t id) {
    uintptr_t key = (uintptr_t)p;
    stripe_t *s = &stripes[ptr_hash(key) >> 56];
    lock_acquire(&s->lock);
    bool ok = (s->count + 1) * 4 <= s->cap * 3 || stripe_grow(s);
    if (ok) {
        size_t i = home_slot(key, s->cap);
        while (s->slots[i].key && s->slots[i].key != key) i = (i + 1) & (s->cap - 1);
        if (!s->slots[i].key) s->count++;
        s->slots[i].key = key;
        s->slots[i].id = id;
    }
    lock_release(&s->lock);
    return ok;
}

/* Remove p; false when the recorder never saw it allocated. Deletion shifts
 * later entries of the probe run back, so no tombstones accumulate. */
static bool table_remove(const void *p, uint64_t *id) {
    uintptr_t key = (uintptr_t)p;
    stripe_t *s = &stripes[ptr_hash(key) >> 56];
    lock_acquire(&s->lock);
    bool found = false;
    if (s->slots) {
        size_t mask = s->cap - 1, i = home_slot(key, s->cap);
        while (s->slots[i].key && s->slots[i].key != key) i = (i + 1) & mask;
        if (s->slots[i].key) {
            found = true;
            *id = s->slots[i].id;
            for (size_t j = (i + 1) & mask; s->slots[j].key; j = (j + 1) & mask) {
                size_t k = home_slot(s->slots[j].key, s->cap);
                if (((j - k) & mask) >= ((j - i) & mask)) {   /* i lies on j's probe path */
                    s->slots[i] = s->slots[j];
                    i = j;
                }
            }
            s->slots[i].key = 0;
            s->count--;
        }
    }
    lock_release(&s->lock);
    return found;
}

static void table_full(void) { stop("trace table full (too many live blocks)"); }

/* ---- small blocks: ids beside the blocks ----------------------------------------- */
/* Most blocks are small, and a hash table of them misses the cache on
 * nearly every call (it was half the cost of recording). A small block's
 * id goes instead into a shadow array of its segment, indexed by page and
 * block number: neighbouring blocks have neighbouring ids, and the memory
 * is 8 bytes per block of the pages in use. No lock: a block is recorded
 * by the thread that gets it before anyone else can know it, and freed
 * once, after that, by whoever the program handed it to. */
#define SEG_COUNT       ((size_t)1 << (ADDR_BITS - SEG_SHIFT))
#define SLOTS_PER_PAGE  (PAGE_SIZE_ / MIN_ALIGN)
#define SHADOW_BYTES    (PAGES_PER_SEG * SLOTS_PER_PAGE * sizeof(uint64_t))
typedef _Atomic uint64_t shadow_t;        /* id + 1; 0: none */
static _Atomic(shadow_t *) *shadow_dir;   /* by segment number */

static shadow_t *shadow_leaf(size_t seg) {
    shadow_t *leaf = atomic_load_explicit(&shadow_dir[seg], memory_order_acquire);
    if (leaf) return leaf;
    shadow_t *n = mmap(NULL, SHADOW_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (n == MAP_FAILED) return NULL;
    if (atomic_compare_exchange_strong(&shadow_dir[seg], &leaf, n)) return n;
    munmap(n, SHADOW_BYTES);              /* another thread made it first */
    return leaf;
}

/* The shadow slot of p when p is a small block (NULL otherwise). */
static shadow_t *shadow_slot(const void *p) {
    uintptr_t a = (uintptr_t)p;
    if (!shadow_dir || segmap_get(a) != MAP_SMALL) return NULL;
    const page_t *pg = small_page_of(a);
    if (!small_block_start(pg, a, LOAD_RELAXED(pg->start_lim))) return NULL;
    shadow_t *leaf = shadow_leaf(a >> SEG_SHIFT);
    if (!leaf) return NULL;
    return &leaf[((a >> PAGE_SHIFT) & (PAGES_PER_SEG - 1)) * SLOTS_PER_PAGE + page_block_index(pg, a)];
}

static bool id_insert(const void *p, uint64_t id) {
    shadow_t *s = shadow_slot(p);
    if (!s) return table_insert(p, id);
    atomic_store_explicit(s, id + 1, memory_order_relaxed);
    return true;
}

static bool id_remove(const void *p, uint64_t *id) {
    shadow_t *s = shadow_slot(p);
    if (!s) return table_remove(p, id);
    uint64_t v = atomic_load_explicit(s, memory_order_relaxed);
    if (!v) return false;
    atomic_store_explicit(s, 0, memory_order_relaxed);
    *id = v - 1;
    return true;
}

/* ---- buffers and chunks ------------------------------------------------------ */
/* Write b's events as one chunk (b's lock held). Only the process that
 * opened the file writes: a fork child's copies of the buffers are the
 * parent's events (and a vfork child shares the parent's memory, so it
 * drops what it would write but changes nothing else). */
static void flush_locked(tbuf_t *b) {
    if (b->count == 0 || b->closed) return;
    if (atomic_load(&forked) || getpid() != owner_pid) {
        b->count = b->used = 0;
        return;
    }
    tsc_calibrate();
    put_le32(b->data, CHUNK_MAGIC);
    put_le32(b->data + 4, b->thread);
    put_le32(b->data + 8, b->count);
    put_le32(b->data + 12, b->used);
    pthread_mutex_lock(&write_lock);
    bool ok = write_all(trace_fd, b->data, CHUNK_HDR + (size_t)b->used);
    pthread_mutex_unlock(&write_lock);
    if (!ok) {
        stop("CAIRN_TRACE: write to the trace file failed");
        b->closed = true;
    }
    b->count = b->used = 0;
}

static void unregister(tbuf_t *b) {
    pthread_mutex_lock(&reg_lock);
    if (b->prev) b->prev->next = b->next;
    else reg_head = b->next;
    if (b->next) b->next->prev = b->prev;
    pthread_mutex_unlock(&reg_lock);
}

/* pthread key destructor: the thread's last events go out as it exits.
 * In a fork child the locks may have been held at the fork: touch none. */
static void thread_end(void *arg) {
    tbuf_t *b = arg;
    if (atomic_load(&forked)) return;
    bool was_busy = tl.busy;
    tl.busy = true;
    lock_acquire(&b->lock);
    flush_locked(b);
    b->closed = true;
    lock_release(&b->lock);
    unregister(b);
    if (tl.buf == b) tl.buf = NULL;
    munmap(b, sizeof *b);
    tl.busy = was_busy;
}

static void make_key(void) { key_ok = pthread_key_create(&exit_key, thread_end) == 0; }

/* A thread's first event (or its first after its exit flush). */
static tbuf_t *thread_start(void) {
    if (!tl.index) tl.index = atomic_fetch_add(&next_thread, 1) + 1;
    tbuf_t *b = mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (b == MAP_FAILED) return NULL;
    b->thread = tl.index - 1;
    pthread_mutex_lock(&reg_lock);
    b->next = reg_head;
    if (reg_head) reg_head->prev = b;
    reg_head = b;
    pthread_mutex_unlock(&reg_lock);
    pthread_once(&key_once, make_key);
    if (key_ok) pthread_setspecific(exit_key, b);
    tl.buf = b;
    return b;
}

/* Append one event: op byte, time delta, then nids ids, the size when
 * sized, the alignment byte when alog >= 0. False when nothing was
 * appended (no buffer, or recording ended). */
static bool record(unsigned opbyte, int nids, uint64_t id, uint64_t id2, bool sized,
                   uint64_t size, int alog) {
    tbuf_t *b = tl.buf;
    if (unlikely(!b) && !(b = thread_start())) return false;
    uint64_t us = event_us();
    lock_acquire(&b->lock);
    bool ok = !b->closed;
    if (ok && b->used > BUF_BYTES - EVENT_MAX) {
        flush_locked(b);
        ok = !b->closed;
    }
    if (ok) {
        uint8_t *o = b->data + CHUNK_HDR + b->used, *o0 = o;
        *o++ = (uint8_t)opbyte;
        o = put_varint(o, us > tl.last_us ? us - tl.last_us : 0);
        if (us > tl.last_us) tl.last_us = us;
        if (nids >= 1) { o = put_varint(o, zigzag(id, tl.last_id)); tl.last_id = id; }
        if (nids >= 2) { o = put_varint(o, zigzag(id2, tl.last_id)); tl.last_id = id2; }
        if (sized) o = put_varint(o, size);
        if (alog >= 0) *o++ = (uint8_t)alog;
        b->used += (uint32_t)(o - o0);
        b->count++;
    }
    lock_release(&b->lock);
    return ok;
}

/* ---- starting and ending ------------------------------------------------------ */
/* The path with each "%p" replaced by the pid, so that every process of a
 * program can write a trace of its own. */
static bool expand_path(const char *in, char *out, size_t cap) {
    size_t n = 0;
    for (; *in; in++) {
        if (in[0] == '%' && in[1] == 'p') {
            char num[24];
            size_t k = fmt_u64(num, (uint64_t)getpid());
            if (n + k >= cap) return false;
            memcpy(out + n, num, k);
            n += k;
            in++;
        } else {
            if (n + 1 >= cap) return false;
            out[n++] = *in;
        }
    }
    out[n] = 0;
    return true;
}

/* Open the trace and write its header. One process records into a file:
 * the one holding its lock. A program this one starts with the same
 * environment finds the file locked and records nothing. */
static int open_trace(void) {
    extern char **environ;
    if (!environ) return ST_UNKNOWN;            /* too early: libc not up yet */
    const char *env = getenv("CAIRN_TRACE");
    if (!env || !*env) return ST_OFF;
    static char path[4096];
    if (!expand_path(env, path, sizeof path)) { cairn_warn("CAIRN_TRACE: path too long", NULL); return ST_OFF; }
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) { cairn_warn("CAIRN_TRACE: cannot open ", path); return ST_OFF; }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) { close(fd); return ST_OFF; }
    uint8_t h[HDR_BYTES] = "CAIRNTR1";
    start_ns = now_ns();
    tsc_init();
    owner_pid = getpid();
    put_le32(h + 8, 1);
    put_le32(h + 12, 0);
    put_le64(h + 16, start_ns);
    put_le32(h + 24, (uint32_t)owner_pid);
    put_le32(h + 28, 0);
    if (ftruncate(fd, 0) != 0 || !write_all(fd, h, sizeof h)) {
        cairn_warn("CAIRN_TRACE: cannot write ", path);
        close(fd);
        return ST_OFF;
    }
    void *dir = mmap(NULL, SEG_COUNT * sizeof *shadow_dir, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (dir != MAP_FAILED) shadow_dir = dir;    /* else every block uses the table */
    trace_fd = fd;
    return ST_ON;
}

/* Is this call to be recorded? The first call decides, once. */
static inline bool recording(void) {
    int s = atomic_load_explicit(&state, memory_order_acquire);
    if (likely(s == ST_ON)) return true;
    if (s != ST_UNKNOWN || !atomic_compare_exchange_strong(&state, &s, ST_STARTING)) return false;
    int saved = errno;
    s = open_trace();
    errno = saved;
    atomic_store_explicit(&state, s, memory_order_release);
    return s == ST_ON;
}

static void trace_forked(void) {
    atomic_store(&forked, true);
    atomic_store(&state, ST_OFF);
}

/* Things that may allocate run here, once libc is up, unrecorded. */
__attribute__((constructor)) static void trace_constructor(void) {
    tl.busy = true;
    pthread_atfork(NULL, NULL, trace_forked);
    pthread_once(&key_once, make_key);
    tl.busy = false;
    (void)recording();
}

/* At exit: write every buffer still registered (the main thread's, and
 * those of threads still running), then take no more events. */
__attribute__((destructor)) static void trace_exit(void) {
    if (trace_fd < 0 || atomic_load(&forked) || getpid() != owner_pid) return;
    tl.busy = true;
    atomic_store(&state, ST_OFF);
    pthread_mutex_lock(&reg_lock);
    for (tbuf_t *b = reg_head; b; b = b->next) {
        lock_acquire(&b->lock);
        flush_locked(b);
        b->closed = true;
        lock_release(&b->lock);
    }
    pthread_mutex_unlock(&reg_lock);
}

/* ---- the hooks (called from override.c, override_cxx.c) ------------------------- */
static bool has_align(unsigned op) {
    return op == TR_MEMALIGN || op == TR_POSIX_MEMALIGN || op == TR_FREE_ALIGNED_SIZED;
}

/* A new block p (NULL: the call failed). Its event goes out before the
 * table knows p, so no other thread can record a free of it first. */
static void note_alloc(unsigned op, const void *p, size_t size, size_t align) {
    unsigned flags = op == TR_CALLOC ? TRF_ZERO : 0;
    int alog = has_align(op) ? align_log(align) : -1;
    if (!p) {
        record(op | flags | TRF_FAILED, 0, 0, 0, true, size, alog);
        return;
    }
    uint64_t id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    if (record(op | flags, 1, id, 0, true, size, alog) && !id_insert(p, id)) table_full();
}

void trace_alloc(unsigned op, const void *p, size_t size, size_t align) {
    if (tl.busy || !recording()) return;
    int saved = errno;
    tl.busy = true;
    note_alloc(op, p, size, align);
    tl.busy = false;
    errno = saved;
}

/* Called before the block is given back, so the address cannot be handed
 * out (and inserted) again while it is still in the table. */
void trace_free(unsigned op, const void *p, size_t size, size_t align) {
    if (!p || tl.busy || !recording()) return;
    int saved = errno;
    tl.busy = true;
    uint64_t id;
    if (id_remove(p, &id))
        record(op, 1, id, 0, op != TR_FREE, size, has_align(op) ? align_log(align) : -1);
    tl.busy = false;
    errno = saved;
}

/* realloc(NULL, n) is a malloc and realloc(p, 0) a free; otherwise the old
 * block leaves the table before the call (it may be freed inside), and
 * goes back with its id if the call fails. */
void *trace_realloc(void *p, size_t size) {
    if (!p) {
        void *q = cairn_realloc(NULL, size);
        trace_alloc(TR_MALLOC, q, size, 0);
        return q;
    }
    if (size == 0) {
        trace_free(TR_FREE, p, 0, 0);
        return cairn_realloc(p, 0);
    }
    if (tl.busy || !recording()) return cairn_realloc(p, size);
    tl.busy = true;
    uint64_t old;
    bool known = id_remove(p, &old);
    void *q = cairn_realloc(p, size);
    int saved = errno;
    if (!known) {
        note_alloc(TR_MALLOC, q, size, 0);      /* the old block was never seen */
    } else if (q) {
        uint64_t id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
        if (record(TR_REALLOC, 2, old, id, true, size, -1) && !id_insert(q, id)) table_full();
    } else {
        if (!id_insert(p, old)) table_full();
        record(TR_REALLOC | TRF_FAILED, 1, old, 0, true, size, -1);
    }
    tl.busy = false;
    errno = saved;
    return q;
}
