/* Reading, checking and writing cairn traces (see tracefile.h and
 * docs/TRACE.md). */
#include "tracefile.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const op_names[TR_NOPS] = {
    "?", "malloc", "calloc", "realloc", "free", "memalign", "posix_memalign",
    "valloc", "pvalloc", "free_sized", "free_aligned_sized",
};

const char *tr_op_name(unsigned op) { return op < TR_NOPS ? op_names[op] : "?"; }

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static void put_le32(uint8_t *o, uint32_t v) {
    for (int i = 0; i < 4; i++) o[i] = (uint8_t)(v >> (8 * i));
}

static inline bool bit_get(const uint64_t *m, uint64_t i) { return (m[i >> 6] >> (i & 63)) & 1; }
static inline void bit_set(uint64_t *m, uint64_t i) { m[i >> 6] |= (uint64_t)1 << (i & 63); }
static inline void bit_clear(uint64_t *m, uint64_t i) { m[i >> 6] &= ~((uint64_t)1 << (i & 63)); }
static uint64_t *bitmap_new(uint64_t bits) { return calloc(bits / 64 + 1, sizeof(uint64_t)); }

/* ---- opening ------------------------------------------------------------------- */
static int add_chunk(trace_t *t, uint32_t thread, const tr_chunk_t *c) {
    if (thread >= t->nthreads) {
        tr_thread_t *n = realloc(t->threads, (thread + 1) * sizeof *n);
        if (!n) return -1;
        memset(n + t->nthreads, 0, (thread + 1 - t->nthreads) * sizeof *n);
        t->threads = n;
        t->nthreads = thread + 1;
    }
    tr_thread_t *th = &t->threads[thread];
    if (th->nchunks == th->cap) {
        size_t cap = th->cap ? th->cap * 2 : 8;
        tr_chunk_t *n = realloc(th->chunks, cap * sizeof *n);
        if (!n) return -1;
        th->chunks = n;
        th->cap = cap;
    }
    th->chunks[th->nchunks++] = *c;
    th->events += c->events;
    return 0;
}

/* Every chunk must lie inside the file; each event takes at least two
 * bytes (op and time), which bounds the event counts. */
static int index_chunks(trace_t *t, char *err, size_t cap) {
    size_t off = TR_HDR_BYTES;
    while (off < t->size) {
        const uint8_t *h = t->data + off;
        if (t->size - off < TR_CHUNK_HDR)
            return fail(err, cap, "%s: truncated chunk header at offset %zu (truncated trace)", t->path, off);
        if (le32(h) != TR_CHUNK_MAGIC)
            return fail(err, cap, "%s: bad chunk magic at offset %zu (corrupt trace)", t->path, off);
        uint32_t thread = le32(h + 4), events = le32(h + 8), bytes = le32(h + 12);
        if (bytes > t->size - off - TR_CHUNK_HDR)
            return fail(err, cap, "%s: chunk at offset %zu holds %u bytes but only %zu are left "
                        "in the file (truncated trace)", t->path, off, bytes, t->size - off - TR_CHUNK_HDR);
        if (thread >= TR_MAX_THREADS)
            return fail(err, cap, "%s: chunk at offset %zu names thread %u (corrupt trace)", t->path, off, thread);
        if ((uint64_t)events * 2 > bytes)
            return fail(err, cap, "%s: chunk at offset %zu claims %u events in %u bytes (corrupt trace)",
                        t->path, off, events, bytes);
        tr_chunk_t c = { h + TR_CHUNK_HDR, bytes, events, off };
        if (add_chunk(t, thread, &c) != 0) return fail(err, cap, "%s: out of memory", t->path);
        t->events += events;
        t->chunks++;
        off += TR_CHUNK_HDR + (size_t)bytes;
    }
    return 0;
}

int trace_open(trace_t *t, const char *path, char *err, size_t cap) {
    memset(t, 0, sizeof *t);
    t->path = path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(err, cap, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, cap, "%s: not a regular file", path);
    }
    t->size = (size_t)st.st_size;
    if (t->size < TR_HDR_BYTES) {
        close(fd);
        return fail(err, cap, "%s: too short for a cairn trace (%zu bytes; the header alone is %d)",
                    path, t->size, TR_HDR_BYTES);
    }
    void *m = mmap(NULL, t->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return fail(err, cap, "%s: cannot map: %s", path, strerror(errno));
    t->data = m;
    if (memcmp(t->data, "CAIRNTR1", 8) != 0) {
        trace_close(t);
        return fail(err, cap, "%s: not a cairn trace (bad magic)", path);
    }
    t->version = le32(t->data + 8);
    t->flags = le32(t->data + 12);
    t->start_ns = le64(t->data + 16);
    t->pid = le32(t->data + 24);
    if (t->version != 1) {
        trace_close(t);
        return fail(err, cap, "%s: trace format version %u is not supported (this tool reads version 1)",
                    path, t->version);
    }
    if (index_chunks(t, err, cap) != 0) {
        trace_close(t);
        return -1;
    }
    return 0;
}

void trace_close(trace_t *t) {
    if (t->data) munmap((void *)t->data, t->size);
    for (size_t i = 0; i < t->nthreads; i++) free(t->threads[i].chunks);
    free(t->threads);
    t->data = NULL;
    t->threads = NULL;
    t->nthreads = 0;
}

/* ---- decoding --------------------------------------------------------------------- */
void tr_reader_init(tr_reader_t *r, const trace_t *t, size_t thread) {
    memset(r, 0, sizeof *r);
    r->t = t;
    r->thread = thread;
    r->chunk = SIZE_MAX;              /* before the first chunk            */
}

static int reader_fail(const tr_reader_t *r, char *err, size_t cap, const char *what) {
    const tr_chunk_t *c = &r->t->threads[r->thread].chunks[r->chunk];
    return fail(err, cap, "%s: thread %zu, event %llu (chunk at offset %llu): %s (corrupt trace)",
                r->t->path, r->thread, (unsigned long long)r->evno + 1, (unsigned long long)c->offset, what);
}

/* Move to the next chunk holding events; the one left must have been used
 * up exactly. 1: there is one; 0: none left. */
static int next_chunk(tr_reader_t *r, char *err, size_t cap) {
    const tr_thread_t *th = &r->t->threads[r->thread];
    for (;;) {
        if (r->chunk != SIZE_MAX && r->pos != th->chunks[r->chunk].bytes)
            return fail(err, cap, "%s: chunk at offset %llu (thread %zu) has %u bytes left after its %u events "
                        "(corrupt trace)", r->t->path, (unsigned long long)th->chunks[r->chunk].offset, r->thread,
                        th->chunks[r->chunk].bytes - r->pos, th->chunks[r->chunk].events);
        r->chunk = r->chunk == SIZE_MAX ? 0 : r->chunk + 1;
        if (r->chunk >= th->nchunks) {
            r->chunk = th->nchunks ? th->nchunks - 1 : SIZE_MAX;
            r->pos = r->chunk == SIZE_MAX ? 0 : th->chunks[r->chunk].bytes;
            return 0;
        }
        r->pos = 0;
        r->left = th->chunks[r->chunk].events;
        if (r->left) return 1;
    }
}

/* LEB128: 0 ok, -1 past the end of the chunk, -2 more than 64 bits. */
static int get_varint(const tr_chunk_t *c, uint32_t *pos, uint64_t *v) {
    uint64_t x = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (*pos >= c->bytes) return -1;
        uint8_t b = c->payload[(*pos)++];
        if (shift == 63 && b > 1) return -2;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
        if (shift == 63) return -2;
    }
    *v = x;
    return 0;
}

static int varint_or_fail(tr_reader_t *r, const tr_chunk_t *c, uint64_t *v, char *err, size_t cap) {
    int rc = get_varint(c, &r->pos, v);
    if (rc == -1) return reader_fail(r, err, cap, "a number runs past the end of its chunk");
    if (rc == -2) return reader_fail(r, err, cap, "a number is longer than 64 bits");
    return 0;
}

static int get_id(tr_reader_t *r, const tr_chunk_t *c, uint64_t *id, char *err, size_t cap) {
    uint64_t z;
    if (varint_or_fail(r, c, &z, err, cap)) return -1;
    int64_t d = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    *id = r->last_id + (uint64_t)d;
    r->last_id = *id;
    return 0;
}

static int get_align(tr_reader_t *r, const tr_chunk_t *c, tr_event_t *e, char *err, size_t cap) {
    if (r->pos >= c->bytes) return reader_fail(r, err, cap, "an alignment byte runs past the end of its chunk");
    e->align_log = c->payload[r->pos++];
    if (e->align_log > 63) return reader_fail(r, err, cap, "alignment above 2^63");
    return 0;
}

int tr_next(tr_reader_t *r, tr_event_t *e, char *err, size_t cap) {
    if (r->left == 0) {
        int rc = next_chunk(r, err, cap);
        if (rc <= 0) return rc;
    }
    const tr_chunk_t *c = &r->t->threads[r->thread].chunks[r->chunk];
    memset(e, 0, sizeof *e);
    if (r->pos >= c->bytes) return reader_fail(r, err, cap, "the chunk ends before its last event");
    uint8_t b = c->payload[r->pos++];
    e->op = b & 15;
    e->flags = b & 0xf0;
    if (e->op == 0 || e->op >= TR_NOPS) return reader_fail(r, err, cap, "unknown operation");
    if ((e->flags & ~(TRF_FAILED | TRF_ZERO)) || ((e->flags & TRF_ZERO) && e->op != TR_CALLOC) ||
        ((e->flags & TRF_FAILED) && tr_is_free(e->op)))
        return reader_fail(r, err, cap, "unknown flags on an operation");
    uint64_t dt;
    if (varint_or_fail(r, c, &dt, err, cap)) return -1;
    r->time_us += dt;
    e->time_us = r->time_us;
    bool failed = e->flags & TRF_FAILED;
    if (tr_is_alloc(e->op)) {
        if (!failed && get_id(r, c, &e->id, err, cap)) return -1;
        if (varint_or_fail(r, c, &e->size, err, cap)) return -1;
        if (tr_has_align(e->op) && get_align(r, c, e, err, cap)) return -1;
    } else if (tr_is_free(e->op)) {
        if (get_id(r, c, &e->id, err, cap)) return -1;
        if (e->op != TR_FREE && varint_or_fail(r, c, &e->size, err, cap)) return -1;
        if (tr_has_align(e->op) && get_align(r, c, e, err, cap)) return -1;
    } else {                          /* realloc */
        if (get_id(r, c, &e->id, err, cap)) return -1;
        if (!failed && get_id(r, c, &e->id2, err, cap)) return -1;
        if (varint_or_fail(r, c, &e->size, err, cap)) return -1;
    }
    r->left--;
    r->evno++;
    return 1;
}

/* ---- pass 1: the index ---------------------------------------------------------------- */
static int event_fail(const trace_t *t, size_t thread, uint64_t evno, const tr_event_t *e,
                      char *err, size_t cap, const char *what, uint64_t id) {
    return fail(err, cap, "%s: thread %zu, event %llu (%s): %s %llu", t->path, thread,
                (unsigned long long)evno, tr_op_name(e->op), what, (unsigned long long)id);
}

/* Ids come from one counter, one per allocation, so they are dense:
 * anything far above the number of events is corruption, and the bitmaps
 * stay small. */
int trace_index(const trace_t *t, tr_index_t *ix, char *err, size_t cap) {
    memset(ix, 0, sizeof *ix);
    uint64_t bound = 2 * t->events + 1024;
    ix->ever = bitmap_new(bound);
    if (!ix->ever) return fail(err, cap, "%s: out of memory", t->path);
    for (size_t th = 0; th < t->nthreads; th++) {
        tr_reader_t r;
        tr_event_t e;
        int rc;
        tr_reader_init(&r, t, th);
        if (t->threads[th].events) ix->active_threads++;
        while ((rc = tr_next(&r, &e, err, cap)) > 0) {
            ix->events++;
            if (e.flags & TRF_FAILED) ix->failed[e.op]++;
            else ix->ops[e.op]++;
            uint64_t id;
            if (tr_old_id(&e, &id) && id >= bound)
                return event_fail(t, th, r.evno, &e, err, cap, "frees an id that is never allocated:", id);
            if (!tr_new_id(&e, &id)) continue;
            if (id >= bound)
                return event_fail(t, th, r.evno, &e, err, cap, "id out of range (corrupt trace):", id);
            if (bit_get(ix->ever, id))
                return event_fail(t, th, r.evno, &e, err, cap, "allocates an id already allocated (corrupt trace):", id);
            bit_set(ix->ever, id);
            if (id + 1 > ix->max_id) ix->max_id = id + 1;
        }
        if (rc < 0) return -1;
    }
    return 0;
}

void tr_index_free(tr_index_t *ix) {
    free(ix->ever);
    ix->ever = NULL;
}

/* ---- pass 2: the replay order --------------------------------------------------------- */
typedef struct wthread {
    tr_reader_t r;
    tr_event_t e;                     /* the thread's next event           */
    uint64_t wait_id;                 /* while parked: the id it waits for */
} wthread_t;

typedef struct walk {
    wthread_t *w;
    size_t *heap, nheap;              /* runnable threads, earliest first  */
    size_t *parked, nparked;          /* threads waiting for an allocation */
} walk_t;

static bool earlier(const walk_t *k, size_t a, size_t b) {
    const tr_event_t *x = &k->w[a].e, *y = &k->w[b].e;
    return x->time_us != y->time_us ? x->time_us < y->time_us : a < b;
}

static void heap_push(walk_t *k, size_t th) {
    size_t i = k->nheap++;
    k->heap[i] = th;
    while (i && earlier(k, k->heap[i], k->heap[(i - 1) / 2])) {
        size_t p = (i - 1) / 2, tmp = k->heap[p];
        k->heap[p] = k->heap[i];
        k->heap[i] = tmp;
        i = p;
    }
}

static size_t heap_pop(walk_t *k) {
    size_t top = k->heap[0];
    k->heap[0] = k->heap[--k->nheap];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < k->nheap && earlier(k, k->heap[l], k->heap[m])) m = l;
        if (r < k->nheap && earlier(k, k->heap[r], k->heap[m])) m = r;
        if (m == i) break;
        size_t tmp = k->heap[m];
        k->heap[m] = k->heap[i];
        k->heap[i] = tmp;
        i = m;
    }
    return top;
}

/* Read thread th's next event; runnable again if there is one. */
static int advance(walk_t *k, size_t th, char *err, size_t cap) {
    int rc = tr_next(&k->w[th].r, &k->w[th].e, err, cap);
    if (rc > 0) heap_push(k, th);
    return rc < 0 ? -1 : 0;
}

/* An allocation of id: the threads parked on it may go on. */
static void unpark(walk_t *k, uint64_t id) {
    for (size_t i = 0; i < k->nparked;) {
        size_t th = k->parked[i];
        if (k->w[th].wait_id == id) {
            k->parked[i] = k->parked[--k->nparked];
            heap_push(k, th);
        } else {
            i++;
        }
    }
}

static int walk_run(const trace_t *t, const tr_index_t *ix, walk_t *k, uint64_t *live, uint64_t *freed,
                    tr_visit_fn fn, void *ctx, char *err, size_t cap) {
    for (size_t th = 0; th < t->nthreads; th++) {
        tr_reader_init(&k->w[th].r, t, th);
        if (advance(k, th, err, cap)) return -1;
    }
    while (k->nheap) {
        size_t th = heap_pop(k);
        const tr_event_t *e = &k->w[th].e;
        uint64_t evno = k->w[th].r.evno, old, id;
        bool frees = tr_old_id(e, &old);
        if (frees) {
            if (old >= ix->max_id || !bit_get(ix->ever, old))
                return event_fail(t, th, evno, e, err, cap, "frees an id that is never allocated:", old);
            if (bit_get(freed, old))
                return event_fail(t, th, evno, e, err, cap, "frees an id already freed:", old);
            if (!bit_get(live, old)) {        /* allocated later, in another thread */
                k->w[th].wait_id = old;
                k->parked[k->nparked++] = th;
                continue;
            }
        }
        int rc = fn ? fn(ctx, th, evno, e) : 0;
        if (rc) return rc;
        if (frees) {
            bit_clear(live, old);
            bit_set(freed, old);
        }
        if (tr_new_id(e, &id)) {
            bit_set(live, id);
            if (k->nparked) unpark(k, id);
        }
        if (advance(k, th, err, cap)) return -1;
    }
    if (k->nparked) {
        size_t th = k->parked[0];
        for (size_t i = 1; i < k->nparked; i++)
            if (k->parked[i] < th) th = k->parked[i];
        return event_fail(t, th, k->w[th].r.evno, &k->w[th].e, err, cap,
                          "frees an id allocated only after it (the trace orders them in a cycle):",
                          k->w[th].wait_id);
    }
    return 0;
}

int trace_walk(const trace_t *t, const tr_index_t *ix, tr_visit_fn fn, void *ctx, char *err, size_t cap) {
    walk_t k = { 0 };
    uint64_t *live = bitmap_new(ix->max_id), *freed = bitmap_new(ix->max_id);
    size_t n = t->nthreads ? t->nthreads : 1;
    k.w = calloc(n, sizeof *k.w);
    k.heap = calloc(n, sizeof *k.heap);
    k.parked = calloc(n, sizeof *k.parked);
    int rc = (live && freed && k.w && k.heap && k.parked)
                 ? walk_run(t, ix, &k, live, freed, fn, ctx, err, cap)
                 : fail(err, cap, "%s: out of memory", t->path);
    free(live);
    free(freed);
    free(k.w);
    free(k.heap);
    free(k.parked);
    return rc;
}

/* ---- writing ------------------------------------------------------------------------- */
static uint8_t *put_varint(uint8_t *o, uint64_t v) {
    while (v >= 0x80) { *o++ = (uint8_t)(v | 0x80); v >>= 7; }
    *o++ = (uint8_t)v;
    return o;
}

static uint8_t *put_id(tr_writer_t *w, uint8_t *o, uint64_t id) {
    int64_t d = (int64_t)(id - w->last_id);
    w->last_id = id;
    return put_varint(o, ((uint64_t)d << 1) ^ (uint64_t)(d >> 63));
}

static int flush_chunk(tr_writer_t *w) {
    if (!w->count) return 0;
    put_le32(w->buf, TR_CHUNK_MAGIC);
    put_le32(w->buf + 4, 0);
    put_le32(w->buf + 8, w->count);
    put_le32(w->buf + 12, w->used);
    size_t n = TR_CHUNK_HDR + (size_t)w->used;
    w->count = w->used = 0;
    return fwrite(w->buf, 1, n, w->f) == n ? 0 : -1;
}

int tr_writer_open(tr_writer_t *w, const char *path, uint64_t start_ns, uint32_t pid) {
    memset(w, 0, sizeof *w);
    w->f = fopen(path, "wb");
    if (!w->f) return -1;
    uint8_t h[TR_HDR_BYTES] = "CAIRNTR1";
    put_le32(h + 8, 1);
    put_le32(h + 16, (uint32_t)start_ns);
    put_le32(h + 20, (uint32_t)(start_ns >> 32));
    put_le32(h + 24, pid);
    if (fwrite(h, 1, sizeof h, w->f) != sizeof h) {
        fclose(w->f);
        return -1;
    }
    return 0;
}

int tr_writer_event(tr_writer_t *w, const tr_event_t *e) {
    if (w->used > TR_CHUNK_PAYLOAD - 48 && flush_chunk(w) != 0) return -1;
    uint8_t *o = w->buf + TR_CHUNK_HDR + w->used, *o0 = o;
    bool failed = e->flags & TRF_FAILED;
    *o++ = (uint8_t)(e->op | e->flags);
    o = put_varint(o, e->time_us > w->last_us ? e->time_us - w->last_us : 0);
    if (e->time_us > w->last_us) w->last_us = e->time_us;
    if (tr_is_alloc(e->op)) {
        if (!failed) o = put_id(w, o, e->id);
        o = put_varint(o, e->size);
    } else if (tr_is_free(e->op)) {
        o = put_id(w, o, e->id);
        if (e->op != TR_FREE) o = put_varint(o, e->size);
    } else {
        o = put_id(w, o, e->id);
        if (!failed) o = put_id(w, o, e->id2);
        o = put_varint(o, e->size);
    }
    if (tr_has_align(e->op)) *o++ = e->align_log;
    w->used += (uint32_t)(o - o0);
    w->count++;
    return 0;
}

int tr_writer_close(tr_writer_t *w) {
    int rc = flush_chunk(w);
    if (fclose(w->f) != 0) rc = -1;
    return rc;
}
