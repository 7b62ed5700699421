/* The ledger: where cairn's resident memory is, in parts that add up, and
 * how each part is measured. Built on the walker (walk.c): one walk
 * gathers everything under the locks of what it sees; printing happens
 * after, with no lock held.
 *
 * Parts (cairn_ledger_t.part[i]):
 *   0 live, requested     usable bytes of live blocks minus part 1
 *   1 size-class rounding what rounding a request up to its block added:
 *                         estimated per live block as half its class step
 *                         (small), 32 bytes (large, 64-byte grain), half a
 *                         page (huge); error[] bounds both parts
 *   2 alignment padding   not separable from rounding in this build (0)
 *   3 free in small pages free blocks of pages that hold live blocks
 *                         (external fragmentation); carved space, holes
 *                         excluded
 *   4 free in large arenas resident bytes of free large blocks (mincore)
 *   5 free pages, not yet returned: resident bytes of free small pages
 *                         (mincore)
 *   6 cached              resident bytes of cached segments and mappings
 *   7 metadata            segment headers (mincore), heap structures and
 *                         the segment map (mincore)
 * Live large and huge blocks count what is resident of them (mincore);
 * live small blocks count whole. The kernel's RSS (smaps_rollup) minus the
 * sum is the program's own memory (binary, libraries, stacks) plus the
 * error of the estimates: shown, never hidden. */
#include "internal.h"
#include "cairn.h"
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define NPARTS CAIRN_LEDGER_PARTS
static const char *const part_names[NPARTS] = {
    "live, requested", "size-class rounding", "alignment padding", "free in partly used small pages",
    "free in large arenas", "free pages not yet returned", "cached segments and mappings", "metadata",
};
static const char *const part_how[NPARTS] = {
    "estimate", "estimate", "counted in rounding", "pages as the walk saw them",
    "exact (mincore)", "exact (mincore)", "exact (mincore)", "exact (mincore) + heap structs",
};

typedef struct class_row { uint64_t pages, blocks, used, free_bytes, rounding; } class_row_t;
typedef struct arena_row { uint64_t free_bytes, free_blocks, largest; } arena_row_t;

typedef struct ledger_ctx {
    cairn_ledger_t l;
    uint64_t live_usable;            /* resident part of live usable bytes  */
    class_row_t cls[NCLASSES];
    arena_row_t arena[64];
    unsigned narenas;
} ledger_ctx_t;

static uint64_t half_step(unsigned c) {
    uint32_t lo = c ? cairn_class_size_tab[c - 1] : 0;
    return (cairn_class_size_tab[c] - lo) / 2;
}

/* A small page in use: its live blocks, its free carved blocks, the
 * rounding of its blocks (read racily for other threads' pages). A kept
 * empty page is free memory not returned yet, not fragmentation. */
static void add_page(ledger_ctx_t *c, const page_t *pg) {
    if (LOAD_RELAXED(pg->kept) && page_used(pg) == 0) {
        c->l.part[5] += os_resident_in((const void *)page_start(pg), page_touched(pg));
        return;
    }
    uint64_t bs = LOAD_RELAXED(pg->block_size), cap = LOAD_RELAXED(pg->capacity);
    uint64_t used = page_used(pg), holes = LOAD_RELAXED(pg->hole_blocks);
    unsigned k = LOAD_RELAXED(pg->cls);
    if (k >= NCLASSES || used + holes > cap) return;           /* caught changing */
    uint64_t rounding = used * half_step(k), free_b = (cap - used - holes) * bs;
    c->live_usable += used * bs;
    c->l.part[1] += rounding;
    c->l.error[1] += rounding;
    c->l.part[3] += free_b;
    c->cls[k].pages++;
    c->cls[k].blocks += cap;
    c->cls[k].used += used;
    c->cls[k].free_bytes += free_b;
    c->cls[k].rounding += rounding;
}

static void add_large_block(ledger_ctx_t *c, const walk_item_t *it) {
    if (it->flags & LW_BAD_TAG) return;
    uint64_t res = os_resident_in((const char *)it->addr - LB_HDR, it->size);   /* the whole block */
    if (!(it->flags & LW_FREE)) {
        c->live_usable += res;
        uint64_t r = res < 32 ? res : 32;
        c->l.part[1] += r;
        c->l.error[1] += r;
        return;
    }
    c->l.part[4] += res;
    arena_row_t *a = &c->arena[it->arena->index < 64 ? it->arena->index : 63];
    a->free_bytes += it->size;
    a->free_blocks++;
    if (it->size > a->largest) a->largest = it->size;
    c->l.large_free_blocks++;
    if (it->size > c->l.large_free_largest) c->l.large_free_largest = it->size;
}

static int ledger_item(const walk_item_t *it, void *arg) {
    ledger_ctx_t *c = arg;
    size_t pg = os_page_size();
    switch (it->kind) {
    case W_HEAP: c->l.part[7] += sizeof(heap_t); break;
    case W_SMALL_SEG: c->l.part[7] += os_resident_in(it->sseg, sizeof(small_seg_t)); break;
    case W_PAGE: add_page(c, it->page); break;
    case W_FREE_PAGE: if (it->resident) c->l.part[5] += os_resident_in(it->addr, it->size); break;
    case W_LARGE_SEG: c->l.part[7] += os_resident_in(it->lseg, it->lseg->first); break;
    case W_LARGE_BLOCK: add_large_block(c, it); break;
    case W_ARENA: if (it->arena->index + 1 > c->narenas) c->narenas = it->arena->index + 1; break;
    case W_HUGE: {
        uint64_t res = os_resident_in(it->addr, it->size), r = res < pg / 2 ? res : pg / 2;
        c->live_usable += res;
        c->l.part[1] += r;
        c->l.error[1] += r;
        c->l.part[7] += os_resident_in(it->huge, pg);
        break;
    }
    case W_CACHED_HUGE: case W_CACHED_SEG: c->l.part[6] += os_resident_in(it->addr, it->size); break;
    default: break;
    }
    return 0;
}

static void ledger_compute(ledger_ctx_t *c) {
    memset(c, 0, sizeof *c);
    walk_all(ledger_item, c, 0);
    cairn_ledger_t *l = &c->l;
    l->part[0] = c->live_usable > l->part[1] ? c->live_usable - l->part[1] : 0;
    l->error[0] = l->error[1];
    l->part[7] += os_resident_in((const void *)cairn_segmap, sizeof cairn_segmap);
    for (int i = 0; i < NPARTS; i++) l->total += l->part[i];
    os_totals_t ot;
    os_counters(&ot);
    l->mapped = ot.mapped;
    l->not_resident = ot.mapped > l->total ? ot.mapped - l->total : 0;
    l->rss = os_rss_rollup();
    l->other = (int64_t)l->rss - (int64_t)l->total;
    l->size = sizeof *l;
}

/* ---- the public calls ------------------------------------------------------- */
API void cairn_ledger_get_sized(cairn_ledger_t *out, size_t size) {
    static ledger_ctx_t c;            /* big; one ledger at a time */
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    ledger_compute(&c);
    if (size > sizeof c.l) size = sizeof c.l;
    c.l.size = size;
    memcpy(out, &c.l, size);
    pthread_mutex_unlock(&mu);
}

API const char *cairn_ledger_part_name(int i) { return i >= 0 && i < NPARTS ? part_names[i] : NULL; }

API int cairn_ledger_sample(uint64_t *parts, int max) {
    cairn_ledger_t l;
    cairn_ledger_get(&l);
    int n = max < NPARTS ? max : NPARTS;
    for (int i = 0; i < n; i++) parts[i] = l.part[i];
    return n;
}

static double mib(uint64_t b) { return (double)b / (1024.0 * 1024.0); }

static void print_parts(FILE *f, const cairn_ledger_t *l) {
    fprintf(f, "cairn: ---------------- where the memory is ----------------\n");
    fprintf(f, "cairn: %-34s %9s %7s  %s\n", "part", "MiB", "share", "how measured");
    for (int i = 0; i < NPARTS; i++) {
        double share = l->total ? 100.0 * (double)l->part[i] / (double)l->total : 0.0;
        fprintf(f, "cairn: %-34s %9.2f %6.1f%%  %s", part_names[i], mib(l->part[i]), share, part_how[i]);
        if (l->error[i]) fprintf(f, ", +/- %.2f MiB", mib(l->error[i]));
        if (i == 4 && l->large_free_blocks)
            fprintf(f, "; %llu free blocks, largest %.2f MiB", (unsigned long long)l->large_free_blocks,
                    mib(l->large_free_largest));
        fputc('\n', f);
    }
    fprintf(f, "cairn: %-34s %9.2f\n", "sum: cairn's resident memory", mib(l->total));
    fprintf(f, "cairn: %-34s %9.2f\n", "RSS (kernel, smaps_rollup)", mib(l->rss));
    fprintf(f, "cairn: %-34s %9.2f  (program, libraries, stacks; and estimate error)\n",
            "RSS minus sum", (double)l->other / (1024.0 * 1024.0));
    fprintf(f, "cairn: %-34s %9.2f  (purged, or never touched)\n", "mapped, not resident", mib(l->not_resident));
}

static void print_classes(FILE *f, const ledger_ctx_t *c) {
    fprintf(f, "cairn: %-6s %7s %7s %10s %10s %10s %10s\n", "class", "size", "pages", "blocks", "used",
            "free KiB", "round KiB");
    for (unsigned k = 0; k < NCLASSES; k++) {
        const class_row_t *r = &c->cls[k];
        if (!r->pages) continue;
        fprintf(f, "cairn: %-6u %7u %7llu %10llu %10llu %10.1f %10.1f\n", k, cairn_class_size_tab[k],
                (unsigned long long)r->pages, (unsigned long long)r->blocks, (unsigned long long)r->used,
                (double)r->free_bytes / 1024.0, (double)r->rounding / 1024.0);
    }
    for (unsigned a = 0; a < c->narenas; a++) {
        const arena_row_t *r = &c->arena[a];
        if (r->free_blocks)
            fprintf(f, "cairn: arena %-3u free %.2f MiB in %llu blocks, largest %.2f MiB\n", a,
                    mib(r->free_bytes), (unsigned long long)r->free_blocks, mib(r->largest));
    }
}

static ledger_ctx_t print_ctx;
static pthread_mutex_t print_mu = PTHREAD_MUTEX_INITIALIZER;

API void cairn_ledger_print(FILE *f) {
    pthread_mutex_lock(&print_mu);
    ledger_compute(&print_ctx);
    print_parts(f, &print_ctx.l);
    print_classes(f, &print_ctx);
    pthread_mutex_unlock(&print_mu);
}

/* One JSON object with the parts, the totals, per class and per arena. */
static void json_ledger(FILE *f, const ledger_ctx_t *c) {
    const cairn_ledger_t *l = &c->l;
    fprintf(f, "{\"parts\": [");
    for (int i = 0; i < NPARTS; i++)
        fprintf(f, "%s{\"name\": \"%s\", \"bytes\": %llu, \"error\": %llu, \"measured\": \"%s\"}", i ? ", " : "",
                part_names[i], (unsigned long long)l->part[i], (unsigned long long)l->error[i], part_how[i]);
    fprintf(f, "], \"total\": %llu, \"rss\": %llu, \"rss_minus_total\": %lld, \"mapped\": %llu, "
            "\"not_resident\": %llu, \"classes\": [", (unsigned long long)l->total, (unsigned long long)l->rss,
            (long long)l->other, (unsigned long long)l->mapped, (unsigned long long)l->not_resident);
    int first = 1;
    for (unsigned k = 0; k < NCLASSES; k++) {
        const class_row_t *r = &c->cls[k];
        if (!r->pages) continue;
        fprintf(f, "%s{\"class\": %u, \"size\": %u, \"pages\": %llu, \"blocks\": %llu, \"used\": %llu, "
                "\"free_bytes\": %llu, \"rounding\": %llu}", first ? "" : ", ", k, cairn_class_size_tab[k],
                (unsigned long long)r->pages, (unsigned long long)r->blocks, (unsigned long long)r->used,
                (unsigned long long)r->free_bytes, (unsigned long long)r->rounding);
        first = 0;
    }
    fprintf(f, "], \"arenas\": [");
    first = 1;
    for (unsigned a = 0; a < c->narenas; a++) {
        const arena_row_t *r = &c->arena[a];
        fprintf(f, "%s{\"arena\": %u, \"free_bytes\": %llu, \"free_blocks\": %llu, \"largest\": %llu}",
                first ? "" : ", ", a, (unsigned long long)r->free_bytes, (unsigned long long)r->free_blocks,
                (unsigned long long)r->largest);
        first = 0;
    }
    fprintf(f, "]}");
}

void ledger_json_object(FILE *f) {
    pthread_mutex_lock(&print_mu);
    ledger_compute(&print_ctx);
    json_ledger(f, &print_ctx);
    pthread_mutex_unlock(&print_mu);
}

API void cairn_ledger_json(FILE *f) {
    ledger_json_object(f);
    fputc('\n', f);
}

/* ---- the timeline (CAIRN_STATS_INTERVAL, CAIRN_STATS_FILE) ----------------- */
/* One line of JSON per sample, written with write(2) from a stack buffer:
 * the sample may be taken from a slow path, so nothing here allocates. */
static int timeline_fd = -1;
static _Atomic uint64_t next_sample;

static size_t put_u64(char *b, size_t at, const char *key, uint64_t v) {
    size_t n = strlen(key);
    memcpy(b + at, key, n);
    at += n;
    return at + fmt_u64(b + at, v);
}

void ledger_sample_due(uint64_t now) {
    uint64_t due = atomic_load_explicit(&next_sample, memory_order_relaxed);
    if (!cairn_opt.stats_interval_ms || now < due ||
        !atomic_compare_exchange_strong(&next_sample, &due, now + (uint64_t)cairn_opt.stats_interval_ms))
        return;
    if (timeline_fd < 0 && cairn_opt.stats_file)
        timeline_fd = open(cairn_opt.stats_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (timeline_fd < 0) return;
    cairn_ledger_t l;
    cairn_ledger_get(&l);
    char b[1024];
    size_t at = put_u64(b, 0, "{\"t_ms\": ", now);
    for (int i = 0; i < NPARTS; i++) at = put_u64(b, at, i ? ", " : ", \"parts\": [", l.part[i]);
    at = put_u64(b, at, "], \"total\": ", l.total);
    at = put_u64(b, at, ", \"rss\": ", l.rss);
    at = put_u64(b, at, ", \"mapped\": ", l.mapped);
    memcpy(b + at, "}\n", 2);
    at += 2;
    if (write(timeline_fd, b, at) < 0) { /* nothing to do: a sample is lost */ }
}
