/* churn: one thread, a mixed program's allocation pattern.
 *
 * `ops` random operations on `slots` slots. An empty slot gets a new block;
 * a full one is checked and then freed (60%) or resized with realloc (40%).
 * Sizes: 80% uniform in 1-256 B, 15% log-uniform in 257 B-64 KiB, 5%
 * log-uniform in 64 KiB-4 MiB. New blocks come from malloc (55%), calloc
 * (20%, checked to be zero), aligned_alloc / posix_memalign / memalign
 * (15%, alignments 32 B-64 KiB, checked) and realloc(NULL, n) (10%).
 * Every block is initialised as a program would: its first 4 KiB filled
 * with its own byte, then one byte in every further 4 KiB page (so every
 * page is touched and a page the allocator gave back costs a fault), and
 * stamped with its tag. Before it is freed or resized its stamp and those
 * bytes are checked, and realloc must keep the old contents.
 *
 * The workload samples its own RSS every `ops/200` operations and prints a
 * timeline line, so RSS over time can be charted per allocator.
 *
 * Parameters: ops=2000000 slots=10000 seed=1
 * Result: operation counts and a tag checksum. Metric: ops_per_sec.
 */
#include "common.h"
#include <malloc.h>

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t tag;
} slot_t;

static size_t log_uniform(rng_t *r, size_t lo, size_t hi)
{
    double l = __builtin_log((double)lo), h = __builtin_log((double)hi + 1);
    size_t s = (size_t)__builtin_exp(l + (h - l) * rng_unit(r));
    return s < lo ? lo : s > hi ? hi : s;
}

static size_t pick_size(rng_t *r)
{
    uint64_t x = rng_below(r, 100);
    if (x < 80)
        return (size_t)rng_range(r, 1, 256);
    if (x < 95)
        return log_uniform(r, 257, 64 << 10);
    return log_uniform(r, (64 << 10) + 1, 4 << 20);
}

static unsigned char fill_byte(uint64_t tag) { return (unsigned char)(tag >> 56) | 1; }

#define HEAD 4096   /* bytes written in full at the start of a block */

/* Write the block's fill byte over [from, size): all of the head, one byte
 * per 4 KiB after it; then the stamp. */
static void fill(slot_t *s, size_t from)
{
    unsigned char b = fill_byte(s->tag);
    size_t head = s->size < HEAD ? s->size : HEAD;
    if (from < head)
        memset(s->p + from, b, head - from);
    for (size_t off = from > HEAD ? (from + 4095) & ~(size_t)4095 : HEAD; off < s->size; off += 4096)
        s->p[off] = b;
    stamp(s->p, s->size, s->tag);
}

/* The bytes fill() wrote below upto (other than the stamp) are intact. */
static int intact(const unsigned char *p, size_t upto, unsigned char want)
{
    for (size_t off = 8; off + 1 < upto && off < HEAD; off += 61)
        if (p[off] != want)
            return 0;
    for (size_t off = HEAD; off + 1 < upto; off += 4096)
        if (p[off] != want)
            return 0;
    return 1;
}

static void check(const slot_t *s, size_t upto, const char *when)
{
    if (!stamp_ok(s->p, s->size, s->tag))
        die("churn: stamp of a %zu-byte block broken before %s", s->size, when);
    if (!intact(s->p, upto, fill_byte(s->tag)))
        die("churn: contents of a %zu-byte block changed before %s", s->size, when);
}

static void *aligned_new(rng_t *r, size_t size, size_t *align)
{
    size_t a = (size_t)32 << rng_below(r, 12);   /* 32 B .. 64 KiB */
    void *p = NULL;
    *align = a;
    switch (rng_below(r, 3)) {
    case 0: p = aligned_alloc(a, (size + a - 1) / a * a); break;
    case 1: if (posix_memalign(&p, a, size)) p = NULL; break;
    default: p = memalign(a, size); break;
    }
    return p;
}

static void allocate(rng_t *r, slot_t *s, uint64_t *counts)
{
    size_t size = pick_size(r), align = 0;
    uint64_t how = rng_below(r, 100);
    s->tag = rng_next(r);
    s->size = size;
    if (how < 55) {
        s->p = malloc(size);
    } else if (how < 75) {
        s->p = calloc(1, size);
        if (s->p)
            for (size_t off = 0; off < size; off += 4093)
                if (s->p[off] || s->p[size - 1])
                    die("churn: calloc(%zu) memory not zero at %zu", size, off);
        counts[1]++;
    } else if (how < 90) {
        s->p = aligned_new(r, size, &align);
        if (s->p && ((uintptr_t)s->p & (align - 1)))
            die("churn: %zu-aligned block at %p", align, (void *)s->p);
        counts[2]++;
    } else {
        s->p = realloc(NULL, size);
    }
    if (!s->p)
        die("churn: allocation of %zu bytes failed", size);
    counts[0]++;
    fill(s, 0);
}

static void resize(rng_t *r, slot_t *s, uint64_t *counts)
{
    size_t size = pick_size(r), keep = size < s->size ? size : s->size;
    check(s, s->size, "realloc");
    unsigned char *q = realloc(s->p, size);
    if (!q)
        die("churn: realloc to %zu failed", size);
    s->p = q;
    if (!intact(q, keep, fill_byte(s->tag)))
        die("churn: realloc to %zu lost the old contents", size);
    size_t old = s->size;
    s->size = size;
    fill(s, old < size ? old - 1 : size);
    counts[3]++;
}

int main(int argc, char **argv)
{
    params_init(argc, argv);
    long long ops = param("ops", 2000000), nslots = param("slots", 10000);
    rng_t r;
    rng_seed(&r, (uint64_t)param("seed", 1));
    if (ops < 1 || nslots < 1)
        die("bad parameters");
    slot_t *slots = calloc((size_t)nslots, sizeof *slots);
    if (!slots)
        die("out of memory");
    uint64_t counts[5] = { 0 }, tags = 0;   /* alloc, calloc, aligned, realloc, free */
    long long every = ops / 200 > 0 ? ops / 200 : 1;
    timeline_t tl;
    tl_start(&tl);
    uint64_t t0 = now_ns();
    for (long long i = 0; i < ops; i++) {
        slot_t *s = &slots[rng_below(&r, (uint64_t)nslots)];
        if (!s->p) {
            allocate(&r, s, counts);
        } else if (rng_below(&r, 100) < 60) {
            check(s, s->size, "free");
            tags += s->tag;
            free(s->p);
            s->p = NULL;
            counts[4]++;
        } else {
            resize(&r, s, counts);
        }
        if (i % every == 0)
            tl_sample(&tl);
    }
    for (long long i = 0; i < nslots; i++)
        if (slots[i].p) {
            check(&slots[i], slots[i].size, "exit");
            tags += slots[i].tag;
            free(slots[i].p);
        }
    uint64_t t1 = now_ns();
    tl_sample(&tl);
    free(slots);
    double secs = (double)(t1 - t0) / 1e9;
    print_result("churn", "allocs=%" PRIu64 " calloc=%" PRIu64 " aligned=%" PRIu64
                 " realloc=%" PRIu64 " free=%" PRIu64 " tags=%016" PRIx64,
                 counts[0], counts[1], counts[2], counts[3], counts[4], tags);
    printf("metric: ops_per_sec=%.0f seconds=%.3f\n", (double)ops / secs, secs);
    tl_print(&tl);
    return 0;
}
