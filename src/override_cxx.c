/* C++ operator new and delete (the Itanium C++ ABI names), so C++ programs
 * reach the same inline fast paths as malloc and free without going
 * through the library's malloc and its error handling twice. Part of the
 * standard-name override layer, like override.c.
 *
 * new follows the C++ rules on failure: while a new-handler is installed
 * call it and try again; without one, throw std::bad_alloc (nothrow forms
 * return NULL instead, without calling the handler, since a handler that
 * throws cannot be caught here). The handler and the throw come from the
 * program's libstdc++, found through weak references: a program that calls
 * operator new has it loaded, and cairn itself needs only libc.
 * Sized and aligned delete are checked like free_sized and
 * free_aligned_sized. */
#include "fastpath.h"

typedef void (*new_handler_fn)(void);
extern new_handler_fn _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

static void *try_alloc(size_t size, size_t align) {
    return align > MIN_ALIGN ? alloc_aligned(size, align) : fast_malloc(size);
}

NOINLINE static void *new_failed(size_t size, size_t align, bool nothrow) {
    for (;;) {
        new_handler_fn handler = (!nothrow && _ZSt15get_new_handlerv) ? _ZSt15get_new_handlerv() : NULL;
        if (!handler) break;
        handler();
        void *p = try_alloc(size, align);
        if (p) return p;
    }
    if (nothrow) return NULL;
    if (_ZSt17__throw_bad_allocv) _ZSt17__throw_bad_allocv();
    cairn_fatal("operator new failed without a C++ runtime to throw, size", (void *)size);
}

/* Everything but a block from a page that has one: malloc's own slow
 * paths, then the C++ failure rules. */
NOINLINE static void *cxx_new_slow(size_t size) {
    void *p = fast_malloc(size);
    return likely(p != NULL) ? p : new_failed(size, 0, false);
}

#ifdef CAIRN_SECURE
static inline void *cxx_new(size_t size) { return cxx_new_slow(size); }
#else
/* raw_malloc's fast path, leaving by a tail call wherever it would leave:
 * so the fast path keeps nothing across a call (no saved register) and
 * tests no result (a popped block is never NULL). size_page's choice is
 * written out as raw_malloc writes it: through size_page the size is
 * compared with SMALL_MAX first, one more instruction for every size. */
static inline FAST void *cxx_new(size_t size) {
    heap_t *h = cairn_tl_heap;
    page_t *pg;
    if (likely(size <= DIRECT_MAX)) pg = h->direct[(size + 15) >> 4];
    else if (size <= SMALL_MAX) pg = h->cur[size_class(size)];
    else return cxx_new_slow(size);
    block_t *b = pg->free, *next = link_get(pg, b);     /* as page_malloc */
    if (likely(link_in_page(b, next))) return page_take(h, pg, b, next);
    return cxx_new_slow(size);
}
#endif

static inline void *cxx_new_nothrow(size_t size) {
    void *p = fast_malloc(size);
    return likely(p != NULL) ? p : new_failed(size, 0, true);
}

/* An alignment that is not a power of two is undefined behaviour in C++;
 * it is reported rather than honoured wrongly. */
static void *cxx_new_aligned(size_t size, size_t align, bool nothrow) {
    if (unlikely(!is_pow2(align))) cairn_fatal("operator new with an alignment that is not a power of two:", (void *)align);
    void *p = try_alloc(size, align);
    return likely(p != NULL) ? p : new_failed(size, align, nothrow);
}


#ifdef CAIRN_TRACING
/* The recorder build (src/trace.c): new is recorded as malloc or memalign,
 * delete as free, free_sized or free_aligned_sized, by redefining the
 * names the operators below call (see override.c). A new that throws
 * returns nothing and records nothing. */
enum { TR_MALLOC = 1, TR_FREE = 4, TR_MEMALIGN = 5, TR_FREE_SIZED = 9, TR_FREE_ALIGNED_SIZED = 10 };
void trace_alloc(unsigned op, const void *p, size_t size, size_t align);
void trace_free(unsigned op, const void *p, size_t size, size_t align);

static inline void *traced_new(size_t n) {
    void *p = cxx_new(n);
    trace_alloc(TR_MALLOC, p, n, 0);
    return p;
}
static inline void *traced_new_nothrow(size_t n) {
    void *p = cxx_new_nothrow(n);
    trace_alloc(TR_MALLOC, p, n, 0);
    return p;
}
static inline void *traced_new_aligned(size_t n, size_t a, bool nothrow) {
    void *p = cxx_new_aligned(n, a, nothrow);
    trace_alloc(TR_MEMALIGN, p, n, a);
    return p;
}
static inline void traced_delete(void *p) {
    trace_free(TR_FREE, p, 0, 0);
    fast_free(p);
}
static inline void traced_delete_sized(void *p, size_t n) {
    trace_free(n ? TR_FREE_SIZED : TR_FREE, p, n, 0);
    fast_free_sized(p, n);
}
/* Aligned delete without a size (n == 0) replays as a plain free. */
static inline void traced_delete_aligned(void *p, size_t a, size_t n) {
    trace_free(n ? TR_FREE_ALIGNED_SIZED : TR_FREE, p, n, a);
    free_aligned_sized_checked(p, a, n);
}
#define cxx_new(n)                           traced_new(n)
#define cxx_new_nothrow(n)                   traced_new_nothrow(n)
#define cxx_new_aligned(n, a, t)             traced_new_aligned(n, a, t)
#define fast_free(p)                         traced_delete(p)
#define fast_free_sized(p, n)                traced_delete_sized(p, n)
#define free_aligned_sized_checked(p, a, n)  traced_delete_aligned(p, a, n)
#endif

typedef struct nothrow_tag nothrow_tag;   /* std::nothrow_t, passed by reference */

API HOT_ENTRY void *_Znwm(size_t n) { return cxx_new(n); }
API HOT_ENTRY void *_Znam(size_t n) { return cxx_new(n); }
API void *_ZnwmRKSt9nothrow_t(size_t n, const nothrow_tag *t) { (void)t; return cxx_new_nothrow(n); }
API void *_ZnamRKSt9nothrow_t(size_t n, const nothrow_tag *t) { (void)t; return cxx_new_nothrow(n); }
API void *_ZnwmSt11align_val_t(size_t n, size_t a) { return cxx_new_aligned(n, a, false); }
API void *_ZnamSt11align_val_t(size_t n, size_t a) { return cxx_new_aligned(n, a, false); }
API void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const nothrow_tag *t) {
    (void)t;
    return cxx_new_aligned(n, a, true);
}
API void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const nothrow_tag *t) {
    (void)t;
    return cxx_new_aligned(n, a, true);
}

API HOT_ENTRY void _ZdlPv(void *p) { fast_free(p); }
API HOT_ENTRY void _ZdaPv(void *p) { fast_free(p); }
API HOT_ENTRY void _ZdlPvm(void *p, size_t n) { fast_free_sized(p, n); }
API HOT_ENTRY void _ZdaPvm(void *p, size_t n) { fast_free_sized(p, n); }
API void _ZdlPvRKSt9nothrow_t(void *p, const nothrow_tag *t) { (void)t; fast_free(p); }
API void _ZdaPvRKSt9nothrow_t(void *p, const nothrow_tag *t) { (void)t; fast_free(p); }
API void _ZdlPvSt11align_val_t(void *p, size_t a) { free_aligned_sized_checked(p, a, 0); }
API void _ZdaPvSt11align_val_t(void *p, size_t a) { free_aligned_sized_checked(p, a, 0); }
API void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t a) { free_aligned_sized_checked(p, a, n); }
API void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t a) { free_aligned_sized_checked(p, a, n); }
API void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const nothrow_tag *t) {
    (void)t;
    free_aligned_sized_checked(p, a, 0);
}
API void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const nothrow_tag *t) {
    (void)t;
    free_aligned_sized_checked(p, a, 0);
}
