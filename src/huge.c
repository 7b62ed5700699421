/* Huge blocks (above LARGE_MAX, or aligned beyond what the large heap can
 * give): one direct mapping each, with a one-page header in front. realloc
 * resizes them with mremap, in place when the kernel can, else by moving
 * the pages (never copying). A global list, under a mutex, serves
 * statistics and the heap checker; huge calls are rare and costly anyway. */
#include "internal.h"
#include <errno.h>

static pthread_mutex_t huge_mu = PTHREAD_MUTEX_INITIALIZER;
static huge_hdr_t *huge_list;
static uint64_t n_alloc, n_free, live, count;

void huge_lock(void) { pthread_mutex_lock(&huge_mu); }
void huge_unlock(void) { pthread_mutex_unlock(&huge_mu); }
void huge_reinit_child(void) { pthread_mutex_init(&huge_mu, NULL); }

static void link_in(huge_hdr_t *h) {
    pthread_mutex_lock(&huge_mu);
    h->prev = NULL;
    h->next = huge_list;
    if (huge_list) huge_list->prev = h;
    huge_list = h;
    count++;
    live += h->size;
    pthread_mutex_unlock(&huge_mu);
}

static void unlink_out(huge_hdr_t *h) {
    pthread_mutex_lock(&huge_mu);
    if (h->prev) h->prev->next = h->next;
    else huge_list = h->next;
    if (h->next) h->next->prev = h->prev;
    count--;
    live -= h->size;
    pthread_mutex_unlock(&huge_mu);
}

static unsigned map_kind(size_t off) { return off < SEG_SIZE ? MAP_HEADER : MAP_HEADER_BEFORE; }

/* The header sits at a 4 MiB boundary H, the block at H + off:
 * off = 4 KiB normally, off = align for alignments up to 2 MiB, and
 * off = 4 MiB for larger alignments (then H = block - 4 MiB). */
void *huge_alloc(size_t size, size_t align) {
    size_t off = align <= OS_PAGE ? OS_PAGE : align < SEG_SIZE ? align : SEG_SIZE;
    size_t psize = align_up(size, OS_PAGE);
    if (psize < size || psize + off < psize) { errno = ENOMEM; return NULL; }
    huge_hdr_t *h = align > SEG_SIZE ? os_map_aligned(psize + off, align, off)
                                     : os_map_aligned(psize + off, SEG_SIZE, 0);
    if (!h) return NULL;
    h->kind = SEG_HUGE;
    h->map_size = psize + off;
    h->off = off;
    h->size = psize;
    link_in(h);
    __atomic_add_fetch(&n_alloc, 1, __ATOMIC_RELAXED);
    char *p = (char *)h + off;
    segmap_set((uintptr_t)p, map_kind(off));
    return p;
}

static void check_ptr(const void *p, const huge_hdr_t *h, const char *what) {
    if ((const char *)h + h->off != (const char *)p) cairn_fatal(what, p);
}

void huge_free(void *p, huge_hdr_t *h) {
    check_ptr(p, h, "invalid free of");
    unlink_out(h);
    __atomic_add_fetch(&n_free, 1, __ATOMIC_RELAXED);
    segmap_set((uintptr_t)p, MAP_FREED_HUGE);
    os_unmap(h, h->map_size);
}

size_t huge_usable(const void *p, const huge_hdr_t *h) {
    (void)p;
    return h->size;
}

/* Resize to `size` (> LARGE_MAX). NULL with ENOMEM leaves p intact. */
void *huge_realloc(void *p, huge_hdr_t *h, size_t size) {
    check_ptr(p, h, "realloc of invalid pointer");
    size_t psize = align_up(size, OS_PAGE), off = h->off, old_map = h->map_size;
    if (psize < size || psize + off < psize) { errno = ENOMEM; return NULL; }
    if (psize == h->size) return p;
    unlink_out(h);
    if (os_remap_inplace(h, old_map, psize + off)) {
        h->map_size = psize + off;
        h->size = psize;
        link_in(h);
        return p;
    }
    huge_hdr_t *nh = os_remap_aligned(h, old_map, psize + off, SEG_SIZE);
    if (!nh) { link_in(h); return NULL; }
    segmap_set((uintptr_t)p, MAP_FREED_HUGE);
    nh->map_size = psize + off;
    nh->size = psize;
    link_in(nh);
    char *q = (char *)nh + off;
    segmap_set((uintptr_t)q, map_kind(off));
    return q;
}

void huge_stats(uint64_t *na, uint64_t *nf, uint64_t *lv, uint64_t *cnt) {
    pthread_mutex_lock(&huge_mu);
    *na = n_alloc; *nf = n_free; *lv = live; *cnt = count;
    pthread_mutex_unlock(&huge_mu);
}

int huge_check(FILE *report) {
    int bad = 0;
    pthread_mutex_lock(&huge_mu);
    uint64_t n = 0, bytes = 0;
    for (huge_hdr_t *h = huge_list; h; h = h->next, n++) {
        const char *p = (const char *)h + h->off;
        bytes += h->size;
        if (h->kind != SEG_HUGE || segmap_header(p) != h || h->map_size != h->off + h->size ||
            (h->next && h->next->prev != h)) {
            bad++;
            if (report) fprintf(report, "huge block %p: header inconsistent\n", (const void *)p);
        }
    }
    if (n != count || bytes != live) {
        bad++;
        if (report) fprintf(report, "huge list: count/bytes disagree with counters\n");
    }
    pthread_mutex_unlock(&huge_mu);
    return bad;
}
