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

# abort NAME SUBSTRING CMD...: pass when CMD dies by SIGABRT and its stderr
# contains SUBSTRING (a message line starting with "cairn: ").
abort() {
    local name=$1 want=$2; shift 2
    selected "$name" || return 0
    local log=$LOGS/$name.log s e rc st=PASS
    s=$EPOCHREALTIME
    # an inner shell reaps the aborted process, so any "Aborted" notice
    # lands in the log and the status is 128+signal
    sh -c 'ulimit -c 0; timeout -s KILL 30 "$@"; exit $?' sh "$@" >"$log" 2>&1
    rc=$?
    e=$EPOCHREALTIME
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
    report "$name" "$st" "$(elapsed "$s" "$e")" "$log"
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
             cairn_check_heap cairn_test_os_fail cairn_thread_done; do
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

# ---- sanitizers (allocator core + test in one executable) -------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:report_signal_unsafe=0:suppressions=$(pwd)/tests/tsan.supp}
t asan-api          240 "$T/asan/t_api"
t asan-sizeclass    120 "$T/asan/t_sizeclass"
t asan-reuse        120 "$T/asan/t_reuse"
t asan-stress       240 "$T/asan/t_stress" "$([ -n "$Q" ] && echo 200000 || echo 1000000)" 4242
t asan-faults       240 "$T/asan/t_faults" 12
t asan-remote       240 "$T/asan/t_remote" "$([ -n "$Q" ] && echo 20000 || echo 80000)"
t tsan-remote       300 $NOASLR "$T/tsan/t_remote" "$([ -n "$Q" ] && echo 5000 || echo 40000)"
t tsan-threads      300 $NOASLR "$T/tsan/t_threads" "$([ -n "$Q" ] && echo 200 || echo 1000)"
t tsan-stress       240 $NOASLR "$T/tsan/t_stress" "$([ -n "$Q" ] && echo 100000 || echo 300000)" 77

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

end=$(date +%s)
echo "total time $((end - start))s"
if [ $failn -gt 0 ]; then echo "failed: ${failed_names[*]}"; fi
echo "$pass passed, $failn failed"
[ $failn -eq 0 ]
