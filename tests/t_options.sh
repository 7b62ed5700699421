#!/bin/bash
# t_options.sh BIN: how CAIRN_* options are parsed. Each case runs BIN with
# one setting and checks the line printed for it, and that invalid values
# bring a warning on stderr and the default.
set -u
BIN=$1
fail=0
# case VAR=VALUE 'expected option line' warn|nowarn
case1() {
    local setting=$1 want=$2 warn=$3 out err
    out=$(env "$setting" "$BIN" 2>/tmp/t_options.$$)
    err=$(cat /tmp/t_options.$$)
    if ! grep -qxF "  $want" <<<"$out"; then
        echo "FAIL $setting: expected '  $want' in:"; echo "$out"; fail=1
    fi
    if [ "$warn" = warn ] && ! grep -q "^cairn: warning: ignoring invalid .* in ${setting%%=*}\$" <<<"$err"; then
        echo "FAIL $setting: expected a warning naming ${setting%%=*}, stderr was: $err"; fail=1
    fi
    if [ "$warn" = nowarn ] && [ -n "$err" ]; then
        echo "FAIL $setting: unexpected stderr: $err"; fail=1
    fi
}
case1 CAIRN_PURGE_DELAY=250    "CAIRN_PURGE_DELAY=250ms" nowarn
case1 CAIRN_PURGE_DELAY=250ms  "CAIRN_PURGE_DELAY=250ms" nowarn
case1 CAIRN_PURGE_DELAY=2s     "CAIRN_PURGE_DELAY=2000ms" nowarn
case1 CAIRN_PURGE_DELAY=0      "CAIRN_PURGE_DELAY=0ms" nowarn
case1 CAIRN_PURGE_DELAY=3600s  "CAIRN_PURGE_DELAY=3600000ms" nowarn
case1 CAIRN_PURGE_DELAY=3601s  "CAIRN_PURGE_DELAY=1000ms" warn
case1 CAIRN_PURGE_DELAY=abc    "CAIRN_PURGE_DELAY=1000ms" warn
case1 CAIRN_PURGE_DELAY=5m     "CAIRN_PURGE_DELAY=1000ms" warn
case1 CAIRN_PURGE_DELAY=-1     "CAIRN_PURGE_DELAY=1000ms" warn
case1 CAIRN_PURGE_DELAY=1.5s   "CAIRN_PURGE_DELAY=1000ms" warn
case1 CAIRN_PURGE_DELAY=       "CAIRN_PURGE_DELAY=1000ms" warn
case1 CAIRN_PURGE_DELAY=ms     "CAIRN_PURGE_DELAY=1000ms" warn
case1 CAIRN_BACKGROUND=0       "CAIRN_BACKGROUND=0 (purger thread off)" nowarn
case1 CAIRN_BACKGROUND=1       "CAIRN_BACKGROUND=1 (purger thread not started yet)" nowarn
case1 CAIRN_BACKGROUND=maybe   "CAIRN_BACKGROUND=1 (purger thread not started yet)" warn
case1 CAIRN_ARENAS=3           "CAIRN_ARENAS=3" nowarn
case1 CAIRN_ARENAS=65          "CAIRN_ARENAS=$(( $(nproc) * 2 > 64 ? 64 : $(nproc) * 2 ))" warn
case1 CAIRN_THP=1              "CAIRN_THP=1" nowarn
case1 CAIRN_THP=0              "CAIRN_THP=0" nowarn
case1 CAIRN_THP=huge           "CAIRN_THP=0" warn
rm -f /tmp/t_options.$$

# CAIRN_THP=1 advises segments and huge blocks for transparent huge pages:
# the kernel then calls their mappings eligible (THPeligible in smaps)
# when its THP mode is "madvise"; "always" makes every mapping eligible,
# "never" none, whatever cairn asks.
thp_case() {
    local setting=$1 want=$2 got
    got=$(env "$setting" "$BIN" thp)
    if [ "$got" != "thp small=$want large=$want huge=$want" ]; then
        echo "FAIL $setting (THP mode $mode): expected eligible=$want everywhere, got: $got"; fail=1
    fi
}
mode=$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)
case "$mode" in
    madvise) thp_case CAIRN_THP=1 1; thp_case CAIRN_THP=0 0 ;;
    always)  thp_case CAIRN_THP=1 1; thp_case CAIRN_THP=0 1 ;;
    never)   thp_case CAIRN_THP=1 0; thp_case CAIRN_THP=0 0 ;;
    *)       echo "t_options: no THP mode in /sys/kernel/mm/transparent_hugepage: THP cases not run" ;;
esac
[ $fail -eq 0 ] && echo "t_options: ok"
exit $fail
