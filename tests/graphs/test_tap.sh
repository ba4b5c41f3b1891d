#!/usr/bin/env bash
# test_tap.sh: `yt8m-flow tap` against a real run: `run GRAPH --tap ENDPOINT`
# publishes snapshots, `tap` subscribes and prints them.
#
# Environment (set by ctest, see tests/graphs/CMakeLists.txt):
#   YT_BIN     path of the yt8m-flow binary
#   YT_SHARED  path of shared/ (not needed here: the graph makes its own data)
#   YT_PYTHON  a python3 to parse JSON (default /usr/bin/python3)
#
# Exit 77 (skipped) when the python or the node types the graph needs are
# missing. Every check prints "ok   NAME" or "FAIL NAME: details"; the last line
# is "test_tap: N passed, M failed", and the exit status is 1 when anything failed.
# No wall-clock limits on the job: only generous timeouts against hangs.
set -u

if [ -z "${YT_BIN:-}" ] || [ ! -x "$YT_BIN" ]; then
    echo "test_tap: error: YT_BIN='${YT_BIN:-}' is not an executable (run through ctest, or set YT_BIN)" >&2
    exit 1
fi
PY=${YT_PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import json' 2>/dev/null; then
    echo "test_tap: skipped: no python3 with json at $PY"
    exit 77
fi

# ipc:// paths are limited to ~107 bytes: keep the socket under /tmp, not $TMPDIR.
W=$(mktemp -d /tmp/yt_tap.XXXXXX) || { echo "test_tap: error: mktemp failed" >&2; exit 1; }
EP="ipc://$W/tap"
RUN_PID=
TAP_PID=
cleanup() {
    [ -n "$TAP_PID" ] && kill "$TAP_PID" 2>/dev/null
    [ -n "$RUN_PID" ] && kill "$RUN_PID" 2>/dev/null
    [ -n "$TAP_PID" ] && wait "$TAP_PID" 2>/dev/null
    [ -n "$RUN_PID" ] && wait "$RUN_PID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASS=0
FAILN=0
ok()  { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAILN=$((FAILN + 1)); echo "FAIL $1: $2"; }
finish() {
    echo "test_tap: $PASS passed, $FAILN failed"
    [ "$FAILN" -eq 0 ]
    exit $?
}

cat >"$W/t.flow" <<'EOF'
flow t v1
node src : synth_source { videos = 3000; level = frame }
node deq : dequantize { }
node sink : null_sink { }
src -> deq -> sink
EOF

if ! out=$("$YT_BIN" check "$W/t.flow" 2>&1); then
    if grep -q "unknown node type" <<<"$out"; then
        echo "test_tap: skipped: this build lacks a node type the graph needs:"
        echo "$out" | grep "unknown node type"
        exit 77
    fi
    bad "check the graph" "$out"
    finish
fi
ok "check the graph"

# ---- usage errors -------------------------------------------------------------
"$YT_BIN" tap --help >"$W/help.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "usage: yt8m-flow tap" "$W/help.out"; then ok "tap --help"; else bad "tap --help" "rc=$rc: $(cat "$W/help.out")"; fi
for args in "" "not-an-endpoint" "inproc://x" "--timeout 0 $EP" "--timeout x $EP" "--bogus $EP" "$EP $EP"; do
    # shellcheck disable=SC2086
    timeout 30 "$YT_BIN" tap $args >"$W/usage.out" 2>"$W/usage.err"
    rc=$?
    if [ $rc -eq 2 ] && grep -q "yt8m-flow tap: error:" "$W/usage.err"; then ok "tap $args: exit 2"
    else bad "tap $args: exit 2" "rc=$rc: $(cat "$W/usage.err")"; fi
done

# ---- a live run -----------------------------------------------------------------
timeout 300 "$YT_BIN" run --quiet --summary "$W/summary.json" --tap "$EP" "$W/t.flow" \
    >"$W/run.out" 2>"$W/run.err" &
RUN_PID=$!
sleep 0.3
timeout 300 "$YT_BIN" tap --jsonl --timeout 30 "$EP" >"$W/tap.jsonl" 2>"$W/tap.err" &
TAP_PID=$!

# --once while the job runs: exactly one snapshot, then exit 0
timeout 60 "$YT_BIN" tap --once --jsonl --timeout 30 "$EP" >"$W/once.jsonl" 2>"$W/once.err"
rc=$?
n=$(wc -l <"$W/once.jsonl")
if [ $rc -eq 0 ] && [ "$n" -eq 1 ] &&
    "$PY" -c 'import json,sys; s=json.loads(open(sys.argv[1]).read()); assert s["type"]=="snapshot", s' \
        "$W/once.jsonl" 2>"$W/once.py"; then
    ok "tap --once --jsonl: one snapshot"
else
    bad "tap --once --jsonl: one snapshot" "rc=$rc lines=$n: $(cat "$W/once.err" "$W/once.py") $(head -c 300 "$W/once.jsonl")"
fi
# --once in the human form: one block (one header line)
timeout 60 "$YT_BIN" tap --once --timeout 30 "$EP" >"$W/once.txt" 2>"$W/once.err"
rc=$?
n=$(grep -c "^graph t .*state " "$W/once.txt")
if [ $rc -eq 0 ] && [ "$n" -eq 1 ] && grep -q "^sink *null_sink" "$W/once.txt"; then
    ok "tap --once: one table"
else
    bad "tap --once: one table" "rc=$rc blocks=$n: $(cat "$W/once.err" "$W/once.txt")"
fi

wait "$TAP_PID"
tap_rc=$?
TAP_PID=
wait "$RUN_PID"
run_rc=$?
RUN_PID=
if [ $run_rc -eq 0 ]; then ok "run exits 0"; else bad "run exits 0" "rc=$run_rc: $(cat "$W/run.err")"; fi
if [ $tap_rc -eq 0 ]; then ok "tap --jsonl exits 0 on state done"; else bad "tap --jsonl exits 0 on state done" "rc=$tap_rc: $(cat "$W/tap.err")"; fi

cat >"$W/chk.py" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "", "the output does not end with a newline"
lines = lines[:-1]
assert len(lines) >= 2, "%d snapshot line(s), expected at least 2" % len(lines)
prev = -1.0
for i, line in enumerate(lines, 1):
    s = json.loads(line)  # every line is one JSON object
    assert isinstance(s, dict), "line %d: not an object" % i
    assert s.get("type") == "snapshot", "line %d: type %r" % (i, s.get("type"))
    assert s.get("graph") == "t", "line %d: graph %r" % (i, s.get("graph"))
    assert s.get("state") in ("starting", "running", "draining", "done"), "line %d: state %r" % (i, s.get("state"))
    nodes = s.get("nodes", {})
    for n in ("src", "deq", "sink"):
        assert n in nodes, "line %d: no node %s in %s" % (i, n, sorted(nodes))
    assert nodes["src"]["type"] == "synth_source" and nodes["sink"]["type"] == "null_sink", "line %d: types" % i
    assert s["elapsed"] >= prev, "line %d: elapsed went back" % i
    prev = s["elapsed"]
    assert s.get("state") != "done" or i == len(lines), "line %d: state done before the last line" % i
last = json.loads(lines[-1])
assert last["state"] == "done", "last state %r" % last["state"]
assert last["nodes"]["sink"]["in"] == 3000, "sink in = %r, expected 3000" % last["nodes"]["sink"]["in"]
assert last["nodes"]["src"]["out"] == 3000, "src out = %r" % last["nodes"]["src"]["out"]
assert last["progress"]["done"] == last["progress"]["total"] == 3000, "progress %r" % last["progress"]
print("%d snapshots" % len(lines))
EOF
if msg=$("$PY" "$W/chk.py" "$W/tap.jsonl" 2>&1); then
    ok "tap --jsonl: $msg, all JSON snapshots with src/deq/sink, last done with sink in = 3000"
else
    bad "tap --jsonl snapshots" "$msg; first line: $(head -c 400 "$W/tap.jsonl")"
fi

# ---- nobody publishing: a late tap gives up ------------------------------------
timeout 60 "$YT_BIN" tap --jsonl --timeout 1 "$EP" >"$W/late.out" 2>"$W/late.err"
rc=$?
want="no snapshot from $EP in 1 s: is a graph running with --tap $EP?"
if [ $rc -eq 1 ] && [ ! -s "$W/late.out" ] && grep -qF "$want" "$W/late.err"; then
    ok "late tap: exit 1 after --timeout, with the message"
else
    bad "late tap: exit 1 after --timeout, with the message" "rc=$rc: $(cat "$W/late.err" "$W/late.out")"
fi

# ---- Ctrl-C: a clean exit 0 -----------------------------------------------------
"$YT_BIN" tap --timeout 30 "$EP" >"$W/int.out" 2>"$W/int.err" &
TAP_PID=$!
sleep 0.5
kill -INT "$TAP_PID"
wait "$TAP_PID"
rc=$?
TAP_PID=
if [ $rc -eq 0 ]; then ok "Ctrl-C: exit 0"; else bad "Ctrl-C: exit 0" "rc=$rc: $(cat "$W/int.err")"; fi

finish
