/* Process initialisation. cairn_init() runs on the first allocation of the
 * process, which may come before any constructor (from the dynamic loader
 * or libc start-up), so it allocates nothing and calls nothing that might. */
#include "internal.h"
#include "cairn.h"
#include <sys/auxv.h>
#include <string.h>
#include <fcntl.h>

uintptr_t cairn_key;
static _Atomic int init_state;           /* 0 no, 1 running, 2 done */
static _Atomic bool constructed;         /* the library constructor ran */

bool cairn_main_running(void) { return atomic_load_explicit(&constructed, memory_order_relaxed); }

/* The cookie secret comes from the kernel's AT_RANDOM bytes: no syscall,
 * no allocation, different in every process. */
static void key_init(void) {
    uintptr_t k = 0;
    const void *rnd = (const void *)getauxval(AT_RANDOM);
    if (rnd) memcpy(&k, rnd, sizeof k);
    k ^= (uintptr_t)&k * 0x9E3779B97F4A7C15ull;   /* mix in ASLR if absent */
    cairn_key = k | 1;
}

void cairn_init(void) {
    int s = atomic_load_explicit(&init_state, memory_order_acquire);
    if (likely(s == 2)) return;
    s = 0;
    if (atomic_compare_exchange_strong(&init_state, &s, 1)) {
        key_init();
        os_init();
        segmap_init();
        sizeclass_init();
        options_init();
        arenas_init();
        atomic_store_explicit(&init_state, 2, memory_order_release);
        return;
    }
    while (atomic_load_explicit(&init_state, memory_order_acquire) != 2) {}
}

/* Work that may allocate is done in a constructor, once libc is up. */
/* Programs may close stderr before exit (coreutils do), so the exit
 * report goes to a copy of fd 2 taken at start. */
static int report_fd = -1;

__attribute__((constructor)) static void cairn_constructor(void) {
    cairn_init();
    fork_handlers_install();
    if (cairn_opt.verbose) cairn_options_print(stderr);
    if (cairn_opt.stats) report_fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
    atomic_store(&constructed, true);
}

__attribute__((destructor)) static void cairn_destructor(void) {
    if (!cairn_opt.stats) return;
    FILE *f = report_fd >= 0 ? fdopen(report_fd, "w") : NULL;
    stats_at_exit(f ? f : stderr);
    if (f) fclose(f);
}
