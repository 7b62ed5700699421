// t_cxx.cpp: C++ operator new and delete go to cairn with the C++ rules.
// Every form is exported by libcairn.so (checked by the exports test); here
// each one is called through a C++ expression and its block checked:
// alignment, usable size, that cairn's statistics see it, that a failed
// new throws std::bad_alloc (or returns NULL for nothrow), that a
// new-handler runs and can make the retry succeed, and that std containers
// work on top. usage: t_cxx [wrong-sized-delete]  (the misuse case aborts)
#include <cairn.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <vector>
#include <malloc.h>

#define CHECK(c) do { if (!(c)) { std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); std::exit(1); } } while (0)

static int handler_calls;
static void handler() {
    handler_calls++;
    std::set_new_handler(nullptr);     // next failure throws
}

struct alignas(256) Wide { char b[300]; };

static uint64_t live_blocks() {
    cairn_stats_t st;
    cairn_stats_get(&st);
    return st.live_blocks;
}

int main(int argc, char **argv) {
    if (argc > 1 && !std::strcmp(argv[1], "wrong-sized-delete")) {
        void *p = ::operator new(100);
        std::fprintf(stderr, "t_misuse: case wrong-sized-delete, pointer %p\n", (void *)p);
        ::operator delete(p, (size_t)1000000);    // the block is far smaller
        std::fprintf(stderr, "t_cxx: wrong sized delete was NOT detected\n");
        return 0;
    }
    uint64_t l0 = live_blocks();
    int *a = new int(7);
    int *arr = new int[1000];
    Wide *w = new Wide;
    Wide *wa = new Wide[5];
    CHECK(*a == 7 && malloc_usable_size(a) >= sizeof(int) && malloc_usable_size(arr) >= 4000);
    CHECK(((uintptr_t)w & 255) == 0 && ((uintptr_t)wa & 255) == 0);
    CHECK(live_blocks() == l0 + 4);            // cairn served all four
    delete a;
    delete[] arr;
    delete w;
    delete[] wa;
    CHECK(live_blocks() == l0);
    void *p = ::operator new(24, std::nothrow);
    CHECK(p);
    ::operator delete(p, std::nothrow);
    p = ::operator new(5000, std::align_val_t(4096));
    CHECK(p && ((uintptr_t)p & 4095) == 0);
    ::operator delete(p, 5000, std::align_val_t(4096));
    p = ::operator new(40, std::align_val_t(64), std::nothrow);
    CHECK(p && ((uintptr_t)p & 63) == 0);
    ::operator delete(p, std::align_val_t(64), std::nothrow);
    p = ::operator new(100);
    ::operator delete(p, (size_t)100);          // sized delete, right size
    p = ::operator new[](3 << 20);
    ::operator delete[](p, (size_t)(3 << 20));
    // failure: an impossible size throws, nothrow returns NULL
    bool threw = false;
    try { p = ::operator new((size_t)1 << 62); } catch (const std::bad_alloc &) { threw = true; }
    CHECK(threw);
    CHECK(::operator new((size_t)1 << 62, std::nothrow) == nullptr);
    CHECK(::operator new[]((size_t)1 << 62, std::align_val_t(64), std::nothrow) == nullptr);
    // the new-handler runs once, uninstalls itself, then bad_alloc
    std::set_new_handler(handler);
    threw = false;
    try { p = ::operator new((size_t)1 << 62); } catch (const std::bad_alloc &) { threw = true; }
    CHECK(threw && handler_calls == 1);
    // containers on top
    std::map<std::string, std::vector<int>> m;
    for (int i = 0; i < 20000; i++) m[std::to_string(i * 7919 % 10007) + std::string(i % 50, 'x')].push_back(i);
    long sum = 0;
    for (auto &kv : m) for (int v : kv.second) sum += v;
    CHECK(sum == 20000L * 19999 / 2);
    m.clear();
    CHECK(cairn_check_heap(stderr) == 0);
    std::printf("t_cxx: ok\n");
    return 0;
}
