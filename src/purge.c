/* When memory goes back to the kernel: the decay policy, the ride-along
 * tick on slow paths and the background purger.
 *
 * Every pool of free, possibly resident memory (a heap's free pages, an
 * arena's free blocks, the segment cache, the huge-mapping cache) keeps a
 * decay_t: its dirty bytes and the lowest they have been in each of the
 * last DECAY_EPOCHS epochs, where an epoch is CAIRN_PURGE_DELAY /
 * DECAY_EPOCHS. Memory that stayed dirty through the whole window was not
 * needed by the program in that time, so that much goes back, oldest
 * first, and nothing freed within the last epoch. A program that keeps
 * reusing what it frees draws its pools down every window, so it stops
 * purging and refaulting (the low-water mark is the hysteresis); one that
 * goes quiet gets everything back after one window.
 *
 * Purging runs from a background thread, started the first time a thread
 * sees enough dirty memory (CAIRN_BACKGROUND=0 turns it off); without it
 * the same passes ride on slow paths: a heap purges its own pages, and
 * once an epoch some slow path purges the shared pools. Each pool takes its
 * own lock only to pick and take out what it purges; madvise and munmap run
 * with no lock held. */
#include "internal.h"
#include <errno.h>
#include <signal.h>
#include <time.h>

#define BG_START_DIRTY ((uint64_t)8 << 20)  /* dirty bytes that start the purger */
#define BG_IDLE_WAIT_MS 60000               /* nothing dirty: sleep until woken  */

/* ---- the policy -------------------------------------------------------------- */
uint64_t purge_epoch_ms(void) { return (uint64_t)cairn_opt.purge_delay_ms / DECAY_EPOCHS; }

uint64_t decay_target(decay_t *d, uint64_t now, bool force) {
    if (force || cairn_opt.purge_delay_ms == 0) return d->dirty;
    if (now < d->epoch_end) return 0;
    uint64_t low = d->dirty;
    for (unsigned i = 0; i < DECAY_EPOCHS; i++) low = d->low[i] < low ? d->low[i] : low;
    if (d->epoch_end == 0) low = 0;         /* a pool's first epoch: no history */
    d->cur = (d->cur + 1) % DECAY_EPOCHS;
    d->low[d->cur] = d->dirty;
    STORE_RELAXED(d->epoch_end, now + purge_epoch_ms());
    return low;
}

void decay_purged(decay_t *d, uint64_t n) {
    for (unsigned i = 0; i < DECAY_EPOCHS; i++) d->low[i] = d->low[i] > n ? d->low[i] - n : 0;
}

/* One pass over every pool. Heaps are found on the append-only heap list;
 * a heap whose owner holds its page lock is skipped unless forced. */
static void purge_pass(uint64_t now, bool force) {
    heaps_reclaim_pooled(force);
    for (heap_t *h = heaps_first(); h; h = h->next_all) heap_purge(h, now, force, force);
    arenas_purge(now, force);
    seg_cache_purge(now, force);
    huge_cache_purge(now, force);
}

void purge_all(bool force) { purge_pass(os_clock_ms(), force); }

/* ---- the background purger ---------------------------------------------------- */
enum { BG_OFF, BG_STARTING, BG_RUNNING, BG_FAILED };
static _Atomic int bg_state;
static _Atomic int bg_sleeping;            /* waiting with nothing to do */
/* Held by the purger while it works (not while it waits), and by fork's
 * prepare handler, so a fork never happens in the middle of a pass. */
static pthread_mutex_t bg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bg_cv;

bool purge_thread_running(void) { return atomic_load(&bg_state) == BG_RUNNING; }

static uint64_t shared_dirty_hint(void) {
    return arenas_dirty_hint() + huge_cache_dirty_hint();
}

static bool any_dirty(void) {
    if (shared_dirty_hint()) return true;
    uint64_t n, d;
    seg_cache_stats(&n, &d);
    if (d) return true;
    for (heap_t *h = heaps_first(); h; h = h->next_all)
        if (LOAD_RELAXED(h->decay.dirty)) return true;
    return false;
}

static void wait_ms(uint64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    pthread_cond_timedwait(&bg_cv, &bg_mu, &ts);
}

static void *purger_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&bg_mu);
    for (;;) {
        uint64_t now = os_clock_ms();
        purge_pass(now, false);
        ledger_sample_due(now);
        uint64_t wait = purge_epoch_ms();
        if (cairn_opt.stats_interval_ms && (uint64_t)cairn_opt.stats_interval_ms < wait)
            wait = (uint64_t)cairn_opt.stats_interval_ms;
        if (any_dirty() || cairn_opt.stats_interval_ms) {
            wait_ms(wait ? wait : 1);
            continue;
        }
        atomic_store(&bg_sleeping, 1);
        wait_ms(BG_IDLE_WAIT_MS);
        atomic_store(&bg_sleeping, 0);
    }
    return NULL;
}

/* The purger has nothing to do and sleeps: dirty memory appeared. */
static void wake_purger(void) {
    int one = 1;
    if (!atomic_load_explicit(&bg_sleeping, memory_order_relaxed) ||
        !atomic_compare_exchange_strong(&bg_sleeping, &one, 0))
        return;
    pthread_mutex_lock(&bg_mu);
    pthread_cond_signal(&bg_cv);
    pthread_mutex_unlock(&bg_mu);
}

/* Start the purger: once, from a slow path, after main began. It never
 * receives the program's signals. pthread_create may allocate; its calls
 * back into cairn see BG_STARTING and only ride along. */
static void start_purger(void) {
    int off = BG_OFF;
    if (!atomic_compare_exchange_strong(&bg_state, &off, BG_STARTING)) return;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&bg_cv, &ca);
    pthread_condattr_destroy(&ca);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int saved = errno;
    int rc = pthread_create(&t, &attr, purger_main, NULL);
    errno = saved;
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) pthread_setname_np(t, "cairn-purge");
    atomic_store(&bg_state, rc == 0 ? BG_RUNNING : BG_FAILED);
}

/* ---- the tick on slow paths ------------------------------------------------------ */
static _Atomic uint64_t next_shared_pass;

/* Enough dirty memory to matter, as far as this thread can see cheaply. */
static bool worth_a_purger(heap_t *h) {
    uint64_t d = shared_dirty_hint() + (h ? LOAD_RELAXED(h->decay.dirty) : 0);
    return d >= BG_START_DIRTY && cairn_main_running();
}

/* With no purge delay the freeing thread purges at once, and no purger
 * thread is started: memory must be back when free returns. */
void purge_tick(heap_t *h, uint64_t now) {
    int st = atomic_load_explicit(&bg_state, memory_order_relaxed);
    bool now_only = cairn_opt.purge_delay_ms == 0;
    if (st == BG_RUNNING && !now_only) { wake_purger(); return; }
    bool sampling = cairn_opt.stats_interval_ms && cairn_main_running();
    if (st == BG_OFF && cairn_opt.background && !now_only && (sampling || worth_a_purger(h))) {
        start_purger();
        if (purge_thread_running()) return;
    }
    if (h && now >= LOAD_RELAXED(h->decay.epoch_end)) heap_purge(h, now, false, true);
    uint64_t due = atomic_load_explicit(&next_shared_pass, memory_order_relaxed);
    if (now >= due && atomic_compare_exchange_strong(&next_shared_pass, &due, now + purge_epoch_ms()))
        purge_pass(now, false);
}

/* ---- fork ------------------------------------------------------------------------ */
void purge_fork_prepare(void) { pthread_mutex_lock(&bg_mu); }
void purge_fork_parent(void) { pthread_mutex_unlock(&bg_mu); }
/* The purger does not exist in the child: it starts again when needed. */
void purge_fork_child(void) {
    pthread_mutex_init(&bg_mu, NULL);
    atomic_store(&bg_sleeping, 0);
    atomic_store(&bg_state, BG_OFF);
}
