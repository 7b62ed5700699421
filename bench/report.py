"""Results of bench/run.py: CSV, Markdown, gnuplot charts and docs/BENCHMARKS.md.

Convention everywhere: ratio = cairn / peer, for time and for peak RSS, so a
ratio below 1 means cairn is better (faster, or smaller). The charts show
each allocator normalised to cairn (allocator / cairn, so cairn = 1 and a
bar above 1 means that allocator is slower / larger than cairn).
"""

import csv
import json
import math
import os
import shutil
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# metrics shown in the metrics table: key -> (label, better)
EXTRA_METRICS = {
    "fastpath": [("ns_pair", "ns per malloc+free pair", "lower"),
                 ("ns_batch", "ns per pair, batches of 64", "lower"),
                 ("instr_per_pair", "instructions per pair (callgrind)", "lower"),
                 ("perf_instr_per_pair", "instructions per pair (perf stat)", "lower")],
    "redis": [("set_rps", "SET req/s", "higher"), ("get_rps", "GET req/s", "higher"),
              ("lrange_100_rps", "LRANGE_100 req/s", "higher")],
    "rocksdb": [("fillrandom_ops", "fillrandom ops/s", "higher"),
                ("readrandom_ops", "readrandom ops/s", "higher")],
    "frag": [("rss_over_live", "peak RSS / peak live bytes", "lower")],
}


def load(path):
    with open(path) as f:
        return json.load(f)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def summarize(data):
    allocs = [a["name"] for a in data["allocators"]]
    cells = {}
    for w in data["workloads"]:
        for a in allocs:
            rs = [r for r in data["runs"] if r["workload"] == w["name"] and r["alloc"] == a]
            if not rs:
                continue
            oks = [r for r in rs if r["status"] == "ok"]
            fails = [r for r in rs if r["status"] != "ok"]
            c = {"status": "ok" if not fails else fails[0]["status"], "n_ok": len(oks),
                 "n": len(rs), "time": None, "rss_kib": None, "metrics": {}}
            if not fails:
                c["time"] = median([r["wall_s"] for r in oks])
                c["rss_kib"] = median([r["maxrss_kib"] for r in oks])
                keys = set()
                for r in oks:
                    keys.update(r["metrics"])
                for k in keys:
                    c["metrics"][k] = median([r["metrics"].get(k) for r in oks])
            cells[(w["name"], a)] = c
    ratios = {}
    geo = {}
    if "cairn" in allocs:
        for p in allocs:
            if p == "cairn":
                continue
            tr, rr = [], []
            for w in data["workloads"]:
                c, q = cells.get((w["name"], "cairn")), cells.get((w["name"], p))
                if c and q and c["time"] and q["time"]:
                    t = c["time"] / q["time"]
                    r = c["rss_kib"] / q["rss_kib"] if q["rss_kib"] else None
                    ratios[(w["name"], p)] = (t, r)
                    tr.append(t)
                    rr.append(r)
            geo[p] = (geomean(tr), geomean(rr), len(tr))
    return allocs, cells, ratios, geo


def _fmt_time(t):
    if t is None:
        return "-"
    if t >= 100:
        return "%.0f" % t
    if t >= 10:
        return "%.1f" % t
    return "%.3f" % t if t < 1 else "%.2f" % t


def _fmt_num(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e6:
        return "%.2fM" % (v / 1e6)
    if a >= 1e4:
        return "%.0fk" % (v / 1e3)
    if a >= 100:
        return "%.0f" % v
    return "%.2f" % v


def _fail(c):
    return "FAIL: %s (%d/%d ok)" % (c["status"], c["n_ok"], c["n"])


def markdown(data, name, for_docs=False):
    allocs, cells, ratios, geo = summarize(data)
    W = data["workloads"]
    peers = [a for a in allocs if a != "cairn"]
    m = data["meta"]
    L = []
    L.append("# cairn benchmark results (%s)" % name)
    L.append("")
    if data.get("label") and not for_docs:
        L.append("> **%s**" % data["label"])
        L.append("")
    L.append("Mode `%s`, %d repetitions per workload and allocator, allocators interleaved; "
             "medians of wall time and of peak RSS (the child's `ru_maxrss`). %s, %s; "
             "%s, %s cores, %s GiB, kernel %s, Debian %s. Runner: `%s` (took %s)." % (
                 data["mode"], data["reps"], data["date"],
                 "thread counts " + ",".join(str(t) for t in data.get("threads", [])),
                 m.get("cpu", "?"), m.get("cores", "?"), m.get("memory_gib", "?"),
                 m.get("kernel", "?"), m.get("debian", "?"), data.get("command", "?"),
                 _fmt_elapsed(data.get("elapsed_s"))))
    L.append("")
    L.append("Allocators: " + ", ".join(
        "%s %s" % (a["name"], a.get("version") or "") for a in data["allocators"]) + ".")
    L.append("")
    if "cairn" in allocs:
        L.append("## cairn relative to each peer")
        L.append("")
        L.append("**Ratio = cairn / peer** (wall time and peak RSS): **< 1 means cairn is "
                 "better** (faster or smaller), > 1 means the peer is better. Only "
                 "workloads where both succeeded enter the geometric mean.")
        L.append("")
        hdr = ["workload"] + ["time vs %s" % p for p in peers] + ["RSS vs %s" % p for p in peers]
        L.append("| " + " | ".join(hdr) + " |")
        L.append("|" + "---|" * len(hdr))
        for w in W:
            row = [w["name"]]
            for k in (0, 1):
                for p in peers:
                    rt = ratios.get((w["name"], p))
                    if rt and rt[k] is not None:
                        row.append("%.2f" % rt[k])
                    else:
                        c = cells.get((w["name"], "cairn"))
                        row.append("FAIL" if c and c["status"] != "ok" else "-")
            L.append("| " + " | ".join(row) + " |")
        row = ["**geometric mean**"]
        for k in (0, 1):
            for p in peers:
                g = geo.get(p)
                row.append("**%.2f** (%d)" % (g[k], g[2]) if g and g[k] else "-")
        L.append("| " + " | ".join(row) + " |")
        L.append("")
    for title, key, fmt in (("Wall time (median, seconds)", "time", _fmt_time),
                            ("Peak RSS (median, MiB)", "rss_kib",
                             lambda v: "-" if v is None else "%.1f" % (v / 1024.0))):
        L.append("## " + title)
        L.append("")
        L.append("| workload | " + " | ".join(allocs) + " |")
        L.append("|---|" + "---:|" * len(allocs))
        for w in W:
            row = [w["name"]]
            for a in allocs:
                c = cells.get((w["name"], a))
                if c is None:
                    row.append("not run")
                elif c["status"] != "ok":
                    row.append(_fail(c))
                else:
                    row.append(fmt(c[key]))
            L.append("| " + " | ".join(row) + " |")
        L.append("")
    L.append("## Workload metrics (median; reported by the workload, not compared)")
    L.append("")
    L.append("| workload | metric | " + " | ".join(allocs) + " |")
    L.append("|---|---|" + "---:|" * len(allocs))
    for w in W:
        mets = EXTRA_METRICS.get(w["base"]) or ([tuple(w["metric"])] if w.get("metric") else [])
        for key, label, better in mets:
            vals = [cells.get((w["name"], a)) for a in allocs]
            if not any(c and key in c["metrics"] for c in vals):
                continue
            row = [w["name"], "%s (%s is better)" % (label, better)]
            for c in vals:
                if c is None or c["status"] != "ok":
                    row.append("FAIL" if c else "-")
                else:
                    row.append(_fmt_num(c["metrics"].get(key)))
            L.append("| " + " | ".join(row) + " |")
    L.append("")
    fails = [r for r in data["runs"] if r["status"] != "ok"]
    L.append("## Failures")
    L.append("")
    if not fails:
        L.append("None: every run exited cleanly and produced the reference result.")
    for r in fails:
        L.append("- `%s` under **%s**, repetition %d: %s%s" % (
            r["workload"], r["alloc"], r["rep"] + 1, r["status"],
            (" — `%s`" % r["stderr_tail"].splitlines()[-1][:200]) if r.get("stderr_tail") else ""))
        if r.get("repro"):
            L.append("  reproduce: `%s`" % r["repro"])
    L.append("")
    if data.get("notices"):
        L.append("## Notices")
        L.append("")
        for n in data["notices"]:
            L.append("- " + n)
        L.append("")
    return "\n".join(L)


def _fmt_elapsed(s):
    if not s:
        return "?"
    s = int(s)
    return "%dm%02ds" % (s // 60, s % 60)


def write_csv(data, path):
    allocs, cells, ratios, geo = summarize(data)
    with open(path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["workload", "allocator", "status", "runs_ok", "runs", "median_time_s",
                     "median_peak_rss_kib", "time_ratio_cairn_over_this", "rss_ratio_cairn_over_this",
                     "metrics"])
        for w in data["workloads"]:
            for a in allocs:
                c = cells.get((w["name"], a))
                if c is None:
                    continue
                rt = ratios.get((w["name"], a), (None, None))
                wr.writerow([w["name"], a, c["status"], c["n_ok"], c["n"],
                             "" if c["time"] is None else "%.4f" % c["time"],
                             "" if c["rss_kib"] is None else "%d" % c["rss_kib"],
                             "" if rt[0] is None else "%.4f" % rt[0],
                             "" if rt[1] is None else "%.4f" % rt[1],
                             " ".join("%s=%.6g" % (k, v) for k, v in sorted(c["metrics"].items())
                                      if v is not None)])
        for p, g in geo.items():
            wr.writerow(["GEOMEAN", p, "", g[2], "", "", "",
                         "" if g[0] is None else "%.4f" % g[0],
                         "" if g[1] is None else "%.4f" % g[1], ""])


def write_runs_csv(data, path):
    with open(path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["workload", "allocator", "rep", "status", "wall_s", "peak_rss_kib",
                     "result", "metrics"])
        for r in data["runs"]:
            wr.writerow([r["workload"], r["alloc"], r["rep"] + 1, r["status"],
                         "" if r["wall_s"] is None else "%.4f" % r["wall_s"],
                         "" if r["maxrss_kib"] is None else r["maxrss_kib"],
                         r["result"] or "",
                         " ".join("%s=%.6g" % (k, v) for k, v in sorted(r["metrics"].items()))])


def charts(data, outdir, name):
    """Grouped bar charts (log scale) of time and RSS normalised to cairn."""
    if not shutil.which("gnuplot"):
        return []
    allocs, cells, _, _ = summarize(data)
    ref = "cairn" if "cairn" in allocs else allocs[0]
    out = []
    for key, what in (("time", "wall time"), ("rss_kib", "peak RSS")):
        rows = []
        for w in data["workloads"]:
            r = cells.get((w["name"], ref))
            vals = []
            for a in allocs:
                c = cells.get((w["name"], a))
                if r and c and r[key] and c[key]:
                    vals.append("%.5g" % (c[key] / r[key]))
                else:
                    vals.append("?")
            rows.append((w["name"], vals))
        dat = outdir / ("%s-%s.dat" % (name, "time" if key == "time" else "rss"))
        png = outdir / ("%s-%s.png" % (name, "time" if key == "time" else "rss"))
        with open(dat, "w") as f:
            f.write("# workload " + " ".join(allocs) + "\n")
            for n, vals in rows:
                f.write("%s %s\n" % (n, " ".join(vals)))
        finite = [float(v) for _, vals in rows for v in vals if v != "?"]
        lo = min(finite + [1.0])
        hi = max(finite + [1.0])
        ymin = 2 ** math.floor(math.log2(lo) - 0.2)
        ymax = 2 ** math.ceil(math.log2(hi) + 0.2)
        colors = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]
        plots = []
        for i, a in enumerate(allocs):
            plots.append("'%s' using %d%s title '%s' lc rgb '%s'" % (
                dat, i + 2, ":xtic(1)" if i == 0 else "", a, colors[i % len(colors)]))
        width = max(1200, 60 * len(rows) + 200)
        label = data.get("label") or ""
        gp = """
set terminal pngcairo size {w},720 font "DejaVu Sans,11"
set output '{png}'
set datafile missing '?'
set title "{what} relative to {ref} ({ref} = 1; above 1 = more than {ref}, i.e. {ref} is better)\\n{{/*0.8 {sub}}}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border rgb '#333333'
set boxwidth 0.9
set xrange [-0.6:{nrows}-0.4]
set logscale y 2
set yrange [{ymin}:{ymax}]
set ytics format "%g"
set grid ytics lc rgb '#cccccc'
set ylabel "{what} / {ref}'s {what} (log scale)"
set xtics rotate by -40 left font ",10" nomirror
set key top center horizontal outside
set bmargin 9
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb '#000000' front
plot {plots}
""".format(w=width, png=png, nrows=len(rows), what=what, ref=ref, ymin=ymin, ymax=ymax,
           plots=", ".join(plots),
           sub="%smode %s, median of %d runs; a missing bar means failed or not run"
               % ((label.replace('"', "'") + "; ") if label else "", data["mode"],
                  data["reps"]))
        gpf = outdir / ("%s-%s.gp" % (name, "time" if key == "time" else "rss"))
        gpf.write_text(gp)
        r = subprocess.run(["gnuplot", str(gpf)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode == 0:
            out.append(png)
        else:
            print("notice: gnuplot failed: " + r.stdout[-300:])
        dat.unlink()
        gpf.unlink()
    return out


def write_all(data, outdir, name):
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    p = outdir / (name + ".json")
    with open(p, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    paths.append(p)
    p = outdir / (name + ".csv")
    write_csv(data, p)
    paths.append(p)
    p = outdir / (name + "-runs.csv")
    write_runs_csv(data, p)
    paths.append(p)
    p = outdir / (name + ".md")
    p.write_text(markdown(data, name) + "\n")
    paths.append(p)
    paths += charts(data, outdir, name)
    return paths


def console_summary(data):
    allocs, cells, ratios, geo = summarize(data)
    lines = []
    hdr = "%-16s" % "workload" + "".join("%14s" % a for a in allocs)
    lines.append("median wall time s / peak RSS MiB")
    lines.append(hdr)
    for w in data["workloads"]:
        s = "%-16s" % w["name"]
        for a in allocs:
            c = cells.get((w["name"], a))
            if c is None:
                s += "%14s" % "-"
            elif c["status"] != "ok":
                s += "%14s" % ("FAIL:" + c["status"].split(" ")[0])[:13]
            else:
                s += "%14s" % ("%.3g/%.0f" % (c["time"], c["rss_kib"] / 1024.0))
        lines.append(s)
    for p, g in geo.items():
        if g[0]:
            lines.append("geomean cairn/%s: time %.3f, RSS %.3f over %d workloads (<1 = cairn better)"
                         % (p, g[0], g[1] or float("nan"), g[2]))
    return "\n".join(lines)


def write_docs(data, path, name):
    m = data["meta"]
    L = []
    L.append("# cairn benchmarks")
    L.append("")
    L.append("<!-- Generated by bench/run.py --write-docs; edit bench/report.py, not this file. -->")
    L.append("")
    if data.get("label"):
        L.append("> **Status of these numbers: %s.** Regenerate them with `make bench` on a "
                 "quiet machine (it rewrites this file)." % data["label"])
        L.append("")
    L.append("## Reproduce")
    L.append("")
    L.append("```sh")
    L.append("make bench            # full suite, all allocators, rewrites this file (< 30 min on 2 cores)")
    L.append("make bench-quick      # small parameters, bench/results/quick.* (< 3 min)")
    L.append("make bench-smoke      # build + one tiny workload under cairn and glibc (seconds)")
    L.append("make bench BENCH_ARGS='--only larson --alloc cairn,glibc'   # a subset -> bench/results/partial.*")
    L.append("python3 bench/run.py --help                                 # all runner options")
    L.append("make bench-report     # re-render tables/charts/this file from bench/results/latest.json")
    L.append("```")
    L.append("")
    L.append("These results came from: `%s` (%s, took %s)." % (
        data.get("command"), data.get("date"), _fmt_elapsed(data.get("elapsed_s"))))
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    L.append("| CPU | %s |" % m.get("cpu", "?"))
    L.append("| cores | %s |" % m.get("cores", "?"))
    L.append("| memory | %s GiB |" % m.get("memory_gib", "?"))
    L.append("| kernel | %s |" % m.get("kernel", "?"))
    L.append("| Debian | %s |" % m.get("debian", "?"))
    L.append("| gcc | %s |" % m.get("gcc", "?"))
    L.append("| load average at the end | %s |" % " ".join(m.get("loadavg_at_end", [])))
    L.append("")
    L.append("| allocator | version | preloaded library |")
    L.append("|---|---|---|")
    for a in data["allocators"]:
        lib = a.get("source_lib") or a.get("lib")
        L.append("| %s | %s | %s |" % (a["name"], a.get("version") or "?" if not a.get("sha256")
                                       else "%s, sha256 %s" % (a.get("version"), a["sha256"]),
                                       "`%s`" % os.path.relpath(lib, ROOT) if lib and
                                       lib.startswith(str(ROOT)) else
                                       ("`%s`" % lib if lib else "none (glibc malloc)")))
    L.append("")
    if m.get("programs"):
        L.append("Programs: " + ", ".join("%s %s" % kv for kv in sorted(m["programs"].items())) + ".")
        L.append("")
    L.append("## Results")
    L.append("")
    md = markdown(data, name, for_docs=True).split("\n")
    # drop the title of the results file, keep everything else
    L.extend(l if not l.startswith("## ") else "#" + l for l in md[1:])
    L.append("")
    analysis = ROOT / "bench" / "ANALYSIS.md"
    if analysis.exists():
        L.append("## Reading these results")
        L.append("")
        L.append(analysis.read_text().strip())
        L.append("")
    L.append("### Charts")
    L.append("")
    L.append("Each allocator normalised to cairn (cairn = 1, log scale): a bar above 1 means "
             "that allocator took longer / used more memory than cairn.")
    L.append("")
    for kind in ("time", "rss"):
        png = ROOT / "bench" / "results" / ("%s-%s.png" % (name, kind))
        if png.exists():
            L.append("![%s normalised to cairn](%s)" % (
                "wall time" if kind == "time" else "peak RSS",
                os.path.relpath(png, path.parent)))
            L.append("")
    L.append("## Workloads")
    L.append("")
    seen = set()
    for w in data["workloads"]:
        if w["base"] in seen:
            continue
        seen.add(w["base"])
        variants = [x["name"] for x in data["workloads"] if x["base"] == w["base"]]
        L.append("- **%s** (%s): %s" % (w["base"], ", ".join(variants), w["desc"]))
    L.append("")
    L.append("C workloads live in `bench/workloads/*.c` (built with `cc -O2 -pthread` into "
             "`build/bench/`), written from the published descriptions of the standard "
             "allocator benchmarks (Larson & Krishnan, the Hoard paper's cache-scratch/"
             "cache-thrash, xmalloc-test, mimalloc-bench's mstress/alloc-test/malloc-large, "
             "glibc's bench-malloc-simple/thread). Multi-threaded variants (`-2t`, `-4t`) do "
             "the same total work whatever the thread count. Real-program inputs are "
             "generated deterministically under `build/bench/inputs/`.")
    L.append("")
    L.append("## Method")
    L.append("")
    L.append("- cairn runs with `LD_PRELOAD=build/libcairn.so`; jemalloc, tcmalloc and mimalloc "
             "with their Debian libraries preloaded; glibc with no preload. Before running, the "
             "runner checks with `build/bench/probe` that `malloc` really resolves into the "
             "preloaded library. Debian's redis-server is linked with libjemalloc, so its glibc "
             "column preloads `build/bench/libglibcshim.so`, which routes malloc & co. to "
             "glibc's `__libc_malloc` family.")
    L.append("- Allocators are interleaved (cairn glibc jemalloc tcmalloc mimalloc, then again), "
             "each workload runs %d times per allocator; tables show medians." % data["reps"])
    L.append("- Each measured command runs under `build/bench/runwrap`, which fork+execs it, "
             "reaps it with `wait4` and reports its wall time and `ru_maxrss`: the peak RSS is "
             "the program's own (for gcc it covers cc1; for redis it is the server's), not the "
             "runner's, whose high-water mark a child exec'd straight from Python would "
             "inherit. The allocator is passed to runwrap as an argument, so only the measured "
             "program preloads it. cairn is preloaded from a snapshot of build/libcairn.so "
             "taken at the start (its sha256 is in the table above), so a rebuild during the "
             "run cannot disturb it.")
    L.append("- Workload-internal metrics (ops/s, ns per pair, ...) are listed separately and "
             "are not compared. The fast path's instructions per pair come from "
             "`valgrind --tool=callgrind` (two run lengths, difference / difference in pairs) "
             "and include the loop's own ~10-15 instructions (call through the PLT, one store, "
             "a checksum); `perf stat` is used in addition where hardware counters work.")
    L.append("- Every workload prints a deterministic, allocator-independent `result:` line "
             "(real programs: hashes of their output); a run whose result differs from "
             "glibc's, or that crashes, exits non-zero or times out, is a failure and gets no "
             "time. Blocks in the C workloads carry stamps that are verified before free.")
    L.append("- The machine has 2 cores: 4-thread variants oversubscribe it on purpose.")
    L.append("- glibc-simple/glibc-thread include 4 KiB blocks in batches of up to 1600: "
             "glibc trims the top of its heap after each batch there, which is why glibc is "
             "an order of magnitude slower on them; the per-size figures are in "
             "`bench/results/latest-runs.csv` (metrics ns_16 ... ns_4096).")
    L.append("")
    path.write_text("\n".join(L) + "\n")
    return path
