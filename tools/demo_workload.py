#!/usr/bin/env python3
"""Allocation-heavy demo workload for `make run`.

A small, self-contained program that does the kind of work real Python
programs do -- text processing, JSON, graphs, string building, sorting,
compression, caching -- and therefore calls malloc, realloc and free
millions of times with a wide mix of sizes and lifetimes.

Everything is seeded, and nothing printed depends on hash order, addresses or
timing, so stdout is byte-for-byte identical under any allocator. Run it
under cairn with

    make run
    LD_PRELOAD=build/libcairn.so CAIRN_STATS=1 PYTHONMALLOC=malloc \
        python3 tools/demo_workload.py

(PYTHONMALLOC=malloc makes CPython send its small objects to malloc instead
of its own pool allocator, so the allocator under test sees all of them.)

Usage: demo_workload.py [--scale F] [--time]
  --scale F   multiply the amount of work by F (default 1.0, about 2-5 s)
  --time      also report per-phase wall time on stderr
"""

import argparse
import collections
import hashlib
import heapq
import io
import json
import random
import sys
import time
import zlib

SEED = 20240611


class Digest:
    """Running digest of every phase's results (printed at the end)."""

    def __init__(self):
        self._h = hashlib.sha256()

    def add(self, *values):
        for v in values:
            self._h.update(repr(v).encode())
            self._h.update(b"\x00")

    def hexdigest(self):
        return self._h.hexdigest()[:16]


# --------------------------------------------------------------------------
# phase 1: generated text, word frequencies and an inverted index
# --------------------------------------------------------------------------
SYLLABLES = ("ka", "ro", "mi", "ten", "sul", "va", "dor", "pe", "lin", "qua",
             "zu", "bar", "ne", "fol", "gri", "ost", "ua", "hem", "ti", "sca")


def make_vocabulary(rng, size):
    words = set()
    while len(words) < size:
        n = rng.choice((1, 2, 2, 3, 3, 4))
        words.add("".join(rng.choice(SYLLABLES) for _ in range(n)))
    return sorted(words)


def make_documents(rng, vocab, count):
    # Zipf-like: low ranks are much more common than high ones.
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    cum = list(weights)
    for i in range(1, len(cum)):
        cum[i] += cum[i - 1]
    docs = []
    for doc_id in range(count):
        sentences = []
        for _ in range(rng.randint(3, 12)):
            n = rng.randint(4, 18)
            words = rng.choices(vocab, cum_weights=cum, k=n)
            sentence = " ".join(words)
            sentences.append(sentence[0].upper() + sentence[1:] + ".")
        docs.append({"id": doc_id,
                     "title": " ".join(rng.choices(vocab, k=3)).title(),
                     "body": " ".join(sentences)})
    return docs


def phase_text(rng, scale, digest):
    vocab = make_vocabulary(rng, 4000)
    rng.shuffle(vocab)              # frequency rank unrelated to spelling
    docs = make_documents(rng, vocab, int(3500 * scale))
    freq = collections.Counter()
    index = collections.defaultdict(list)          # word -> [doc ids]
    bigrams = collections.Counter()
    total_words = 0
    for doc in docs:
        words = [w.strip(".").lower() for w in doc["body"].split()]
        total_words += len(words)
        freq.update(words)
        for w in set(words):
            index[w].append(doc["id"])
        bigrams.update(zip(words, words[1:]))
    # Sort with explicit tie-breaks so the result never depends on hash order.
    top = sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    top_bigram = min(bigrams.items(), key=lambda kv: (-kv[1], kv[0]))
    # Query the index: documents containing all of three common words.
    q = [w for w, _ in top[:3]]
    hits = set(index[q[0]]).intersection(index[q[1]], index[q[2]])
    digest.add(total_words, len(freq), top, top_bigram, len(hits))
    summary = (f"text:   {len(docs)} documents, {total_words} words, "
               f"{len(freq)} distinct; top: "
               + ", ".join(f"{w}={c}" for w, c in top[:3])
               + f"; {len(hits)} docs contain all of {'/'.join(q)}")
    return summary, docs


# --------------------------------------------------------------------------
# phase 2: JSON round trips
# --------------------------------------------------------------------------
def phase_json(rng, scale, digest, docs):
    records = []
    for doc in docs:
        words = doc["body"].split()
        records.append({
            "id": doc["id"],
            "title": doc["title"],
            "length": len(words),
            "tags": sorted({w.strip(".").lower() for w in words[:8]}),
            "score": round(rng.random() * 100, 3),
            "meta": {"parent": doc["id"] // 7, "flags": [doc["id"] % k == 0
                                                          for k in (2, 3, 5)]},
        })
    rounds = max(1, int(6 * scale))
    total_bytes = 0
    for r in range(rounds):
        text = json.dumps(records, sort_keys=True, indent=None if r % 2 else 1)
        total_bytes += len(text)
        back = json.loads(text)
        if back != records:
            raise SystemExit("json round trip mismatch")
        # Mutate a little so the next round serialises something new.
        for rec in back[r::5]:
            rec["score"] = round(rec["score"] * 0.5 + r, 3)
            rec["tags"].append(f"round{r}")
        records = back
    check = hashlib.sha256(json.dumps(records, sort_keys=True).encode())
    digest.add(total_bytes, check.hexdigest())
    return (f"json:   {rounds} round trips of {len(records)} records, "
            f"{total_bytes / 1e6:.1f} MB of JSON text, all equal")


# --------------------------------------------------------------------------
# phase 3: dict-of-lists graph, BFS, components, shortest paths
# --------------------------------------------------------------------------
def phase_graph(rng, scale, digest):
    n = int(60000 * scale)
    graph = {v: [] for v in range(n)}
    edges = 0
    # A few dense communities plus sparse random links between them.
    for v in range(n):
        for _ in range(rng.randint(0, 3)):
            u = (v + rng.randint(1, 50)) % n if rng.random() < 0.9 \
                else rng.randrange(n)
            if u != v:
                graph[v].append(u)
                graph[u].append(v)
                edges += 1
    # BFS from 0.
    dist = {0: 0}
    queue = collections.deque([0])
    while queue:
        v = queue.popleft()
        for u in graph[v]:
            if u not in dist:
                dist[u] = dist[v] + 1
                queue.append(u)
    ecc = max(dist.values())
    hist = collections.Counter(dist.values())
    # Connected components.
    seen = set()
    sizes = []
    for s in range(n):
        if s in seen:
            continue
        seen.add(s)
        stack, size = [s], 0
        while stack:
            v = stack.pop()
            size += 1
            for u in graph[v]:
                if u not in seen:
                    seen.add(u)
                    stack.append(u)
        sizes.append(size)
    sizes.sort(reverse=True)
    # Dijkstra with integer weights from a heap of tuples.
    wdist = {0: 0}
    heap = [(0, 0)]
    while heap:
        d, v = heapq.heappop(heap)
        if d > wdist.get(v, d):
            continue
        for u in graph[v]:
            nd = d + 1 + (u * 31 + v * 17) % 9
            if nd < wdist.get(u, nd + 1):
                wdist[u] = nd
                heapq.heappush(heap, (nd, u))
    far = max(wdist.items(), key=lambda kv: (kv[1], -kv[0]))
    digest.add(edges, len(dist), ecc, sorted(hist.items()), sizes[:5],
               len(sizes), far)
    return (f"graph:  {n} nodes, {edges} edges; BFS reached {len(dist)} "
            f"nodes, eccentricity {ecc}; {len(sizes)} components "
            f"(largest {sizes[0]}); weighted farthest node {far[0]} at {far[1]}")


# --------------------------------------------------------------------------
# phase 4: string building, compression, byte buffers
# --------------------------------------------------------------------------
def phase_strings(rng, scale, digest, docs):
    # Build a large report three ways: repeated +=, join, and StringIO.
    lines = []
    for doc in docs:
        lines.append(f"{doc['id']:06d} | {doc['title']:<40.40} | "
                     f"{len(doc['body']):5d} chars")
    joined = "\n".join(lines)
    buf = io.StringIO()
    for line in lines:
        buf.write(line)
        buf.write("\n")
    streamed = buf.getvalue()
    acc = ""
    for line in lines[: int(4000 * scale)]:
        acc += line + "\n"            # quadratic in theory; realloc in practice
    if not streamed.startswith(acc) or streamed[:-1] != joined:
        raise SystemExit("string building mismatch")
    # A growing bytearray (realloc-heavy), then compress and decompress.
    blob = bytearray()
    for doc in docs:
        blob += doc["body"].encode()
        blob += b"\n"
    packed = zlib.compress(bytes(blob), 6)
    if zlib.decompress(packed) != blob:
        raise SystemExit("zlib round trip mismatch")
    # Many short-lived strings: replace/split/upper over every document.
    vowels = 0
    for doc in docs:
        s = doc["body"].replace("a", "4").replace("e", "3").upper()
        vowels += sum(len(part) for part in s.split("O"))
    digest.add(len(joined), len(blob), zlib.crc32(packed), vowels)
    return (f"string: {len(lines)} report lines ({len(joined) / 1e6:.2f} MB), "
            f"{len(blob) / 1e6:.2f} MB text compressed to "
            f"{len(packed) / 1e6:.2f} MB and back")


# --------------------------------------------------------------------------
# phase 5: sorting and an LRU cache (allocation churn)
# --------------------------------------------------------------------------
def phase_sort_cache(rng, scale, digest):
    n = int(300000 * scale)
    rows = [(rng.randrange(1000), rng.random(), f"k{rng.randrange(10**6):06d}")
            for _ in range(n)]
    by_tuple = sorted(rows)
    by_key = sorted(rows, key=lambda r: (r[2], -r[0]))
    by_str = sorted(str(r[1]) for r in rows[: n // 3])
    # LRU cache of computed lists: constant insert/evict churn.
    cap = 2000
    cache = collections.OrderedDict()
    hits = misses = 0
    for _ in range(int(120000 * scale)):
        k = min(int(rng.expovariate(1 / 1500)), 19999)
        if k in cache:
            cache.move_to_end(k)
            hits += 1
        else:
            misses += 1
            cache[k] = [k * i for i in range(k % 64)]
            if len(cache) > cap:
                cache.popitem(last=False)
    digest.add(by_tuple[0], by_tuple[-1], by_key[0], by_key[-1], by_str[0],
               hits, misses)
    return (f"sort:   {n} rows sorted three ways; LRU cache of {cap}: "
            f"{hits} hits, {misses} misses")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="amount of work (default 1.0)")
    ap.add_argument("--time", action="store_true",
                    help="report per-phase wall time on stderr")
    args = ap.parse_args()
    if args.scale <= 0:
        ap.error("--scale must be positive")

    rng = random.Random(SEED)
    digest = Digest()
    print("cairn demo workload: text index, JSON, graph search, strings, "
          "sorting")
    t_start = time.perf_counter()

    def timed(name, fn, *a):
        t0 = time.perf_counter()
        result = fn(*a)
        if args.time:
            print(f"  [{name}: {time.perf_counter() - t0:.2f} s]",
                  file=sys.stderr)
        return result

    line, docs = timed("text", phase_text, rng, args.scale, digest)
    print(" ", line)
    print(" ", timed("json", phase_json, rng, args.scale, digest, docs))
    print(" ", timed("graph", phase_graph, rng, args.scale, digest))
    print(" ", timed("strings", phase_strings, rng, args.scale, digest, docs))
    print(" ", timed("sort", phase_sort_cache, rng, args.scale, digest))
    print(f"result digest {digest.hexdigest()} "
          "(identical under every allocator)")
    if args.time:
        print(f"  [total: {time.perf_counter() - t_start:.2f} s]",
              file=sys.stderr)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
