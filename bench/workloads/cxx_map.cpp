/* cxx_map: C++ containers on the allocator's fast path.
 *
 * `ops` operations, drawn by a deterministic PRNG, on two containers:
 *   - a std::map<std::string, std::string> whose keys are strings of 8-64
 *     characters (a key is a function of its id among `keys` ids, built one
 *     character at a time with std::string appends, so it grows through
 *     the string's reallocations) and whose values are built from
 *     substrings of the key and a number;
 *   - a std::unordered_map<uint64_t, std::vector<int>> of short vectors
 *     grown by push_back and copied to a fresh vector when they get long.
 * By count: 28% map insert/assign, 12% map erase, 20% map lookup, 12%
 * vector push_back, 8% unordered_map erase, 8% unordered_map lookup, 12%
 * string work (concatenation, substr, appending to a scratch string that
 * is released when it passes 4 KiB). 16 times per run (every `ops/16`
 * operations, half-way through each sixteenth) the map is cleared and
 * rebuilt with an eighth of the ids, and the unordered_map is cleared.
 *
 * A found value must start with the first 4 characters of its key and a
 * vector's elements must carry its key, so corrupted memory fails the run.
 *
 * Parameters: ops=3000000 keys=32768 seed=1
 * Result: operation counts, container sizes and a checksum of what was
 * found and of the final contents (iterated in key order, or summed where
 * the order is unspecified), so it does not depend on the allocator.
 * Metric: ops_per_sec.
 */
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

[[noreturn]] void die(const char *what, const char *detail = "")
{
    std::fprintf(stderr, "error: cxx_map: %s%s\n", what, detail);
    std::fflush(stdout);
    std::_Exit(2);
}

/* key=value parameter, integers with an optional k/m suffix. */
long long param(int argc, char **argv, const char *key, long long def)
{
    size_t kl = std::strlen(key);
    for (int i = 1; i < argc; i++) {
        if (!std::strchr(argv[i], '='))
            die("bad argument (expected key=value): ", argv[i]);
        if (std::strncmp(argv[i], key, kl) != 0 || argv[i][kl] != '=')
            continue;
        char *end;
        long long v = std::strtoll(argv[i] + kl + 1, &end, 0);
        if (*end == 'k' || *end == 'K')
            v <<= 10;
        else if (*end == 'm' || *end == 'M')
            v <<= 20;
        else if (*end)
            die("bad value: ", argv[i]);
        return v;
    }
    return def;
}

uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* xorshift64*, seeded through mix() so that seed 0 works. */
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(mix(seed + 0x9e3779b97f4a7c15ull) | 1) {}
    uint64_t next()
    {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545f4914f6cdd1dull;
    }
    uint64_t below(uint64_t n) { return next() % n; }
};

/* The key of an id: 8-64 letters and digits, appended one at a time. */
std::string key_for(uint64_t id)
{
    static const char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint64_t h = mix(id);
    size_t len = 8 + h % 57;
    std::string k;
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0)
            h = mix(h + i);
        k += alphabet[(h >> (i % 8 * 8)) % 62];
    }
    return k;
}

/* A value: a prefix of the key, a separator, a number, a tail of the key. */
std::string value_for(const std::string &key, uint64_t n)
{
    std::string v = key.substr(0, 4);
    v += ':';
    v += std::to_string(n);
    v.append(key, key.size() / 2, std::string::npos);
    return v;
}

struct Counts {
    uint64_t inserted = 0, erased = 0, found = 0, missed = 0, pushed = 0, rebuilt = 0;
};

class Mix {
public:
    Mix(uint64_t seed, uint64_t nkeys) : rng(seed), keys(nkeys) {}

    void step(uint64_t i)
    {
        uint64_t r = rng.below(100);
        if (r < 28)
            map_insert(i);
        else if (r < 40)
            map_erase();
        else if (r < 60)
            map_lookup();
        else if (r < 72)
            vec_push(i);
        else if (r < 80)
            vec_erase();
        else if (r < 88)
            vec_lookup();
        else
            strings();
    }

    /* Replace both containers by a smaller map (an eighth of the ids). */
    void rebuild(uint64_t i)
    {
        m.clear();
        u.clear();
        for (uint64_t id = 0; id < keys; id += 8) {
            std::string k = key_for(id + i % 8);
            std::string v = value_for(k, i);
            m.emplace(std::move(k), std::move(v));
        }
        c.rebuilt++;
    }

    /* Checksum of the final contents: the map in key order, the
     * unordered_map as an order-independent sum. */
    uint64_t contents() const
    {
        uint64_t h = 0;
        for (const auto &kv : m)
            h = mix(h ^ std::hash<std::string>()(kv.first)) + kv.second.size();
        uint64_t s = 0;
        for (const auto &kv : u) {
            uint64_t e = kv.first;
            for (int x : kv.second)
                e = mix(e + (uint64_t)(unsigned)x);
            s += e;
        }
        return mix(h) ^ s;
    }

    Rng rng;
    uint64_t keys;
    uint64_t sum = 0;
    Counts c;
    std::map<std::string, std::string> m;
    std::unordered_map<uint64_t, std::vector<int>> u;
    std::string scratch;

private:
    void map_insert(uint64_t i)
    {
        std::string k = key_for(rng.below(keys));
        std::string v = value_for(k, i);
        m[k] = std::move(v);
        c.inserted++;
    }

    void map_erase() { c.erased += m.erase(key_for(rng.below(keys))); }

    void map_lookup()
    {
        std::string k = key_for(rng.below(keys));
        auto it = m.find(k);
        if (it == m.end()) {
            c.missed++;
            return;
        }
        if (it->second.compare(0, 4, k, 0, 4) != 0 || it->second[4] != ':')
            die("a map value does not match its key: ", it->second.c_str());
        sum = mix(sum + it->second.size() + (unsigned char)it->second.back());
        c.found++;
    }

    /* Vector elements carry their key in the high bits. */
    static int element(uint64_t key, uint64_t i) { return (int)((key & 0x7fff) << 16 | (i & 0xffff)); }

    void vec_push(uint64_t i)
    {
        uint64_t key = rng.below(keys / 2);
        std::vector<int> &v = u[key];
        v.push_back(element(key, i));
        if (v.size() > 48)  /* keep the newer half, in a fresh vector */
            std::vector<int>(v.begin() + 24, v.end()).swap(v);
        c.pushed++;
    }

    void vec_erase() { c.erased += u.erase(rng.below(keys / 2)); }

    void vec_lookup()
    {
        uint64_t key = rng.below(keys / 2);
        auto it = u.find(key);
        if (it == u.end()) {
            c.missed++;
            return;
        }
        uint64_t h = it->second.size();
        for (int x : it->second) {
            if ((uint64_t)(x >> 16) != (key & 0x7fff))
                die("a vector element does not carry its key");
            h = mix(h + (unsigned)x);
        }
        sum += h;
        c.found++;
    }

    void strings()
    {
        std::string a = key_for(rng.below(keys)) + "/" + key_for(rng.below(keys));
        size_t from = rng.below(a.size()), len = 1 + rng.below(24);
        std::string piece = a.substr(from, len);
        scratch += piece;
        scratch += '|';
        if (scratch.size() > 4096) {
            sum = mix(sum ^ std::hash<std::string>()(scratch));
            std::string().swap(scratch);  /* release, so it grows again */
        }
    }
};

} // namespace

int main(int argc, char **argv)
{
    long long ops = param(argc, argv, "ops", 3000000);
    long long keys = param(argc, argv, "keys", 32768);
    long long seed = param(argc, argv, "seed", 1);
    if (ops < 1 || keys < 16)
        die("bad parameters (need ops >= 1, keys >= 16)");
    uint64_t every = (uint64_t)ops / 16 > 0 ? (uint64_t)ops / 16 : 1;

    auto t0 = std::chrono::steady_clock::now();
    Mix w((uint64_t)seed, (uint64_t)keys);
    for (uint64_t i = 0; i < (uint64_t)ops; i++) {
        w.step(i);
        if (i % every == every / 2)
            w.rebuild(i);
    }
    uint64_t check = mix(w.sum) ^ w.contents();
    size_t msize = w.m.size(), usize = w.u.size();
    w.m.clear();
    w.u.clear();
    auto t1 = std::chrono::steady_clock::now();

    double secs = std::chrono::duration<double>(t1 - t0).count();
    std::printf("result: cxx-map ops=%lld inserted=%" PRIu64 " erased=%" PRIu64
                " found=%" PRIu64 " missed=%" PRIu64 " pushed=%" PRIu64 " rebuilt=%" PRIu64
                " map=%zu umap=%zu sum=%016" PRIx64 "\n",
                ops, w.c.inserted, w.c.erased, w.c.found, w.c.missed, w.c.pushed, w.c.rebuilt,
                msize, usize, check);
    std::printf("metric: ops_per_sec=%.0f seconds=%.3f\n", (double)ops / secs, secs);
    return 0;
}
