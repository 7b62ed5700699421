/* The secure build (libcairn-secure.so: the same sources with
 * -DCAIRN_SECURE). Its malloc and free are these, wrapped around the raw
 * fast paths of fastpath.h; see docs/SECURITY.md for what each check
 * catches and costs.
 *  - Canary: every block's requested bytes are followed by a keyed
 *    pattern (up to 16 bytes), and the last 4 bytes of its usable space
 *    hold the slack length (keyed too). free, realloc and
 *    malloc_usable_size read the size back from there and check the
 *    pattern (an overflow must cross it first): an overflow of one byte is
 *    seen, and so is one that rewrote the length.
 *  - Fill and quarantine: a freed block is zero-filled, marked free and
 *    held in a per-thread quarantine (a FIFO feeding a pool that releases
 *    a random member), so it is not reused at once. When it leaves, the
 *    fill is checked: a write after free is seen before the memory can be
 *    reused. A second free of a quarantined block sees the mark.
 *  - Guard pages: every large block of 128 KiB or more ends in a PROT_NONE
 *    page (GUARD_MIN); every huge mapping has one after it and is PROT_NONE
 *    while it waits in the reuse cache, so any later access faults; in
 *    small segments every eighth page is a guard page (segment.c).
 *  - Blocks of a page are handed out in random order (page.c).
 *  - malloc(0) returns a unique pointer into a PROT_NONE region: touching
 *    it faults, freeing it releases the slot. */
#include "fastpath.h"
#include <errno.h>
#include <string.h>

#ifdef CAIRN_SECURE

#define SLACK 8u                        /* least canary: 4 pattern + 4 length */
#define MAX_REQUEST ((size_t)PTRDIFF_MAX)

/* ---- the canary -------------------------------------------------------------- */
static inline uint32_t block_key(uintptr_t a) {
    uint64_t z = ((uint64_t)a ^ cairn_key) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(z >> 32) | 1;
}
static inline uint8_t pattern(uint32_t k, size_t i) { return (uint8_t)((k >> ((i & 3) * 8)) ^ (i * 0x5Bu)); }

/* Pattern bytes right after the requested size: at most CANARY_MAX. An
 * overflow is a contiguous write from the block's end, so it meets them
 * first, whatever its length; slack beyond them is not patterned, so the
 * cost of a canary does not grow with the size-class rounding. */
#define CANARY_MAX 16u
static inline size_t canary_end(size_t size, size_t n) {
    return n - 4 - size > CANARY_MAX ? size + CANARY_MAX : n - 4;
}

/* Write the canary of a block asked for `size` bytes, usable up to end. */
static void canary_arm(uint8_t *p, size_t size, uint8_t *end) {
    uint32_t k = block_key((uintptr_t)p);
    size_t n = (size_t)(end - p);
    for (size_t i = size, e = canary_end(size, n); i < e; i++) p[i] = pattern(k, i);
    uint32_t v = (uint32_t)(n - size) ^ k;
    memcpy(end - 4, &v, 4);
}

static void overflow(const void *p) { cairn_fatal("heap overflow: canary broken after the block at", p); }

/* The size the block was asked for, read back from its canary, which must
 * be intact. */
static size_t canary_size(const uint8_t *p, const uint8_t *end) {
    uint32_t k = block_key((uintptr_t)p), v;
    size_t n = (size_t)(end - p);
    memcpy(&v, end - 4, 4);
    size_t slack = v ^ k;
    if (slack < SLACK || slack > n) overflow(p);
    size_t size = n - slack;
    for (size_t i = size, e = canary_end(size, n); i < e; i++)
        if (p[i] != pattern(k, i)) overflow(p);
    return size;
}

/* ---- what a pointer is ------------------------------------------------------- */
enum { K_SMALL, K_LARGE, K_HUGE };
typedef struct span { int kind; bool guard; uint8_t *end; } span_t;

/* Large blocks asked for this much or more end in a guard page. Smaller
 * ones rely on their canary and the boundary tags (checked at free): an
 * mprotect pair per allocation costs tens of microseconds once threads
 * share the address space (a TLB shootdown each), far more than the
 * block's own fill. A guarded block's usable size is at least
 * GUARD_MIN + 2 OS pages; an unguarded one's stays below that. */
#define GUARD_MIN ((size_t)128 << 10)

static uint64_t large_mark(uintptr_t a) { return cairn_key ^ a ^ 0x51AFE5EC5EC0DEull; }

/* A large block's usable bytes end at its guard page, if it has one. */
static uint8_t *large_guard(const uint8_t *p, size_t usable) {
    size_t pg = os_page_size();
    return (uint8_t *)((((uintptr_t)p + usable) & ~(uintptr_t)(pg - 1)) - pg);
}
static span_t large_span(const uint8_t *p, size_t usable) {
    if (usable >= GUARD_MIN + 2 * os_page_size()) return (span_t){ K_LARGE, true, large_guard(p, usable) };
    return (span_t){ K_LARGE, false, (uint8_t *)p + usable };
}

/* Checks p the way free does (block start, live, not freed or
 * quarantined already) and says where its usable bytes end. */
typedef struct why { const char *dbl, *inv; } why_t;
static const why_t FREE = { "double free of", "invalid free of" },
    USABLE = { "malloc_usable_size of freed pointer", "malloc_usable_size of invalid pointer" },
    REALLOC = { "realloc of freed pointer", "realloc of invalid pointer" };

static span_t span_of(void *p, why_t w) {
    uintptr_t a = (uintptr_t)p;
    void *hdr = segmap_header(p);
    if (!hdr) cairn_fatal(huge_recently_freed(p) ? w.dbl : w.inv, p);
    switch (*(const uint8_t *)hdr) {
    case SEG_SMALL: {
        page_t *pg = small_page_of(a);
        if (!small_block_start(pg, a, LOAD_RELAXED(pg->start_lim)) || (pg->holes && page_in_hole(pg, a))) {
            if (pg->holes && page_in_hole(pg, a)) cairn_fatal(w.dbl, p);
            cairn_fatal(w.inv, p);
        }
        if (((block_t *)p)->cookie == pg->mark) cairn_fatal(w.dbl, p);
        return (span_t){ K_SMALL, false, (uint8_t *)p + pg->block_size };
    }
    case SEG_LARGE: {
        size_t u = large_usable_checked(p, hdr, w.dbl, w.inv);
        uint64_t m;
        memcpy(&m, p, 8);
        if (m == large_mark(a)) cairn_fatal(w.dbl, p);
        return large_span(p, u);
    }
    case SEG_HUGE: {
        const huge_hdr_t *h = hdr;
        if ((const uint8_t *)h + h->off != (const uint8_t *)p) cairn_fatal(w.inv, p);
        return (span_t){ K_HUGE, false, (uint8_t *)p + h->size };
    }
    default: cairn_fatal(w.inv, p);
    }
}

/* ---- zero-size blocks ----------------------------------------------------------- */
#define ZERO_BYTES ((size_t)16 << 20)        /* 1 Mi slots of 16 bytes, PROT_NONE */
#define ZERO_SLOTS (ZERO_BYTES / 16)
static uint8_t *zero_base;
static uint64_t *zero_bits;
static unsigned zero_hint;
static lock_t zero_lock;

/* May be the process's first allocation (malloc(0) in a constructor that
 * runs before cairn's): cairn is set up first, the segment map with it. */
static bool zero_init(void) {
    cairn_init();
    uint8_t *base = os_map_aligned(ZERO_BYTES, SEG_SIZE, 0);
    uint64_t *bits = os_map(ZERO_SLOTS / 8);
    if (!base || !bits || !segmap_prepare((uintptr_t)base, ZERO_BYTES) || !os_protect(base, ZERO_BYTES, true)) {
        if (base) os_unmap(base, ZERO_BYTES);
        if (bits) os_unmap(bits, ZERO_SLOTS / 8);
        return false;
    }
    for (size_t c = 0; c < ZERO_BYTES / SEG_SIZE; c++) segmap_set((uintptr_t)base + c * SEG_SIZE, MAP_ZERO);
    zero_bits = bits;
    __atomic_store_n(&zero_base, base, __ATOMIC_RELEASE);
    return true;
}

/* A slot of the PROT_NONE region; a normal 1-byte block when it is full. */
static void *zero_alloc(void) {
    void *p = NULL;
    lock_acquire(&zero_lock);
    if (zero_base || zero_init())
        for (unsigned n = 0; n < ZERO_SLOTS / 64 && !p; n++, zero_hint = (zero_hint + 1) % (ZERO_SLOTS / 64)) {
            uint64_t w = zero_bits[zero_hint];
            if (w == ~(uint64_t)0) continue;
            unsigned b = (unsigned)__builtin_ctzll(~w);
            zero_bits[zero_hint] = w | (uint64_t)1 << b;
            p = zero_base + ((size_t)zero_hint * 64 + b) * 16;
        }
    lock_release(&zero_lock);
    return p ? p : secure_malloc(1);
}

static void zero_free(void *p) {
    size_t off = (size_t)((uint8_t *)p - zero_base), i = off / 16;
    if (off % 16) cairn_fatal("invalid free of", p);
    lock_acquire(&zero_lock);
    uint64_t bit = (uint64_t)1 << (i % 64);
    bool live = zero_bits[i / 64] & bit;
    zero_bits[i / 64] &= ~bit;
    lock_release(&zero_lock);
    if (!live) cairn_fatal("double free of", p);
}

/* ---- the quarantine ------------------------------------------------------------- */
#define Q_FIFO 128
#define Q_POOL 32
#define Q_BYTES ((uint64_t)4 << 20)
typedef struct qent { uint8_t *p; uint32_t len; uint8_t large, guard; } qent_t;
typedef struct quarantine {
    qent_t fifo[Q_FIFO], pool[Q_POOL];
    unsigned head, n, np;
    uint64_t bytes, rng;
} quarantine_t;
static __thread quarantine_t q;

static void write_after_free(const void *p) {
    cairn_fatal("write after free detected in the block at", p);
}

/* The block leaves quarantine: its fill must be intact; then it is freed
 * for real. */
static void release(qent_t e) {
    const uint8_t *z = e.p + (e.large ? 8 : 16);
    size_t n = e.len - (size_t)(z - e.p);
    if ((!e.large && *(const uint64_t *)e.p) || (n && (z[0] || memcmp(z, z + 1, n - 1)))) write_after_free(e.p);
    if (e.large) {
        memset(e.p, 0, 8);
        if (e.guard) os_protect(e.p + e.len, os_page_size(), false);
    } else {
        ((block_t *)e.p)->cookie = 0;
    }
    raw_free_sized(e.p, 0);
}

static unsigned q_random(void) {
    q.rng = q.rng * 6364136223846793005ull + 1442695040888963407ull + (uintptr_t)&q;
    return (unsigned)(q.rng >> 33);
}

static void q_put(qent_t e) {
    q.fifo[(q.head + q.n++) % Q_FIFO] = e;
    q.bytes += e.len;
    while (q.n == Q_FIFO || (q.bytes > Q_BYTES && q.n > 1)) {
        qent_t old = q.fifo[q.head];
        q.head = (q.head + 1) % Q_FIFO;
        q.n--;
        q.bytes -= old.len;
        if (q.np < Q_POOL) { q.pool[q.np++] = old; continue; }
        unsigned i = q_random() % Q_POOL;       /* a random member goes */
        qent_t out = q.pool[i];
        q.pool[i] = old;
        release(out);
    }
}

void secure_quarantine_flush(void) {
    while (q.n) {
        qent_t e = q.fifo[q.head];
        q.head = (q.head + 1) % Q_FIFO;
        q.n--;
        release(e);
    }
    while (q.np) release(q.pool[--q.np]);
    q.bytes = 0;
}

/* ---- malloc and free -------------------------------------------------------------- */
static void *place_large(size_t size, size_t align) {
    size_t pg = os_page_size();
    bool guard = size >= GUARD_MIN;
    uint8_t *p = large_alloc_here(size + SLACK + (guard ? 2 * pg : 0), align);
    if (!p) return NULL;
    span_t s = large_span(p, large_usable(p, segmap_header(p)));
    cairn_assert(s.guard == guard);
    if (guard) os_protect(s.end, pg, true);   /* refused (too many mappings): no guard */
    canary_arm(p, size, s.end);
    return p;
}

/* A block of `size` bytes aligned to `align`, with its canary. */
static void *place(size_t size, size_t align) {
    size_t pg = os_page_size();
    if (size + SLACK <= SMALL_MAX) {
        int cls = align <= MIN_ALIGN ? (int)size_class(size + SLACK) : size_class_aligned(size + SLACK, align);
        if (cls >= 0) {
            uint8_t *p = small_alloc((unsigned)cls);
            if (p) canary_arm(p, size, p + cairn_class_size_tab[cls]);
            return p;
        }
    }
    if (align <= LARGE_ALIGN_MAX && size + SLACK + 2 * pg + align <= LARGE_MAX) return place_large(size, align);
    uint8_t *p = huge_alloc(size + SLACK, align, false);
    if (p) canary_arm(p, size, p + huge_usable(p, segmap_header(p)));
    return p;
}

void *secure_malloc(size_t size) {
    if (size == 0) return zero_alloc();
    if (unlikely(size > MAX_REQUEST / 2)) { errno = ENOMEM; return NULL; }
    return place(size, MIN_ALIGN);
}

void *secure_aligned(size_t size, size_t align) {
    if (unlikely(size > MAX_REQUEST / 2)) { errno = ENOMEM; return NULL; }
    return place(size, align);
}

void secure_free(void *p, size_t size) {
    if (!p) return;
    int saved = errno;
    if (segmap_get((uintptr_t)p) == MAP_ZERO) { zero_free(p); errno = saved; return; }
    span_t s = span_of(p, FREE);
    if (canary_size(p, s.end) < size) free_wrong_size(p);
    if (s.kind == K_HUGE || !my_heap()) {        /* huge: unmapped at once */
        if (s.guard) os_protect(s.end, os_page_size(), false);
        raw_free_sized(p, 0);
        errno = saved;
        return;
    }
    uintptr_t a = (uintptr_t)p;
    memset(p, 0, (size_t)(s.end - (uint8_t *)p));
    if (s.kind == K_SMALL) ((block_t *)p)->cookie = small_page_of(a)->mark;
    else { uint64_t m = large_mark(a); memcpy(p, &m, 8); }
    q_put((qent_t){ p, (uint32_t)(s.end - (uint8_t *)p), s.kind == K_LARGE, s.guard });
    errno = saved;
}

size_t secure_usable(const void *p) {
    if (!p || segmap_get((uintptr_t)p) == MAP_ZERO) return 0;
    span_t s = span_of((void *)p, USABLE);
    return canary_size(p, s.end);
}

/* Always a new block: the old one goes through the quarantine, so a stale
 * pointer to it is caught like any use after free. */
void *secure_realloc(void *p, size_t size) {
    if (!p) return secure_malloc(size);
    if (size == 0) { secure_free(p, 0); return NULL; }
    if (unlikely(size > MAX_REQUEST / 2)) { errno = ENOMEM; return NULL; }
    size_t old = 0;
    if (segmap_get((uintptr_t)p) != MAP_ZERO) {
        span_t s = span_of(p, REALLOC);
        old = canary_size(p, s.end);
    }
    void *n = secure_malloc(size);
    if (!n) return NULL;
    memcpy(n, p, old < size ? old : size);
    secure_free(p, 0);
    return n;
}

#endif
