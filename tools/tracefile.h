/* Reading and writing cairn allocation traces (format: docs/TRACE.md),
 * shared by cairn-trace and cairn-replay. Nothing here trusts the file: a
 * bad magic, a chunk running past the end, a varint running past its
 * chunk, an unknown op, or ids that do not add up give an error message,
 * never a crash. */
#ifndef CAIRN_TRACEFILE_H
#define CAIRN_TRACEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
    TR_MALLOC = 1, TR_CALLOC = 2, TR_REALLOC = 3, TR_FREE = 4, TR_MEMALIGN = 5,
    TR_POSIX_MEMALIGN = 6, TR_VALLOC = 7, TR_PVALLOC = 8, TR_FREE_SIZED = 9,
    TR_FREE_ALIGNED_SIZED = 10, TR_NOPS = 11
};
#define TRF_FAILED     0x10u           /* the call failed: no id          */
#define TRF_ZERO       0x20u           /* calloc: the block is zero-filled */
#define TR_HDR_BYTES   32
#define TR_CHUNK_HDR   16
#define TR_CHUNK_MAGIC 0x4B435443u
#define TR_CHUNK_PAYLOAD (64u << 10)   /* what writers put in one chunk    */
#define TR_MAX_THREADS (1u << 20)

const char *tr_op_name(unsigned op);
static inline bool tr_is_alloc(unsigned op) {
    return op == TR_MALLOC || op == TR_CALLOC || (op >= TR_MEMALIGN && op <= TR_PVALLOC);
}
static inline bool tr_is_free(unsigned op) {
    return op == TR_FREE || op == TR_FREE_SIZED || op == TR_FREE_ALIGNED_SIZED;
}
static inline bool tr_has_align(unsigned op) {
    return op == TR_MEMALIGN || op == TR_POSIX_MEMALIGN || op == TR_FREE_ALIGNED_SIZED;
}

/* One decoded event. Ids: an allocation's new id in id; a free's block in
 * id; a realloc's old block in id and its new one in id2. Failed calls
 * carry no new id. */
typedef struct tr_event {
    uint8_t op, flags, align_log;
    uint64_t time_us;                 /* since the start of the trace      */
    uint64_t id, id2, size;
} tr_event_t;

/* Does e create a block (id, or id2 for realloc)? Free one (id)? */
static inline bool tr_new_id(const tr_event_t *e, uint64_t *id) {
    if (e->flags & TRF_FAILED) return false;
    if (tr_is_alloc(e->op)) { *id = e->id; return true; }
    if (e->op == TR_REALLOC) { *id = e->id2; return true; }
    return false;
}
static inline bool tr_old_id(const tr_event_t *e, uint64_t *id) {
    if (tr_is_free(e->op) || (e->op == TR_REALLOC && !(e->flags & TRF_FAILED))) { *id = e->id; return true; }
    return false;
}

typedef struct tr_chunk {
    const uint8_t *payload;
    uint32_t bytes, events;
    uint64_t offset;                  /* of the chunk header in the file   */
} tr_chunk_t;

typedef struct tr_thread {
    tr_chunk_t *chunks;
    size_t nchunks, cap;
    uint64_t events;                  /* as the chunk headers say          */
} tr_thread_t;

typedef struct trace {
    const char *path;
    const uint8_t *data;              /* the whole file, mapped            */
    size_t size;
    uint32_t version, flags, pid;
    uint64_t start_ns;
    tr_thread_t *threads;             /* by thread index; some may be empty */
    size_t nthreads;                  /* highest index + 1                 */
    uint64_t events, chunks;
} trace_t;

/* Map and index a trace; on error, a one-line message in err. */
int  trace_open(trace_t *t, const char *path, char *err, size_t cap);
void trace_close(trace_t *t);

/* Decoding one thread's events in order. */
typedef struct tr_reader {
    const trace_t *t;
    size_t thread, chunk;
    uint32_t pos, left;               /* in the current chunk              */
    uint64_t last_id, time_us, evno;  /* evno: events read so far          */
} tr_reader_t;
void tr_reader_init(tr_reader_t *r, const trace_t *t, size_t thread);
/* 1: an event in *e; 0: the thread's events are done; -1: error in err. */
int  tr_next(tr_reader_t *r, tr_event_t *e, char *err, size_t cap);

/* Pass 1 over every event: format errors, the ids that are allocated (each
 * exactly once), counts. */
typedef struct tr_index {
    uint64_t max_id;                  /* highest id + 1                    */
    uint64_t *ever;                   /* bitmap: ids allocated somewhere   */
    uint64_t ops[TR_NOPS], failed[TR_NOPS];
    uint64_t events, active_threads;
} tr_index_t;
int  trace_index(const trace_t *t, tr_index_t *ix, char *err, size_t cap);
void tr_index_free(tr_index_t *ix);

/* Pass 2: every event once, in time order merged across threads, except
 * that a free (or realloc) of a block waits for the block's allocation:
 * the order a replay can follow. A free of an id never allocated, a second
 * free, or a cycle of such waits is an error naming the event. fn returns
 * non-zero to stop the walk (trace_walk then returns that value). */
typedef int (*tr_visit_fn)(void *ctx, size_t thread, uint64_t evno, const tr_event_t *e);
int  trace_walk(const trace_t *t, const tr_index_t *ix, tr_visit_fn fn, void *ctx,
                char *err, size_t cap);

/* Writing a trace (cairn-trace import). Events of thread 0 only. */
typedef struct tr_writer {
    FILE *f;
    uint64_t last_id, last_us;
    uint32_t used, count;
    uint8_t buf[TR_CHUNK_HDR + TR_CHUNK_PAYLOAD + 64];
} tr_writer_t;
int tr_writer_open(tr_writer_t *w, const char *path, uint64_t start_ns, uint32_t pid);
int tr_writer_event(tr_writer_t *w, const tr_event_t *e);
int tr_writer_close(tr_writer_t *w);   /* 0, or -1 with errno */

#endif
