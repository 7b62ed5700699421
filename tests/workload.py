"""Allocation-heavy deterministic workload for the LD_PRELOAD test.
Prints a digest of everything it computed; the output must be identical
with and without cairn preloaded."""
import hashlib
import json
import random
import sys


def main(scale):
    rng = random.Random(20240611)
    digest = hashlib.sha256()
    out = []

    # dicts and lists of mixed-size objects, churned
    table = {}
    for i in range(60000 * scale):
        k = "key-%d-%s" % (rng.randrange(20000), "x" * rng.randrange(0, 40))
        v = [rng.random() for _ in range(rng.randrange(0, 12))]
        if rng.random() < 0.3 and table:
            table.pop(next(iter(table)))
        table[k] = v
    total = sum(len(v) for v in table.values())
    out.append("dict entries=%d values=%d" % (len(table), total))

    # strings: build, join, split, big and small
    parts = []
    for i in range(40000 * scale):
        parts.append(("%x" % rng.getrandbits(64)) * rng.randrange(1, 6))
    big = "|".join(parts)
    digest.update(big.encode())
    pieces = big.split("|")
    out.append("string len=%d pieces=%d" % (len(big), len(pieces)))
    huge = "".join(reversed(pieces)) * 3
    digest.update(hashlib.md5(huge.encode()).digest())
    del huge

    # json round trips of nested structures
    for r in range(30 * scale):
        doc = {
            "id": r,
            "items": [{"n": i, "s": "v" * (i % 50), "f": i / 7.0,
                       "t": [i, str(i), None, True]} for i in range(rng.randrange(100, 2000))],
            "meta": {str(i): list(range(i % 30)) for i in range(200)},
        }
        text = json.dumps(doc, sort_keys=True)
        back = json.loads(text)
        assert back == doc
        digest.update(text.encode())
    out.append("json ok")

    # growing and shrinking lists, bytearrays (realloc paths)
    ba = bytearray()
    for i in range(200000 * scale):
        ba += bytes([i & 255]) * (i % 7)
        if i % 5000 == 0:
            del ba[: len(ba) // 2]
    digest.update(bytes(ba))
    lists = [[j for j in range(i % 500)] for i in range(20000)]
    out.append("lists %d" % sum(map(len, lists)))

    # sets, tuples, sorting
    s = set()
    for i in range(100000 * scale):
        s.add((rng.randrange(1 << 30), "t%d" % (i % 1000)))
    ordered = sorted(s)
    digest.update(repr(ordered[:1000]).encode())
    out.append("set %d" % len(s))

    # large objects (beyond the large heap)
    blobs = [bytes(rng.getrandbits(8) for _ in range(1000)) * (2000 + i) for i in range(8)]
    for b in blobs:
        digest.update(hashlib.sha1(b).digest())

    print("\n".join(out))
    print("digest", digest.hexdigest())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
