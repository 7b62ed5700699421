/* probe: prints which shared object provides malloc and free in this process,
 * so the runner can verify that an LD_PRELOAD really took effect (ld.so only
 * warns and carries on with glibc when a preload cannot be loaded). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    const char *names[] = { "malloc", "free" };
    for (int i = 0; i < 2; i++) {
        Dl_info info;
        void *sym = dlsym(RTLD_DEFAULT, names[i]);
        if (!sym || !dladdr(sym, &info) || !info.dli_fname) {
            printf("%s: unknown\n", names[i]);
            continue;
        }
        printf("%s: %s\n", names[i], info.dli_fname);
    }
    void *p = malloc(100);
    free(p);
    return 0;
}
