#!/bin/bash
# t_trace.sh BUILDDIR CASE: trace record and replay (docs/TRACE.md).
# Uses BUILDDIR/tools/cairn-trace, cairn-replay, BUILDDIR/libcairn-trace.so,
# BUILDDIR/libcairn.so and the helpers in BUILDDIR/tests/trace/ (built by
# tools/tools.mk as part of `make test-build`). Exits 0 when the case passes.
set -u
B=$(cd "${1:?usage: t_trace.sh BUILDDIR CASE}" && pwd)
CASE=${2:?usage: t_trace.sh BUILDDIR CASE}
SRC=$(cd "$(dirname "$0")/.." && pwd)
CT=$B/tools/cairn-trace
CR=$B/tools/cairn-replay
PROG=$B/tests/trace/t_trace_prog
W=$B/tests/work/trace-$CASE
rm -rf "$W"
mkdir -p "$W"
cd "$W" || exit 1
for f in "$CT" "$CR" "$B/libcairn-trace.so" "$B/libcairn.so" "$PROG"; do
    [ -e "$f" ] || { echo "missing $f (make test-build)"; exit 1; }
done
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

die() { echo "FAIL: $*"; exit 1; }
# field NAME FILE: the value of a "NAME: value" line of cairn-replay output
field() { sed -n "s/^$1: \([^ ]*\).*/\1/p" "$2" | head -1; }

# A recording of the threaded test program; prints its own call count.
record_prog() { # TRACE ARGS...
    local tr=$1; shift
    "$CT" record -o "$tr" -- "$PROG" "$@" >prog.out 2>record.err || { cat record.err; die "record failed"; }
    cat prog.out record.err
    grep -q "events from" record.err || die "record printed no summary"
}

# Both cairn and glibc replay TRACE, with equal op counts and checksums.
replay_both() { # TRACE
    "$CT" replay "$1" --alloc cairn,glibc >replay.out 2>replay.err || { cat replay.out replay.err; die "replay failed"; }
    cat replay.out
    [ "$(grep -cE '^(cairn|glibc) .* ok$' replay.out)" = 2 ] || die "expected two ok rows"
    LD_PRELOAD=$B/libcairn.so "$CR" "$1" >cairn.out || die "cairn-replay under cairn failed"
    env -u LD_PRELOAD "$CR" "$1" >glibc.out || die "cairn-replay under glibc failed"
    [ "$(field ops cairn.out)" = "$(field ops glibc.out)" ] || die "op counts differ"
    [ "$(field checksum cairn.out)" = "$(field checksum glibc.out)" ] || die "checksums differ"
    [ "$(field ops cairn.out)" -gt 0 ] || die "nothing replayed"
}

# expect_error REGEX CMD...: CMD fails (not by a signal) with one stderr line matching REGEX.
expect_error() {
    local want=$1; shift
    "$@" >err.out 2>err.txt
    local rc=$?
    cat err.txt
    [ $rc -ne 0 ] || die "expected a non-zero status"
    [ $rc -lt 128 ] || die "died by a signal (status $rc)"
    [ "$(wc -l <err.txt)" -eq 1 ] || die "expected exactly one line on stderr"
    grep -Eq "$want" err.txt || die "expected a message matching: $want"
}

# Little-endian binary helpers for hand-made traces.
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"; }
header() { printf 'CAIRNTR1'; le32 1; le32 0; le32 0; le32 0; le32 4242; le32 0; }
chunk() { # THREAD EVENTS PAYLOAD(printf format)
    local n
    n=$(printf "$3" | wc -c)
    printf 'CTCK'; le32 "$1"; le32 "$2"; le32 "$n"; printf "$3"
}
good_trace() { "$CT" import "$SRC/tests/traces/basic.rep" -o good.trace >/dev/null || die "import failed"; }

case $CASE in
record)
    record_prog t.trace 4 3000
    calls=$(sed -n 's/^calls: //p' prog.out)
    "$CT" summary t.trace >sum.out || die "summary failed"
    ev=$(sed -n 's/^events: \([0-9]*\).*/\1/p' sum.out)
    echo "program calls $calls, trace events $ev"
    # every call of the program is in the trace (libc adds a few of its own)
    [ "$ev" -ge "$calls" ] && [ "$ev" -le $((calls + 200)) ] || die "event count does not match the calls"
    grep -q '^threads: 5$' sum.out || die "expected 5 threads"
    ;;
replay)
    record_prog t.trace 4 3000
    replay_both t.trace
    ;;
summary)
    record_prog t.trace 3 2000
    "$CT" summary t.trace >sum.out || die "summary failed"
    cat sum.out
    for w in '^threads: 4$' '^ops by kind:' ' malloc ' ' calloc ' ' realloc ' ' free ' ' memalign ' \
             ' posix_memalign ' ' valloc ' ' pvalloc ' ' free_sized ' '^peak live: ' '^sizes ' '^lifetimes '; do
        grep -Eq -- "$w" sum.out || die "summary lacks: $w"
    done
    ;;
import)
    for r in basic realloc-grow frag; do
        "$CT" import "$SRC/tests/traces/$r.rep" -o "$r.trace" || die "import of $r.rep failed"
        want=$(sed -n 3p "$SRC/tests/traces/$r.rep")
        "$CT" summary "$r.trace" >"$r.sum" || die "summary of $r failed"
        grep -q "^events: $want " "$r.sum" || die "$r: expected $want events"
        replay_both "$r.trace"
    done
    ;;
fork)
    # the child's allocation (12345678 bytes) must not be in the parent's trace
    record_prog t.trace 3 2000 fork
    "$CT" summary t.trace >sum.out || die "summary failed"
    ! grep -q '8388608-16777215' sum.out || die "the fork child's allocation was recorded"
    replay_both t.trace
    ;;
exit-race)
    # a thread still allocating while main exits: the trace must stay whole
    for i in 1 2 3 4 5; do
        record_prog t.trace 2 1000 busy-exit >/dev/null
        "$CT" summary t.trace >/dev/null || die "run $i: bad trace"
    done
    replay_both t.trace
    ;;
python)
    PYTHONMALLOC=malloc "$CT" record -o py.trace -- "$PY" -c '
import json
d = {str(i): [i] * (i % 7) for i in range(3000)}
s = json.dumps(d)
print(len(json.loads(s)), len(s))' || die "python record failed"
    replay_both py.trace
    ;;
not-in-libcairn)
    # CAIRN_TRACE means nothing to the normal library
    CAIRN_TRACE=$W/none.trace LD_PRELOAD=$B/libcairn.so "$PROG" 2 200 || die "program failed"
    [ ! -e none.trace ] || die "libcairn.so wrote a trace"
    nm -D --defined-only "$B/libcairn.so" | grep -q trace_alloc && die "libcairn.so contains the recorder"
    CAIRN_TRACE=$W/pre.trace LD_PRELOAD=$B/libcairn-trace.so "$PROG" 2 200 || die "program failed"
    "$CT" summary pre.trace >/dev/null || die "libcairn-trace.so wrote no usable trace"
    ;;
ledger)
    # under cairn the replay prints cairn's own ledger; under glibc none
    good_trace
    "$CT" replay good.trace --alloc cairn >out.txt || die "replay failed"
    cat out.txt
    grep -q '^ledger at peak live' out.txt && grep -q 'where the memory is' out.txt &&
        grep -q 'size-class rounding' out.txt || die "no ledger printed"
    "$CR" good.trace >plain.txt || die "replay under glibc failed"
    grep -q '(ledger: not cairn)' plain.txt || die "expected (ledger: not cairn) under glibc"
    ;;
samples)
    record_prog t.trace 2 2000 >/dev/null
    # under cairn each sample carries the ledger's 8 parts, named in the header
    LD_PRELOAD=$B/libcairn.so "$CR" --samples s.txt --every 100 t.trace >out.txt || die "replay failed"
    head -3 s.txt
    head -1 s.txt | grep -q '^# t_ms live_bytes rss_bytes live,_requested size-class_rounding ' || die "bad samples header"
    [ "$(sed -n 2p s.txt | wc -w)" = 11 ] || die "expected 11 columns with cairn's ledger parts"
    "$CR" --samples s2.txt --every 100 t.trace >/dev/null || die "replay failed"
    [ "$(sed -n 2p s2.txt | wc -w)" = 3 ] || die "expected 3 columns under glibc (no ledger)"
    ;;
plot)
    good_trace
    if command -v gnuplot >/dev/null; then
        "$CT" plot good.trace -o p.png || die "plot failed"
        [ "$(head -c 4 p.png | od -An -c | tr -d ' ')" = "211PNG" ] || die "not a PNG"
    else
        expect_error 'gnuplot not found' "$CT" plot good.trace -o p.png
    fi
    ;;
bad-magic)
    good_trace
    { printf 'XAIRNTR1'; tail -c +9 good.trace; } >bad.trace
    expect_error 'not a cairn trace \(bad magic\)' "$CT" replay bad.trace
    ;;
bad-short)
    printf 'CAIRNTR1' >bad.trace
    expect_error 'too short for a cairn trace' "$CT" summary bad.trace
    ;;
bad-version)
    { printf 'CAIRNTR1'; le32 7; tail -c +13 <(header); } >bad.trace
    expect_error 'version 7 is not supported' "$CT" summary bad.trace
    ;;
bad-truncated)
    good_trace
    head -c -5 good.trace >bad.trace
    expect_error 'only [0-9]+ are left in the file \(truncated trace\)' "$CT" replay bad.trace
    ;;
bad-chunk-magic)
    good_trace
    { head -c 32 good.trace; printf 'XTCK'; tail -c +37 good.trace; } >bad.trace
    expect_error 'bad chunk magic at offset 32' "$CT" summary bad.trace
    ;;
bad-varint)
    # a malloc whose size runs past the end of its chunk
    { header; chunk 0 1 '\x01\x00\x00\x80\x80'; } >bad.trace
    expect_error 'thread 0, event 1 .*runs past the end of its chunk' "$CT" replay bad.trace
    ;;
bad-op)
    { header; chunk 0 1 '\x0f\x00'; } >bad.trace
    expect_error 'thread 0, event 1 .*unknown operation' "$CT" summary bad.trace
    ;;
bad-count)
    # the header says 2 events, the payload holds one and a stray byte
    { header; chunk 0 1 '\x01\x00\x00\x08\x00'; } >bad.trace
    expect_error 'bytes left after its 1 events' "$CT" summary bad.trace
    ;;
bad-never-allocated)
    # malloc id 0, free id 5 (zigzag delta 5 -> 10)
    { header; chunk 0 2 '\x01\x00\x00\x08\x04\x00\x0a'; } >bad.trace
    expect_error 'thread 0, event 2 \(free\): frees an id that is never allocated: 5' "$CT" replay bad.trace
    expect_error 'frees an id that is never allocated: 5' "$CR" bad.trace
    ;;
bad-double-free)
    { header; chunk 0 3 '\x01\x00\x00\x08\x04\x00\x00\x04\x00\x00'; } >bad.trace
    expect_error 'thread 0, event 3 \(free\): frees an id already freed: 0' "$CT" summary bad.trace
    ;;
bad-cycle)
    # thread 0 frees id 1 then allocates id 0; thread 1 frees id 0 then allocates id 1
    { header; chunk 0 2 '\x04\x00\x02\x01\x00\x01\x08'; chunk 1 2 '\x04\x00\x00\x01\x00\x02\x08'; } >bad.trace
    expect_error 'allocated only after it' "$CT" replay bad.trace
    ;;
bad-alloc)
    good_trace
    expect_error "unknown allocator 'nosuchalloc'" "$CT" replay good.trace --alloc cairn,nosuchalloc
    ;;
bad-missing)
    expect_error 'nothere.trace: No such file' "$CT" replay nothere.trace
    ;;
bad-rep)
    printf '100\n2\n2\n1\na 0 10\nf 1\n' >a.rep
    expect_error 'a.rep:6: free of id 1, which is not allocated' "$CT" import a.rep -o a.trace
    printf '100\n2\n2\n1\na 0 10\nx 1\n' >b.rep
    expect_error "b.rep:6: expected 'a ID SIZE'" "$CT" import b.rep -o b.trace
    printf '100\n2\n3\n1\na 0 10\nf 0\n' >c.rep
    expect_error 'header says 3 ops but the file holds 2' "$CT" import c.rep -o c.trace
    ;;
*)
    die "unknown case $CASE"
    ;;
esac
echo "ok: $CASE"
