/* t_exitdtor.c: a thread-exit destructor of the program that allocates
 * after cairn's own exit hook has run must not strand a heap. Each thread
 * allocates (so cairn's exit hook is armed), then its own key destructor,
 * created after cairn's key (so it runs after cairn's hook), allocates,
 * uses and frees memory, and re-arms itself a few times (destructor
 * rounds). After all threads are gone every heap but the main thread's
 * (and the one shared by exiting threads) must be back in the pool. */
#include "testutil.h"
#include <pthread.h>
#include <stdatomic.h>

static pthread_key_t key;
static _Atomic int dtor_runs;

static void dtor(void *v)
{
    uintptr_t round = (uintptr_t)v;
    char *p = A_malloc(200 + round * 1000);
    CHECK(p);
    memset(p, (int)round, 200);
    char *q = A_malloc(50000);                      /* a large block too */
    CHECK(q);
    A_free(p);
    A_free(q);
    atomic_fetch_add(&dtor_runs, 1);
    if (round < 4) pthread_setspecific(key, (void *)(round + 1));   /* glibc runs 4 rounds */
}

static void *worker(void *arg)
{
    (void)arg;
    void *p = A_malloc(64);                         /* the thread gets a heap */
    CHECK(p);
    A_free(p);
    pthread_setspecific(key, (void *)1);
    return NULL;
}

int main(void)
{
    watchdog(60);
    A_free(A_malloc(10));                           /* cairn's key exists now */
    CHECK(pthread_key_create(&key, dtor) == 0);     /* created after it */
    for (int i = 0; i < 300; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
        CHECK(pthread_join(t, NULL) == 0);
    }
    cairn_stats_t st;
    cairn_stats_get(&st);
    fprintf(stderr, "t_exitdtor: %d destructor runs, %" PRIu64 " heaps, %" PRIu64 " pooled\n",
            atomic_load(&dtor_runs), st.heaps, st.abandoned_heaps);
    CHECK(atomic_load(&dtor_runs) == 300 * 4);
    CHECK(st.heaps <= st.abandoned_heaps + 2, "%" PRIu64 " heaps are active with no thread",
          st.heaps - st.abandoned_heaps - 1);
    CHECK(st.heaps <= 8, "%" PRIu64 " heaps for one thread at a time", st.heaps);
    CHECK(heap_check_ok());
    printf("t_exitdtor: ok\n");
    return 0;
}
