"""Allocation-heavy Python workload for cairn's benchmark suite.

Usage: PYTHONMALLOC=malloc PYTHONHASHSEED=0 python3 alloc_heavy.py SCALE

With PYTHONMALLOC=malloc every object allocation goes to malloc/free
(bypassing pymalloc), so this measures the allocator under a real
interpreter: objects, dicts, lists, strings, bytes and JSON round trips.
Prints one deterministic `result:` line.
"""
import json
import sys

scale = int(sys.argv[1]) if len(sys.argv) > 1 else 10
seed = 12345


def rnd(n):
    global seed
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n


class Node:
    __slots__ = ("left", "right", "val")

    def __init__(self, left, right, val):
        self.left, self.right, self.val = left, right, val


def make(d):
    if d == 0:
        return Node(None, None, 1)
    return Node(make(d - 1), make(d - 1), d)


def check(t):
    if t.left is None:
        return t.val
    return t.val + check(t.left) + check(t.right)


# 1. binary trees
nodes = 0
keep = make(12)
for _ in range(scale):
    for d in range(4, 13, 2):
        for _ in range(1 << (12 - d)):
            nodes += check(make(d))
nodes += check(keep)

# 2. dict churn with record dicts and growing lists
db = {}
for i in range(scale * 20000):
    k = "key%d" % rnd(15000)
    r = db.get(k)
    if r is None:
        db[k] = {"id": i, "name": k * 2, "tags": [i % 7, i % 11]}
    elif rnd(3) == 0:
        del db[k]
    else:
        r["tags"].append(i % 13)
        r["name"] += "+"
dsum = 0
for idx, k in enumerate(sorted(db)):
    r = db[k]
    dsum = (dsum + idx * (len(r["name"]) + len(r["tags"]) + r["id"])) % 1000000007

# 3. strings, bytes and JSON round trips
ssum = 0
for i in range(scale * 3):
    rows = [{"n": j, "s": "v" * rnd(50), "l": list(range(rnd(8)))} for j in range(3000)]
    text = json.dumps(rows, sort_keys=True)
    back = json.loads(text)
    joined = "|".join(str(r["n"]) + r["s"] for r in back)
    b = joined.encode().replace(b"vv", b"w")
    ssum = (ssum + len(text) + len(b) + sum(len(r["l"]) for r in back)) % 1000000007

# 4. tuples, sets and comprehension temporaries
tsum = 0
for i in range(scale * 4):
    pairs = [(rnd(1000), str(j)) for j in range(20000)]
    s = {p[0] for p in pairs}
    pairs.sort()
    tsum = (tsum + len(s) + pairs[len(pairs) // 2][0]) % 1000000007

print("result: python nodes=%d dict=%d dsum=%d ssum=%d tsum=%d" % (nodes, len(db), dsum, ssum, tsum))
