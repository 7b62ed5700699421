"""Workload definitions for cairn's benchmark runner (bench/run.py).

Two kinds:
  * CWorkload: one of our C (or C++) programs in bench/workloads/, built
    into build/bench/. It prints `result: ...` (compared across
    allocators), `metric: k=v ...` lines (reported, not compared) and
    optionally a `timeline: ms:kib ...` line (its own RSS over time,
    charted by report.py).
  * Program workloads: real programs from Debian packages (redis, rocksdb's
    db_bench, z3, ghostscript, lua, python, sqlite, gcc), installed with
    apt-get when missing, run on inputs generated deterministically under
    build/bench/inputs/. Their "result" is a digest of what they produced
    (query output, rendered pages, generated assembly, dataset digest ...).

Every workload has parameters for three modes: "full" (a few seconds per
run), "quick" (a fraction of a second) and "smoke" (tiny).
"""

import hashlib
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench"
INPUTS = BUILD / "inputs"
PROGRAMS = ROOT / "bench" / "programs"


class Skip(Exception):
    """The workload cannot run here (e.g. its package cannot be installed)."""


class Outcome:
    """One run: status is 'ok' or a failure description."""

    def __init__(self, status="ok", wall=None, maxrss_kib=None, result=None,
                 metrics=None, detail="", timeline=None):
        self.status = status
        self.wall = wall
        self.maxrss_kib = maxrss_kib
        self.result = result
        self.metrics = metrics or {}
        self.detail = detail
        self.timeline = timeline    # [[ms, kib], ...] from a `timeline:` line


def lcg(seed):
    """Deterministic pseudo-random stream for input generators."""
    state = [seed]

    def rnd(n):
        state[0] = (state[0] * 1103515245 + 12345) % 2147483648
        return state[0] % n
    return rnd


def sha(data):
    return hashlib.sha256(data).hexdigest()[:16]


def parse_c_output(text):
    result = [l[len("result:"):].strip() for l in text.splitlines() if l.startswith("result:")]
    metrics = {}
    for l in text.splitlines():
        if l.startswith("metric:"):
            for tok in l[len("metric:"):].split():
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    try:
                        metrics[k] = float(v)
                    except ValueError:
                        pass
    return ("\n".join(result) if result else None), metrics


def parse_timeline(text):
    """The samples of a `timeline: ms:kib ms:kib ...` line (RSS in KiB at
    milliseconds since the workload's start) as [[ms, kib], ...], or None
    when there is no such line. Malformed samples are skipped."""
    for l in text.splitlines():
        if not l.startswith("timeline:"):
            continue
        samples = []
        for tok in l[len("timeline:"):].split():
            ms, _, kib = tok.partition(":")
            try:
                samples.append([int(ms), int(kib)])
            except ValueError:
                pass
        return samples
    return None


# --------------------------------------------------------------------------
# C workloads
# --------------------------------------------------------------------------

class CWorkload:
    kind = "micro"
    glibc_shim = False
    packages = ()

    def __init__(self, name, binary, desc, params, threads=None, metric=None,
                 split=(), compare=True, build_packages=()):
        """params: mode -> dict of key=value (per-run totals).
        threads: None for single-threaded, or the thread count of this variant.
        split: keys whose value is a total to divide among the threads
        (so every thread-count variant does the same total work).
        metric: (metric key, label, 'higher'|'lower') shown in the tables.
        compare: False when its wall time and peak RSS say nothing about the
        allocator (report.py then leaves it out of the ratios and geometric
        means and reports it in a table of its own).
        build_packages: (package, binary) pairs needed to build it (the
        runner installs them before `make bench-build`)."""
        self.base = name
        self.threads = threads
        self.name = name if threads is None else "%s-%dt" % (name, threads)
        self.binary = binary
        self.desc = desc
        self.params = params
        self.metric = metric
        self.split = split
        self.compare = compare
        self.build_packages = build_packages

    def args(self, mode):
        p = dict(self.params[mode])
        if self.threads is not None:
            p["threads"] = self.threads
            for k in self.split:
                p[k] = max(1, int(p[k]) // self.threads)
        return ["%s=%s" % (k, v) for k, v in p.items()]

    def command(self, mode):
        return [str(BUILD / self.binary)] + self.args(mode)

    def prepare(self, mode, ctx):
        if not (BUILD / self.binary).exists():
            raise Skip("%s not built (run `make bench-build`)" % (BUILD / self.binary))

    def run(self, mode, env, ctx):
        cmd = self.command(mode)
        o = ctx.execute(cmd, env)
        if o.status == "ok":
            o.result, o.metrics = parse_c_output(o.stdout)
            o.timeline = parse_timeline(o.stdout)
            if o.result is None:
                o.status = "no result line"
        return o

    def repro(self, mode):
        return "LD_PRELOAD=$PWD/build/libcairn.so " + " ".join(
            [os.path.relpath(self.command(mode)[0], ROOT)] + self.args(mode))


def c_workloads(thread_counts):
    T = list(thread_counts)
    W = []

    def multi(name, binary, desc, params, metric, split, counts=None):
        for t in (counts or T):
            W.append(CWorkload(name, binary, desc, params, threads=t, metric=metric, split=split))

    multi("larson", "larson",
          "Larson server simulation: threads replace random slots (8-1000 B) of their own "
          "arrays; each array is then handed to a fresh thread, so blocks are freed by "
          "threads that did not allocate them.",
          {"full": dict(slots=5000, ops=200000, rounds=300, min=8, max=1000),
           "quick": dict(slots=2000, ops=100000, rounds=60, min=8, max=1000),
           "smoke": dict(slots=200, ops=4000, rounds=3, min=8, max=1000)},
          ("ops_per_sec", "ops/s", "higher"), split=("ops",))
    multi("xmalloc", "xmalloc",
          "Producer/consumer (xmalloc-test style): half the threads only allocate "
          "batches of blocks (16 B-2 KiB), the other half only free what they receive.",
          {"full": dict(batches=144000, batch=256, max=2048),
           "quick": dict(batches=24000, batch=256, max=2048),
           "smoke": dict(batches=100, batch=64, max=2048)},
          ("ops_per_sec", "blocks/s", "higher"), split=("batches",))
    multi("cache-scratch", "cache",
          "Passive false sharing (Hoard cache-scratch): the main thread allocates one "
          "8-byte object per thread; each thread frees it, then repeatedly allocates, "
          "writes and frees its own 8-byte objects.",
          {"full": dict(mode="scratch", iters=2000, objsize=8, writes=200000),
           "quick": dict(mode="scratch", iters=400, objsize=8, writes=100000),
           "smoke": dict(mode="scratch", iters=20, objsize=8, writes=1000)},
          ("seconds", "s (parallel phase)", "lower"), split=("iters",))
    multi("cache-thrash", "cache",
          "Active false sharing (Hoard cache-thrash): every thread repeatedly allocates "
          "an 8-byte object, writes it many times and frees it.",
          {"full": dict(mode="thrash", iters=2000, objsize=8, writes=200000),
           "quick": dict(mode="thrash", iters=400, objsize=8, writes=100000),
           "smoke": dict(mode="thrash", iters=20, objsize=8, writes=1000)},
          ("seconds", "s (parallel phase)", "lower"), split=("iters",))
    multi("mstress", "mstress",
          "mstress-like: rounds of fresh threads with working sets that grow and shrink; "
          "a quarter of the operations swap blocks through a global transfer array, so "
          "objects migrate between threads and rounds.",
          {"full": dict(rounds=40, iters=1000000, wset=4000, transfer=1000),
           "quick": dict(rounds=10, iters=400000, wset=2000, transfer=1000),
           "smoke": dict(rounds=2, iters=5000, wset=200, transfer=100)},
          ("ops_per_sec", "ops/s", "higher"), split=("iters", "wset"))
    multi("alloc-test", "alloc_test",
          "alloc-test style: random replacement in a working set with Pareto-distributed "
          "sizes (8 B, alpha 1) up to 1 KiB; threads share nothing.",
          {"full": dict(wset=200000, ops=20000000, max=1024),
           "quick": dict(wset=100000, ops=4000000, max=1024),
           "smoke": dict(wset=1000, ops=20000, max=1024)},
          ("ops_per_sec", "ops/s", "higher"), split=("wset", "ops"),
          counts=[1] + [t for t in T if t != 1][-1:])
    W.append(CWorkload("glibc-simple", "glibc_bench",
                       "glibc bench-malloc-simple style: fixed-size malloc/free loops "
                       "(16 B-4 KiB, batches of 25-1600) on the main thread.",
                       {"full": dict(threads=1, pairs=1000000),
                        "quick": dict(threads=1, pairs=60000),
                        "smoke": dict(threads=1, pairs=500)},
                       metric=("ns_per_pair", "ns/pair", "lower")))
    W.append(CWorkload("glibc-big", "glibc_bench",
                       "The same fixed-size loops with blocks of 5000 B-16 KiB (batches "
                       "of 25-1600) on the main thread: 4 to 13 blocks fill a 64 KiB page, "
                       "so batches empty and refill many pages.",
                       {"full": dict(threads=1, pairs=1000000, big=1),
                        "quick": dict(threads=1, pairs=30000, big=1),
                        "smoke": dict(threads=1, pairs=500, big=1)},
                       metric=("ns_per_pair", "ns/pair", "lower")))
    multi("glibc-thread", "glibc_bench",
          "glibc bench-malloc-thread style: the same fixed-size loops on N threads at once.",
          {"full": dict(pairs=1200000), "quick": dict(pairs=80000), "smoke": dict(pairs=1000)},
          ("ns_per_pair", "ns/pair", "lower"), split=("pairs",))
    W.append(CWorkload("fastpath", "fastpath",
                       "Fast path: a 32-byte malloc+free pair in a loop, then LIFO batches "
                       "of 64; instructions per pair from callgrind.",
                       {"full": dict(n=80000000, size=32),
                        "quick": dict(n=16000000, size=32),
                        "smoke": dict(n=100000, size=32)},
                       metric=("ns_pair", "ns/pair", "lower")))
    W.append(CWorkload("realloc-grow", "realloc_grow",
                       "realloc growth: 50k small strings grown by 1-32 B appends, then two "
                       "interleaved builders grown by exact-size realloc to 32 MiB each.",
                       {"full": dict(strings=50000, smax=4096, builders=2, large="32m", chunk="256k"),
                        "quick": dict(strings=10000, smax=4096, builders=2, large="16m", chunk="256k"),
                        "smoke": dict(strings=200, smax=1024, builders=1, large="1m", chunk="64k")},
                       metric=("reallocs_per_sec", "reallocs/s", "higher")))
    W.append(CWorkload("large", "large",
                       "malloc-large style: 20 live blocks, each step frees one and "
                       "allocates a new one, log-uniform 64 KiB-32 MiB, every page touched.",
                       {"full": dict(live=20, iters=3000, min="64k", max="32m"),
                        "quick": dict(live=20, iters=300, min="64k", max="32m"),
                        "smoke": dict(live=4, iters=10, min="64k", max="4m")},
                       metric=("allocs_per_sec", "allocs/s", "higher")))
    W.append(CWorkload("calloc-sparse", "calloc_sparse",
                       "Zeroed tables mostly left untouched: 16 live blocks, each step frees "
                       "one and callocs a new one, log-uniform 256 KiB-8 MiB, then reads and "
                       "writes 3% of its pages.",
                       {"full": dict(live=16, iters=400, min="256k", max="8m", touch=3),
                        "quick": dict(live=16, iters=100, min="256k", max="8m", touch=3),
                        "smoke": dict(live=4, iters=10, min="256k", max="1m", touch=3)},
                       metric=("callocs_per_sec", "callocs/s", "higher")))
    W.append(CWorkload("frag", "frag",
                       "Fragmentation: 8 phases of allocating 96 MiB of ever larger blocks "
                       "(16-64 B up to 2-8 KiB) and freeing a random 75% of all live blocks; "
                       "the metric is peak RSS / peak live bytes.",
                       {"full": dict(phases=8, phase_bytes="96m", free_pct=75),
                        "quick": dict(phases=8, phase_bytes="24m", free_pct=75),
                        "smoke": dict(phases=4, phase_bytes="1m", free_pct=75)},
                       metric=("rss_over_live", "peak RSS / peak live", "lower")))
    W.append(CWorkload("churn", "churn",
                       "Mixed churn on one thread: random slots are allocated (malloc, "
                       "calloc, aligned_alloc/posix_memalign/memalign with 32 B-64 KiB "
                       "alignment, realloc(NULL)), freed or resized with realloc; sizes 80% "
                       "1-256 B, 15% up to 64 KiB, 5% up to 4 MiB; contents checked before "
                       "every free and realloc; RSS sampled over time.",
                       {"full": dict(ops=2000000, slots=10000),
                        "quick": dict(ops=300000, slots=10000),
                        "smoke": dict(ops=20000, slots=1000)},
                       metric=("ops_per_sec", "ops/s", "higher")))
    W.append(CWorkload("idle", "idle",
                       "Memory given back while idle: allocates mixed sizes (16 B-4 MiB) up "
                       "to a total, touching every page, frees all but 1% in random order, "
                       "then makes no allocator call for a few seconds while it samples its "
                       "RSS; RSS 1 s after the frees and at the end are the metrics (its wall "
                       "time is mostly sleep, so it is not in the time or RSS ratios).",
                       {"full": dict(total="1g", keep_pct=1, wait_ms=3000),
                        "quick": dict(total="256m", keep_pct=1, wait_ms=2000),
                        "smoke": dict(total="16m", keep_pct=1, wait_ms=200)},
                       compare=False))
    W.append(CWorkload("cxx-map", "cxx_map",
                       "C++ containers (g++ -O2, libstdc++): std::map<std::string, "
                       "std::string> with 8-64 character keys built by appends, "
                       "std::unordered_map<uint64_t, std::vector<int>>, inserts, erases, "
                       "lookups, string concatenation/substr, and a clear-and-rebuild of a "
                       "smaller map 16 times per run.",
                       {"full": dict(ops=3000000, keys=32768),
                        "quick": dict(ops=600000, keys=32768),
                        "smoke": dict(ops=20000, keys=1024)},
                       metric=("ops_per_sec", "ops/s", "higher"),
                       build_packages=(("g++", "g++"),)))
    return W


# --------------------------------------------------------------------------
# Real programs
# --------------------------------------------------------------------------

class ProgramWorkload:
    kind = "program"
    threads = None
    glibc_shim = False
    compare = True       # wall time and peak RSS enter the ratios
    packages = ()        # (package, binary) pairs that must be installed
    metric = None
    scale = {}

    @property
    def base(self):
        return self.name

    def prepare(self, mode, ctx):
        for pkg, binary in self.packages:
            if not ctx.ensure_package(pkg, binary):
                raise Skip("package %s (%s) not available" % (pkg, binary))
        INPUTS.mkdir(parents=True, exist_ok=True)
        self.generate(mode)

    def generate(self, mode):
        pass

    def input_file(self, mode, suffix):
        return INPUTS / ("%s-%s%s" % (self.name, mode, suffix))

    @staticmethod
    def write_once(path, text):
        """Write a generated input if it is missing or different."""
        data = text.encode() if isinstance(text, str) else text
        if path.exists() and path.read_bytes() == data:
            return
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def repro(self, mode):
        return "python3 bench/run.py --mode %s --only %s --alloc cairn" % (mode, self.name)

    @staticmethod
    def preloaded(cmd):
        """The shell line that reruns cmd under cairn (for failure reports)."""
        return "LD_PRELOAD=$PWD/build/libcairn.so " + " ".join(cmd)


class Lua(ProgramWorkload):
    name = "lua"
    desc = ("lua5.4 running bench/programs/alloc_heavy.lua: binary trees, string "
            "formatting/concatenation, a churning table of records, closures.")
    packages = (("lua5.4", "lua5.4"),)
    scale = {"full": 20, "quick": 2, "smoke": 1}

    def command(self, mode):
        return ["lua5.4", str(PROGRAMS / "alloc_heavy.lua"), str(self.scale[mode])]

    def run(self, mode, env, ctx):
        o = ctx.execute(self.command(mode), env)
        if o.status == "ok":
            o.result, o.metrics = parse_c_output(o.stdout)
            if o.result is None:
                o.status = "no result line"
        return o

    def repro(self, mode):
        return self.preloaded(self.command(mode))


class Python(Lua):
    name = "python"
    desc = ("python3 (Debian's, PYTHONMALLOC=malloc so objects go to malloc) running "
            "bench/programs/alloc_heavy.py: trees of objects, dict churn, JSON round trips, "
            "sorting.")
    packages = (("python3", "/usr/bin/python3"),)
    scale = {"full": 18, "quick": 2, "smoke": 1}

    def command(self, mode):
        return ["/usr/bin/python3", str(PROGRAMS / "alloc_heavy.py"), str(self.scale[mode])]

    def run(self, mode, env, ctx):
        env = dict(env, PYTHONMALLOC="malloc", PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
        return Lua.run(self, mode, env, ctx)

    def repro(self, mode):
        return ("PYTHONMALLOC=malloc PYTHONHASHSEED=0 LD_PRELOAD=$PWD/build/libcairn.so "
                + " ".join(self.command(mode)))


class Gcc(ProgramWorkload):
    name = "gcc"
    desc = ("gcc -O2 -S on a generated C file (functions with switch statements, loops "
            "and calls between them); result = hash of the assembly.")
    packages = (("gcc", "gcc"),)
    scale = {"full": 120, "quick": 12, "smoke": 3}

    def source(self, mode):
        return self.input_file(mode, ".c")

    def generate(self, mode):
        n = self.scale[mode]
        rnd = lcg(1)
        ops = ["+", "-", "*", "^", "|", "&"]
        out = ["/* generated by bench/workloads.py (gcc workload) */",
               "struct rec { int a, b; double c; struct rec *next; char name[16]; };"]
        for i in range(n):
            out.append("static int f%d(struct rec *r, int x, int y) {" % i)
            out.append("  int acc = x, t[16];")
            out.append("  for (int i = 0; i < 16; i++) t[i] = i * y + x;")
            for j in range(rnd(6) + 3):
                out.append("  switch ((x + %d) & 7) {" % j)
                for c in range(8):
                    out.append("  case %d: acc %s= t[%d] %s %d; break;"
                               % (c, ops[rnd(6)], rnd(16), ops[rnd(6)], rnd(1000)))
                out.append("  }")
                out.append("  while (r && acc > %d) { acc -= r->a * %d + (int)r->c; r = r->next; }"
                           % (rnd(100), rnd(7) + 1))
                out.append("  if (acc & %d) acc += y * %d; else acc ^= x << %d;"
                           % (1 << rnd(10), rnd(50), rnd(5)))
            if i > 0:
                out.append("  if (x > %d) acc += f%d(r, acc & 255, y + 1);" % (rnd(100), rnd(i)))
            out.append("  return acc;")
            out.append("}")
        out.append("int entry(struct rec *r, int x) { int s = 0;")
        for i in range(n):
            out.append("  s += f%d(r, x + %d, %d);" % (i, i, rnd(9)))
        out.append("  return s; }")
        self.write_once(self.source(mode), "\n".join(out) + "\n")

    def command(self, mode, outfile):
        return ["gcc", "-O2", "-S", "-o", str(outfile), str(self.source(mode))]

    def run(self, mode, env, ctx):
        out = ctx.tmpdir / "gcc-out.s"
        if out.exists():
            out.unlink()
        o = ctx.execute(self.command(mode, out), env)
        if o.status == "ok":
            if not out.exists():
                o.status = "no output file"
            else:
                o.result = "asm=%s" % sha(out.read_bytes())
                out.unlink()
        return o

    def repro(self, mode):
        return self.preloaded(self.command(mode, "/tmp/out.s"))


class Sqlite(ProgramWorkload):
    name = "sqlite"
    desc = ("sqlite3 CLI on a generated database (customers/orders, 64 MiB page cache): "
            "GROUP BY, joins, index build, window functions, UPDATE, DELETE; "
            "result = hash of all query output.")
    packages = (("sqlite3", "sqlite3"),)
    scale = {"full": 400000, "quick": 40000, "smoke": 5000}

    QUERIES = """\
.bail on
PRAGMA cache_size=-65536;
PRAGMA temp_store=MEMORY;
SELECT city, count(*), round(sum(score), 2) FROM customers GROUP BY city ORDER BY city;
SELECT c.city, sum(o.amount) AS s FROM orders o JOIN customers c ON o.cust = c.id
  GROUP BY c.city ORDER BY s DESC, c.city LIMIT 50;
CREATE INDEX orders_cust ON orders(cust, amount);
SELECT cust, count(*), max(amount) FROM orders GROUP BY cust ORDER BY 2 DESC, 1 LIMIT 50;
SELECT note, count(*) FROM orders GROUP BY note ORDER BY 2 DESC, 1 LIMIT 30;
SELECT length(group_concat(note, ',')) FROM (SELECT note FROM orders ORDER BY note, id);
UPDATE orders SET note = note || '-' || amount WHERE id % 3 = 0;
SELECT cust, amount, rank FROM (SELECT cust, amount, row_number() OVER
  (PARTITION BY cust ORDER BY amount DESC, id) AS rank FROM orders)
  WHERE rank <= 2 ORDER BY cust, rank LIMIT 100 OFFSET 500;
SELECT count(DISTINCT note), sum(length(note)) FROM orders;
DELETE FROM orders WHERE amount % 5 = 0;
SELECT count(*), sum(amount) FROM orders o WHERE EXISTS
  (SELECT 1 FROM customers c WHERE c.id = o.cust AND c.score > 50);
SELECT upper(substr(note, 1, 3)) AS k, count(*), avg(amount) FROM orders
  GROUP BY k ORDER BY k;
"""

    def generate(self, mode):
        n = self.scale[mode]
        db = self.input_file(mode, ".db")
        gen = """\
PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, city TEXT, score REAL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, cust INTEGER, amount INTEGER, note TEXT);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < {nc})
INSERT INTO customers SELECT x, 'customer-' || x, 'city' || (x*7919 % 500),
  (x*104729 % 10007)/100.0 FROM c;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < {n})
INSERT INTO orders SELECT x, 1 + (x*48271 % {nc}), (x*16807 % 100000),
  substr('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor',
         1 + x % 37, 5 + (x*31) % 60) FROM c;
COMMIT;
""".format(n=n, nc=max(10, n // 10))
        genfile = self.input_file(mode, "-gen.sql")
        self.write_once(self.input_file(mode, "-queries.sql"), self.QUERIES)
        stamp = self.input_file(mode, ".db.ok")
        if db.exists() and genfile.exists() and genfile.read_text() == gen and stamp.exists():
            return
        self.write_once(genfile, gen)
        for p in (db, stamp):
            if p.exists():
                p.unlink()
        with open(genfile) as f:
            subprocess.run(["sqlite3", str(db)], stdin=f, check=True,
                           stdout=subprocess.DEVNULL, env=_plain_env())
        stamp.write_text("ok\n")

    def run(self, mode, env, ctx):
        work = ctx.tmpdir / "sqlite-work.db"
        shutil.copyfile(self.input_file(mode, ".db"), work)
        o = ctx.execute(["sqlite3", "-bail", str(work)], env,
                        stdin=self.input_file(mode, "-queries.sql"))
        work.unlink()
        if o.status == "ok":
            o.result = "lines=%d output=%s" % (o.stdout.count("\n"), sha(o.stdout.encode()))
        return o

    def repro(self, mode):
        return ("cp build/bench/inputs/sqlite-%s.db /tmp/w.db && LD_PRELOAD=$PWD/build/libcairn.so "
                "sqlite3 -bail /tmp/w.db < build/bench/inputs/sqlite-%s-queries.sql" % (mode, mode))


class Z3(ProgramWorkload):
    name = "z3"
    desc = ("z3 on a generated SMT-LIB2 script: integer linear arithmetic queries, random "
            "3-SAT instances and a pigeonhole problem, each under push/pop; result = the "
            "sat/unsat answers.")
    packages = (("z3", "z3"),)
    scale = {"full": (30, 100, 8), "quick": (5, 30, 7), "smoke": (1, 2, 4)}

    def generate(self, mode):
        nlia, nsat, php = self.scale[mode]
        rnd = lcg(7)
        out = ["; generated by bench/workloads.py (z3 workload)", "(set-logic ALL)"]
        for _ in range(nlia):
            nv = 40
            out.append("(push 1)")
            for v in range(nv):
                out.append("(declare-const x%d Int) (assert (<= 0 x%d 20))" % (v, v))
            for _ in range(30):
                terms = " ".join("(* %d x%d)" % (rnd(19) - 9, rnd(nv)) for _ in range(6))
                out.append("(assert (<= (+ %s) %d))" % (terms, rnd(40) - 10))
            out.append("(assert (= (+ %s) %d))" % (" ".join("x%d" % v for v in range(nv)),
                                                   300 + rnd(200)))
            out.append("(check-sat)")
            out.append("(pop 1)")
        for _ in range(nsat):
            nv = 250
            out.append("(push 1)")
            for v in range(nv):
                out.append("(declare-const b%d Bool)" % v)
            for _ in range(int(nv * 4.26)):
                lits = []
                for _ in range(3):
                    v = rnd(nv)
                    lits.append("b%d" % v if rnd(2) else "(not b%d)" % v)
                out.append("(assert (or %s))" % " ".join(lits))
            out.append("(check-sat)")
            out.append("(pop 1)")
        n = php
        out.append("(push 1)")
        for i in range(n + 1):
            for j in range(n):
                out.append("(declare-const p%d_%d Bool)" % (i, j))
        for i in range(n + 1):
            out.append("(assert (or %s))" % " ".join("p%d_%d" % (i, j) for j in range(n)))
        for j in range(n):
            for a in range(n + 1):
                for b in range(a + 1, n + 1):
                    out.append("(assert (or (not p%d_%d) (not p%d_%d)))" % (a, j, b, j))
        out.append("(check-sat)")
        out.append("(pop 1)")
        self.write_once(self.input_file(mode, ".smt2"), "\n".join(out) + "\n")

    def command(self, mode):
        return ["z3", str(self.input_file(mode, ".smt2"))]

    def run(self, mode, env, ctx):
        o = ctx.execute(self.command(mode), env)
        if o.status == "ok":
            ans = o.stdout.split()
            if not ans or any(a not in ("sat", "unsat") for a in ans):
                o.status = "unexpected output"
            o.result = "sat=%d unsat=%d answers=%s" % (ans.count("sat"), ans.count("unsat"),
                                                       sha(" ".join(ans).encode()))
        return o

    def repro(self, mode):
        return self.preloaded(self.command(mode))


class Ghostscript(ProgramWorkload):
    name = "ghostscript"
    desc = ("gs rendering a generated PostScript document (curves, filled polygons, text "
            "in 7 fonts, rotated text) to 100 dpi grey PNGs; result = hash of the pages.")
    packages = (("ghostscript", "gs"),)
    scale = {"full": 60, "quick": 6, "smoke": 1}

    def generate(self, mode):
        pages = self.scale[mode]
        rnd = lcg(3)
        fonts = ["Times-Roman", "Helvetica", "Courier", "Times-Bold", "Helvetica-Oblique",
                 "Palatino-Roman", "NewCenturySchlbk-Roman"]
        words = ("allocator arena slab bucket free list cache line thread heap segment "
                 "page span chunk block header").split()
        out = ["%!PS-Adobe-3.0", "%%Pages: " + str(pages), "%%EndComments"]
        for p in range(1, pages + 1):
            out.append("%%%%Page: %d %d" % (p, p))
            for i in range(300):
                out.append("%g %g %g setrgbcolor %g setlinewidth" % (
                    rnd(100) / 100, rnd(100) / 100, rnd(100) / 100, rnd(30) / 10 + 0.1))
                out.append("newpath %d %d moveto %d %d %d %d %d %d curveto stroke" % tuple(
                    rnd(612) if k % 2 == 0 else rnd(792) for k in range(8)))
                if i % 3 == 0:
                    pts = " ".join("%d %d lineto" % (rnd(612), rnd(792)) for _ in range(5))
                    out.append("newpath %d %d moveto %s closepath fill" % (rnd(612), rnd(792), pts))
            y = 760
            while y > 40:
                f = fonts[rnd(len(fonts))]
                sz = 6 + rnd(14)
                line = " ".join(words[rnd(len(words))] for _ in range(12))
                out.append("0 0 0 setrgbcolor /%s findfont %d scalefont setfont 36 %d moveto (%s) show"
                           % (f, sz, y, line))
                y -= sz + 2
            out.append("gsave 306 396 translate")
            for a in range(0, 360, 10):
                out.append("gsave %d rotate 40 0 moveto /Helvetica findfont %d scalefont setfont "
                           "(page %d angle %d) show grestore" % (a, 8 + a % 20, p, a))
            out.append("grestore showpage")
        out.append("%%EOF")
        self.write_once(self.input_file(mode, ".ps"), "\n".join(out) + "\n")

    def command(self, mode, outdir):
        return ["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pnggray", "-r100",
                "-sOutputFile=%s/page-%%03d.png" % outdir, str(self.input_file(mode, ".ps"))]

    def run(self, mode, env, ctx):
        outdir = ctx.tmpdir / "gs-out"
        shutil.rmtree(outdir, ignore_errors=True)
        outdir.mkdir(parents=True)
        o = ctx.execute(self.command(mode, outdir), env)
        if o.status == "ok":
            files = sorted(outdir.iterdir())
            h = hashlib.sha256()
            for f in files:
                h.update(f.read_bytes())
            o.result = "pages=%d png=%s" % (len(files), h.hexdigest()[:16])
            if len(files) != self.scale[mode]:
                o.status = "wrong page count"
        shutil.rmtree(outdir, ignore_errors=True)
        return o

    def repro(self, mode):
        return self.preloaded(self.command(mode, "/tmp"))


class RocksDB(ProgramWorkload):
    name = "rocksdb"
    desc = ("rocksdb's db_bench (rocksdb-tools): fillrandom, readrandom, seekrandom, "
            "overwrite, readrandom on a fresh DB (200 B values, no compression, no WAL); "
            "result = the found/not-found counts.")
    packages = (("rocksdb-tools", "db_bench"),)
    scale = {"full": 150000, "quick": 20000, "smoke": 2000}
    metric = ("readrandom_ops", "readrandom ops/s", "higher")

    def command(self, mode, dbdir):
        return ["db_bench", "--benchmarks=fillrandom,readrandom,seekrandom,overwrite,readrandom",
                "--num=%d" % self.scale[mode], "--value_size=200", "--db=%s" % dbdir,
                "--compression_type=none", "--seed=42", "--threads=1", "--statistics=0",
                "--disable_wal=1", "--histogram=0"]

    def run(self, mode, env, ctx):
        dbdir = ctx.tmpdir / "rocksdb"
        shutil.rmtree(dbdir, ignore_errors=True)
        o = ctx.execute(self.command(mode, dbdir), env)
        shutil.rmtree(dbdir, ignore_errors=True)
        if o.status == "ok":
            found, seen = [], []
            for m in re.finditer(r"^(\w+)\s*:\s*[\d.]+ micros/op (\d+) ops/sec[^\n]*?"
                                 r"(?:\((\d+) of (\d+) found\))?\s*$", o.stdout, re.M):
                name, ops = m.group(1), float(m.group(2))
                key = name + "_ops"
                if key in o.metrics:       # second readrandom
                    key = name + "2_ops"
                o.metrics[key] = ops
                seen.append(name)
                if m.group(3):
                    found.append("%s:%s/%s" % (name, m.group(3), m.group(4)))
            if len(seen) != 5:
                o.status = "db_bench output incomplete"
            o.result = " ".join(seen + found)
        return o

    def repro(self, mode):
        return self.preloaded(self.command(mode, "/tmp/rdb"))


class Redis(ProgramWorkload):
    name = "redis"
    desc = ("redis-server (127.0.0.1 only) loaded with a generated RESP stream of SET/HSET/"
            "RPUSH/ZADD/DEL (values up to 2 KiB) via redis-cli --pipe, then redis-benchmark "
            "(bounded request count, pipelined); result = DBSIZE + DEBUG DIGEST. Only the "
            "server runs under the allocator; RSS is the server's.")
    packages = (("redis-server", "redis-server"), ("redis-tools", "redis-benchmark"))
    scale = {"full": (200000, 100000), "quick": (30000, 15000), "smoke": (2000, 1000)}
    glibc_shim = True     # Debian's redis-server is linked with libjemalloc
    metric = ("set_rps", "SET req/s", "higher")
    TESTS = "set,get,lpush,lpop,incr,sadd,hset,zadd,lrange_100"

    def generate(self, mode):
        n = self.scale[mode][0]
        rnd = lcg(5)

        def cmd(*a):
            s = ["*%d\r\n" % len(a)]
            for x in a:
                x = str(x)
                s.append("$%d\r\n%s\r\n" % (len(x.encode()), x))
            return "".join(s)
        out = []
        for _ in range(n):
            r = rnd(10)
            if r < 5:
                out.append(cmd("SET", "str:%d" % rnd(n), "v" * (1 + rnd(2000))))
            elif r < 7:
                out.append(cmd("HSET", "h:%d" % rnd(n // 20 + 1), "f%d" % rnd(100), "x" * rnd(100)))
            elif r < 8:
                out.append(cmd("RPUSH", "l:%d" % rnd(n // 50 + 1), "e" * (1 + rnd(300))))
            elif r < 9:
                out.append(cmd("ZADD", "z:%d" % rnd(n // 50 + 1), rnd(100000), "m%d" % rnd(5000)))
            else:
                out.append(cmd("DEL", "str:%d" % rnd(n)))
        self.write_once(self.input_file(mode, ".resp"), "".join(out))

    @staticmethod
    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def run(self, mode, env, ctx):
        port = self.free_port()
        cli = ["redis-cli", "-h", "127.0.0.1", "-p", str(port)]
        server = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
                  "--enable-debug-command", "local", "--dir", str(ctx.tmpdir)]
        nreq = self.scale[mode][1]
        plain = _plain_env()
        job = ctx.spawn(server, env)
        out = []
        metrics = {}
        try:
            def client(args, stdin=None, timeout=120):
                r = subprocess.run(cli + args, stdin=stdin, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, env=plain, timeout=timeout)
                return r.returncode, r.stdout.decode(errors="replace")
            deadline = time.time() + 20
            while True:
                rc, text = client(["ping"], timeout=5)
                if rc == 0 and "PONG" in text:
                    break
                if job.poll() is not None or time.time() > deadline:
                    return job.finish("server did not start")
                time.sleep(0.02)
            with open(self.input_file(mode, ".resp"), "rb") as f:
                rc, text = client(["--pipe"], stdin=f, timeout=300)
            if rc != 0 or "errors: 0" not in text:
                return job.finish("redis-cli --pipe failed: " + text.strip()[-200:])
            r = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-q",
                                "-n", str(nreq), "-c", "20", "-P", "16", "-t", self.TESTS],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=plain,
                               timeout=600)
            text = r.stdout.decode(errors="replace").replace("\r", "\n")
            for m in re.finditer(r"^([A-Z_0-9]+)(?: \([^)]*\))?: ([\d.]+) requests per second",
                                 text, re.M):
                metrics["%s_rps" % m.group(1).lower()] = float(m.group(2))
            if r.returncode != 0 or "set_rps" not in metrics:
                return job.finish("redis-benchmark failed: " + text.strip()[-200:])
            rc1, dbsize = client(["dbsize"])
            rc2, digest = client(["debug", "digest"])
            if rc1 or rc2:
                return job.finish("redis-cli failed")
            out.append("dbsize=%s digest=%s" % (dbsize.strip(), digest.strip()))
            client(["shutdown", "nosave"], timeout=30)
            o = job.finish(None, wait=60)
        finally:
            job.kill()
        if o.status == "ok":
            o.result = " ".join(out)
            o.metrics.update(metrics)
        return o

    def repro(self, mode):
        return ("LD_PRELOAD=$PWD/build/libcairn.so redis-server --port 16379 --bind 127.0.0.1 "
                "--save '' --enable-debug-command local &  redis-cli -p 16379 --pipe < "
                "build/bench/inputs/redis-%s.resp; redis-benchmark -p 16379 -q -n %d -P 16 -t %s"
                % (mode, self.scale[mode][1], self.TESTS))


def _plain_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env["LC_ALL"] = "C"
    return env


def program_workloads():
    return [Redis(), RocksDB(), Z3(), Ghostscript(), Lua(), Python(), Sqlite(), Gcc()]


def all_workloads(thread_counts):
    return c_workloads(thread_counts) + program_workloads()
