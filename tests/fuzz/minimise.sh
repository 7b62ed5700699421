#!/bin/bash
# minimise.sh: turn a fuzzer failure into a regression in tests/fuzz/regress/
# (tests/fuzz/README.md, "Minimising a failure").
#
#   minimise.sh BUILDDIR ops CRASH_FILE NAME
#       A libFuzzer crash input: libFuzzer's -minimize_crash shrinks it, the
#       result is written to tests/fuzz/regress/NAME.ops (replayed by the
#       fuzz-replay test) if fuzz_replay also fails on it; if only the clang
#       build does (a clang UBSan report, say), it says so and writes nothing:
#       then write a NAME.c program from the operations it shows.
#   minimise.sh BUILDDIR args NAME [VAR=value...] BUILD T_FUZZ_ARGS...
#       A t_fuzz run, as printed after "reproduce with:" (BUILD is pfx, asan,
#       tsan or std; -T is dropped, -q added). With one worker thread (-t 1)
#       the run is deterministic: the smallest -n that still fails is found
#       by bisection, then smaller tables (-k) and thread lives (-l) are tried.
#       With more threads it is only checked to fail 2 times out of 3. The
#       line goes to tests/fuzz/regress/NAME.args (fuzz-regress-NAME test).
# Either way the regression must fail now and pass once the bug is fixed.
set -u
B=${1:?usage: see the top of $0}
mode=${2:?}
R=${FUZZ_REGRESS_DIR:-tests/fuzz/regress}   # where the regression goes
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$(pwd)/tests/fuzz/ubsan.supp}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:report_signal_unsafe=0:suppressions=$(pwd)/tests/tsan.supp}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

case $mode in
ops)
    crash=${3:?crash file}
    name=${4:?name}
    "$B/fuzz/fuzz_ops" -minimize_crash=1 -max_total_time=120 -runs=100000 \
        -exact_artifact_path="$tmp/min" "$crash" >"$tmp/min.log" 2>&1
    [ -s "$tmp/min" ] || cp "$crash" "$tmp/min"
    echo "minimised: $(wc -c <"$crash") -> $(wc -c <"$tmp/min") bytes"
    if "$B/fuzz/fuzz_ops" "$tmp/min" >"$tmp/lf.log" 2>&1; then
        echo "the input alone does not fail under fuzz_ops: the failure needs the inputs before it"
        echo "(allocator state carries over); rerun libFuzzer on a corpus of just those, or write a NAME.c"
        exit 1
    fi
    grep -E 'FAIL|runtime error|ERROR|^cairn:' "$tmp/lf.log" | head -n 5
    if "$B/tests/asan/fuzz_replay" "$tmp/min" >"$tmp/rp.log" 2>&1; then
        echo "fuzz_replay ($B/tests/asan, the make-test build) passes this input; only the clang build"
        echo "fails (log above), so an .ops file would not guard against it: write $R/$name.c instead,"
        echo "from the operations fuzz_ops printed (full log: $B/fuzz/minimise-$name.log)"
        cp "$tmp/lf.log" "$B/fuzz/minimise-$name.log"
        exit 1
    fi
    cp "$tmp/min" "$R/$name.ops"
    echo "wrote $R/$name.ops; replay: $B/tests/asan/fuzz_replay $R/$name.ops"
    ;;
args)
    name=${3:?name}
    shift 3
    envs=()
    while [ $# -gt 0 ] && [[ $1 == *=* ]]; do envs+=("$1"); shift; done
    build=${1:?build}
    shift
    bin=$B/tests/$build/t_fuzz
    # drop -T and -n (the op count is found below) and -q
    args=()
    n=
    threads=4
    while [ $# -gt 0 ]; do
        case $1 in
        -T) shift 2 ;;
        -n) n=$2; shift 2 ;;
        -q) shift ;;
        -t) threads=$2; args+=("$1" "$2"); shift 2 ;;
        *) args+=("$1"); shift ;;
        esac
    done
    fails() { # fails ARGS...: the run fails (not a timeout)
        timeout -k 5 600 env "${envs[@]}" "$bin" -q "$@" >"$tmp/run.log" 2>&1
        local st=$?
        [ $st -ne 0 ] && [ $st -ne 124 ] && [ $st -ne 137 ]
    }
    [ -n "$n" ] && [ "$n" != 18446744073709551615 ] || n=
    if [ -z "$n" ]; then
        # a timed run: how far it got comes with the failure
        fails "${args[@]}" -n 18446744073709551615 -T 3600 || { echo "it does not fail"; exit 1; }
        n=$(sed -n 's/^t_fuzz: \([0-9]*\) operations in all.*/\1/p' "$tmp/run.log" | head -n 1)
        n=$(( ${n:-1000000} + 1 ))
    fi
    fails "${args[@]}" -n "$n" || { echo "it does not fail with -n $n"; exit 1; }
    cp "$tmp/run.log" "$tmp/first.log"
    if [ "$threads" = 1 ]; then
        lo=0 hi=$n     # fails at hi, assumed to pass at lo
        while [ $(( hi - lo )) -gt 1 ]; do
            mid=$(( (lo + hi) / 2 ))
            if fails "${args[@]}" -n "$mid"; then hi=$mid; else lo=$mid; fi
        done
        n=$hi
        echo "smallest failing -n: $n"
        # with_opt FLAG VALUE: args with FLAG set to VALUE (replaced if there)
        with_opt() {
            try=()
            local i=0
            while [ $i -lt ${#args[@]} ]; do
                if [ "${args[$i]}" = "$1" ]; then i=$(( i + 2 )); continue; fi
                try+=("${args[$i]}"); i=$(( i + 1 ))
            done
            try+=("$1" "$2")
        }
        for opt in "-k 256" "-k 64" "-l 2000" "-f 0" "-H 0"; do
            # shellcheck disable=SC2086
            with_opt $opt
            if fails "${try[@]}" -n "$n"; then args=("${try[@]}"); echo "still fails with $opt"; fi
        done
    else
        ok=0
        for _ in 1 2 3; do fails "${args[@]}" -n "$n" && ok=$(( ok + 1 )); done
        echo "fails $ok times out of 3 with $threads threads"
        [ $ok -ge 2 ] || { echo "too timing-dependent for a regression; try seeds with -t 1"; exit 1; }
    fi
    fails "${args[@]}" -n "$n" || { echo "the reduced run passes (not monotonic?); giving up"; exit 1; }
    {
        echo "# $(grep -m1 -E 'FAIL|^cairn:|runtime error' "$tmp/run.log")"
        echo "# found by t_fuzz; minimised by tests/fuzz/minimise.sh on $(date +%F)"
        echo "${envs[*]:+${envs[*]} }$build ${args[*]} -n $n"
    } >"$R/$name.args"
    echo "wrote $R/$name.args:"
    sed 's/^/    /' "$R/$name.args"
    ;;
*)
    echo "usage: minimise.sh BUILDDIR ops CRASH_FILE NAME | BUILDDIR args NAME [VAR=value...] BUILD ARGS..." >&2
    exit 2
    ;;
esac
