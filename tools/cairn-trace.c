/* cairn-trace: record allocation traces and do things with them.
 *
 *   cairn-trace record -o FILE [--] cmd args...
 *   cairn-trace replay FILE [--alloc cairn,glibc,jemalloc,tcmalloc,mimalloc,PATH.so,...]
 *   cairn-trace import FILE.rep [-o OUT]
 *   cairn-trace plot FILE -o OUT.png
 *   cairn-trace summary FILE
 *
 * The libraries and cairn-replay are found beside this program: in a
 * build tree BUILD/tools/../libcairn*.so, once installed PREFIX/bin/../lib.
 * See docs/TRACE.md. */
#include "tracefile.h"
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CAIRN_LIBDIR
#define CAIRN_LIBDIR "/usr/local/lib"
#endif
#ifndef CAIRN_MULTIARCH_LIBDIR
#define CAIRN_MULTIARCH_LIBDIR "/usr/lib/x86_64-linux-gnu"
#endif

static char exe_dir[PATH_MAX];
static const char *partial_out;            /* an output to remove on error */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cairn-trace: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (partial_out) unlink(partial_out);
    exit(1);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: cairn-trace record -o FILE [--] command [args...]\n"
            "       cairn-trace replay FILE [--alloc cairn,glibc,jemalloc,tcmalloc,mimalloc,PATH.so,...]\n"
            "       cairn-trace import FILE.rep [-o OUT]\n"
            "       cairn-trace plot FILE -o OUT.png\n"
            "       cairn-trace summary FILE\n"
            "record runs the command with the recording allocator (libcairn-trace.so) and\n"
            "writes its allocation calls to FILE; replay runs them again under each allocator\n"
            "and compares time, peak RSS and utilization. See docs/TRACE.md.\n");
}

/* ---- finding our files -------------------------------------------------------------- */
static void find_exe_dir(void) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) die("cannot find this program's directory (/proc/self/exe)");
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash) *slash = 0;
    snprintf(exe_dir, sizeof exe_dir, "%s", self);
}

/* The first of the candidates (relative to this program's directory, or
 * absolute) that exists, as an absolute path. */
static bool find_file(const char *const *cands, char *out) {
    for (; *cands; cands++) {
        char p[PATH_MAX * 2];
        if ((*cands)[0] == '/') snprintf(p, sizeof p, "%s", *cands);
        else snprintf(p, sizeof p, "%s/%s", exe_dir, *cands);
        if (access(p, R_OK) == 0 && realpath(p, out)) return true;
    }
    return false;
}

static void find_trace_lib(char *out) {
    static const char *const c[] = { "../libcairn-trace.so", "../lib/libcairn-trace.so",
                                     CAIRN_LIBDIR "/libcairn-trace.so", NULL };
    if (!find_file(c, out)) die("libcairn-trace.so not found beside %s (run 'make tools')", exe_dir);
}

static void find_cairn_lib(char *out) {
    static const char *const c[] = { "../libcairn.so", "../lib/libcairn.so.1", "../lib/libcairn.so",
                                     CAIRN_LIBDIR "/libcairn.so.1", NULL };
    if (!find_file(c, out)) die("libcairn.so not found beside %s (run 'make')", exe_dir);
}

static void find_replay(char *out) {
    static const char *const c[] = { "cairn-replay", NULL };
    if (!find_file(c, out)) die("cairn-replay not found in %s", exe_dir);
}

/* A trace that opens, decodes and can be replayed in order, or exit. */
static void open_checked(trace_t *t, tr_index_t *ix, const char *path) {
    char err[1024];
    if (trace_open(t, path, err, sizeof err) != 0 || trace_index(t, ix, err, sizeof err) != 0 ||
        trace_walk(t, ix, NULL, NULL, err, sizeof err) != 0)
        die("%s", err);
}

static int exit_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

/* ---- record --------------------------------------------------------------------------- */
static int cmd_record(int argc, char **argv) {
    const char *out = NULL;
    int i = 0;
    for (; i < argc; i++) {
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--")) { i++; break; }
        else if (argv[i][0] == '-') die("record: unknown option %s", argv[i]);
        else break;
    }
    if (!out) die("record: -o FILE is required");
    if (i >= argc) die("record: no command given");
    char lib[PATH_MAX], path[PATH_MAX * 2];
    find_trace_lib(lib);
    if (out[0] == '/') snprintf(path, sizeof path, "%s", out);
    else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) die("cannot read the current directory");
        snprintf(path, sizeof path, "%s/%s", cwd, out);
    }
    bool per_pid = strstr(path, "%p") != NULL;
    if (!per_pid) unlink(path);            /* no stale trace if nothing records */
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        const char *old = getenv("LD_PRELOAD");
        char *pre = malloc(strlen(lib) + (old ? strlen(old) : 0) + 2);
        if (!pre) _exit(127);
        sprintf(pre, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
        setenv("LD_PRELOAD", pre, 1);
        setenv("CAIRN_TRACE", path, 1);
        execvp(argv[i], argv + i);
        fprintf(stderr, "cairn-trace: cannot run %s: %s\n", argv[i], strerror(errno));
        _exit(127);
    }
    signal(SIGINT, SIG_IGN);               /* the command gets it; we report after */
    signal(SIGQUIT, SIG_IGN);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) die("waitpid: %s", strerror(errno));
    int code = exit_code(status);
    if (per_pid) {
        fprintf(stderr, "cairn-trace: traces written to %s (%%p = each process's pid)\n", path);
        return code;
    }
    trace_t t;
    tr_index_t ix;
    char err[1024];
    if (trace_open(&t, path, err, sizeof err) != 0 || trace_index(&t, &ix, err, sizeof err) != 0) {
        fprintf(stderr, "cairn-trace: no usable trace: %s\n", err);
        if (access(path, F_OK) != 0)
            fprintf(stderr, "cairn-trace: (nothing was recorded: is %s dynamically linked?)\n", argv[i]);
        return code ? code : 1;
    }
    fprintf(stderr, "cairn-trace: %s: %" PRIu64 " events from %" PRIu64 " threads, %zu bytes, %.2f bytes per call\n",
            path, ix.events, ix.active_threads, t.size, ix.events ? (double)t.size / (double)ix.events : 0.0);
    if (trace_walk(&t, &ix, NULL, NULL, err, sizeof err) != 0)
        fprintf(stderr, "cairn-trace: warning: the trace will not replay: %s\n", err);
    return code;
}

/* ---- running cairn-replay -------------------------------------------------------------- */
typedef struct run {
    char *out;                             /* its standard output          */
    size_t len;
    int status;
    struct rusage ru;
} run_t;

/* Run cairn-replay ARGS in a fresh process with PRELOAD ("" = none) as its
 * only LD_PRELOAD; collect its output and its resource usage. */
static void run_replay(const char *preload, char *const args[], run_t *r) {
    int fds[2];
    if (pipe(fds) != 0) die("pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        const char *extra = getenv("CAIRN_REPLAY_PRELOAD");   /* added after the allocator */
        char both[PATH_MAX * 3];
        snprintf(both, sizeof both, "%s%s%s", preload, *preload && extra && *extra ? ":" : "", extra ? extra : "");
        if (*both) setenv("LD_PRELOAD", both, 1);
        else unsetenv("LD_PRELOAD");
        unsetenv("CAIRN_TRACE");
        execv(args[0], args);
        fprintf(stderr, "cairn-trace: cannot run %s: %s\n", args[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    size_t cap = 4096;
    r->out = malloc(cap);
    r->len = 0;
    for (;;) {
        if (r->len + 1024 > cap && !(r->out = realloc(r->out, cap *= 2))) die("out of memory");
        ssize_t n = read(fds[0], r->out + r->len, cap - r->len - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        r->len += (size_t)n;
    }
    r->out[r->len] = 0;
    close(fds[0]);
    while (wait4(pid, &r->status, 0, &r->ru) < 0)
        if (errno != EINTR) die("wait4: %s", strerror(errno));
}

/* The value after "key: " at the start of a line of out, or NULL. */
static const char *field(const char *out, const char *key) {
    size_t k = strlen(key);
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, key, k) && l[k] == ':' && l[k + 1] == ' ') return l + k + 2;
    return NULL;
}

static uint64_t field_u64(const char *out, const char *key) {
    const char *v = field(out, key);
    return v ? strtoull(v, NULL, 10) : 0;
}

/* ---- replay ----------------------------------------------------------------------------- */
typedef struct alloc {
    char name[64];
    char lib[PATH_MAX];                    /* "" for glibc: nothing preloaded */
    run_t run;
    bool ok;
    char checksum[32];
    uint64_t ops;
} alloc_t;

static void resolve_alloc(const char *name, alloc_t *a) {
    static const struct { const char *name, *file, *pkg; } known[] = {
        { "jemalloc", CAIRN_MULTIARCH_LIBDIR "/libjemalloc.so.2", "libjemalloc2" },
        { "tcmalloc", CAIRN_MULTIARCH_LIBDIR "/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4" },
        { "mimalloc", CAIRN_MULTIARCH_LIBDIR "/libmimalloc.so.2", "libmimalloc2.0" },
    };
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    if (!strcmp(name, "glibc")) return;
    if (!strcmp(name, "cairn")) { find_cairn_lib(a->lib); return; }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(name, known[i].name)) continue;
        if (access(known[i].file, R_OK) != 0)
            die("allocator %s: %s not found (Debian package %s)", name, known[i].file, known[i].pkg);
        snprintf(a->lib, sizeof a->lib, "%s", known[i].file);
        return;
    }
    size_t n = strlen(name);
    if ((n > 3 && !strcmp(name + n - 3, ".so")) || strstr(name, ".so.")) {
        if (!realpath(name, a->lib)) die("allocator %s: %s", name, strerror(errno));
        const char *base = strrchr(name, '/');
        snprintf(a->name, sizeof a->name, "%s", base ? base + 1 : name);
        return;
    }
    die("unknown allocator '%s' (known: cairn, glibc, jemalloc, tcmalloc, mimalloc, or a path ending in .so)", name);
}

static void human(char *buf, size_t cap, uint64_t bytes) {
    if (bytes >= (uint64_t)1 << 30) snprintf(buf, cap, "%.2f GiB", (double)bytes / (1 << 30));
    else if (bytes >= 1 << 20) snprintf(buf, cap, "%.1f MiB", (double)bytes / (1 << 20));
    else snprintf(buf, cap, "%.1f KiB", (double)bytes / 1024);
}

static void print_row(alloc_t *a) {
    const char *out = a->run.out;
    char rss[32], foot[32], live[32], st[48], cks[32] = "-";
    uint64_t maxrss = (uint64_t)a->run.ru.ru_maxrss * 1024, base = field_u64(out, "baseline rss");
    uint64_t peak = field_u64(out, "peak live");
    human(rss, sizeof rss, maxrss);
    human(foot, sizeof foot, maxrss > base ? maxrss - base : 0);
    human(live, sizeof live, peak);
    const char *tm = field(out, "time"), *ck = field(out, "checksum");
    if (ck) sscanf(ck, "%31s", cks);
    snprintf(a->checksum, sizeof a->checksum, "%s", cks);
    a->ops = field_u64(out, "ops");
    a->ok = WIFEXITED(a->run.status) && WEXITSTATUS(a->run.status) == 0 && ck && tm;
    if (a->ok) snprintf(st, sizeof st, "ok");
    else if (WIFSIGNALED(a->run.status)) snprintf(st, sizeof st, "FAILED (signal %d)", WTERMSIG(a->run.status));
    else snprintf(st, sizeof st, "FAILED (exit %d)", exit_code(a->run.status));
    double util = maxrss > base ? (double)peak / (double)(maxrss - base) : 0.0;
    printf("%-16s %9.3f %11s %11s %11s %6.3f  %-16s %s\n", a->name, tm ? strtod(tm, NULL) : 0.0, rss, foot,
           live, util, cks, st);
}

static void print_ledger(const alloc_t *a) {
    const char *l = strstr(a->run.out, "\nledger at ");
    if (!l) l = strstr(a->run.out, "\n(ledger:");
    printf("\n%s ledger:\n%s", a->name, l ? l + 1 : "(no ledger output)\n");
}

static int cmd_replay(int argc, char **argv) {
    const char *file = NULL, *list = "cairn,glibc";
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--alloc") && i + 1 < argc) list = argv[++i];
        else if (!strncmp(argv[i], "--alloc=", 8)) list = argv[i] + 8;
        else if (argv[i][0] == '-') die("replay: unknown option %s", argv[i]);
        else if (!file) file = argv[i];
        else die("replay: more than one trace given");
    }
    if (!file) die("replay: no trace given");
    char *names = strdup(list);
    alloc_t *as = calloc(strlen(list) + 1, sizeof *as);
    size_t n = 0;
    for (char *tok = strtok(names, ","); tok; tok = strtok(NULL, ",")) resolve_alloc(tok, &as[n++]);
    if (!n) die("replay: --alloc names no allocator");
    trace_t t;
    tr_index_t ix;
    open_checked(&t, &ix, file);
    char replay[PATH_MAX];
    find_replay(replay);
    char *args[] = { replay, (char *)file, NULL };
    printf("trace %s: %" PRIu64 " events, %" PRIu64 " threads\n", file, ix.events, ix.active_threads);
    printf("%-16s %9s %11s %11s %11s %6s  %-16s %s\n", "allocator", "time (s)", "peak RSS", "footprint",
           "peak live", "util", "checksum", "status");
    for (size_t i = 0; i < n; i++) {
        run_replay(as[i].lib, args, &as[i].run);
        print_row(&as[i]);
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(as[i].name, "cairn")) print_ledger(&as[i]);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!as[i].ok) {
            fprintf(stderr, "cairn-trace: the replay under %s failed\n", as[i].name);
            rc = 1;
        } else if (strcmp(as[i].checksum, as[0].checksum) || as[i].ops != as[0].ops) {
            fprintf(stderr, "cairn-trace: %s and %s disagree (checksum %s vs %s, ops %" PRIu64 " vs %" PRIu64 ")\n",
                    as[0].name, as[i].name, as[0].checksum, as[i].checksum, as[0].ops, as[i].ops);
            rc = 1;
        }
    }
    return rc;
}

/* ---- import ----------------------------------------------------------------------------- */
/* CS:APP malloc-lab traces: four header numbers (suggested heap size,
 * number of ids, number of ops, weight), then "a id size", "f id" and
 * "r id size", one per line. A trace id names one block at a time; each
 * allocation gets a fresh cairn id. */
typedef struct rep {
    const char *path;
    uint64_t *cur;                         /* rep id -> cairn id + 1, 0: none */
    size_t ncur;
    uint64_t next_id, ops, line;
    tr_writer_t *w;
} rep_t;

static uint64_t *rep_slot(rep_t *r, unsigned long id) {
    if (id >= 100000000ul) die("%s:%" PRIu64 ": id %lu is too large", r->path, r->line, id);
    if (id >= r->ncur) {
        size_t n = (id + 1) * 2;
        r->cur = realloc(r->cur, n * sizeof *r->cur);
        if (!r->cur) die("out of memory");
        memset(r->cur + r->ncur, 0, (n - r->ncur) * sizeof *r->cur);
        r->ncur = n;
    }
    return &r->cur[id];
}

static void rep_emit(rep_t *r, tr_event_t *e) {
    e->time_us = r->ops++;                 /* one microsecond per operation */
    if (tr_writer_event(r->w, e) != 0) die("write failed: %s", strerror(errno));
}

static void rep_op(rep_t *r, char op, unsigned long id, unsigned long long size) {
    uint64_t *slot = rep_slot(r, id);
    tr_event_t e = { 0 };
    if (op == 'a') {
        if (*slot) die("%s:%" PRIu64 ": id %lu is allocated again before it is freed", r->path, r->line, id);
        e.op = TR_MALLOC;
        e.id = r->next_id++;
        e.size = size;
        *slot = e.id + 1;
    } else if (op == 'f') {
        if (!*slot) die("%s:%" PRIu64 ": free of id %lu, which is not allocated", r->path, r->line, id);
        e.op = TR_FREE;
        e.id = *slot - 1;
        *slot = 0;
    } else if (!*slot) {                   /* realloc of nothing: a malloc */
        if (!size) return;
        e.op = TR_MALLOC;
        e.id = r->next_id++;
        e.size = size;
        *slot = e.id + 1;
    } else if (!size) {                    /* realloc to 0: a free */
        e.op = TR_FREE;
        e.id = *slot - 1;
        *slot = 0;
    } else {
        e.op = TR_REALLOC;
        e.id = *slot - 1;
        e.id2 = r->next_id++;
        e.size = size;
        *slot = e.id2 + 1;
    }
    rep_emit(r, &e);
}

/* Arguments of a command taking one input and `-o OUT`: `cmd` names it
 * in messages. */
static void in_and_out(const char *cmd, int argc, char **argv, const char **in, const char **out) {
    *in = *out = NULL;
    for (int i = 0; i < argc; i++) {
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc) *out = argv[++i];
        else if (argv[i][0] == '-') die("%s: unknown option %s", cmd, argv[i]);
        else if (!*in) *in = argv[i];
        else die("%s: more than one input given", cmd);
    }
}

static int cmd_import(int argc, char **argv) {
    const char *in, *out;
    in_and_out("import", argc, argv, &in, &out);
    if (!in) die("import: no .rep file given");
    char outbuf[PATH_MAX];
    if (!out) {
        size_t n = strlen(in);
        if (n > 4 && !strcmp(in + n - 4, ".rep")) snprintf(outbuf, sizeof outbuf, "%.*s.trace", (int)(n - 4), in);
        else snprintf(outbuf, sizeof outbuf, "%s.trace", in);
        out = outbuf;
    }
    FILE *f = fopen(in, "r");
    if (!f) die("%s: %s", in, strerror(errno));
    rep_t r = { .path = in };
    double hdr[4];
    char *line = NULL;
    size_t cap = 0;
    int nh = 0;
    while (nh < 4 && getline(&line, &cap, f) > 0) {
        r.line++;
        char *s = line, *end;
        for (double v; nh < 4 && (v = strtod(s, &end), end != s); s = end) hdr[nh++] = v;
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
        if (*s) die("%s:%" PRIu64 ": expected the four header numbers (heap size, ids, ops, weight)", in, r.line);
    }
    if (nh < 4) die("%s: not a malloc-lab trace (fewer than four header numbers)", in);
    tr_writer_t *w = malloc(sizeof *w);
    if (!w || tr_writer_open(w, out, 0, 0) != 0) die("%s: %s", out, strerror(errno));
    r.w = w;
    partial_out = out;
    uint64_t nops = 0;
    while (getline(&line, &cap, f) > 0) {
        r.line++;
        char op, extra;
        unsigned long id;
        unsigned long long size = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '\n' || *s == '\r' || !*s || *s == '#') continue;
        int k = sscanf(s, "%c %lu %llu %c", &op, &id, &size, &extra);
        bool good = !strchr(s, '-') && ((op == 'f' && k == 2) || ((op == 'a' || op == 'r') && k == 3));
        if (!good) die("%s:%" PRIu64 ": expected 'a ID SIZE', 'f ID' or 'r ID SIZE'", in, r.line);
        rep_op(&r, op, id, size);
        nops++;
    }
    fclose(f);
    free(line);
    uint64_t claimed = hdr[2] >= 0 ? (uint64_t)hdr[2] : 0;
    if (claimed != nops) {                 /* the header must match the file */
        tr_writer_close(w);
        die("%s: the header says %" PRIu64 " ops but the file holds %" PRIu64, in, claimed, nops);
    }
    if (tr_writer_close(w) != 0) die("%s: %s", out, strerror(errno));
    partial_out = NULL;
    printf("cairn-trace: imported %" PRIu64 " ops (%" PRIu64 " blocks) from %s into %s\n", r.ops, r.next_id, in, out);
    return 0;
}

/* ---- summary ----------------------------------------------------------------------------- */
#define NBUCKETS 66

typedef struct summary {
    uint64_t ord;                          /* events visited so far         */
    uint64_t *born;                        /* id -> ord at its allocation   */
    uint64_t *size;                        /* id -> requested bytes         */
    uint64_t sizes[NBUCKETS], lifetimes[NBUCKETS];
    uint64_t live, blocks, peak, peak_blocks, peak_ord, requested, freed, last_us;
} summary_t;

/* 0 for 0, else 1 + floor(log2(v)): bucket k >= 1 holds [2^(k-1), 2^k). */
static int bucket(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

static int summary_visit(void *ctx, size_t th, uint64_t evno, const tr_event_t *e) {
    (void)th;
    (void)evno;
    summary_t *s = ctx;
    uint64_t id;
    s->ord++;
    if (e->time_us > s->last_us) s->last_us = e->time_us;
    if (tr_old_id(e, &id)) {
        s->lifetimes[bucket(s->ord - s->born[id])]++;
        s->live -= s->size[id];
        s->blocks--;
        s->freed++;
    }
    if (tr_new_id(e, &id)) {
        s->born[id] = s->ord;
        s->size[id] = e->size;
        s->sizes[bucket(e->size)]++;
        s->live += e->size;
        s->blocks++;
        s->requested += e->size;
        if (s->live > s->peak) {
            s->peak = s->live;
            s->peak_blocks = s->blocks;
            s->peak_ord = s->ord;
        }
    }
    return 0;
}

static void bucket_label(char *buf, size_t cap, int k) {
    if (k == 0) snprintf(buf, cap, "0");
    else if (k == 1) snprintf(buf, cap, "1");
    else snprintf(buf, cap, "%" PRIu64 "-%" PRIu64, (uint64_t)1 << (k - 1), k == 64 ? UINT64_MAX : ((uint64_t)1 << k) - 1);
}

static void histogram(const uint64_t *h, const char *unit) {
    uint64_t max = 0;
    for (int k = 0; k < NBUCKETS; k++) max = h[k] > max ? h[k] : max;
    for (int k = 0; k < NBUCKETS; k++) {
        if (!h[k]) continue;
        char label[48];
        bucket_label(label, sizeof label, k);
        int bar = (int)((h[k] * 40 + max - 1) / max);
        printf("  %24s %s %12" PRIu64 "  %.*s\n", label, unit, h[k], bar, "########################################");
    }
}

static int cmd_summary(int argc, char **argv) {
    if (argc != 1) die("summary: give exactly one trace");
    trace_t t;
    tr_index_t ix;
    open_checked(&t, &ix, argv[0]);
    summary_t s = { 0 };
    s.born = calloc(ix.max_id + 1, sizeof *s.born);
    s.size = calloc(ix.max_id + 1, sizeof *s.size);
    if (!s.born || !s.size) die("out of memory");
    char err[1024];
    if (trace_walk(&t, &ix, summary_visit, &s, err, sizeof err) != 0) die("%s", err);
    uint64_t total_failed = 0;
    for (int op = 1; op < TR_NOPS; op++) total_failed += ix.failed[op];
    printf("trace: %s (pid %u, format version %u)\n", argv[0], t.pid, t.version);
    printf("events: %" PRIu64 " in %" PRIu64 " chunks, %zu bytes (%.2f bytes per event), %.3f s recorded\n",
           ix.events, t.chunks, t.size, ix.events ? (double)t.size / (double)ix.events : 0.0, (double)s.last_us / 1e6);
    printf("threads: %" PRIu64 "\n", ix.active_threads);
    for (size_t i = 0; i < t.nthreads; i++)
        if (t.threads[i].events) printf("  thread %zu: %" PRIu64 " events\n", i, t.threads[i].events);
    printf("ops by kind:\n");
    for (int op = 1; op < TR_NOPS; op++)
        if (ix.ops[op] || ix.failed[op]) {
            char extra[48] = "";
            if (ix.failed[op]) snprintf(extra, sizeof extra, " (+%" PRIu64 " failed)", ix.failed[op]);
            printf("  %-20s %12" PRIu64 "%s\n", tr_op_name(op), ix.ops[op], extra);
        }
    if (!total_failed) printf("  (no call failed)\n");
    printf("blocks: %" PRIu64 " allocated (%" PRIu64 " bytes requested), %" PRIu64 " freed, %" PRIu64 " live at the end\n",
           s.freed + s.blocks, s.requested, s.freed, s.blocks);
    printf("peak live: %" PRIu64 " bytes in %" PRIu64 " blocks (at event %" PRIu64 " of %" PRIu64 ")\n", s.peak,
           s.peak_blocks, s.peak_ord, ix.events);
    printf("sizes (bytes requested by allocations and reallocs):\n");
    histogram(s.sizes, "bytes");
    printf("lifetimes (events from allocation to free, across all threads):\n");
    histogram(s.lifetimes, "ops  ");
    if (s.blocks) printf("  %24s       %12" PRIu64 "\n", "never freed", s.blocks);
    return 0;
}

/* ---- plot ------------------------------------------------------------------------------- */
static bool in_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    char *copy = strdup(path);
    bool found = false;
    for (char *d = strtok(copy, ":"); d && !found; d = strtok(NULL, ":")) {
        char p[PATH_MAX * 2];
        snprintf(p, sizeof p, "%s/%s", *d ? d : ".", prog);
        found = access(p, X_OK) == 0;
    }
    free(copy);
    return found;
}

/* The part names from the samples' header line ("# t_ms live_bytes
 * rss_bytes NAME..."), space separated, and how many. */
static int part_names(const char *samples, char *names, size_t cap) {
    FILE *f = fopen(samples, "r");
    char line[4096];
    int n = 0;
    names[0] = 0;
    if (f && fgets(line, sizeof line, f)) {
        char *save, *tok = strtok_r(line, " \n", &save);
        for (int col = 0; tok; tok = strtok_r(NULL, " \n", &save), col++) {
            if (col < 4) continue;             /* "#", t_ms, live_bytes, rss_bytes */
            if (strlen(names) + strlen(tok) + 2 >= cap) break;
            if (n) strcat(names, " ");
            strcat(names, tok);
            n++;
        }
    }
    if (f) fclose(f);
    return n;
}

/* The top panel shows the footprint as the replay table defines it: RSS
 * minus the replay's baseline (the mapped trace and the replayer's own
 * bookkeeping), so that it can be read against the live bytes and the
 * ledger below. */
static void write_plot_script(FILE *g, const char *samples, const char *out, const char *title, int nparts,
                              const char *names, uint64_t baseline) {
    fprintf(g, "set terminal png size 1200,%d\nset output '%s'\n", nparts ? 1000 : 600, out);
    fprintf(g, "set termoption noenhanced\nset xlabel 'replay time (ms)' offset 0,0.5\nset ylabel 'MiB'\n"
               "set key below height 1\nset grid\n");
    if (nparts) fprintf(g, "set multiplot layout 2,1\n");
    fprintf(g, "set title '%s under cairn: footprint and live bytes'\n", title);
    fprintf(g, "plot '%s' using 1:(($3-%" PRIu64 ".0)/1048576.0) with lines lw 2 "
               "title 'footprint (RSS minus the baseline of %.1f MiB)', "
               "'' using 1:($2/1048576.0) with lines lw 2 title 'live bytes (requested)'\n", samples, baseline,
            (double)baseline / 1048576.0);
    if (nparts) {
        fprintf(g, "set title 'cairn ledger, stacked'\nnames = '%s'\n", names);
        fprintf(g, "plot for [i=%d:1:-1] '%s' using 1:((sum [c=4:3+i] column(c))/1048576.0) "
                   "with filledcurves x1 title word(names, i)\n", nparts, samples);
        fprintf(g, "unset multiplot\n");
    }
}

static int cmd_plot(int argc, char **argv) {
    const char *file, *out;
    in_and_out("plot", argc, argv, &file, &out);
    if (!file || !out) die("plot: usage: cairn-trace plot FILE -o OUT.png");
    if (strchr(out, '\'') || strchr(file, '\'')) die("plot: file names with a quote (') are not supported");
    if (!in_path("gnuplot")) die("plot: gnuplot not found in PATH (Debian: apt-get install gnuplot-nox)");
    trace_t t;
    tr_index_t ix;
    open_checked(&t, &ix, file);
    char dir[] = "/tmp/cairn-plot.XXXXXX", samples[64], script[64], lib[PATH_MAX], replay[PATH_MAX];
    if (!mkdtemp(dir)) die("mkdtemp: %s", strerror(errno));
    snprintf(samples, sizeof samples, "%s/samples", dir);
    snprintf(script, sizeof script, "%s/plot.gp", dir);
    find_cairn_lib(lib);
    find_replay(replay);
    char *args[] = { replay, "--samples", samples, (char *)file, NULL };
    run_t r;
    run_replay(lib, args, &r);
    int rc = 1;
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) {
        fprintf(stderr, "cairn-trace: plot: the replay under cairn failed (status %d)\n", exit_code(r.status));
    } else {
        char names[2048];
        int nparts = part_names(samples, names, sizeof names);
        FILE *g = fopen(script, "w");
        if (!g) die("%s: %s", script, strerror(errno));
        const char *base = strrchr(file, '/');
        write_plot_script(g, samples, out, base ? base + 1 : file, nparts, names, field_u64(r.out, "baseline rss"));
        fclose(g);
        pid_t pid = fork();
        if (pid == 0) {
            execlp("gnuplot", "gnuplot", script, (char *)NULL);
            _exit(127);
        }
        int st;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && access(out, F_OK) == 0) {
            printf("cairn-trace: wrote %s (%s ledger parts)\n", out, nparts ? "with" : "no");
            rc = 0;
        } else {
            fprintf(stderr, "cairn-trace: plot: gnuplot failed (status %d)\n", exit_code(st));
        }
    }
    unlink(samples);
    unlink(script);
    rmdir(dir);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
    find_exe_dir();
    const char *cmd = argv[1];
    argc -= 2;
    argv += 2;
    if (!strcmp(cmd, "record")) return cmd_record(argc, argv);
    if (!strcmp(cmd, "replay")) return cmd_replay(argc, argv);
    if (!strcmp(cmd, "import")) return cmd_import(argc, argv);
    if (!strcmp(cmd, "plot")) return cmd_plot(argc, argv);
    if (!strcmp(cmd, "summary")) return cmd_summary(argc, argv);
    fprintf(stderr, "cairn-trace: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
