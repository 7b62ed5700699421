/* fork in a multi-threaded program: every lock is taken before the fork
 * and released (parent) or re-created (child) after it, so the child never
 * inherits a lock held by a thread that does not exist there. Order:
 * the purger's pass lock, heaps, arenas, huge, segment cache (the order
 * the code nests them). Heap page locks are held only briefly and never
 * across a fork by the forking thread; the purger holds none between
 * passes. */
#include "internal.h"

static void prepare(void) {
    purge_fork_prepare();
    heaps_exit_lock();
    heaps_lock();
    arenas_lock_all();
    huge_lock();
    seg_cache_lock();
}

static void parent(void) {
    seg_cache_unlock();
    huge_unlock();
    arenas_unlock_all();
    heaps_unlock();
    heaps_exit_unlock();
    purge_fork_parent();
}

static void child(void) {
    seg_cache_reinit_child();
    huge_reinit_child();
    arenas_reinit_child();
    heaps_after_fork_child();
    purge_fork_child();
}

void fork_handlers_install(void) { pthread_atfork(prepare, parent, child); }
