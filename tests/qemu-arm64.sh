#!/bin/bash
# qemu-arm64.sh [-p PAGESIZE [-a]] PROGRAM ARGS...: run an arm64 test program
# (built by `make arm64`, tests/cross.mk) under qemu-user, with the arm64
# C library of libc6-dev-arm64-cross as its root for the dynamic loader.
# -p makes the guest see a kernel with that page size (AT_PAGESZ, mmap
# alignment). qemu does not refuse a munmap, madvise or mprotect that is
# aligned to 4 KiB only, as such a kernel would (or round its length up past
# what the caller meant), so with -a as well every such call (and mremap) is
# logged (qemu's -strace) and checked: address and length multiples of the
# page size. The dynamic loader's munmap of a whole file mapping, whose
# length is not even a multiple of 4 KiB, is let through. The environment
# passes through to the program. Exits 1 with a message saying what is
# missing when qemu, the sysroot or the program is not there.
# CAIRN_QEMU_AARCH64 and CAIRN_ARM64_SYSROOT override the defaults.
set -u
pg=() align=
if [ "${1:-}" = -p ]; then pg=(-p "$2"); shift 2; fi
if [ "${1:-}" = -a ] && [ ${#pg[@]} -eq 2 ]; then align=${pg[1]}; shift; fi
prog=${1:?usage: qemu-arm64.sh [-p PAGESIZE [-a]] PROGRAM ARGS...}
qemu=${CAIRN_QEMU_AARCH64:-$(command -v qemu-aarch64 || command -v qemu-aarch64-static)}
sysroot=${CAIRN_ARM64_SYSROOT:-/usr/aarch64-linux-gnu}
if [ -z "$qemu" ] || ! command -v "$qemu" >/dev/null; then
    echo "arm64: qemu-aarch64 not found; install it with: apt-get install qemu-user"; exit 1
fi
if [ ! -e "$sysroot/lib/ld-linux-aarch64.so.1" ]; then
    echo "arm64: no arm64 C library in $sysroot; install it with: apt-get install libc6-dev-arm64-cross"; exit 1
fi
if [ ! -x "$prog" ]; then
    echo "arm64: test program $prog was not built (see the arm64-build test, or run make arm64)"; exit 1
fi
# qemu writes a core file of the guest into the working directory when the
# program dies by a signal (the misuse tests abort on purpose): none.
ulimit -c 0
[ -z "$align" ] && exec "$qemu" "${pg[@]}" -L "$sysroot" "$@"

log=$(mktemp "${TMPDIR:-/tmp}/qemu-arm64-strace.XXXXXX")
"$qemu" "${pg[@]}" -D "$log" -strace -L "$sysroot" "$@"
rc=$?
# Threads' lines interleave, even inside a call's arguments: take each call
# wherever it starts, and only when its numbers are whole (a call cut by
# another thread's output goes unchecked). mremap prints decimal addresses.
grep -oE '(munmap|madvise|mprotect)\(0x[0-9a-f]+,[0-9]+[,)]|mremap\([0-9]+,[0-9]+,[0-9]+,' "$log" |
    awk -v P="$align" '
    function num(s,   v, i, c) {
        if (s !~ /^0x/) return s + 0
        v = 0
        for (i = 3; i <= length(s); i++) { c = index("0123456789abcdef", tolower(substr(s, i, 1))); v = v * 16 + c - 1 }
        return v
    }
    { split($0, f, /[(,]/); call = f[1]; a = num(f[2]); n = f[3] + 0; calls++
      if (call == "munmap" && n % 4096) next
      if (a % P || n % P || (call == "mremap" && (f[4] + 0) % P)) {
          if (bad++ < 10) print "arm64: not aligned to the " P "-byte page: " $0
      } }
    END { printf "arm64: %d munmap/madvise/mprotect/mremap calls checked, %d not page aligned\n", calls, bad
          if (!calls) print "arm64: no such call in qemu'"'"'s -strace log: the check did not work"
          exit bad > 0 || !calls }'
st=$?
rm -f "$log"
[ $rc -ne 0 ] && exit $rc
exit $st
