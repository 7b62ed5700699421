"""Results of bench/run.py: CSV, Markdown, gnuplot charts and docs/BENCHMARKS.md.

Convention in the ratio tables: ratio = cairn / peer, for time and for peak
RSS, so a ratio below 1 means cairn is better (faster, or smaller). The
"best peer" of a workload is the fastest (for time) or the smallest (for
RSS) allocator of the "peer" group that succeeded on it. The hardened
builds (group "hardened") are never a best peer and have a table of their
own, which, like the charts, shows each allocator normalised to cairn
(allocator / cairn, so cairn = 1 and above 1 means that allocator is slower
/ larger than cairn). Workloads with compare = False (idle: its wall time
is mostly sleep) are left out of every ratio and geometric mean.
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
                 ("step_instr_per_pair", "instructions per pair (single-step, where "
                  "callgrind cannot run)", "lower")],
    "redis": [("set_rps", "SET req/s", "higher"), ("get_rps", "GET req/s", "higher"),
              ("lrange_100_rps", "LRANGE_100 req/s", "higher")],
    "rocksdb": [("fillrandom_ops", "fillrandom ops/s", "higher"),
                ("readrandom_ops", "readrandom ops/s", "higher")],
    "frag": [("rss_over_live", "peak RSS / peak live bytes", "lower")],
}

# Two targets the project tracks: (allocator, "time" | "rss", description)
TRACKED = [("mimalloc", "time", "time against Debian's mimalloc"),
           ("glibc", "rss", "peak RSS against glibc")]

# RSS timelines: where a workload's x axis starts, and what its chart shows
TIMELINE_ORIGIN = {
    "churn": "the start of the operations",
    "idle": "the end of the frees (from there on no allocator call)",
}
TIMELINE_SHOWS = {
    "churn": "how high each allocator's footprint climbs under a mixed churn and whether "
             "it levels off",
    "idle": "how much of the freed memory each allocator gives back to the system, and how "
            "soon, while the program makes no allocator call",
}

# bar and line colours, one per allocator (in the order of the results)
PALETTE = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf",
           "#e377c2", "#bcbd22", "#7f7f7f", "#393b79", "#637939"]


def color(i):
    return PALETTE[i % len(PALETTE)]


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


def group_of(alloc):
    """An allocator's group ("cairn", "peer" or "hardened"); results written
    before groups existed had only cairn and peers."""
    return alloc.get("group") or ("cairn" if alloc["name"] == "cairn" else "peer")


def groups(data):
    """allocator name -> group, for the allocators in the results."""
    return {a["name"]: group_of(a) for a in data["allocators"]}


def compared(w):
    """Whether a workload's time and RSS enter the ratios and geometric means."""
    return w.get("compare", True)


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
                if not compared(w):
                    continue
                c, q = cells.get((w["name"], "cairn")), cells.get((w["name"], p))
                if c and q and c["time"] and q["time"]:
                    t = c["time"] / q["time"]
                    r = c["rss_kib"] / q["rss_kib"] if q["rss_kib"] else None
                    ratios[(w["name"], p)] = (t, r)
                    tr.append(t)
                    rr.append(r)
            geo[p] = (geomean(tr), geomean(rr), len(tr))
    return allocs, cells, ratios, geo


def best_peers(data, cells):
    """For each compared workload, the fastest and the smallest allocator of
    the "peer" group among those that succeeded, and cairn's ratios to them.
    Returns ({workload: row}, (time geomean, RSS geomean, n time, n RSS));
    a row has time_peer, time, rss_peer, rss_kib (None when no peer
    succeeded) and time_ratio, rss_ratio (None unless cairn succeeded too)."""
    g = groups(data)
    peers = [a for a in g if g[a] == "peer"]
    rows = {}
    for w in data["workloads"]:
        if not compared(w):
            continue
        ok = [(p, cells[(w["name"], p)]) for p in peers
              if cells.get((w["name"], p)) and cells[(w["name"], p)]["time"]]
        row = dict(time_peer=None, time=None, rss_peer=None, rss_kib=None,
                   time_ratio=None, rss_ratio=None)
        if ok:
            tp, tc = min(ok, key=lambda pc: pc[1]["time"])
            rp, rc = min(ok, key=lambda pc: pc[1]["rss_kib"] or float("inf"))
            row.update(time_peer=tp, time=tc["time"], rss_peer=rp, rss_kib=rc["rss_kib"])
            c = cells.get((w["name"], "cairn"))
            if c and c["time"]:
                row["time_ratio"] = c["time"] / tc["time"]
                if c["rss_kib"] and rc["rss_kib"]:
                    row["rss_ratio"] = c["rss_kib"] / rc["rss_kib"]
        rows[w["name"]] = row
    tr = [r["time_ratio"] for r in rows.values() if r["time_ratio"]]
    rr = [r["rss_ratio"] for r in rows.values() if r["rss_ratio"]]
    return rows, (geomean(tr), geomean(rr), len(tr), len(rr))


def tracked_targets(data, geo):
    """[(description, allocator, geomean or None, n workloads)] for TRACKED."""
    names = groups(data)
    out = []
    for alloc, what, desc in TRACKED:
        gm = geo.get(alloc) if alloc in names else None
        k = 0 if what == "time" else 1
        out.append((desc, alloc, gm[k] if gm else None, gm[2] if gm else 0))
    return out


def median_run(data, workload, alloc):
    """The successful run of (workload, alloc) with the median wall time
    (the lower middle one for an even count), or None."""
    rs = sorted((r for r in data["runs"] if r["workload"] == workload and
                 r["alloc"] == alloc and r["status"] == "ok" and r.get("wall_s") is not None),
                key=lambda r: r["wall_s"])
    return rs[(len(rs) - 1) // 2] if rs else None


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


def _fmt_mib(kib):
    return "-" if kib is None else "%.1f" % (kib / 1024.0)


def _allocators_line(data):
    """'Allocators: cairn ...; peers: ...; hardened builds: ...'."""
    parts = []
    for grp, label in (("cairn", ""), ("peer", "peers: "), ("hardened", "hardened builds: ")):
        names = ["%s %s" % (a["name"], a.get("version") or "")
                 for a in data["allocators"] if group_of(a) == grp]
        if names:
            parts.append(label + ", ".join(n.strip() for n in names))
    return "Allocators: " + "; ".join(parts) + "."


def _cairn_cell(cells, wname):
    c = cells.get((wname, "cairn"))
    return "FAIL" if c and c["status"] != "ok" else "-"


def _no_ratio(cells, wname, other):
    """What a ratio cell says when there is no ratio: cairn failed ("FAIL"),
    the other allocator failed ("peer FAIL") or either was not run ("-")."""
    c, q = cells.get((wname, "cairn")), cells.get((wname, other))
    if c and c["status"] != "ok":
        return "FAIL"
    return "peer FAIL" if q and q["status"] != "ok" else "-"


def _fmt_small_mib(kib):
    """MiB with two decimals below 10 MiB (live bytes after the frees)."""
    if kib is None:
        return "-"
    return "%.2f" % (kib / 1024.0) if kib < 10240 else "%.1f" % (kib / 1024.0)


def _best_peer_section(data, cells, geo):
    """'cairn against the best peer': per workload the fastest and the
    smallest peer, cairn's ratios to them, their geometric means, and the
    tracked targets."""
    rows, bgeo = best_peers(data, cells)
    if not rows:
        return []
    L = ["## cairn against the best peer", ""]
    L.append("For each workload, the fastest peer (lowest median wall time) and the smallest "
             "peer (lowest median peak RSS) among the peers that succeeded on it; **ratio = "
             "cairn / best peer, < 1 means cairn beats every peer**. Hardened builds are "
             "never the best peer; `idle` is left out (see *Memory given back while idle*).")
    L.append("")
    hdr = ["workload", "fastest peer", "its time (s)", "cairn (s)", "time cairn/best",
           "smallest peer", "its RSS (MiB)", "cairn (MiB)", "RSS cairn/best"]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|---|---|---:|---:|---:|---|---:|---:|---:|")
    for w in data["workloads"]:
        r = rows.get(w["name"])
        if r is None:
            continue
        c = cells.get((w["name"], "cairn"))
        ok = c is not None and c["status"] == "ok"
        fail = _cairn_cell(cells, w["name"])
        L.append("| " + " | ".join([
            w["name"], r["time_peer"] or "no peer succeeded", _fmt_time(r["time"]),
            _fmt_time(c["time"]) if ok else fail,
            "%.2f" % r["time_ratio"] if r["time_ratio"] else fail,
            r["rss_peer"] or "-", _fmt_mib(r["rss_kib"]),
            _fmt_mib(c["rss_kib"]) if ok else fail,
            "%.2f" % r["rss_ratio"] if r["rss_ratio"] else fail]) + " |")
    L.append("| **geometric mean** | | | | %s | | | | %s |" % (
        "**%.2f** (%d)" % (bgeo[0], bgeo[2]) if bgeo[0] else "-",
        "**%.2f** (%d)" % (bgeo[1], bgeo[3]) if bgeo[1] else "-"))
    L.append("")
    n_t = sum(1 for r in rows.values() if r["time_ratio"] and r["time_ratio"] < 1)
    n_r = sum(1 for r in rows.values() if r["rss_ratio"] and r["rss_ratio"] < 1)
    L.append("cairn is faster than every peer on %d of %d workloads and smaller than every "
             "peer on %d of %d." % (n_t, bgeo[2], n_r, bgeo[3]))
    L.append("")
    targets = []
    for desc, alloc, gm, n in tracked_targets(data, geo):
        targets.append("%s (cairn/%s) **%s** over %d workloads" % (
            desc, alloc, "%.2f" % gm if gm else "-", n) if gm else
            "%s: not measured (%s not in these results)" % (desc, alloc))
    L.append("Tracked targets, geometric means: " + "; ".join(targets) + ".")
    L.append("")
    return L


def _per_peer_section(data, ratios, geo, cells):
    """The ratio of cairn to each allocator of the "peer" group."""
    g = groups(data)
    peers = [a for a in g if g[a] == "peer"]
    if not peers:
        return []
    L = ["## cairn relative to each peer", ""]
    L.append("**Ratio = cairn / peer** (wall time and peak RSS): **< 1 means cairn is "
             "better** (faster or smaller), > 1 means the peer is better. Only "
             "workloads where both succeeded enter the geometric mean.")
    L.append("")
    hdr = ["workload"] + ["time vs %s" % p for p in peers] + ["RSS vs %s" % p for p in peers]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))
    for w in data["workloads"]:
        if not compared(w):
            continue
        row = [w["name"]]
        for k in (0, 1):
            for p in peers:
                rt = ratios.get((w["name"], p))
                row.append("%.2f" % rt[k] if rt and rt[k] is not None
                           else _no_ratio(cells, w["name"], p))
        L.append("| " + " | ".join(row) + " |")
    row = ["**geometric mean**"]
    for k in (0, 1):
        for p in peers:
            gm = geo.get(p)
            row.append("**%.2f** (%d)" % (gm[k], gm[2]) if gm and gm[k] else "-")
    L.append("| " + " | ".join(row) + " |")
    L.append("")
    return L


def _hardened_section(data, cells):
    """Each hardened build normalised to cairn (hardened / cairn)."""
    g = groups(data)
    hard = [a for a in g if g[a] == "hardened"]
    if not hard or "cairn" not in g:
        return []
    L = ["## Hardened builds against cairn", ""]
    L.append("Security-hardened builds of peers, for reference (they are not peers in the "
             "tables above). **Ratio = hardened build / cairn**: > 1 means the hardened build "
             "is slower (or larger) than cairn.")
    L.append("")
    hdr = (["workload"] + ["time %s/cairn" % h for h in hard]
           + ["RSS %s/cairn" % h for h in hard])
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" + "---:|" * (len(hdr) - 1))
    series = {(h, k): [] for h in hard for k in ("time", "rss_kib")}
    for w in data["workloads"]:
        if not compared(w):
            continue
        c = cells.get((w["name"], "cairn"))
        row = [w["name"]]
        for k in ("time", "rss_kib"):
            for h in hard:
                q = cells.get((w["name"], h))
                if c and q and c[k] and q[k]:
                    series[(h, k)].append(q[k] / c[k])
                    row.append("%.2f" % (q[k] / c[k]))
                else:
                    row.append(_no_ratio(cells, w["name"], h).replace("peer ", ""))
        L.append("| " + " | ".join(row) + " |")
    row = ["**geometric mean**"]
    for k in ("time", "rss_kib"):
        for h in hard:
            xs = series[(h, k)]
            row.append("**%.2f** (%d)" % (geomean(xs), len(xs)) if xs else "-")
    L.append("| " + " | ".join(row) + " |")
    L.append("")
    return L


def _idle_section(data, cells):
    """'Memory given back while idle': the idle workload's RSS samples."""
    idle = [w for w in data["workloads"] if w["base"] == "idle"]
    if not idle:
        return []
    allocs = [a["name"] for a in data["allocators"]]
    L = ["## Memory given back while idle", ""]
    L.append("`idle` allocates mixed sizes, frees all but about 1% of the blocks and then "
             "makes no allocator call while it samples its own RSS (`/proc/self/statm`), so "
             "this shows what each allocator returns to the system without being called. "
             "Lower is better; *live* is what is still allocated. Its wall time (mostly "
             "sleep) and peak RSS (the same for everyone) are in no ratio or geometric mean.")
    L.append("")
    for w in idle:
        if len(idle) > 1:
            L.append("`%s`:" % w["name"])
            L.append("")
        L.append("| allocator | peak RSS (MiB) | RSS 1 s after the frees (MiB) | "
                 "RSS at the end (MiB) | live (MiB) |")
        L.append("|---|---:|---:|---:|---:|")
        for a in allocs:
            c = cells.get((w["name"], a))
            if c is None:
                continue
            if c["status"] != "ok":
                L.append("| %s | %s | | | |" % (a, _fail(c)))
                continue
            m = c["metrics"]
            L.append("| %s | %s | %s | %s | %s |" % (
                a, _fmt_mib(m.get("rss_peak_kib")), _fmt_mib(m.get("rss_1s_kib")),
                _fmt_mib(m.get("rss_end_kib")), _fmt_small_mib(m.get("live_kib"))))
        L.append("")
    return L


def markdown(data, name, for_docs=False):
    allocs, cells, ratios, geo = summarize(data)
    W = data["workloads"]
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
    L.append(_allocators_line(data))
    L.append("")
    if "cairn" in allocs:
        L += _best_peer_section(data, cells, geo)
        L += _per_peer_section(data, ratios, geo, cells)
        L += _hardened_section(data, cells)
    L += _idle_section(data, cells)
    for title, key, fmt in (("Wall time (median, seconds)", "time", _fmt_time),
                            ("Peak RSS (median, MiB)", "rss_kib", _fmt_mib)):
        L.append("## " + title)
        L.append("")
        L.append("| workload | " + " | ".join(allocs) + " |")
        L.append("|---|" + "---:|" * len(allocs))
        for w in W:
            row = [w["name"] if compared(w) else "%s (not compared)" % w["name"]]
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
        # the best peer of each workload (metrics: which peer it was)
        rows, bgeo = best_peers(data, cells)
        for wname, r in rows.items():
            wr.writerow([wname, "best-peer", "ok" if r["time_peer"] else "no peer succeeded",
                         "", "", "" if r["time"] is None else "%.4f" % r["time"],
                         "" if r["rss_kib"] is None else "%d" % r["rss_kib"],
                         "" if r["time_ratio"] is None else "%.4f" % r["time_ratio"],
                         "" if r["rss_ratio"] is None else "%.4f" % r["rss_ratio"],
                         "time_peer=%s rss_peer=%s" % (r["time_peer"], r["rss_peer"])])
        for p, g in geo.items():
            wr.writerow(["GEOMEAN", p, "", g[2], "", "", "",
                         "" if g[0] is None else "%.4f" % g[0],
                         "" if g[1] is None else "%.4f" % g[1], ""])
        if rows:
            wr.writerow(["GEOMEAN", "best-peer", "", bgeo[2], "", "", "",
                         "" if bgeo[0] is None else "%.4f" % bgeo[0],
                         "" if bgeo[1] is None else "%.4f" % bgeo[1],
                         "rss_workloads=%d" % bgeo[3]])


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
    """Grouped bar charts (log scale) of time and RSS normalised to cairn,
    for the compared workloads."""
    if not shutil.which("gnuplot"):
        return []
    allocs, cells, _, _ = summarize(data)
    ref = "cairn" if "cairn" in allocs else allocs[0]
    out = []
    for key, what in (("time", "wall time"), ("rss_kib", "peak RSS")):
        rows = []
        for w in data["workloads"]:
            if not compared(w):
                continue
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
        plots = []
        for i, a in enumerate(allocs):
            plots.append("'%s' using %d%s title '%s' lc rgb '%s'" % (
                dat, i + 2, ":xtic(1)" if i == 0 else "", a, color(i)))
        width = max(1200, max(60, 10 * len(allocs) + 10) * len(rows) + 200)
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


def timeline_series(data, wname):
    """[(allocator index, name, [[ms, kib], ...])] of a workload: the
    timeline of each allocator's median-time successful run."""
    out = []
    for i, a in enumerate(a["name"] for a in data["allocators"]):
        r = median_run(data, wname, a)
        if r and r.get("timeline"):
            out.append((i, a, r["timeline"]))
    return out


def timeline_charts(data, outdir, name):
    """One line chart per workload that printed timelines: RSS (MiB) over
    time (s), one line per allocator -> NAME-timeline-WORKLOAD.png."""
    if not shutil.which("gnuplot"):
        return []
    out = []
    label = data.get("label") or ""
    for w in data["workloads"]:
        series = timeline_series(data, w["name"])
        if not series:
            continue
        stem = "%s-timeline-%s" % (name, w["name"])
        dat, gpf, png = (outdir / (stem + ext) for ext in (".dat", ".gp", ".png"))
        with open(dat, "w") as f:
            for _, a, samples in series:          # one gnuplot index per allocator
                f.write("# %s\n" % a)
                for ms, kib in samples:
                    f.write("%.3f %.3f\n" % (ms / 1000.0, kib / 1024.0))
                f.write("\n\n")
        plots = ["'%s' index %d using 1:2 title '%s' with lines lw 2 lc rgb '%s'"
                 % (dat, k, a, color(i)) for k, (i, a, _) in enumerate(series)]
        origin = TIMELINE_ORIGIN.get(w["base"], "the workload's start")
        gp = """
set terminal pngcairo size 1200,640 font "DejaVu Sans,11"
set output '{png}'
set title "RSS over time: {wl}\\n{{/*0.8 {sub}}}"
set xlabel "seconds since {origin}"
set ylabel "resident memory (MiB)"
set yrange [0:*]
set grid lc rgb '#cccccc'
set key outside right top vertical
plot {plots}
""".format(png=png, wl=w["name"], origin=origin, plots=", ".join(plots),
           sub="%smode %s, median-time run of each allocator, sampled by the workload "
               "from /proc/self/statm; a missing allocator failed or was not run"
               % ((label.replace('"', "'") + "; ") if label else "", data["mode"]))
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
    if shutil.which("gnuplot"):
        paths += charts(data, outdir, name)
        paths += timeline_charts(data, outdir, name)
    else:
        print("notice: gnuplot not found (Debian package gnuplot-nox): no PNG charts written")
    return paths


def console_summary(data):
    allocs, cells, ratios, geo = summarize(data)
    lines = []
    width = {a: max(14, len(a) + 2) for a in allocs}
    hdr = "%-16s" % "workload" + "".join(a.rjust(width[a]) for a in allocs)
    lines.append("median wall time s / peak RSS MiB")
    lines.append(hdr)
    for w in data["workloads"]:
        s = "%-16s" % w["name"]
        for a in allocs:
            c = cells.get((w["name"], a))
            if c is None:
                cell = "-"
            elif c["status"] != "ok":
                cell = ("FAIL:" + c["status"].split(" ")[0])[:13]
            else:
                cell = "%.3g/%.0f" % (c["time"], c["rss_kib"] / 1024.0)
            s += cell.rjust(width[a])
        lines.append(s)
    hardened = {a for a, grp in groups(data).items() if grp == "hardened"}
    for p, g in geo.items():
        if g[0]:
            lines.append("geomean cairn/%s: time %.3f, RSS %.3f over %d workloads (<1 = cairn better)%s"
                         % (p, g[0], g[1] or float("nan"), g[2],
                            " [hardened build]" if p in hardened else ""))
    if "cairn" in allocs:
        rows, bgeo = best_peers(data, cells)
        if bgeo[0]:
            lines.append("geomean cairn/best peer: time %.3f over %d, RSS %s over %d workloads"
                         % (bgeo[0], bgeo[2], "%.3f" % bgeo[1] if bgeo[1] else "-", bgeo[3]))
    return "\n".join(lines)


def _lib_cell(alloc):
    """The preloaded library, relative to the checkout when it is in it or
    beside it (../shared/peers)."""
    lib = alloc.get("source_lib") or alloc.get("lib")
    if not lib:
        return "none (glibc malloc)"
    if lib.startswith(str(ROOT.parent) + os.sep):
        return "`%s`" % os.path.relpath(lib, ROOT)
    return "`%s`" % lib


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
    L.append("make bench BENCH_ARGS=--hardened       # also the hardened builds (mimalloc3-secure, snmalloc-checks)")
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
    L.append("| allocator | group | version | build | preloaded library |")
    L.append("|---|---|---|---|---|")
    for a in data["allocators"]:
        L.append("| %s | %s | %s | %s | %s |" % (
            a["name"], group_of(a), a.get("version") or "?" if not a.get("sha256")
            else "%s, sha256 %s" % (a.get("version"), a["sha256"]),
            a.get("build") or "-", _lib_cell(a)))
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
    for w in data["workloads"]:
        png = ROOT / "bench" / "results" / ("%s-timeline-%s.png" % (name, w["name"]))
        if not png.exists() or not timeline_series(data, w["name"]):
            continue
        L.append("RSS over time in `%s`: each line is one allocator's resident memory, sampled "
                 "by the workload itself, during its median-time run; x is seconds since %s. "
                 "It shows %s." % (
                     w["name"], TIMELINE_ORIGIN.get(w["base"], "the workload's start"),
                     TIMELINE_SHOWS.get(w["base"], "how each allocator's footprint evolves")))
        L.append("")
        L.append("![RSS over time, %s](%s)" % (w["name"], os.path.relpath(png, path.parent)))
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
             "`build/bench/`; cxx-map is `bench/workloads/cxx_map.cpp`, built with "
             "`g++ -O2 -std=c++17` against libstdc++), written from the published descriptions of the standard "
             "allocator benchmarks (Larson & Krishnan, the Hoard paper's cache-scratch/"
             "cache-thrash, xmalloc-test, mimalloc-bench's mstress/alloc-test/malloc-large, "
             "glibc's bench-malloc-simple/thread). Multi-threaded variants (`-2t`, `-4t`) do "
             "the same total work whatever the thread count. Real-program inputs are "
             "generated deterministically under `build/bench/inputs/`.")
    L.append("")
    L.append("## Method")
    L.append("")
    L.append("- cairn runs with `LD_PRELOAD=build/libcairn.so`; jemalloc, tcmalloc and mimalloc "
             "(2.0) with their Debian libraries preloaded; glibc with no preload; the newer "
             "peers (mimalloc3, mimalloc24, snmalloc, rpmalloc) and the hardened builds "
             "(mimalloc3-secure, snmalloc-checks, run only with `--hardened` or `--alloc`) "
             "with the prebuilt libraries of `../shared/peers`, when that folder is there "
             "(versions and builds in the table above). Before running, the "
             "runner checks with `build/bench/probe` that `malloc` really resolves into the "
             "preloaded library. Debian's redis-server is linked with libjemalloc, so its glibc "
             "column preloads `build/bench/libglibcshim.so`, which routes malloc & co. to "
             "glibc's `__libc_malloc` family.")
    L.append("- Allocators are interleaved (%s, then again), each workload runs %d times per "
             "allocator; tables show medians." % (
                 " ".join(a["name"] for a in data["allocators"]), data["reps"]))
    L.append("- The best peer of a workload is the fastest (for time) or the smallest (for peak "
             "RSS) of the peers that succeeded on it, hardened builds excluded. `idle` is in no "
             "ratio or geometric mean: its wall time is mostly sleep and its peak RSS is what "
             "it allocates; its RSS after the frees is in its own table and chart.")
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
