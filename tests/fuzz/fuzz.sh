#!/bin/bash
# fuzz.sh BUILDDIR: the long fuzz run behind `make fuzz` (tests/tests.mk,
# tests/fuzz/README.md). Settings come from the environment:
#   FUZZ_DRIVER_SECONDS     time for the random driver (t_fuzz), 0 skips it
#   FUZZ_LIBFUZZER_SECONDS  time for libFuzzer on fuzz_ops, 0 skips it
#   FUZZ_SEED               seed of the first driver run (then +1, +2, ...)
#   FUZZ_THREADS            worker threads of a driver run (at most)
#   FUZZ_CHUNK              seconds per driver run
#   FUZZ_CONFIG_START       configuration of the first driver run (0-7)
#   FUZZ_LIBFUZZER_FLAGS    extra libFuzzer flags
# The driver time is cut into runs of FUZZ_CHUNK seconds, each with its own
# seed and the next configuration of the list below, so that a failure comes
# with a short command that repeats it. Progress is printed while running, a
# summary at the end; the exit status is 0 when nothing failed.
set -u
B=${1:-build}
DRV_S=${FUZZ_DRIVER_SECONDS:-300}
LF_S=${FUZZ_LIBFUZZER_SECONDS:-300}
SEED=${FUZZ_SEED:-$(date +%s)}
TH=${FUZZ_THREADS:-4}
CHUNK=${FUZZ_CHUNK:-120}
FIRST=${FUZZ_CONFIG_START:-0}
LF_FLAGS=${FUZZ_LIBFUZZER_FLAGS:--max_len=2048 -len_control=10}
T=$B/tests
OUT=$B/fuzz
mkdir -p "$OUT" "$B/fuzz-corpus" "$B/fuzz-crashes"
t0=$SECONDS
fails=0
failed=()

NOASLR=
if setarch "$(uname -m)" -R true 2>/dev/null; then NOASLR="setarch $(uname -m) -R"; fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$(pwd)/tests/fuzz/ubsan.supp}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:report_signal_unsafe=0:suppressions=$(pwd)/tests/tsan.supp}

# ---- the random driver ----------------------------------------------------------
# BUILD|ARGS|ENV: the configurations, taken in turn
half=$(( TH > 1 ? TH / 2 : 1 ))
configs=(
    "pfx|-t $TH -f 100000|"
    "pfx|-t 1 -f 50000|"
    "pfx|-t $TH -l 5000 -f 0|CAIRN_PURGE_DELAY=40 CAIRN_BACKGROUND=0"
    "asan|-t $half -f 100000|"
    "pfx|-t $TH -f 0|CAIRN_PURGE_DELAY=0"
    "std|-t $TH -N mix -f 100000|"
    "pfx|-t $((TH * 2)) -H 1000 -k 512 -f 200000|"
    "tsan|-t $TH -f 0|"
)
drv_ops=0
drv_runs=0
if [ "$DRV_S" -gt 0 ]; then
    echo "== random driver (t_fuzz): ${DRV_S}s in runs of ${CHUNK}s, first seed $SEED, up to $TH threads"
    end=$(( SECONDS + DRV_S ))
    i=0
    while [ $SECONDS -lt $end ]; do
        left=$(( end - SECONDS ))
        secs=$(( left < CHUNK ? left : CHUNK ))
        [ $secs -lt 5 ] && break
        IFS='|' read -r build args envs <<<"${configs[$(( (i + FIRST) % ${#configs[@]} ))]}"
        seed=$(( SEED + i ))
        log=$OUT/t_fuzz-$seed.log
        pre=
        [ "$build" = tsan ] && pre=$NOASLR
        # shellcheck disable=SC2086
        cmd="env $envs $pre $T/$build/t_fuzz -s $seed -T $secs -p 30 $args"
        echo "-- run $((i + 1)): ${envs:+$envs }$build/t_fuzz -s $seed -T $secs $args"
        # shellcheck disable=SC2086
        env $envs $pre "$T/$build/t_fuzz" -s "$seed" -T "$secs" -p 30 $args >"$log" 2>&1 &
        pid=$!
        # show its progress lines as they come
        tail -n +1 -f "$log" --pid=$pid 2>/dev/null | grep --line-buffered -E '^t_fuzz: [0-9]+s,' | sed -u 's/^/   /' &
        tailpid=$!
        wait $pid
        st=$?
        wait $tailpid 2>/dev/null
        n=$(sed -n 's/^t_fuzz: seed [0-9]*: \([0-9]*\) ops in.*/\1/p' "$log" | tail -n 1)
        drv_runs=$(( drv_runs + 1 ))
        if [ $st -eq 0 ]; then
            drv_ops=$(( drv_ops + ${n:-0} ))
            grep -E '^t_fuzz: seed [0-9]+: ' "$log" | sed 's/^/   /'
            rm -f "$log"
        else
            fails=$(( fails + 1 ))
            failed+=("driver seed $seed ($build $args${envs:+, $envs}): $log")
            echo "*** FAILED (status $st): log $log"
            grep -E 'FAIL|^cairn:|runtime error|ERROR|SUMMARY|reproduce' "$log" | head -n 12 | sed 's/^/   | /'
            echo "   | the whole command: $cmd"
        fi
        i=$(( i + 1 ))
    done
fi

# ---- libFuzzer ------------------------------------------------------------------------
lf_execs=0
lf_ops=0
lf_st=0
if [ "$LF_S" -gt 0 ]; then
    corpus=$B/fuzz-corpus
    # the regression inputs seed the corpus
    for f in tests/fuzz/regress/*.ops; do [ -e "$f" ] && cp -n "$f" "$corpus/"; done
    log=$OUT/fuzz_ops.log
    echo "== libFuzzer ($B/fuzz/fuzz_ops): ${LF_S}s, corpus $corpus ($(ls "$corpus" | wc -l) inputs)"
    start=$SECONDS
    # shellcheck disable=SC2086
    "$B/fuzz/fuzz_ops" -max_total_time="$LF_S" -timeout=60 -rss_limit_mb=4096 -detect_leaks=0 \
        -print_final_stats=1 -artifact_prefix="$(cd "$B/fuzz-crashes" && pwd)/" $LF_FLAGS "$corpus" 2>&1 |
        tee "$log" | {
            last=$SECONDS cur=
            while IFS= read -r l; do
                case $l in '#'*) cur=$l ;; esac
                case $l in *ERROR*|*'runtime error'*|*SUMMARY*|*'Test unit written'*|'cairn: '*|*': FAIL: '*) echo "   | $l" ;; esac
                if [ $(( SECONDS - last )) -ge 30 ] && [ -n "$cur" ]; then
                    echo "   libFuzzer $(( SECONDS - start ))s: $cur"
                    last=$SECONDS
                fi
            done
        }
    lf_st=${PIPESTATUS[0]}
    lf_execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    lf_ops=$(sed -n 's/^fuzz_ops: [0-9]* inputs, \([0-9]*\) operations$/\1/p' "$log" | tail -n 1)
    echo "   libFuzzer: ${lf_execs:-?} inputs run, ${lf_ops:-?} operations, $(ls "$corpus" | wc -l) corpus inputs," \
         "status $lf_st (log $log)"
    if [ "$lf_st" -ne 0 ]; then
        fails=$(( fails + 1 ))
        failed+=("libFuzzer (status $lf_st): crash inputs in $B/fuzz-crashes/, log $log")
    fi
fi

# ---- summary -------------------------------------------------------------------------
echo "== fuzz summary: $(( SECONDS - t0 ))s"
if [ "$DRV_S" -gt 0 ]; then
    echo "   driver:    $drv_ops operations in $drv_runs runs (seeds $SEED..$(( SEED + drv_runs - 1 )); failed runs not counted)"
fi
if [ "$LF_S" -gt 0 ]; then
    echo "   libFuzzer: ${lf_execs:-?} inputs, ${lf_ops:-?} operations"
fi
if [ $fails -gt 0 ]; then
    echo "   $fails FAILED:"
    for f in "${failed[@]}"; do echo "     $f"; done
    echo "   (to minimise one into tests/fuzz/regress/, see tests/fuzz/README.md)"
    exit 1
fi
echo "   no failures"
