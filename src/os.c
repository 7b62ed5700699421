/* The OS layer: the only file that asks the kernel for memory or gives it
 * back, reads the clock or yields the CPU. Every function states what it
 * promises. Test hooks make requests for new memory fail
 * (cairn_test_os_fail), so the out-of-memory paths of every caller can be
 * exercised, and make purges fail as the kernel does for locked memory
 * (cairn_test_purge_fail). */
#include "internal.h"
#include "cairn.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic long fail_after = -1;     /* -1: never fail */
static _Atomic int purge_refused;        /* cairn_test_purge_fail */
static _Atomic uint64_t mapped, peak, n_mmap, n_munmap, n_purge, purged;
static size_t page_size = 4096;         /* what cairn aligns purges to   */
static size_t kernel_page = 4096;       /* what the kernel counts in     */
static unsigned addr_bits = ADDR_BITS;     /* mappings must end below 2^addr_bits */
static unsigned space_bits;                /* user address width seen at start */

/* A power of two in [lo, hi] from a test hook variable, or 0. */
static unsigned long test_hook(const char *name, unsigned long lo, unsigned long hi) {
    const char *s = getenv(name);
    unsigned long v = 0;
    if (!s) return 0;
    for (; *s >= '0' && *s <= '9'; s++) v = v * 10 + (unsigned long)(*s - '0');
    return !*s && v >= lo && v <= hi ? v : 0;
}

/* Promise: reads the kernel's page size (from the auxiliary vector: no
 * system call, no allocation) and the width of the user address space
 * (from where the stack sits: the top of what mmap hands out). Called once
 * from cairn_init. Test hooks pretend a larger page (CAIRN_TEST_PAGE_SIZE,
 * up to 64 KiB) or a smaller address space (CAIRN_TEST_ADDR_BITS). */
void os_init(void) {
    unsigned long p = getauxval(AT_PAGESZ), hook = test_hook("CAIRN_TEST_PAGE_SIZE", 4096, PAGE_SIZE_);
    if (p >= 4096 && is_pow2(p) && p <= PAGE_SIZE_) page_size = kernel_page = p;
    if (hook && is_pow2(hook) && hook > page_size) page_size = hook;
    uintptr_t top = (uintptr_t)__builtin_frame_address(0);
    space_bits = top ? 64u - (unsigned)__builtin_clzl(top) : ADDR_BITS;
    unsigned long bits = test_hook("CAIRN_TEST_ADDR_BITS", 32, ADDR_BITS);
    if (bits) addr_bits = (unsigned)bits;
}

/* Promise: the kernel's page size (or the pretended one), a power of two
 * from 4 KiB to 64 KiB. */
size_t os_page_size(void) { return page_size; }

/* The user address width seen at start, and how much of it cairn maps. */
unsigned os_space_bits(void) { return space_bits; }
unsigned os_map_bits(void) { return addr_bits; }

/* A mapping the segment map cannot describe is given back: memory above
 * 2^addr_bits (a 5-level or 52-bit address space) is never written past
 * the map; such a request fails with ENOMEM instead. */
static bool out_of_map(const void *p, size_t size) {
    uintptr_t end = (uintptr_t)p + size;
    return end < (uintptr_t)p || (end - 1) >> addr_bits;
}

/* Promise: monotonic milliseconds, at most one kernel tick (1-10 ms)
 * behind CLOCK_MONOTONIC. The coarse clock is read from the vDSO without
 * reading the time-stamp counter: about 6 ns instead of 27 here, and page
 * release reads it every time a page empties. Every user of this clock
 * (purge delay, decay epochs, sweeps) works in units of 10 ms or more. */
uint64_t os_clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Promise: lets another thread run (a spinlock holder, say). */
void os_yield(void) { sched_yield(); }

API void cairn_test_os_fail(long after) { atomic_store(&fail_after, after); }
API void cairn_test_purge_fail(int on) { atomic_store(&purge_refused, on != 0); }

/* True when the fault hook says this request must fail. */
static bool injected_failure(void) {
    long n = atomic_load_explicit(&fail_after, memory_order_relaxed);
    while (n >= 0) {
        if (n == 0) return true;
        if (atomic_compare_exchange_weak(&fail_after, &n, n - 1)) return false;
    }
    return false;
}

static void account_map(size_t size) {
    uint64_t now = atomic_fetch_add_explicit(&mapped, size, memory_order_relaxed) + size;
    uint64_t p = atomic_load_explicit(&peak, memory_order_relaxed);
    while (now > p && !atomic_compare_exchange_weak(&peak, &p, now)) {}
    atomic_fetch_add_explicit(&n_mmap, 1, memory_order_relaxed);
}

/* Raw mapping without the fault hook (used after the hook said yes).
 * Not MAP_NORESERVE: the kernel's overcommit policy then judges the
 * request as it judges glibc's, so a size the machine can never back
 * fails here, at the call, rather than later by the OOM killer. */
static void *map_raw(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    if (out_of_map(p, size)) { munmap(p, size); return NULL; }
    return p;
}

/* Promise: `size` (a multiple of 4 KiB) zeroed, readable and writable bytes,
 * page aligned, or NULL with errno ENOMEM. */
void *os_map(size_t size) {
    if (injected_failure()) { errno = ENOMEM; return NULL; }
    void *p = map_raw(size);
    if (!p) { errno = ENOMEM; return NULL; }
    account_map(size);
    return p;
}

/* Promise: advice only. The kernel may back [p, p + size) with
 * transparent huge pages (2 MiB on x86-64) as it faults the range in, or
 * ignore the advice (THP set to "never", or not built in). Nothing else
 * changes: os_purge of part of the range still gives that part back (the
 * kernel splits the huge page first). */
void os_advise_huge(void *p, size_t size) {
#ifdef MADV_HUGEPAGE
    (void)madvise(p, size, MADV_HUGEPAGE);
#else
    (void)p; (void)size;
#endif
}

/* Promise: `size` zeroed bytes at an address x with (x + offset) % align
 * == 0 (align a power of two >= 4 KiB, offset a multiple of 4 KiB), holding
 * no more address space than that; or NULL with errno ENOMEM. Segments and
 * huge blocks come from here, so with CAIRN_THP=1 the range is advised for
 * huge pages (os_advise_huge). */
void *os_map_aligned(size_t size, size_t align, size_t offset) {
    if (injected_failure()) { errno = ENOMEM; return NULL; }
    if (size + align < size) { errno = ENOMEM; return NULL; }
    char *raw = map_raw(size + align);
    if (!raw) { errno = ENOMEM; return NULL; }
    uintptr_t x = align_up((uintptr_t)raw + offset, align) - offset;
    if (x < (uintptr_t)raw) x += align;
    size_t front = x - (uintptr_t)raw, back = align - front;
    if (front) munmap(raw, front);
    if (back) munmap((char *)x + size, back);
    if (cairn_opt.thp) os_advise_huge((void *)x, size);
    account_map(size);
    return (void *)x;
}

/* Promise: the range is unmapped; never fails for ranges from this file. */
void os_unmap(void *p, size_t size) {
    munmap(p, size);
    atomic_fetch_sub_explicit(&mapped, size, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_munmap, 1, memory_order_relaxed);
}

/* Promise: the range stays mapped. On true its physical pages went back
 * to the kernel (MADV_DONTNEED), so RSS drops at once and the range reads
 * back as zeros. On false nothing is promised about its contents: the
 * kernel refuses locked pages (mlock, mlockall) and may have dropped only
 * the part before the first of them, so a caller must not assume zeros. */
bool os_purge(void *p, size_t size) {
    if (!size) return true;
    if (atomic_load_explicit(&purge_refused, memory_order_relaxed)) return false;
    int saved = errno;                   /* free keeps errno, even here */
    bool ok = madvise(p, size, MADV_DONTNEED) == 0;
    errno = saved;
    if (!ok) return false;
    atomic_fetch_add_explicit(&n_purge, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&purged, size, memory_order_relaxed);
    return true;
}

static void account_resize(size_t old_size, size_t new_size) {
    if (new_size >= old_size) account_map(new_size - old_size);
    else atomic_fetch_sub_explicit(&mapped, old_size - new_size, memory_order_relaxed);
}

/* Promise: the mapping at p now spans new_size bytes at the same address
 * (contents kept, growth zeroed), or false and nothing changed. */
bool os_remap_inplace(void *p, size_t old_size, size_t new_size) {
    if (new_size > old_size && (injected_failure() || out_of_map(p, new_size))) return false;
    if (mremap(p, old_size, new_size, 0) == MAP_FAILED) return false;
    account_resize(old_size, new_size);
    return true;
}

/* Promise: the mapping at p moved (pages moved, not copied) to a new
 * address x with x % align == 0, spanning new_size bytes; or NULL, errno
 * ENOMEM, and the old mapping untouched. */
void *os_remap_aligned(void *p, size_t old_size, size_t new_size, size_t align) {
    if (injected_failure()) { errno = ENOMEM; return NULL; }
    char *raw = map_raw(new_size + align);
    if (!raw) { errno = ENOMEM; return NULL; }
    uintptr_t x = align_up((uintptr_t)raw, align);
    size_t front = x - (uintptr_t)raw, back = align - front;
    if (front) munmap(raw, front);
    if (back) munmap((char *)x + new_size, back);
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)x);
    if (q == MAP_FAILED) { munmap((void *)x, new_size); errno = ENOMEM; return NULL; }
    account_resize(old_size, new_size);
    return q;
}

void os_counters(os_totals_t *t) {
    t->mapped = atomic_load(&mapped); t->peak = atomic_load(&peak);
    t->nmmap = atomic_load(&n_mmap); t->nmunmap = atomic_load(&n_munmap);
    t->npurge = atomic_load(&n_purge); t->purged = atomic_load(&purged);
}

/* Resident set size from /proc/self/statm, read without allocating. */
uint64_t os_resident_bytes(void) {
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    const char *s = buf;
    while (*s && *s != ' ') s++;
    uint64_t pages = 0;
    while (*s == ' ') s++;
    while (*s >= '0' && *s <= '9') pages = pages * 10 + (uint64_t)(*s++ - '0');
    return pages * (uint64_t)kernel_page;
}

/* Promise: bytes of the kernel pages that start in [p, p + len) and are
 * resident now (mincore, in steps of 4096 pages; no allocation), so ranges
 * that tile memory never count a page twice. 0 for an unmapped range. */
uint64_t os_resident_in(const void *p, size_t len) {
    unsigned char vec[4096];
    uintptr_t a = align_up((uintptr_t)p, kernel_page), end = (uintptr_t)p + len;
    uint64_t resident = 0;
    while (a < end) {
        size_t pages = (end - a + kernel_page - 1) / kernel_page;
        if (pages > sizeof vec) pages = sizeof vec;
        if (mincore((void *)a, pages * kernel_page, vec) != 0) return resident;
        for (size_t i = 0; i < pages; i++) resident += (vec[i] & 1) ? kernel_page : 0;
        a += pages * kernel_page;
    }
    return resident;
}

/* Promise: the process RSS as /proc/self/smaps_rollup counts it (its Rss
 * line), read without allocating; /proc/self/statm's figure if that file
 * cannot be read. */
uint64_t os_rss_rollup(void) {
    char buf[2048];
    int fd = open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return os_resident_bytes();
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return os_resident_bytes();
    buf[n] = 0;
    const char *s = strstr(buf, "\nRss:");
    if (!s) return os_resident_bytes();
    s += 5;
    while (*s == ' ') s++;
    uint64_t kib = 0;
    while (*s >= '0' && *s <= '9') kib = kib * 10 + (uint64_t)(*s++ - '0');
    return kib * 1024;
}

/* Promise: the pages of [p, p + size) (page aligned) become inaccessible
 * (none) or readable and writable again; false if the kernel refused
 * (too many mappings, say), and then nothing changed. */
/* Promise: the page-aligned range keeps its contents and faults on a
 * write. A page never written stays unpopulated even in a program that
 * locks its memory (a locked read-only page maps the kernel's shared zero
 * page), and read-only private memory is not committed. */
bool os_readonly(void *p, size_t size) {
    return mprotect(p, size, PROT_READ) == 0;
}

/* Promise: the page-aligned range becomes readable and writable with its
 * contents kept; or false (the fault hook; the kernel out of memory or of
 * mappings) and it stays as it was. */
bool os_writable(void *p, size_t size) {
    if (injected_failure()) return false;
    return mprotect(p, size, PROT_READ | PROT_WRITE) == 0;
}

bool os_protect(void *p, size_t size, bool none) {
    return mprotect(p, size, none ? PROT_NONE : PROT_READ | PROT_WRITE) == 0;
}

