#!/usr/bin/env python3
"""cairn benchmark runner.

Runs every workload (bench/workloads.py) under cairn (LD_PRELOAD=build/
libcairn.so) and under each peer allocator: glibc (no preload), jemalloc,
tcmalloc and mimalloc 2.0 (Debian packages, installed with apt-get when
missing) and, when the folder ../shared/peers beside the checkout exists,
the newer prebuilt peers in it: mimalloc3 (3.4.3), mimalloc24 (2.4.1),
snmalloc (0.7.5) and rpmalloc (2.0.1). Their hardened builds
(mimalloc3-secure, snmalloc-checks) run only when asked for, with --alloc
or --hardened. Allocators are interleaved (A B C D E A B C D E ...), each
workload is repeated (3 times by default) and the median wall time and the
median peak RSS of the child (kernel accounting, os.wait4 rusage) are
reported. Every run's deterministic result is compared with glibc's; a
crash, a non-zero exit, a timeout or a different result is a failure, never
a time.

Examples:
  python3 bench/run.py --mode quick
  python3 bench/run.py --mode full --only larson --alloc cairn,glibc
  python3 bench/run.py --mode quick --only churn --hardened
  python3 bench/run.py --mode full --write-docs          (what `make bench` does)
  python3 bench/run.py --report-only --write-docs        (re-render from JSON)

Outputs (bench/results/NAME.*, NAME = latest | quick | partial | --out):
  NAME.csv        one row per workload x allocator (medians, ratios)
  NAME-runs.csv   one row per run
  NAME.md         Markdown tables (time, RSS, cairn/peer ratios, metrics)
  NAME-time.png, NAME-rss.png   charts normalised to cairn
  NAME-timeline-W.png           RSS over time of workload W, per allocator
  NAME.json       everything (with the RSS timelines), for --report-only
"""

import argparse
import datetime
import hashlib
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402
import workloads as W  # noqa: E402

ROOT = W.ROOT
BUILD = W.BUILD
RESULTS = ROOT / "bench" / "results"
MULTIARCH = "/usr/lib/x86_64-linux-gnu"

# Prebuilt newer peers (and their README.md with a table of versions and
# builds), shared by the project's machines beside the checkout.
PEERS_DIR = ROOT.parent / "shared" / "peers"

# Allocator groups: "cairn"; "peer" (run by default, candidates for the best
# peer in the report); "hardened" (security-hardened builds, run only when
# asked for with --alloc or --hardened, never the best peer).
#
# name, group, LD_PRELOAD library (None = no preload), Debian package
# (None for a prebuilt library from PEERS_DIR, used when that folder exists)
ALLOCATORS = [
    ("cairn", "cairn", str(ROOT / "build" / "libcairn.so"), None),
    ("glibc", "peer", None, "libc6"),
    ("jemalloc", "peer", MULTIARCH + "/libjemalloc.so.2", "libjemalloc2"),
    ("tcmalloc", "peer", MULTIARCH + "/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
    ("mimalloc", "peer", MULTIARCH + "/libmimalloc.so.2", "libmimalloc2.0"),
    ("mimalloc3", "peer", str(PEERS_DIR / "mimalloc-3.4.3.so"), None),
    ("mimalloc24", "peer", str(PEERS_DIR / "mimalloc-2.4.1.so"), None),
    ("snmalloc", "peer", str(PEERS_DIR / "snmalloc-0.7.5.so"), None),
    ("rpmalloc", "peer", str(PEERS_DIR / "rpmalloc-2.0.1.so"), None),
    ("cairn-secure", "hardened", str(ROOT / "build" / "libcairn-secure.so"), None),
    ("mimalloc3-secure", "hardened", str(PEERS_DIR / "mimalloc-secure-3.4.3.so"), None),
    ("snmalloc-checks", "hardened", str(PEERS_DIR / "snmalloc-checks-0.7.5.so"), None),
]
ALLOC_NAMES = [a[0] for a in ALLOCATORS]

MODES = {
    # reps, default per-run timeout (s), thread counts for multi-threaded workloads
    "full": dict(reps=3, timeout=300, threads=[2, 4]),
    "quick": dict(reps=3, timeout=60, threads=[2]),
    "smoke": dict(reps=1, timeout=60, threads=[2]),
}


def log(msg=""):
    print(msg, flush=True)


def fmt_dur(s):
    s = int(s)
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)


# --------------------------------------------------------------------------
# allocator selection
# --------------------------------------------------------------------------

def is_shared_peer(entry):
    """True for an ALLOCATORS entry that is a prebuilt library of PEERS_DIR."""
    name, _, lib, pkg = entry
    return name != "cairn" and pkg is None and lib is not None


def default_allocators(mode, hardened=False, peers_dir=None):
    """The allocators run when --alloc is not given: cairn and glibc in smoke
    mode, otherwise every "peer" (the PEERS_DIR ones only when that folder
    exists); the "hardened" ones only with hardened=True (--hardened)."""
    peers_dir = PEERS_DIR if peers_dir is None else peers_dir
    names = []
    for entry in ALLOCATORS:
        name, group = entry[0], entry[1]
        if is_shared_peer(entry) and not peers_dir.is_dir():
            continue
        if mode == "smoke":
            if name in ("cairn", "glibc") or (hardened and group == "hardened"):
                names.append(name)
        elif group != "hardened" or hardened:
            names.append(name)
    return names


def wanted_allocators(alloc_arg, mode, hardened=False):
    """Names to run, in ALLOCATORS order: --alloc's list (plus the hardened
    builds with --hardened) or the defaults. Exits on an unknown name."""
    if alloc_arg:
        wanted = [a.strip() for a in alloc_arg.split(",") if a.strip()]
        unknown = sorted(set(wanted) - set(ALLOC_NAMES))
        if unknown:
            sys.exit("unknown allocator(s): %s (known: %s)"
                     % (", ".join(unknown), ", ".join(ALLOC_NAMES)))
        if hardened:
            wanted += [a[0] for a in ALLOCATORS if a[1] == "hardened"]
    else:
        wanted = default_allocators(mode, hardened)
    return [n for n in ALLOC_NAMES if n in wanted]


def shared_peer_builds(readme):
    """file name -> {"project", "release", "build"} from the table in
    PEERS_DIR/README.md (| file | project | version | build |); {} when the
    file is missing or has no such table."""
    rows = {}
    try:
        text = Path(readme).read_text(errors="replace")
    except OSError:
        return rows
    for line in text.splitlines():
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cols) == 4 and cols[0].endswith(".so"):
            rows[cols[0]] = {"project": cols[1], "release": cols[2], "build": cols[3]}
    return rows


def version_from_file_name(lib):
    """'3.4.3' for .../mimalloc-secure-3.4.3.so (None without a version)."""
    m = re.search(r"-(\d+(?:\.\d+)+)\.so$", os.path.basename(lib))
    return m.group(1) if m else None


# --------------------------------------------------------------------------
# packages
# --------------------------------------------------------------------------

class Packages:
    def __init__(self, allow_install=True):
        self.allow = allow_install
        self.updated = False
        self.failed = set()

    def installed_version(self, pkg):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}|${Version}", pkg],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if r.returncode != 0 or "install ok installed" not in r.stdout:
            return None
        return r.stdout.split("|", 1)[1]

    def install(self, pkg):
        if pkg in self.failed:
            return False
        if not self.allow:
            self.failed.add(pkg)
            return False
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            log("notice: cannot install %s (need root and apt-get)" % pkg)
            self.failed.add(pkg)
            return False
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        env.pop("LD_PRELOAD", None)
        for attempt in range(2):
            if attempt == 1:
                if self.updated:
                    break
                log("apt-get update ...")
                subprocess.run(["apt-get", "update"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                self.updated = True
            log("apt-get install -y %s ..." % pkg)
            r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", pkg],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
            if r.returncode == 0:
                return True
            last = r.stdout.strip().splitlines()[-1:] or [""]
            log("notice: apt-get install %s failed: %s" % (pkg, last[0]))
        self.failed.add(pkg)
        return False

    def ensure(self, pkg, binary=None):
        """True when `binary` (a command name or absolute path) is available."""
        def present():
            if binary is None:
                return self.installed_version(pkg) is not None
            return (os.path.exists(binary) if binary.startswith("/")
                    else shutil.which(binary) is not None)
        if present():
            return True
        return self.install(pkg) and present()

    def files(self, pkg):
        r = subprocess.run(["dpkg", "-L", pkg], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        return r.stdout.splitlines() if r.returncode == 0 else []


# --------------------------------------------------------------------------
# running children
# --------------------------------------------------------------------------

def describe_status(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return "crash (%s)" % name
    code = os.WEXITSTATUS(status)
    return "ok" if code == 0 else "exit %d" % code


def _killpg(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Job:
    """A measured child. It runs under build/bench/runwrap (in its own
    process group), which fork+execs the command, reaps it with wait4 and
    writes its wait status, ru_maxrss and wall time: so the peak RSS is the
    child's own (and its waited-for descendants'), never the runner's, whose
    high-water mark a child exec'd directly from Python would inherit.
    LD_PRELOAD is handed to runwrap as an argument so that only the measured
    command loads the allocator."""

    def __init__(self, cmd, env, cwd, stdout, stderr, stdin=None):
        env = dict(env)
        pre = env.pop("LD_PRELOAD", None)
        self.rufile = stdout + ".rusage"
        if os.path.exists(self.rufile):
            os.unlink(self.rufile)
        wrapped = ([str(BUILD / "runwrap"), self.rufile]
                   + (["LD_PRELOAD=" + pre] if pre else []) + ["--"] + list(cmd))
        self.t0 = time.perf_counter()
        self.stdout_path, self.stderr_path = stdout, stderr
        fin = open(stdin, "rb") if stdin else subprocess.DEVNULL
        with open(stdout, "wb") as so, open(stderr, "wb") as se:
            self.p = subprocess.Popen(wrapped, env=env, cwd=cwd, stdin=fin, stdout=so,
                                      stderr=se, start_new_session=True)
        if stdin:
            fin.close()
        self.pid = self.p.pid
        self.reaped = None

    def poll(self):
        if self.reaped is None:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
            if pid == 0:
                return None
            self._reaped(status)
        return self.reaped[0]

    def _reaped(self, wrapper_status):
        wall = time.perf_counter() - self.t0
        self.p.returncode = -1  # keep Popen from waiting on a reaped pid
        _killpg(self.pid)       # leftovers of the group (daemonised helpers)
        status, maxrss = wrapper_status, None
        try:
            f = open(self.rufile).read().split()
            status, maxrss, wall = int(f[0]), int(f[1]), int(f[2]) / 1e9
        except (OSError, ValueError, IndexError):
            pass                # wrapper killed (timeout) or failed
        self.reaped = (status, maxrss, wall)

    def wait(self, timeout):
        timed_out = []

        def expire():
            timed_out.append(True)
            _killpg(self.pid)
        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            if self.reaped is None:
                _, status, _ = os.wait4(self.pid, 0)
                self._reaped(status)
        finally:
            timer.cancel()
        return bool(timed_out)

    def kill(self):
        if self.reaped is None:
            _killpg(self.pid)
            self.wait(30)

    def output(self):
        def rd(p):
            try:
                return Path(p).read_text(errors="replace")
            except OSError:
                return ""
        return rd(self.stdout_path), rd(self.stderr_path)

    def finish(self, error, wait=30):
        """Outcome of a job: error=None means 'it should exit cleanly now'."""
        if error is not None and self.poll() is None:
            _killpg(self.pid)
        timed_out = self.wait(wait)
        status, maxrss, wall = self.reaped
        st = describe_status(status)
        if timed_out:
            st = "timeout"
        elif error is not None and not st.startswith("crash"):
            st = "error: " + error
        o = W.Outcome(st, wall=wall, maxrss_kib=maxrss)
        o.stdout, o.stderr = self.output()
        return o


class Context:
    def __init__(self, runner, alloc, rundir, timeout):
        self.runner = runner
        self.alloc = alloc
        self.tmpdir = BUILD / "tmp"
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.rundir = rundir
        self.timeout = timeout
        self.nspawn = 0

    def ensure_package(self, pkg, binary):
        return self.runner.packages.ensure(pkg, binary)

    def spawn(self, cmd, env, stdin=None):
        self.nspawn += 1
        base = self.rundir / ("%s.%d" % (self.alloc, self.nspawn))
        return Job(cmd, env, str(self.tmpdir), str(base) + ".out", str(base) + ".err", stdin)

    def execute(self, cmd, env, stdin=None):
        job = self.spawn(cmd, env, stdin)
        timed_out = job.wait(self.timeout)
        status, maxrss, wall = job.reaped
        st = "timeout" if timed_out else describe_status(status)
        if st == "ok" and maxrss is None:
            st = "error: no rusage from runwrap"
        o = W.Outcome(st, wall=wall, maxrss_kib=maxrss)
        o.stdout, o.stderr = job.output()
        return o


# --------------------------------------------------------------------------
# the runner
# --------------------------------------------------------------------------

class Runner:
    def __init__(self, args):
        self.args = args
        self.mode = args.mode
        self.cfg = MODES[self.mode]
        self.packages = Packages(allow_install=not args.no_install)
        self.reps = args.reps or self.cfg["reps"]
        self.threads = ([int(t) for t in args.threads.split(",")] if args.threads
                        else self.cfg["threads"])
        self.notices = []

    def notice(self, msg):
        log("notice: " + msg)
        self.notices.append(msg)

    # ---- allocators ----------------------------------------------------
    def setup_allocators(self, wanted):
        allocs = []
        builds = shared_peer_builds(PEERS_DIR / "README.md")
        for entry in ALLOCATORS:
            name, group, lib, pkg = entry
            if name not in wanted:
                continue
            if name == "cairn" and self.args.cairn_lib:
                lib = os.path.abspath(self.args.cairn_lib)
            info = {"name": name, "group": group, "lib": lib, "package": pkg,
                    "version": None}
            if is_shared_peer(entry):
                if not os.path.exists(lib):
                    self.notice("%s skipped: %s not found" % (name, lib))
                    continue
                info.update(self.shared_peer_info(lib, builds))
            elif name == "cairn":
                if not os.path.exists(lib) and not self.args.cairn_lib:
                    log("build/libcairn.so missing: running `make all` ...")
                    subprocess.run(["make", "-C", str(ROOT), "-s", "all"])
                if not os.path.exists(lib):
                    self.notice("cairn skipped: build/libcairn.so could not be built "
                                "(`make all` failed)")
                    continue
                info["version"] = cairn_version()
                # Preload a snapshot, so that a rebuild of build/libcairn.so
                # during the run (overwriting a mapped library crashes the
                # processes using it) cannot affect the measurements.
                snap = BUILD / "cairn-under-test.so"
                shutil.copyfile(os.path.realpath(lib), snap)
                info["sha256"] = hashlib.sha256(snap.read_bytes()).hexdigest()[:16]
                info["build"] = ("--cairn-lib %s" % lib if self.args.cairn_lib
                                 else "this checkout (make all)")
                info["source_lib"] = lib
                lib = info["lib"] = str(snap)
            else:
                if lib and not os.path.exists(lib):
                    if self.packages.install(pkg):
                        cands = [f for f in self.packages.files(pkg)
                                 if os.path.basename(f) == os.path.basename(lib)]
                        if cands:
                            lib = info["lib"] = cands[0]
                if lib and not os.path.exists(lib):
                    self.notice("%s skipped: package %s could not be installed" % (name, pkg))
                    continue
                info["version"] = self.packages.installed_version(pkg)
                info["build"] = ("Debian package %s" % pkg if lib
                                 else "Debian libc6, no preload")
            # verify the preload really takes effect
            probe = BUILD / "probe"
            if probe.exists():
                r = subprocess.run([str(probe)], env=self.env_for(info, None),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                first = r.stdout.splitlines()[0] if r.stdout else ""
                expect = os.path.realpath(lib) if lib else "libc.so"
                got = first.split(": ", 1)[-1]
                ok = r.returncode == 0 and (
                    os.path.realpath(got) == expect if lib else "libc.so" in got)
                if not ok:
                    self.notice("%s skipped: preload check failed: %s"
                                % (name, r.stdout.strip().replace("\n", " | ")))
                    continue
                info["probe"] = got
            allocs.append(info)
        return allocs

    @staticmethod
    def shared_peer_info(lib, builds):
        """Version (from the file name), build description (from the README
        table, when it lists the file) and sha256 of a prebuilt peer."""
        base = os.path.basename(lib)
        row = builds.get(base)
        build = "prebuilt " + base
        if row:
            build = "%s %s; %s" % (row["project"], row["release"], row["build"])
        return {"version": version_from_file_name(lib) or "?", "build": build,
                "sha256": hashlib.sha256(Path(lib).read_bytes()).hexdigest()[:16]}

    def env_for(self, alloc, workload):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        env["LC_ALL"] = "C"
        if alloc["lib"]:
            env["LD_PRELOAD"] = os.path.realpath(alloc["lib"])
        elif workload is not None and getattr(workload, "glibc_shim", False):
            env["LD_PRELOAD"] = str(BUILD / "libglibcshim.so")
        return env

    # ---- selection -----------------------------------------------------
    def select(self):
        ws = W.all_workloads(self.threads)
        if self.mode == "smoke" and not self.args.only:
            ws = [w for w in ws if w.name == "larson-%dt" % self.threads[0]]
        if self.args.only:
            keys = [k.strip() for k in self.args.only.split(",") if k.strip()]

            def match(w):
                return any(k in (w.name, w.base) or k == w.kind or
                           (k == "programs" and w.kind == "program") for k in keys)
            ws = [w for w in ws if match(w)]
        if self.args.skip:
            keys = [k.strip() for k in self.args.skip.split(",")]
            ws = [w for w in ws if w.name not in keys and w.base not in keys and w.kind not in keys]
        if not ws:
            sys.exit("no workload selected (see --list)")
        return ws

    # ---- main loop -----------------------------------------------------
    def run(self):
        args = self.args
        wanted = wanted_allocators(args.alloc, self.mode, args.hardened)
        if not args.alloc and not PEERS_DIR.is_dir() and self.mode != "smoke":
            log("(no %s: running the Debian peers only)" % PEERS_DIR)
        workloads = self.select()
        if not args.no_build:
            self.ensure_build_packages(workloads)
            r = subprocess.run(["make", "-C", str(ROOT), "-s", "bench-build"])
            if r.returncode != 0:
                sys.exit("make bench-build failed")
        allocs = self.setup_allocators(wanted)
        if not allocs:
            sys.exit("no allocator available")
        if "cairn" in wanted and not any(a["name"] == "cairn" for a in allocs) \
                and self.mode in ("smoke",):
            sys.exit("cairn is not available: smoke test cannot run")

        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        rawdir = RESULTS / "raw" / stamp
        if self.mode == "smoke":
            rawdir = BUILD / "smoke" / "raw"
            shutil.rmtree(rawdir, ignore_errors=True)
        rawdir.mkdir(parents=True, exist_ok=True)
        if self.mode != "smoke":   # keep the raw output of the last 10 runs
            old = sorted(p for p in (RESULTS / "raw").iterdir() if p.is_dir())[:-10]
            for p in old:
                shutil.rmtree(p, ignore_errors=True)

        prepared = []
        for w in workloads:
            try:
                t0 = time.time()
                w.prepare(self.mode, Context(self, "prep", rawdir, 600))
                if time.time() - t0 > 1:
                    log("prepared %s inputs (%.1f s)" % (w.name, time.time() - t0))
                prepared.append(w)
            except W.Skip as e:
                self.notice("%s skipped: %s" % (w.name, e))
            except Exception as e:  # input generation failure
                self.notice("%s skipped: preparing inputs failed: %s" % (w.name, e))
        workloads = prepared

        log("mode %s: %d workloads x %d allocators (%s) x %d reps; raw output in %s"
            % (self.mode, len(workloads), len(allocs), ",".join(a["name"] for a in allocs),
               self.reps, os.path.relpath(rawdir, ROOT)))
        total = len(workloads) * len(allocs) * self.reps
        done = 0
        t_start = time.time()
        runs = []
        for w in workloads:
            wdir = rawdir / w.name
            wdir.mkdir(parents=True, exist_ok=True)
            failed = {}
            best = None
            wruns = []
            for rep in range(self.reps):
                for a in allocs:
                    done += 1
                    if a["name"] in failed:
                        continue
                    timeout = args.timeout or self.cfg["timeout"]
                    if best is not None and not args.timeout:
                        timeout = min(timeout, max(60.0, 30 * best))
                    repdir = wdir / ("rep%d" % rep)
                    repdir.mkdir(exist_ok=True)
                    ctx = Context(self, a["name"], repdir, timeout)
                    try:
                        o = w.run(self.mode, self.env_for(a, w), ctx)
                    except Exception as e:  # a driver problem is a failed run, not a crash
                        o = W.Outcome("error: %s: %s" % (type(e).__name__, e))
                        o.stdout = o.stderr = ""
                    err = getattr(o, "stderr", "") or ""
                    if o.status == "ok" and "cannot be preloaded" in err:
                        o.status = "preload failed"
                    if o.status == "ok" and w.name == "frag" and o.metrics.get("peak_live_kib"):
                        o.metrics["rss_over_live"] = o.maxrss_kib / o.metrics["peak_live_kib"]
                    run = {"workload": w.name, "alloc": a["name"], "rep": rep,
                           "status": o.status, "wall_s": o.wall, "maxrss_kib": o.maxrss_kib,
                           "result": o.result, "metrics": o.metrics,
                           "stderr_tail": err.strip()[-400:] if o.status != "ok" else ""}
                    if getattr(o, "timeline", None):
                        run["timeline"] = o.timeline
                    wruns.append(run)
                    if o.status == "ok" and (best is None or o.wall < best):
                        best = o.wall
                    if o.status != "ok":
                        failed[a["name"]] = o.status
                    el = time.time() - t_start
                    eta = el / done * (total - done)
                    log("[%3d/%d %s eta %s] %-16s %-9s #%d %s" % (
                        done, total, fmt_dur(el), fmt_dur(eta), w.name, a["name"], rep + 1,
                        ("%8.3f s %8.1f MiB  ok" % (o.wall, o.maxrss_kib / 1024.0))
                        if o.status == "ok" else "FAILED: %s" % o.status))
                    if o.status != "ok" and err.strip():
                        for line in err.strip().splitlines()[-3:]:
                            log("      | " + line[:200])
                # compare results as soon as a repetition is complete
                for name, why in check_results(wruns).items():
                    if name not in failed:
                        failed[name] = why
                        bad = [r for r in wruns if r["alloc"] == name and r["status"] == why]
                        log("      %s: %s under %s: %s" % (why.upper(), w.name, name,
                                                           bad[0]["stderr_tail"][:300]))
            if isinstance(w, W.CWorkload) and w.base == "fastpath":
                self.instructions(w, allocs, wruns)
            for r in wruns:
                if r["status"] != "ok":
                    r["repro"] = repro_for(w, self.mode, allocs, r["alloc"])
                    log("FAILURE %s under %s (rep %d): %s\n  reproduce: %s"
                        % (w.name, r["alloc"], r["rep"] + 1, r["status"], r["repro"]))
            runs.extend(wruns)

        elapsed = time.time() - t_start
        log("finished %d runs in %s" % (len(runs), fmt_dur(elapsed)))
        data = {
            "meta": machine_info(),
            "mode": self.mode,
            "reps": self.reps,
            "threads": self.threads,
            "label": args.label,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "elapsed_s": elapsed,
            "command": " ".join(shlex.quote(x) for x in sys.argv),
            "make_command": os.environ.get("BENCH_MAKE_COMMAND"),
            "allocators": allocs,
            "workloads": [{"name": w.name, "base": w.base, "kind": w.kind, "desc": w.desc,
                           "metric": w.metric, "compare": getattr(w, "compare", True),
                           "repro": w.repro(self.mode)} for w in workloads],
            "runs": runs,
            "notices": self.notices,
            "raw": os.path.relpath(rawdir, ROOT),
        }
        return data

    def ensure_build_packages(self, workloads):
        """Install what the selected workloads need to be built (g++ for the
        C++ ones) before `make bench-build`; without it bench.mk leaves them
        out and they are skipped with a notice."""
        for pkg, binary in sorted({pb for w in workloads
                                   for pb in getattr(w, "build_packages", ())}):
            if not self.packages.ensure(pkg, binary):
                self.notice("package %s (%s) not available: %s not built" % (
                    pkg, binary, ", ".join(w.name for w in workloads
                                           if (pkg, binary) in getattr(w, "build_packages", ()))))

    def instructions(self, w, allocs, wruns):
        """Instructions per malloc+free pair on the fast path: from callgrind,
        or, for an allocator that cannot start under valgrind, by
        single-stepping the real binary (bench/icount.c; slower, so shorter
        runs). Both take the difference of two run lengths, so start-up and
        exit cancel; on the allocators both can run they agree within 0.5."""
        have_vg = self.packages.ensure("valgrind", "valgrind")
        if not have_vg:
            self.notice("valgrind not available: instruction counts by single-stepping")
        ok_allocs = {r["alloc"] for r in wruns if r["status"] == "ok"}
        for a in allocs:
            if a["name"] not in ok_allocs:
                continue
            env = self.env_for(a, w)
            ipp = callgrind_per_pair(env, self.mode) if have_vg else None
            how, key = "callgrind", "instr_per_pair"
            if ipp is None:
                ipp, how, key = icount_per_pair(env, self.mode), "single-step", "step_instr_per_pair"
            if ipp is None:
                self.notice("no instruction count for %s (callgrind and single-step failed)"
                            % a["name"])
                continue
            for r in wruns:
                if r["alloc"] == a["name"] and r["status"] == "ok":
                    r["metrics"][key] = ipp
            log("fastpath instructions per malloc+free pair (%s) %-9s %6.1f" % (how, a["name"], ipp))


def fastpath_cmd(n):
    return [str(BUILD / "fastpath"), "n=%d" % n, "size=32", "phases=pair"]


def per_pair(counts, n1, n2):
    return None if len(counts) != 2 else (counts[1] - counts[0]) / float(n2 - n1)


def callgrind_per_pair(env, mode):
    n1, n2 = {"full": (200000, 1200000), "quick": (100000, 600000),
              "smoke": (10000, 60000)}[mode]
    counts = []
    for n in (n1, n2):
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + fastpath_cmd(n)
        r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=600)
        m = [l for l in r.stderr.splitlines() if "Collected :" in l]
        if r.returncode != 0 or not m:
            return None
        counts.append(int(m[-1].split(":")[-1].strip()))
    return per_pair(counts, n1, n2)


def icount_per_pair(env, mode):
    """About 20 us per instruction on this machine: short runs."""
    icount = BUILD / "icount"
    if not icount.exists():
        return None
    n1, n2 = (2000, 12000) if mode != "smoke" else (1000, 3000)
    counts = []
    for n in (n1, n2):
        r = subprocess.run([str(icount)] + fastpath_cmd(n), env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, timeout=1200)
        m = [l for l in r.stderr.splitlines() if l.startswith("icount: ") and "instructions" in l]
        if r.returncode != 0 or not m:
            return None
        counts.append(int(m[-1].split()[1]))
    return per_pair(counts, n1, n2)


def repro_for(w, mode, allocs, name):
    """The workload's reproduction command, with the allocator's preload."""
    cmd = w.repro(mode)
    lib = None
    for a in allocs:
        if a["name"] == name:
            lib = a.get("source_lib") or a["lib"]
    if name == "cairn":
        if lib and lib != ALLOCATORS[0][2]:
            cmd = cmd.replace("$PWD/build/libcairn.so", lib)
        return cmd
    if lib is None and name != "glibc":
        return cmd
    if name == "glibc":
        if getattr(w, "glibc_shim", False):
            return cmd.replace("$PWD/build/libcairn.so", "$PWD/build/bench/libglibcshim.so")
        return cmd.replace("LD_PRELOAD=$PWD/build/libcairn.so ", "").replace(
            "--alloc cairn", "--alloc glibc")
    return cmd.replace("$PWD/build/libcairn.so", lib).replace("--alloc cairn", "--alloc " + name)


def check_results(wruns):
    """Mark runs whose result differs from the reference (glibc's most common
    result, or the overall most common one). Returns {alloc: reason} for the
    allocators that mismatched."""
    ok = [r for r in wruns if r["status"] in ("ok", "mismatch")]
    if not ok:
        return {}
    ref_pool = [r["result"] for r in ok if r["alloc"] == "glibc"] or [r["result"] for r in ok]
    ref = Counter(ref_pool).most_common(1)[0][0]
    bad = {}
    for r in ok:
        if r["result"] != ref:
            r["status"] = "mismatch"
            r["stderr_tail"] = "result %r, expected %r" % (r["result"], ref)
            bad[r["alloc"]] = "mismatch"
    return bad


def cairn_version():
    v = "?"
    try:
        mk = (ROOT / "Makefile").read_text()
        for line in mk.splitlines():
            if line.startswith("VERSION"):
                v = line.split("=", 1)[1].strip()
    except OSError:
        pass
    r = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if r.returncode == 0:
        v += " (git %s)" % r.stdout.strip()
    return v


def machine_info():
    info = {"kernel": platform.release(), "cores": os.cpu_count()}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        info["debian"] = open("/etc/debian_version").read().strip()
    except OSError:
        pass
    r = subprocess.run(["gcc", "-dumpfullversion"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    info["gcc"] = r.stdout.strip()
    try:
        info["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
    except OSError:
        pass
    progs = {}
    for pkg in ("redis-server", "rocksdb-tools", "z3", "ghostscript", "lua5.4", "python3",
                "sqlite3", "gcc-12", "valgrind"):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        if r.returncode == 0 and r.stdout:
            progs[pkg] = r.stdout
    info["programs"] = progs
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=list(MODES), default="full",
                    help="full (< 30 min), quick (< 3 min) or smoke (seconds)")
    ap.add_argument("--only", help="comma list of workloads (base name like 'larson', variant "
                                   "like 'larson-4t', or 'micro' / 'programs')")
    ap.add_argument("--skip", help="comma list of workloads to leave out")
    ap.add_argument("--alloc", help="comma list of allocators (%s); default: cairn and every "
                                    "peer, the %s ones only when %s exists (smoke: "
                                    "cairn,glibc); hardened builds (%s) only when named "
                                    "here or with --hardened"
                    % (", ".join(ALLOC_NAMES), ", ".join(a[0] for a in ALLOCATORS
                                                       if is_shared_peer(a) and a[1] == "peer"),
                       os.path.relpath(PEERS_DIR, ROOT),
                       ", ".join(a[0] for a in ALLOCATORS if a[1] == "hardened")))
    ap.add_argument("--hardened", action="store_true",
                    help="also run the hardened builds (%s), in any mode"
                    % ", ".join(a[0] for a in ALLOCATORS if a[1] == "hardened"))
    ap.add_argument("--threads", help="thread counts for multi-threaded workloads, e.g. 2,4")
    ap.add_argument("--reps", type=int, help="repetitions (default 3; smoke 1)")
    ap.add_argument("--timeout", type=float, help="per-run timeout in seconds")
    ap.add_argument("--out", help="results name under bench/results/ (default: latest for an "
                                  "unfiltered full run, quick, or partial)")
    ap.add_argument("--label", default="", help="text shown at the top of the report, e.g. "
                                                "'development run on a busy machine'")
    ap.add_argument("--write-docs", action="store_true",
                    help="regenerate docs/BENCHMARKS.md (only from the 'latest' results)")
    ap.add_argument("--report-only", action="store_true",
                    help="do not run anything: re-render outputs from bench/results/OUT.json "
                         "(or build/bench/smoke/OUT.json for a smoke run)")
    ap.add_argument("--cairn-lib", help="preload this library as 'cairn' instead of "
                                        "build/libcairn.so (e.g. another build)")
    ap.add_argument("--no-install", action="store_true", help="never call apt-get")
    ap.add_argument("--no-build", action="store_true", help="do not run make bench-build")
    ap.add_argument("--list", action="store_true", help="list workloads and exit")
    args = ap.parse_args()

    if args.list:
        for w in W.all_workloads(MODES[args.mode]["threads"]):
            print("%-18s %-8s %s" % (w.name, w.kind, w.desc))
        return 0

    filtered = bool(args.only or args.skip or args.alloc or args.threads)
    out = args.out or {"full": "partial" if filtered else "latest", "quick": "quick",
                       "smoke": "smoke"}[args.mode]
    outdir = BUILD / "smoke" if args.mode == "smoke" else RESULTS
    if args.report_only:
        # bench/results/OUT.json, or a smoke run's build/bench/smoke/OUT.json
        # (re-rendered where it is)
        srcs = [RESULTS / (out + ".json"), BUILD / "smoke" / (out + ".json")]
        src = next((p for p in srcs if p.exists()), None)
        if src is None:
            sys.exit("no results to re-render: %s" % " or ".join(
                os.path.relpath(p, ROOT) for p in srcs))
        data = report.load(src)
        outdir = src.parent
        if args.label:
            data["label"] = args.label
    else:
        runner = Runner(args)
        data = runner.run()

    paths = report.write_all(data, outdir, out)
    log("")
    log(report.console_summary(data))
    for p in paths:
        log("wrote " + os.path.relpath(p, ROOT))
    if args.write_docs:
        if out == "latest":
            p = report.write_docs(data, ROOT / "docs" / "BENCHMARKS.md", out)
            log("wrote " + os.path.relpath(p, ROOT))
        else:
            log("notice: docs/BENCHMARKS.md not regenerated: results '%s' are not a full "
                "unfiltered run (use --out latest to force)" % out)
    failures = [r for r in data["runs"] if r["status"] != "ok"]
    if args.mode == "smoke":
        # the smoke test only asserts that everything ran and agreed
        if failures or not data["runs"]:
            log("bench-smoke: FAILED")
            return 1
        log("bench-smoke: OK (%d runs, outputs agree)" % len(data["runs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
