/* The walker: one traversal of everything cairn holds, in the order given
 * in internal.h, each part under its own lock. cairn_check_heap and the
 * ledger are callbacks on it; cairn_walk shows it to programs. */
#include "internal.h"
#include "cairn.h"

int walk_all(walk_fn fn, void *arg, unsigned flags) {
    int total = 0, r;
    if ((r = heaps_walk(fn, arg, flags)) == WALK_STOP) return r;
    total += r;
    if ((r = arenas_walk(fn, arg)) == WALK_STOP) return r;
    total += r;
    if ((r = huge_walk(fn, arg)) == WALK_STOP) return r;
    total += r;
    if ((r = seg_cache_walk(fn, arg)) == WALK_STOP) return r;
    return total + r;
}

/* ---- the public walk ---------------------------------------------------- */
typedef struct pub_ctx { cairn_walk_fn fn; void *arg; } pub_ctx_t;

static cairn_item_t page_item(const walk_item_t *it) {
    const page_t *pg = it->page;
    cairn_item_t o = { .kind = CAIRN_ITEM_PAGE, .addr = it->addr, .size = it->size,
                       .block_size = LOAD_RELAXED(pg->block_size), .blocks = LOAD_RELAXED(pg->capacity),
                       .used = page_used(pg),
                       .size_class = LOAD_RELAXED(pg->cls), .owner = it->heap->index };
    return o;
}

/* An internal item as the public one, or kind 0 when it is not shown. */
static cairn_item_t to_public(const walk_item_t *it) {
    cairn_item_t o = { .size_class = -1, .addr = it->addr, .size = it->size, .resident = it->resident };
    switch (it->kind) {
    case W_HEAP: o.kind = CAIRN_ITEM_HEAP; o.addr = it->heap; o.owner = it->heap->index; break;
    case W_SMALL_SEG: o.kind = CAIRN_ITEM_SEGMENT; o.owner = it->heap->index; break;
    case W_PAGE: return page_item(it);
    case W_FREE_PAGE: o.kind = CAIRN_ITEM_FREE_PAGE; o.owner = it->heap->index; break;
    case W_BLOCK:
        o.kind = CAIRN_ITEM_BLOCK;
        o.live = 1;
        o.size_class = it->page->cls;
        o.owner = it->heap->index;
        break;
    case W_LARGE_SEG: o.kind = CAIRN_ITEM_LARGE_SEGMENT; o.owner = it->arena->index; break;
    case W_LARGE_BLOCK:
        if (it->flags & LW_BAD_TAG) { o.kind = 0; break; }
        o.kind = CAIRN_ITEM_LARGE_BLOCK;
        o.live = !(it->flags & LW_FREE);
        o.size = it->size - LB_HDR;
        o.owner = it->arena->index;
        break;
    case W_HUGE: o.kind = CAIRN_ITEM_HUGE; o.live = 1; break;
    case W_CACHED_HUGE: case W_CACHED_SEG: o.kind = CAIRN_ITEM_CACHED; break;
    default: o.kind = 0;
    }
    return o;
}

static int pub_visit(const walk_item_t *it, void *arg) {
    pub_ctx_t *c = arg;
    cairn_item_t o = to_public(it);
    if (!o.kind) return 0;
    return c->fn(&o, c->arg) ? WALK_STOP : 0;
}

API int cairn_walk(cairn_walk_fn fn, void *arg, unsigned flags) {
    pub_ctx_t c = { fn, arg };
    return walk_all(pub_visit, &c, flags & CAIRN_WALK_BLOCKS ? WALK_BLOCKS : 0) == WALK_STOP ? 1 : 0;
}
