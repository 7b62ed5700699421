#!/bin/bash
# t_programs.sh CASE LIB WORKDIR: run a real program with and without
# LD_PRELOAD=LIB; the outputs must be identical.
# CASE: python | sqlite | gcc | coreutils | stats
set -euo pipefail
case_=$1
lib=$(readlink -f "$2")
work=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
cd "$work"
[ -f "$lib" ] || { echo "no library $lib"; exit 1; }

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

fail() { echo "FAIL: $*" >&2; exit 1; }

# compare FILE_A FILE_B
same() {
    if ! cmp -s "$1" "$2"; then
        echo "outputs differ: $1 vs $2" >&2
        diff "$1" "$2" | head -20 >&2 || true
        exit 1
    fi
}

# run_both NAME CMD...: stdout -> NAME.plain / NAME.cairn, exit codes must be 0
run_both() {
    local name=$1; shift
    "$@" >"$name.plain" 2>"$name.plain.err" || fail "$name failed without cairn: $(tail -3 "$name.plain.err")"
    LD_PRELOAD=$lib "$@" >"$name.cairn" 2>"$name.cairn.err" ||
        fail "$name failed under cairn (status $?): $(tail -5 "$name.cairn.err")"
    [ -s "$name.plain" ] || fail "$name produced no output"
    same "$name.plain" "$name.cairn"
}

case $case_ in
python)
    export PYTHONMALLOC=malloc PYTHONHASHSEED=0
    run_both py "$PY" "$here/workload.py" 3
    # the preload really happened: the stats report names cairn
    CAIRN_STATS=1 LD_PRELOAD=$lib "$PY" -c 'x=[str(i)*10 for i in range(100000)]' 2>py.stats >/dev/null
    grep -qi cairn py.stats || fail "no cairn report from python with CAIRN_STATS=1"
    ;;
sqlite)
    command -v sqlite3 >/dev/null || fail "sqlite3 not installed"
    cat >gen.sql <<'SQL'
PRAGMA journal_mode=OFF;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL, blob BLOB);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 60000)
INSERT INTO t SELECT i, (i*7919) % 97, printf('name-%d-%s', i, substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 26)),
       (i * 37 % 1000) / 7.0, zeroblob(i % 300) FROM c;
CREATE INDEX t_grp ON t(grp, name);
CREATE TABLE u AS SELECT grp, count(*) AS n, sum(val) AS s FROM t GROUP BY grp;
SQL
    cat >q.sql <<'SQL'
SELECT grp, count(*), round(sum(val), 3), min(name), max(name), sum(length(blob)) FROM t GROUP BY grp ORDER BY grp;
SELECT substr(name, -1), count(*), round(avg(val), 4) FROM t GROUP BY 2 > 2300, substr(name, -1) ORDER BY 1;
SELECT t.grp, u.n, count(*) FROM t JOIN u ON u.grp = t.grp WHERE t.id % 13 = 0 GROUP BY t.grp ORDER BY 3 DESC, 1 LIMIT 20;
SELECT length(group_concat(name, ',')) FROM (SELECT name FROM t ORDER BY val DESC, id);
SELECT name FROM t WHERE grp = 42 ORDER BY name LIMIT 10;
SELECT count(DISTINCT val), count(DISTINCT name) FROM t;
UPDATE t SET name = name || '-updated' WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
VACUUM;
SELECT count(*), sum(length(name)) FROM t;
PRAGMA integrity_check;
SQL
    for mode in plain cairn; do
        rm -f "db.$mode"
        if [ $mode = plain ]; then pre=; else pre=$lib; fi
        LD_PRELOAD=$pre sqlite3 "db.$mode" <gen.sql >/dev/null 2>"gen.$mode.err" ||
            fail "sqlite3 generate ($mode): $(tail -3 gen.$mode.err)"
        LD_PRELOAD=$pre sqlite3 "db.$mode" <q.sql >"sq.$mode" 2>"sq.$mode.err" ||
            fail "sqlite3 queries ($mode): $(tail -3 sq.$mode.err)"
    done
    grep -q '^ok$' sq.plain || fail "integrity_check did not print ok"
    same sq.plain sq.cairn
    ;;
gcc)
    "$PY" - >big.c <<'PYEOF'
import random
r = random.Random(7)
N = 1200
print("#include <stdio.h>\n#include <string.h>\nstruct s { int a[8]; double d; const char *n; };")
for i in range(N):
    k = r.randrange(1, 9)
    print(f"static int f{i}(int x, struct s *p) {{")
    print(f"  int acc = {r.randrange(1000)};")
    print(f"  for (int j = 0; j < {k}; j++) {{ acc = acc * {r.randrange(3, 31)} + (x ^ j) + p->a[j & 7]; p->a[(j + {i}) & 7] ^= acc; }}")
    print(f"  switch (x % {k + 2}) {{")
    for c in range(k + 2):
        print(f"    case {c}: acc += {r.randrange(100)} * x; p->d += acc / {c + 1.5}; break;")
    print("  }")
    print(f'  if (acc % {r.randrange(2, 50)} == 0) p->n = "f{i}";')
    print("  return acc;\n}")
print("typedef int (*fn)(int, struct s *);\nstatic const fn tab[] = {")
print(",".join(f"f{i}" for i in range(N)))
print("};\nint main(void) {\n  struct s st; memset(&st, 0, sizeof st); st.n = \"none\";\n  unsigned h = 1;")
print(f"  for (int i = 0; i < {N}; i++) h = h * 31u + (unsigned)tab[i](i, &st);")
print('  printf("%u %s %d\\n", h, st.n, st.a[3]);\n  return 0;\n}')
PYEOF
    for mode in plain cairn; do
        if [ $mode = plain ]; then pre=; else pre=$lib; fi
        LD_PRELOAD=$pre gcc -O2 -g0 -S big.c -o "big.$mode.s" 2>"cc.$mode.err" ||
            fail "gcc -S ($mode): $(tail -3 cc.$mode.err)"
        LD_PRELOAD=$pre gcc -c "big.$mode.s" -o "big.$mode.o" 2>>"cc.$mode.err" ||
            fail "as ($mode): $(tail -3 cc.$mode.err)"
        objdump -d "big.$mode.o" | tail -n +3 >"dis.$mode"
        [ "$(grep -c '^[0-9a-f]* <f[0-9]*>:' "dis.$mode")" -ge 100 ] || fail "object file has too few functions"
        gcc "big.$mode.o" -o "big.$mode"
        LD_PRELOAD=$pre "./big.$mode" >"run.$mode"
    done
    same big.plain.s big.cairn.s
    same dis.plain dis.cairn
    same run.plain run.cairn
    ;;
coreutils)
    "$PY" -c '
import random
r = random.Random(3)
for i in range(300000):
    print("%08x %s %d" % (r.getrandbits(32), "w" * r.randrange(0, 60), r.randrange(10**6)))
' >in.txt
    run_both sort sort -k3,3n -k1,1 in.txt
    run_both sortu sort -u -k2,2 in.txt
    run_both awk awk '{ c[length($2)] += $3; w[$1] = $2 } END { n = 0; for (k in w) n++; for (k in c) print k, c[k] | "sort -n"; print n }' in.txt
    run_both find find /usr/include -type f -name '*.h'
    ;;
stats)
    # CAIRN_STATS=1 prints a report to stderr at exit; without it nothing
    CAIRN_STATS=1 LD_PRELOAD=$lib "$PY" -c 'import json; print(len(json.dumps(list(range(50000)))))' \
        >st.out 2>st.err || fail "python under CAIRN_STATS=1 failed"
    [ "$(cat st.out)" = "$("$PY" -c 'import json; print(len(json.dumps(list(range(50000)))))')" ] ||
        fail "stdout changed by CAIRN_STATS=1"
    [ -s st.err ] || fail "CAIRN_STATS=1 printed nothing to stderr"
    grep -qi cairn st.err || fail "report does not mention cairn: $(head -3 st.err)"
    LD_PRELOAD=$lib ls / >/dev/null 2>st3.err || fail "ls failed under cairn"
    [ ! -s st3.err ] || fail "cairn printed to stderr without CAIRN_STATS: $(head -3 st3.err)"
    CAIRN_STATS=1 LD_PRELOAD=$lib ls / >/dev/null 2>st4.err || fail "ls failed under cairn"
    grep -qi cairn st4.err || fail "no report for ls"
    cat st.err
    ;;
*)
    echo "unknown case $case_" >&2; exit 2 ;;
esac
echo "$case_: ok"
