#!/bin/bash
# t_stats_out.sh LIB: the statistics outputs of a real program.
#  - CAIRN_STATS=1 ends with the memory report and the ledger table;
#  - CAIRN_STATS=json writes one JSON object whose ledger parts add up;
#  - CAIRN_STATS_INTERVAL with CAIRN_STATS_FILE samples the ledger over time.
set -u
LIB=$(realpath "$1")
fail=0
out=$(mktemp -d)
prog=(/usr/bin/python3 -c 'import time
d = {}
for i in range(200000): d[i] = "x" * (i % 300)
t = time.time()
while time.time() - t < 0.6: d = {i: str(i) * 3 for i in range(30000)}')
LD_PRELOAD=$LIB CAIRN_STATS=1 PYTHONMALLOC=malloc "${prog[@]}" 2>"$out/text" || fail=1
for want in "memory report" "where the memory is" "size-class rounding" "RSS (kernel, smaps_rollup)" "RSS minus sum"; do
    grep -q "$want" "$out/text" || { echo "FAIL: CAIRN_STATS=1 output lacks '$want'"; fail=1; }
done
LD_PRELOAD=$LIB CAIRN_STATS=json PYTHONMALLOC=malloc "${prog[@]}" 2>"$out/json" || fail=1
python3 - "$out/json" <<'PY' || fail=1
import json, sys
o = json.loads(open(sys.argv[1]).read())
l = o["ledger"]
assert sum(p["bytes"] for p in l["parts"]) == l["total"], "parts do not add up"
assert l["rss"] - l["total"] == l["rss_minus_total"]
assert o["malloc_calls"] > 100000 and l["classes"], "no data"
print("json ok: %d parts, total %d, rss %d" % (len(l["parts"]), l["total"], l["rss"]))
PY
LD_PRELOAD=$LIB CAIRN_STATS_INTERVAL=50ms CAIRN_STATS_FILE="$out/tl" PYTHONMALLOC=malloc "${prog[@]}" || fail=1
python3 - "$out/tl" <<'PY' || fail=1
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) >= 5, "only %d samples" % len(lines)
assert all(sum(s["parts"]) == s["total"] for s in lines)
assert all(b["t_ms"] > a["t_ms"] for a, b in zip(lines, lines[1:])), "times not increasing"
print("timeline ok: %d samples over %d ms" % (len(lines), lines[-1]["t_ms"] - lines[0]["t_ms"]))
PY
rm -rf "$out"
[ $fail -eq 0 ] && echo "t_stats_out: ok"
exit $fail
