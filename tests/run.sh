#!/bin/bash
# run.sh BUILDDIR [FILTER]: run the cairn test suite.
# Prints "PASS|FAIL name (seconds)" per test and ends with "N passed, N failed".
# FILTER (an extended regex) selects tests by name. CAIRN_TEST_QUICK=1 shrinks
# the stress sizes. Logs go to BUILDDIR/tests/logs/NAME.log.
set -u
B=${1:-build}
FILTER=${2:-}
T=$B/tests
LIB=$B/libcairn.so
LOGS=$T/logs
mkdir -p "$LOGS"
pass=0
failn=0
failed_names=()
TIMEOUT_DEFAULT=${CAIRN_TEST_TIMEOUT:-240}

# TSan needs a fixed address-space layout on some kernels.
NOASLR=
if setarch "$(uname -m)" -R true 2>/dev/null; then NOASLR="setarch $(uname -m) -R"; fi

report() { # name status seconds log
    local name=$1 st=$2 secs=$3 log=$4
    if [ "$st" = PASS ]; then
        pass=$((pass + 1))
        printf 'PASS %-34s %6.2fs\n' "$name" "$secs"
    else
        failn=$((failn + 1))
        failed_names+=("$name")
        printf 'FAIL %-34s %6.2fs\n' "$name" "$secs"
        sed -e 's/^/    | /' "$log" | tail -n 15
    fi
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

selected() { [ -z "$FILTER" ] || [[ $1 =~ $FILTER ]]; }

# t NAME TIMEOUT CMD...: pass when CMD exits 0
t() {
    local name=$1 to=$2; shift 2
    selected "$name" || return 0
    local log=$LOGS/$name.log s e rc
    s=$EPOCHREALTIME
    # via an inner shell, so a "Segmentation fault" notice goes to the log
    sh -c 'timeout -k 5 "$@"; exit $?' sh "$to" "$@" >"$log" 2>&1
    rc=$?
    [ $rc -gt 128 ] && [ $rc -ne 137 ] && echo "killed by signal $((rc - 128))" >>"$log"
    e=$EPOCHREALTIME
    [ $rc -eq 124 ] && echo "TIMEOUT after ${to}s" >>"$log"
    [ $rc -ne 0 ] && echo "exit status $rc" >>"$log"
    report "$name" "$([ $rc -eq 0 ] && echo PASS || echo FAIL)" "$(elapsed "$s" "$e")" "$log"
}

# run_dying NAME TIMEOUT CMD...: run a program expected to die (no core
# file) with its output in NAME's log; sets the caller's rc, log and secs.
# The inner shell reaps it, so an "Aborted" notice lands in the log and the
# status is 128+signal.
run_dying() {
    local name=$1 to=$2 s; shift 2
    log=$LOGS/$name.log
    s=$EPOCHREALTIME
    sh -c 'ulimit -c 0; timeout -s KILL "$0" "$@"; exit $?' "$to" "$@" >"$log" 2>&1
    rc=$?
    secs=$(elapsed "$s" "$EPOCHREALTIME")
}

# abort NAME SUBSTRING CMD...: pass when CMD dies by SIGABRT and its stderr
# contains SUBSTRING (a message line starting with "cairn: ").
abort() {
    local name=$1 want=$2; shift 2
    selected "$name" || return 0
    local log rc secs st=PASS
    run_dying "$name" 30 "$@"
    if [ $rc -ne $((128 + 6)) ]; then
        echo "expected death by SIGABRT (status 134), got status $rc" >>"$log"; st=FAIL
    fi
    if ! grep -q "^cairn: .*$want" "$log"; then
        echo "expected a stderr line 'cairn: ...$want'" >>"$log"; st=FAIL
    fi
    # the message names the offending pointer (t_misuse prints it first)
    local ptr
    ptr=$(sed -n 's/^t_misuse: case .*, pointer \(0x[0-9a-f]*\)$/\1/p' "$log" | head -1)
    if [ -n "$ptr" ] && ! grep -Eq "^cairn: .*$want${ptr#0x}([^0-9a-f]|\$)" "$log"; then
        echo "expected the message to name the pointer $ptr" >>"$log"; st=FAIL
    fi
    report "$name" "$st" "$secs" "$log"
}

# fault NAME CMD...: the misuse must end in SIGSEGV (a guard page or an
# inaccessible block), after the program named its pointer.
fault() {
    local name=$1; shift
    selected "$name" || return 0
    local log rc secs st=PASS
    run_dying "$name" 30 "$@"
    [ $rc -ne $((128 + 11)) ] && { echo "expected death by SIGSEGV (status 139), got status $rc" >>"$log"; st=FAIL; }
    grep -q "^t_misuse: case .*, pointer 0x" "$log" || { echo "the misuse was not reached" >>"$log"; st=FAIL; }
    report "$name" "$st" "$secs" "$log"
}

start=$(date +%s)
Q=
[ -n "${CAIRN_TEST_QUICK:-}" ] && [ "${CAIRN_TEST_QUICK}" != 0 ] && Q=1

# ---- exported symbols ------------------------------------------------------
t exports 30 bash -c '
    syms=$(nm -D --defined-only "$1" | awk "{print \$3}" | sed "s/@.*//")
    miss=0
    for f in malloc free calloc realloc reallocarray memalign aligned_alloc posix_memalign \
             valloc pvalloc malloc_usable_size free_sized free_aligned_sized malloc_trim; do
        for n in $f cairn_$f; do
            grep -qx "$n" <<<"$syms" || { echo "missing export: $n"; miss=1; }
        done
    done
    for n in cairn_stats_get cairn_stats_print cairn_options_print cairn_class_count \
             cairn_class_size cairn_size_class cairn_small_max cairn_large_max \
             cairn_check_heap cairn_test_os_fail cairn_test_purge_fail cairn_thread_done; do
        grep -qx "$n" <<<"$syms" || { echo "missing export: $n"; miss=1; }
    done
    # C++ operator new/delete, every form
    for n in _Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t _ZnwmSt11align_val_t \
             _ZnamSt11align_val_t _ZnwmSt11align_val_tRKSt9nothrow_t _ZnamSt11align_val_tRKSt9nothrow_t \
             _ZdlPv _ZdaPv _ZdlPvm _ZdaPvm _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t \
             _ZdlPvSt11align_val_t _ZdaPvSt11align_val_t _ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t \
             _ZdlPvSt11align_val_tRKSt9nothrow_t _ZdaPvSt11align_val_tRKSt9nothrow_t; do
        grep -qx "$n" <<<"$syms" || { echo "missing export: $n"; miss=1; }
    done
    # README: glibc introspection is supported
    for n in mallinfo2 malloc_stats malloc_info; do
        grep -qx "$n" <<<"$syms" || { echo "missing export: $n"; miss=1; }
    done
    exit $miss' _ "$LIB"

# ---- API conformance and size classes ----------------------------------------
t api-standard      120 "$T/std/t_api"
t api-prefixed      120 "$T/pfx/t_api"
t sizeclass         60  "$T/std/t_sizeclass"
t calloc-standard   120 "$T/std/t_calloc"
t calloc-prefixed   120 "$T/pfx/t_calloc"
t locked-memory     120 "$T/std/t_locked"
t early-zero        30  env LD_PRELOAD="$B/libcairn.so" "$T/std/t_early"
t early-zero-secure 30  env LD_PRELOAD="$B/libcairn-secure.so" "$T/std/t_early"
t stats-derived     60  env CAIRN_LEVEL=0 "$T/std/t_exact"
t stats-exact       60  env CAIRN_LEVEL=1 LD_PRELOAD="$B/libcairn-stats.so" "$T/std/t_exact"
t internal          60  "$T/pfx/t_internal"
t cxx               60  "$T/std/t_cxx"
t ledger            120 env CAIRN_PURGE_DELAY=60s "$T/pfx/t_ledger"
t stats-outputs     120 bash tests/t_stats_out.sh "$LIB"
t reuse             120 "$T/std/t_reuse"
t trim              120 "$T/std/t_trim"
t purge-nodelay     120 env CAIRN_PURGE_DELAY=0 "$T/std/t_trim" nodelay
t purge-delay       120 "$T/std/t_trim" delay
t purge-delay-ticks 120 env CAIRN_BACKGROUND=0 "$T/std/t_trim" delay
t pooled-heap       120 "$T/std/t_pooled"
t pooled-heap-ticks 120 env CAIRN_BACKGROUND=0 "$T/std/t_pooled" activity
t holes             60  env CAIRN_PURGE_DELAY=40 "$T/std/t_holes"
t limits            60  "$T/std/t_limits"
t limits-addr-bits  60  env CAIRN_TEST_ADDR_BITS=40 "$T/std/t_limits" addr-bits
t exit-destructor   60  "$T/std/t_exitdtor"
# the page size and address space come from the running system: pretend
# 16 KiB pages (arm64, some ppc64 kernels) with the hook
t page16k-api       120 env CAIRN_TEST_PAGE_SIZE=16384 "$T/std/t_api"
t page16k-trim      120 env CAIRN_TEST_PAGE_SIZE=16384 "$T/std/t_trim"
t page16k-holes     60  env CAIRN_TEST_PAGE_SIZE=16384 CAIRN_PURGE_DELAY=40 "$T/std/t_holes"
t page16k-stress    120 env CAIRN_TEST_PAGE_SIZE=16384 "$T/std/t_stress" 300000 555
t idle-return       120 "$T/std/t_idle"
t idle-return-fork  120 "$T/std/t_idle" fork
t idle-no-purger    120 env CAIRN_BACKGROUND=0 "$T/std/t_idle" off
t options           60  bash tests/t_options.sh "$T/std/t_options"
# with transparent huge pages asked for, freed memory still goes back
t thp-idle-return   120 env CAIRN_THP=1 "$T/std/t_idle"
t thp-trim          120 env CAIRN_THP=1 "$T/std/t_trim"
t thp-holes         60  env CAIRN_THP=1 CAIRN_PURGE_DELAY=40 "$T/std/t_holes"

# ---- stress ---------------------------------------------------------------
t stress            300 "$T/std/t_stress"
t stress-seed2      300 "$T/pfx/t_stress" "$([ -n "$Q" ] && echo 200000 || echo 1000000)" 987654321
t remote-frees      300 "$T/std/t_remote"
t short-threads     300 "$T/std/t_threads"
t fork              240 "$T/std/t_fork"
t faults            300 "$T/std/t_faults"
t faults-prefixed   300 "$T/pfx/t_faults" 20
# CAIRN_DEBUG=1 builds (internal asserts on) of the threaded tests
t debug-remote      300 "$T/pfx/t_remote" "$([ -n "$Q" ] && echo 20000 || echo 100000)"
t debug-threads     300 "$T/pfx/t_threads" "$([ -n "$Q" ] && echo 500 || echo 2000)"
t debug-fork        240 "$T/pfx/t_fork" "$([ -n "$Q" ] && echo 20 || echo 60)"

# ---- misuse ---------------------------------------------------------------
for c in double-free-small double-free-small-later double-free-large double-free-huge double-free-aligned \
         double-free-large-merged double-free-large-aligned; do
    abort "misuse-$c" "double free of 0x" "$T/std/t_misuse" "$c"
done
for c in double-free-hole double-free-hole-remote; do
    abort "misuse-$c" "double free of 0x" env CAIRN_PURGE_DELAY=40 "$T/std/t_misuse" "$c"
done
for c in segment-header-local segment-header-far segment-header-remote segment-header-far-remote; do
    abort "misuse-$c" "invalid free of 0x" "$T/std/t_misuse" "$c"
done
abort "misuse-segment-header-usable" "malloc_usable_size of invalid pointer 0x" "$T/std/t_misuse" segment-header-usable
for c in free-stack interior-small interior-large interior-huge interior-huge-16 foreign-mmap foreign-static \
         freed-huge-interior; do
    abort "misuse-$c" "invalid free of 0x" "$T/std/t_misuse" "$c"
done
for c in foreign-glibc foreign-glibc-large; do
    abort "misuse-$c" "invalid free of 0x" "$T/pfx/t_misuse" "$c"
done
abort "misuse-prefixed-double-free" "double free of 0x" "$T/pfx/t_misuse" double-free-small
abort "misuse-cxx-wrong-sized-delete" "wrong size passed to free_sized for 0x" "$T/std/t_cxx" wrong-sized-delete
for c in free-sized-small free-sized-large free-sized-huge; do
    abort "misuse-$c" "wrong size passed to free_sized for 0x" "$T/std/t_misuse" "$c"
done
abort "misuse-free-aligned-sized" "wrong alignment passed to free_aligned_sized for 0x" "$T/std/t_misuse" free-aligned-sized
for c in usable-freed-small usable-freed-large; do
    abort "misuse-$c" "malloc_usable_size of freed pointer 0x" "$T/std/t_misuse" "$c"
done
for c in usable-interior-small usable-interior-large usable-interior-huge; do
    abort "misuse-$c" "malloc_usable_size of invalid pointer 0x" "$T/std/t_misuse" "$c"
done

# the misuse suite's newer cases (docs/SECURITY.md has the table), default mode
for c in double-free-interleaved double-free-delayed double-free-other-thread double-free-after-reuse; do
    abort "misuse-$c" "double free of 0x" "$T/std/t_misuse" "$c"
done
for c in one-past-end-small one-past-end-large; do
    abort "misuse-$c" "invalid free of 0x" "$T/std/t_misuse" "$c"
done
for c in overflow-4k overflow-4k-realloc overflow-1m underflow-4k forged-size-large; do
    abort "misuse-$c" "heap corruption: overwritten header of large block 0x" "$T/std/t_misuse" "$c"
done
abort "misuse-realloc-stack" "realloc of invalid pointer 0x" "$T/std/t_misuse" realloc-stack
abort "misuse-realloc-interior" "realloc of invalid pointer 0x" "$T/std/t_misuse" realloc-interior
abort "misuse-realloc-freed" "realloc of freed pointer 0x" "$T/std/t_misuse" realloc-freed
abort "misuse-usable-stack" "malloc_usable_size of invalid pointer 0x" "$T/std/t_misuse" usable-stack
# a use-after-free write into a free block's link: the malloc that would
# follow it aborts (fastpath.h, page_pop_slow)
for c in uaf-write-link uaf-write-link-zero; do
    abort "misuse-$c" "heap corruption: free list link overwritten in block 0x" "$T/std/t_misuse" "$c"
done
# a freed block of every size range passed to realloc or free_sized is named as freed
for c in realloc-freed-large realloc-freed-huge; do
    abort "misuse-$c" "realloc of freed pointer 0x" "$T/std/t_misuse" "$c"
done
abort "misuse-realloc-freed-hole" "realloc of freed pointer 0x" env CAIRN_PURGE_DELAY=40 "$T/std/t_misuse" realloc-freed-hole
for c in sized-free-freed-small sized-free-freed-large sized-free-freed-huge; do
    abort "misuse-$c" "double free of 0x" "$T/std/t_misuse" "$c"
done
abort "misuse-sized-free-freed-hole" "double free of 0x" env CAIRN_PURGE_DELAY=40 "$T/std/t_misuse" sized-free-freed-hole

# ---- the same misuse under the secure build (libcairn-secure.so) -----------
SEC="env LD_PRELOAD=$PWD/$B/libcairn-secure.so"
for c in double-free-small double-free-small-later double-free-large double-free-huge double-free-aligned \
         double-free-large-merged double-free-large-aligned double-free-interleaved double-free-delayed \
         double-free-other-thread double-free-after-reuse; do
    abort "secure-$c" "double free of 0x" $SEC "$T/std/t_misuse" "$c"
done
for c in double-free-hole double-free-hole-remote; do
    abort "secure-$c" "double free of 0x" $SEC CAIRN_PURGE_DELAY=40 "$T/std/t_misuse" "$c"
done
for c in free-stack interior-small interior-large interior-huge interior-huge-16 foreign-mmap foreign-static \
         freed-huge-interior one-past-end-small one-past-end-large; do
    abort "secure-$c" "invalid free of 0x" $SEC "$T/std/t_misuse" "$c"
done
for c in free-sized-small free-sized-large free-sized-huge; do
    abort "secure-$c" "wrong size passed to free_sized for 0x" $SEC "$T/std/t_misuse" "$c"
done
abort "secure-free-aligned-sized" "wrong alignment passed to free_aligned_sized for 0x" $SEC "$T/std/t_misuse" free-aligned-sized
for c in usable-freed-small usable-freed-large; do
    abort "secure-$c" "malloc_usable_size of freed pointer 0x" $SEC "$T/std/t_misuse" "$c"
done
for c in usable-interior-small usable-interior-large usable-interior-huge usable-stack; do
    abort "secure-$c" "malloc_usable_size of invalid pointer 0x" $SEC "$T/std/t_misuse" "$c"
done
abort "secure-realloc-stack" "realloc of invalid pointer 0x" $SEC "$T/std/t_misuse" realloc-stack
abort "secure-realloc-interior" "realloc of invalid pointer 0x" $SEC "$T/std/t_misuse" realloc-interior
abort "secure-realloc-freed" "realloc of freed pointer 0x" $SEC "$T/std/t_misuse" realloc-freed
for c in realloc-freed-large realloc-freed-huge; do
    abort "secure-$c" "realloc of freed pointer 0x" $SEC "$T/std/t_misuse" "$c"
done
for c in sized-free-freed-small sized-free-freed-large sized-free-freed-huge; do
    abort "secure-$c" "double free of 0x" $SEC "$T/std/t_misuse" "$c"
done
# caught only in the secure build: canaries, the free fill, guard pages
for c in overflow-1 overflow-32 underflow-1 underflow-32; do
    abort "secure-$c" "heap overflow: canary broken after the block at 0x" $SEC "$T/std/t_misuse" "$c"
done
for c in uaf-write uaf-write-large uaf-write-link; do
    abort "secure-$c" "write after free detected in the block at 0x" $SEC "$T/std/t_misuse" "$c"
done
# 4 KiB past a 20000-byte block: no guard page below 128 KiB (secure.c,
# GUARD_MIN), so the boundary tags catch it at free, as in the default mode
for c in overflow-4k underflow-4k; do
    abort "secure-$c" "heap corruption: overwritten header of large block 0x" $SEC "$T/std/t_misuse" "$c"
done
for c in overflow-1m underflow-1m uaf-read-huge zero-size-write; do
    fault "secure-$c" $SEC "$T/std/t_misuse" "$c"
done
t secure-uaf-read-small 30 bash -c '"$@"; [ $? -eq 4 ]' _ $SEC "$T/std/t_misuse" uaf-read-small
t secure-api            120 $SEC "$T/std/t_secure"
t secure-stress         240 $SEC "$T/std/t_stress" "$([ -n "$Q" ] && echo 100000 || echo 400000)" 7
t secure-remote         240 $SEC "$T/std/t_remote" "$([ -n "$Q" ] && echo 5000 || echo 20000)"

# ---- sanitizers (allocator core + test in one executable) -------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:report_signal_unsafe=0:suppressions=$(pwd)/tests/tsan.supp}
t asan-api          240 "$T/asan/t_api"
t asan-calloc       240 "$T/asan/t_calloc"
t asan-sizeclass    120 "$T/asan/t_sizeclass"
t asan-reuse        120 "$T/asan/t_reuse"
t asan-stress       240 "$T/asan/t_stress" "$([ -n "$Q" ] && echo 200000 || echo 1000000)" 4242
t asan-faults       240 "$T/asan/t_faults" 12
t asan-remote       240 "$T/asan/t_remote" "$([ -n "$Q" ] && echo 20000 || echo 80000)"
t tsan-remote       300 $NOASLR "$T/tsan/t_remote" "$([ -n "$Q" ] && echo 5000 || echo 40000)"
t tsan-threads      300 $NOASLR "$T/tsan/t_threads" "$([ -n "$Q" ] && echo 200 || echo 1000)"
t tsan-stress       240 $NOASLR "$T/tsan/t_stress" "$([ -n "$Q" ] && echo 100000 || echo 300000)" 77

# ---- fuzzers: short fixed-seed runs of the random driver (tests/fuzz/) -------
# (tests/fuzz/README.md; `make fuzz` is the long run.) q N: N operations, a
# third of that with CAIRN_TEST_QUICK.
q() { if [ -n "$Q" ]; then echo $(($1 / 3)); else echo "$1"; fi; }
t fuzz-pfx          120 "$T/pfx/t_fuzz" -q -s 1 -n "$(q 150000)" -t 4 -f "$(q 50000)"
t fuzz-pfx-1thread  120 "$T/pfx/t_fuzz" -q -s 2 -n "$(q 120000)" -t 1 -f "$(q 40000)"
t fuzz-nodelay      120 env CAIRN_PURGE_DELAY=0 "$T/pfx/t_fuzz" -q -s 3 -n "$(q 40000)" -f 0
t fuzz-short-lives  120 env CAIRN_PURGE_DELAY=40 CAIRN_BACKGROUND=0 "$T/pfx/t_fuzz" -q -s 4 -n "$(q 60000)" -f 0 -l 5000
t fuzz-std-names    120 "$T/std/t_fuzz" -q -s 5 -n "$(q 100000)" -N mix -f "$(q 40000)"
t fuzz-asan         240 "$T/asan/t_fuzz" -q -s 6 -n "$(q 60000)" -f "$(q 30000)"
t fuzz-tsan         240 $NOASLR "$T/tsan/t_fuzz" -q -s 7 -n "$(q 40000)" -f 0
# the libFuzzer target's interpreter (fuzz_ops.c, without libFuzzer, under
# ASan+UBSan): the regression inputs tests/fuzz/regress/*.ops, then random ones
fz_ops=(tests/fuzz/regress/*.ops); [ -e "${fz_ops[0]}" ] || fz_ops=()
t fuzz-replay       240 "$T/asan/fuzz_replay" -s 8 -r "$(q 60)" "${fz_ops[@]}"

# fails NAME SUBSTRING CMD...: pass when CMD fails (exits non-zero, but not
# by a timeout) and its output contains SUBSTRING
fails() {
    local name=$1 want=$2; shift 2
    selected "$name" || return 0
    local log rc secs st=PASS
    run_dying "$name" 60 "$@"
    if [ $rc -eq 0 ] || [ $rc -eq 137 ]; then
        echo "expected the run to fail, got status $rc" >>"$log"; st=FAIL
    fi
    grep -qF -- "$want" "$log" || { echo "expected a line containing '$want'" >>"$log"; st=FAIL; }
    report "$name" "$st" "$secs" "$log"
}
# self-tests: t_fuzz -X N breaks one thing on purpose (t_fuzz.c, inject());
# the run must fail with the message of the check meant to catch it
fails fuzz-selftest-contents   "t_fuzz: FAIL: block 0x"                       "$T/pfx/t_fuzz" -q -s 11 -n 30000 -t 1 -f 0 -X 1
fails fuzz-selftest-overlap    "t_fuzz: FAIL: overlap: new block"             "$T/pfx/t_fuzz" -q -s 11 -n 30000 -t 1 -f 0 -X 2
fails fuzz-selftest-doublefree "cairn: double free of 0x"                     "$T/pfx/t_fuzz" -q -s 11 -n 30000 -t 1 -f 0 -X 3
fails fuzz-selftest-usable     "t_fuzz: FAIL: usable size of live block"      "$T/pfx/t_fuzz" -q -s 11 -n 30000 -t 1 -f 0 -X 4
fails fuzz-selftest-heapcheck  "t_fuzz: FAIL: cairn_check_heap found"         "$T/pfx/t_fuzz" -q -s 11 -n 30000 -t 1 -f 0 -X 5
fails fuzz-selftest-forkchild  "t_fuzz: FAIL: fork child exited with status 1" "$T/pfx/t_fuzz" -q -s 11 -n 30000 -t 1 -f 3000 -X 6
fails fuzz-selftest-align      "is not 16-aligned"                            "$T/pfx/t_fuzz" -q -s 11 -n 30000 -t 1 -f 0 -X 7
fails fuzz-selftest-calloc     ", not 0"                                      "$T/pfx/t_fuzz" -q -s 11 -n 30000 -t 1 -f 0 -X 8
fails fuzz-selftest-realloc    "lost the old contents"                        "$T/pfx/t_fuzz" -q -s 11 -n 30000 -t 1 -f 0 -X 9

# regressions the fuzzers found (tests/fuzz/regress/, tests/fuzz/README.md): NAME.c
# is a program that must exit 0; NAME.args a t_fuzz run that must pass, one
# line "[VAR=value...] BUILD ARGS..." (BUILD: pfx, asan, tsan or std)
for f in tests/fuzz/regress/*.c; do
    [ -e "$f" ] || continue
    t "fuzz-regress-$(basename "$f" .c)" 120 "$T/regress/$(basename "$f" .c)"
done
for f in tests/fuzz/regress/*.args; do
    [ -e "$f" ] || continue
    read -r -a fz_w < <(grep -v '^[[:space:]]*\(#\|$\)' "$f" | head -n 1)
    fz_env=()
    while [ ${#fz_w[@]} -gt 0 ] && [[ ${fz_w[0]} == *=* ]]; do fz_env+=("${fz_w[0]}"); fz_w=("${fz_w[@]:1}"); done
    t "fuzz-regress-$(basename "$f" .args)" 240 env "${fz_env[@]}" "$T/${fz_w[0]}/t_fuzz" -q "${fz_w[@]:1}"
done

# ---- real programs under LD_PRELOAD -------------------------------------------
for c in python sqlite gcc coreutils stats; do
    t "preload-$c" 300 bash tests/t_programs.sh "$c" "$LIB" "$T/work/$c"
done

# ---- benchmark suite smoke test (builds it, one tiny workload; never timed) ----
t bench-smoke       300 make --no-print-directory bench-smoke

# ---- trace record and replay (tools/, docs/TRACE.md) --------------------------------
for c in record replay summary import fork exit-race python not-in-libcairn ledger samples plot \
         bad-magic bad-short bad-version bad-truncated bad-chunk-magic bad-varint bad-op bad-count \
         bad-never-allocated bad-double-free bad-cycle bad-alloc bad-missing bad-rep; do
    t "trace-$c" 120 bash tests/t_trace.sh "$B" "$c"
done

# ---- arm64: cross build, run under qemu-user (tests/cross.mk) -----------------
# arm64-build cross-compiles the library and the test programs into $B-arm64
# (gcc-aarch64-linux-gnu; it fails when the cross compiler is missing, as CI
# installs it); the other arm64-* tests run them under qemu-aarch64
# (tests/qemu-arm64.sh). page64k-* and page16k-stress run with qemu's -p, so
# the program sees a 64 or 16 KiB-page kernel (AT_PAGESZ, mmap alignment),
# and check that its unmaps, purges and protections are page aligned;
# page16k-hook uses the page size hook instead. Not run under qemu: t_fork
# (qemu-user 7.2 aborts when the child of a multi-threaded process starts a
# thread) and, under -p, t_trim: qemu passes statm and mincore through in
# 4 KiB host pages (RSS read 16 times too high; mincore overruns its vector).
XB=${CAIRN_ARM64_BUILD:-$B-arm64}
XT=$XB/tests
XQ="bash tests/qemu-arm64.sh"
x() { [ -n "$Q" ] && echo "$1" || echo "$2"; }   # x QUICK FULL
t arm64-build       600 bash -c '
    cc=${ARM64_CC:-aarch64-linux-gnu-gcc}
    command -v "$cc" >/dev/null || { echo "arm64: cross compiler $cc not found;" \
        "install it with: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross"; exit 1; }
    make --no-print-directory -k -j2 arm64 ARM64_BUILD="$1" || exit 1
    for f in "$1/libcairn.so" "$1/tests/std/t_api" "$1/tests/pfx/t_api"; do
        readelf -h "$f" | grep -q "Machine:.*AArch64" || { echo "arm64: $f is not an AArch64 ELF file"; exit 1; }
    done' _ "$XB"
t arm64-exports     30  bash -c '
    [ -e "$1" ] || { echo "arm64: $1 was not built"; exit 1; }
    syms=$(readelf -W --dyn-syms "$1" | awk "\$7 != \"UND\" {print \$8}" | sed "s/@.*//")
    miss=0
    for n in malloc free calloc realloc aligned_alloc posix_memalign malloc_usable_size free_sized \
             cairn_malloc cairn_free cairn_stats_get cairn_check_heap _Znwm _ZdlPvm; do
        grep -qx "$n" <<<"$syms" || { echo "missing export: $n"; miss=1; }
    done
    exit $miss' _ "$XB/libcairn.so"
t arm64-api           120 $XQ "$XT/std/t_api"
t arm64-api-prefixed  120 $XQ "$XT/pfx/t_api"
t arm64-sizeclass     60  $XQ "$XT/std/t_sizeclass"
t arm64-internal      60  $XQ "$XT/pfx/t_internal"
t arm64-reuse         120 $XQ "$XT/std/t_reuse"
t arm64-limits        60  $XQ "$XT/std/t_limits"
# qemu maps a guest's memory below 2^40: refuse with a 32-bit map instead
t arm64-limits-addr-bits 60 env CAIRN_TEST_ADDR_BITS=32 $XQ "$XT/std/t_limits" addr-bits
t arm64-trim          120 $XQ "$XT/std/t_trim"
t arm64-holes         60  env CAIRN_PURGE_DELAY=40 $XQ "$XT/std/t_holes"
t arm64-stress        240 $XQ "$XT/std/t_stress" "$(x 100000 300000)" 555
t arm64-remote        240 $XQ "$XT/std/t_remote" "$(x 8000 20000)"
t arm64-threads       240 $XQ "$XT/std/t_threads" "$(x 100 300)"
t arm64-faults        240 $XQ "$XT/std/t_faults" "$(x 2 4)"
t arm64-debug-remote  240 $XQ "$XT/pfx/t_remote" "$(x 8000 20000)"
t arm64-debug-threads 240 $XQ "$XT/pfx/t_threads" "$(x 100 200)"
# -a: every munmap, madvise, mprotect and mremap must be page aligned too
t arm64-page64k-api   120 $XQ -p 65536 -a "$XT/std/t_api"
t arm64-page64k-stress 240 $XQ -p 65536 -a "$XT/std/t_stress" "$(x 60000 200000)" 556
t arm64-page64k-threads 240 $XQ -p 65536 -a "$XT/pfx/t_threads" "$(x 60 150)"
# (its RSS figures are 16 times too high here; the block contents count)
t arm64-page64k-holes 60  env CAIRN_PURGE_DELAY=40 $XQ -p 65536 -a "$XT/std/t_holes"
t arm64-page16k-stress 240 $XQ -p 16384 -a "$XT/pfx/t_stress" "$(x 60000 150000)" 557
t arm64-page16k-hook-api 120 env CAIRN_TEST_PAGE_SIZE=16384 $XQ "$XT/std/t_api"
for c in double-free-small double-free-large double-free-huge interior-small interior-large foreign-mmap; do
    abort "arm64-misuse-$c" "$([[ $c == double* ]] && echo double || echo invalid) free of 0x" \
        $XQ "$XT/std/t_misuse" "$c"
done
for c in segment-header-local segment-header-far-remote; do
    abort "arm64-misuse-$c" "invalid free of 0x" $XQ -p 65536 -a "$XT/std/t_misuse" "$c"
done
abort "arm64-misuse-foreign-glibc" "invalid free of 0x" $XQ "$XT/pfx/t_misuse" foreign-glibc
abort "arm64-misuse-free-sized-small" "wrong size passed to free_sized for 0x" $XQ "$XT/std/t_misuse" free-sized-small
abort "arm64-misuse-usable-freed-small" "malloc_usable_size of freed pointer 0x" \
    $XQ "$XT/std/t_misuse" usable-freed-small

end=$(date +%s)
echo "total time $((end - start))s"
if [ $failn -gt 0 ]; then echo "failed: ${failed_names[*]}"; fi
echo "$pass passed, $failn failed"
[ $failn -eq 0 ]
