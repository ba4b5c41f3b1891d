# lib.sh: what the graph tests share; sourced after setting TEST (the test's
# name) and PYMODS (the python modules it needs, "json" by default).
#   TEST=test_x PYMODS="json, struct"; . "$(dirname "$0")/lib.sh"
# Gives: GRAPHS, W (a scratch dir under /tmp, removed on exit with every
# process of our runs), RUNTMP (the launcher's run dirs: ipc paths stay short),
# and the check helpers below. Each check prints "ok   NAME" or
# "FAIL NAME: details"; finish prints the tally and sets the exit status.
set -u
for v in YT_BIN YT_PYTHON; do
    [ -n "${!v:-}" ] || { echo "$TEST: error: $v is not set (run through ctest)" >&2; exit 1; }
done
"$YT_PYTHON" -c "import ${PYMODS:-json}" 2>/dev/null || { echo "$TEST: skipped: no python3 with ${PYMODS:-json} at $YT_PYTHON"; exit 77; }
GRAPHS=$(cd "$(dirname "$0")/../../graphs" && pwd)
W=$(mktemp -d "/tmp/yt_${TEST#test_}.XXXXXX") || { echo "$TEST: error: mktemp failed" >&2; exit 1; }
RUNTMP=$W/runs
mkdir -p "$RUNTMP"
ours() { pgrep -f -- "$RUNTMP/"; } # the node processes of our runs, by their unique path
cleanup() {
    local p
    p=$(ours)
    [ -n "$p" ] && kill -KILL $p 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASS=0
FAILN=0
ok()  { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAILN=$((FAILN + 1)); echo "FAIL $1: $2"; }
expect() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name" "condition failed: $*"; fi; }
has() { grep -qE -- "$2" "$1"; }
json() { "$YT_PYTHON" -c "import json,sys; s=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@" 2>&1; }
# py NAME ARGS...: a check done by the test's $W/check.py; its output is the failure detail
py() { local name=$1 out; shift; if out=$("$YT_PYTHON" "$W/check.py" "$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi; }
# run ARGS...: yt8m-flow run with our run directory, a timeout against hangs
run() { TMPDIR=$RUNTMP timeout -k 10 180 "$YT_BIN" run --quiet "$@"; }
# runs NAME RC-EXPECTED STDERR ARGS...: a run whose exit status is checked (and returned)
runs() {
    local name=$1 want=$2 err=$3 rc; shift 3
    run "$@" 2>"$err"
    rc=$?
    if [ "$rc" -eq "$want" ]; then ok "$name: exit $want"
    else bad "$name: exit $want" "exit $rc; stderr tail: $(tail -n 5 "$err" | tr '\n' '|')"; fi
    return $rc
}
# cmd NAME RC-EXPECTED OUT ARGS...: another yt8m-flow command, its exit status checked
cmd() {
    local name=$1 want=$2 out=$3 rc; shift 3
    timeout -k 10 120 "$YT_BIN" "$@" >"$out" 2>&1
    rc=$?
    if [ "$rc" -eq "$want" ]; then ok "$name: exit $want"
    else bad "$name: exit $want" "exit $rc; output tail: $(tail -n 5 "$out" | tr '\n' '|')"; fi
}
# summary_ok NAME SUMMARY.json: the run's summary says ok, with exact accounting
summary_ok() {
    local v
    v=$(json "$2" '(s["ok"], s["accounting"]["ok"], s["accounting"]["verdict"])')
    case $v in "(True, True, "*) ok "$1: summary ok, accounting exact" ;;
               *) bad "$1: summary ok, accounting exact" "$v" ;; esac
}
finish() { echo "$TEST: $PASS passed, $FAILN failed"; [ "$FAILN" -eq 0 ]; }
