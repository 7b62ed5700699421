/* A threaded program for the trace tests (tests/t_trace.sh) to record:
 * threads allocate with every entry point, free their own blocks and each
 * other's (through a shared mailbox), realloc their own and each other's.
 * It uses the standard names only and links no allocator, so it runs on
 * whatever malloc is preloaded.
 *
 * usage: t_trace_prog [threads [rounds [mode]]]
 *   mode "fork":      the main thread forks while the others run; the child
 *                     allocates 12345678 bytes (a size nothing else asks
 *                     for) and exits through exit(), running destructors.
 *   mode "busy-exit": a detached thread keeps allocating while main exits.
 * Prints "calls: N", the allocation calls this program made itself. */
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS   64
#define MAILBOX 256

static _Atomic uint64_t calls;
static pthread_mutex_t mail_lock = PTHREAD_MUTEX_INITIALIZER;
static void *mail[MAILBOX];
static size_t mail_n;
static void (*free_sized_fn)(void *, size_t);

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Mostly small sizes, some large, a few huge (above 2 MiB). */
static size_t pick_size(uint64_t *s) {
    uint64_t r = rnd(s) % 1000;
    if (r < 900) return (size_t)(rnd(s) % 512);
    if (r < 995) return (size_t)(rnd(s) % 100000);
    return (size_t)(2u << 20) + (size_t)(rnd(s) % (1u << 20));
}

/* Hand p to another thread; take one back to free or grow, remotely. */
static void post(void *p, uint64_t *s) {
    void *got = NULL;
    pthread_mutex_lock(&mail_lock);
    if (mail_n == MAILBOX || (mail_n && rnd(s) % 2)) got = mail[--mail_n];
    if (mail_n < MAILBOX) mail[mail_n++] = p;
    else { pthread_mutex_unlock(&mail_lock); free(p); calls++; return; }
    pthread_mutex_unlock(&mail_lock);
    if (!got) return;
    if (rnd(s) % 4 == 0) {
        void *q = realloc(got, 64 + rnd(s) % 256);
        calls++;
        if (!q) abort();
        got = q;
    }
    free(got);
    calls++;
}

static void *alloc_one(uint64_t *s, size_t size) {
    void *p = NULL;
    switch (rnd(s) % 10) {
    case 0: p = calloc(size / 8 + 1, 8); break;
    case 1: p = memalign((size_t)32 << (rnd(s) % 6), size); break;
    case 2: p = aligned_alloc(64, (size + 63) & ~(size_t)63); break;
    case 3: if (posix_memalign(&p, (size_t)16 << (rnd(s) % 8), size) != 0) p = NULL; break;
    case 4: p = rnd(s) % 2 ? valloc(size) : pvalloc(size); break;
    case 5: p = reallocarray(NULL, size / 4 + 1, 4); break;
    default: p = malloc(size); break;
    }
    calls++;
    if (!p && size) abort();
    if (p) memset(p, 0x5a, size < 64 ? size : 64);
    return p;
}

static void work(uint64_t seed, int rounds) {
    void *slot[SLOTS] = { 0 };
    size_t len[SLOTS] = { 0 };
    uint64_t s = seed | 1;
    for (int i = 0; i < rounds; i++) {
        int k = (int)(rnd(&s) % SLOTS);
        if (!slot[k]) {
            len[k] = pick_size(&s);
            slot[k] = alloc_one(&s, len[k]);
            continue;
        }
        switch (rnd(&s) % 6) {
        case 0: {                              /* grow or shrink */
            size_t n = pick_size(&s) + 1;
            void *q = realloc(slot[k], n);
            calls++;
            if (!q) abort();
            slot[k] = q;
            len[k] = n;
            break;
        }
        case 1:
            post(slot[k], &s);             /* counts the frees it makes */
            slot[k] = NULL;
            break;
        case 2:
            if (free_sized_fn) free_sized_fn(slot[k], len[k]);
            else free(slot[k]);
            calls++;
            slot[k] = NULL;
            break;
        default:
            free(slot[k]);
            calls++;
            slot[k] = NULL;
            break;
        }
    }
    for (int k = 0; k < SLOTS; k++)
        if (slot[k]) { free(slot[k]); calls++; }
}

typedef struct arg { uint64_t seed; int rounds; } arg_t;

static void *thread_main(void *p) {
    arg_t *a = p;
    work(a->seed, a->rounds);
    return NULL;
}

static void *busy(void *p) {
    (void)p;
    uint64_t s = 99;
    for (;;) {
        void *q = malloc(pick_size(&s) % 4096);
        free(q);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int nthreads = argc > 1 ? atoi(argv[1]) : 4;
    int rounds = argc > 2 ? atoi(argv[2]) : 20000;
    const char *mode = argc > 3 ? argv[3] : "";
    if (nthreads < 1 || nthreads > 64) nthreads = 4;
    free_sized_fn = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    pthread_t th[64];
    arg_t args[64];
    for (int i = 0; i < nthreads; i++) {
        args[i].seed = 0x1234567ull * (uint64_t)(i + 1);
        args[i].rounds = rounds;
        if (pthread_create(&th[i], NULL, thread_main, &args[i]) != 0) return 1;
    }
    if (!strcmp(mode, "fork")) {
        pid_t pid = fork();
        if (pid == 0) {
            void *p = malloc(12345678);
            memset(p, 1, 4096);
            free(p);
            exit(0);                           /* destructors run in the child */
        }
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return 2;
    }
    work(0xabcdefull, rounds);
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
    while (mail_n) { free(mail[--mail_n]); calls++; }
    if (!strcmp(mode, "busy-exit")) {
        pthread_t b;
        pthread_create(&b, NULL, busy, NULL);
        pthread_detach(b);
        usleep(20000);
    }
    printf("calls: %llu\n", (unsigned long long)calls);
    return 0;
}
