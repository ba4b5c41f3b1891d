#!/usr/bin/env bash
# test_graphs.sh: whole graphs through `yt8m-flow run`, real processes over ipc.
#
# Checks: copy.flow on the real shards (byte-identical output, exact
# accounting, summary JSON), read_frames.flow with 2 dequantize replicas
# (exact counts), a failing node (error relayed with node name and type,
# non-zero exit), a corrupt shard (fail with file and byte offset; skip_record
# goes on and counts), Ctrl-C drain (sources stop, accounting still exact),
# kill -9 of one replica (the run fails naming it), kill -9 of the launcher
# (its nodes exit), and after every run: no process and no run directory left.
#
# Environment (set by ctest): YT_BIN, YT_SHARED, YT_PYTHON.
set -u
for v in YT_BIN YT_SHARED YT_PYTHON; do
    [ -n "${!v:-}" ] || { echo "test_graphs: error: $v is not set (run through ctest)" >&2; exit 1; }
done
DATA=$YT_SHARED/data
TD=$YT_SHARED/testdata
GRAPHS=$(cd "$(dirname "$0")/../../graphs" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/test_graphs.XXXXXX") || exit 1
RUNTMP=$W/runs # the launcher's run directories go here (TMPDIR), so leftovers are visible
mkdir -p "$RUNTMP"
cleanup() {
    pkill -KILL -f "$RUNTMP/" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

PASS=0
FAILN=0
ok()  { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAILN=$((FAILN + 1)); echo "FAIL $1: $2"; }
# expect NAME CONDITION-CMD... : passes when the command exits 0
expect() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name" "condition failed: $*"; fi; }
contains() { grep -qF -- "$2" "$1"; }
json() { "$YT_PYTHON" -c "import json,sys; s=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
run() { TMPDIR=$RUNTMP "$YT_BIN" run "$@"; }
# nothing left: no node process of ours, no run directory
no_leftovers() {
    local name=$1
    sleep 0.2
    if pgrep -f "$RUNTMP/" >/dev/null; then bad "$name: no processes left" "$(pgrep -af "$RUNTMP/")"; return; fi
    if [ -n "$(ls -A "$RUNTMP")" ]; then bad "$name: no run directory left" "$(ls -A "$RUNTMP")"; return; fi
    ok "$name: nothing left behind"
}

# ---- copy.flow: byte-identical shards, exact accounting ---------------------
if run "$GRAPHS/copy.flow" --set "input_data_pattern=$DATA/*.tfrecord" --set "output_dir=$W/copy" \
       --summary "$W/copy.json" --quiet 2>"$W/copy.err"; then ok "copy.flow exits 0"; else bad "copy.flow exits 0" "$(cat "$W/copy.err")"; fi
n=0; same=0
for f in "$DATA"/*.tfrecord; do
    n=$((n + 1))
    cmp -s "$f" "$W/copy/$(basename "$f")" && same=$((same + 1))
done
expect "copy.flow: $same of $n shards byte-identical" [ "$n" -gt 0 -a "$same" -eq "$n" ]
expect "copy.flow: no temporary files in the output" [ -z "$(ls -A "$W/copy" | grep -v '\.tfrecord$')" ]
expect "copy.flow: summary ok" [ "$(json "$W/copy.json" 's["ok"]')" = True ]
expect "copy.flow: 2069 records read and written" \
    [ "$(json "$W/copy.json" '(s["nodes"]["read"]["out"], s["nodes"]["write"]["in"], s["accounting"]["emitted"], s["accounting"]["consumed"])')" = "(2069, 2069, 2069, 2069)" ]
expect "copy.flow: 7 shards committed" [ "$(json "$W/copy.json" 's["nodes"]["write"]["shards_written"]')" = 7 ]
no_leftovers "copy.flow"

# ---- a zstd-compressed edge with a small high-water mark, 2 reader replicas --
cat > "$W/copyz.flow" <<'EOF2'
flow copyz v1
let input_data_pattern = "x"
let output_dir = "y"
node read  : tfrecord_reader x2 { pattern = "${input_data_pattern}"; message_records = 16 }
node write : tfrecord_writer { output_dir = "${output_dir}"; preserve_shards = true }
read -> write [hwm = 2, codec = zstd]
EOF2
if run "$W/copyz.flow" --set "input_data_pattern=$DATA/*.tfrecord" --set "output_dir=$W/copyz" \
       --summary "$W/copyz.json" --quiet 2>"$W/copyz.err"; then ok "zstd edge: exits 0"; else bad "zstd edge: exits 0" "$(cat "$W/copyz.err")"; fi
same=0
for f in "$DATA"/*.tfrecord; do cmp -s "$f" "$W/copyz/$(basename "$f")" && same=$((same + 1)); done
expect "zstd edge, x2 readers: $same of $n shards byte-identical" [ "$same" -eq "$n" ]
expect "zstd edge: compressed on the wire, exact accounting" \
    [ "$(json "$W/copyz.json" 's["accounting"]["ok"] and s["accounting"]["consumed"] == 2069')" = True ]
no_leftovers "zstd edge"

# ---- read_frames.flow: 2 dequantize replicas, exact counts ------------------
"$YT_BIN" gen --out "$W/frames" --level frame --videos 150 --shards 3 --classes 50 --split train \
    --min-frames 5 --max-frames 40 >/dev/null 2>&1 || bad "gen frame corpus" "gen failed"
if run "$GRAPHS/read_frames.flow" --set "input_data_pattern=$W/frames/train*.tfrecord" --set batch_size=16 \
       --set deq.num_classes=50 --summary "$W/rf.json" --quiet 2>"$W/rf.err"; then ok "read_frames.flow exits 0"
else bad "read_frames.flow exits 0" "$(cat "$W/rf.err")"; fi
expect "read_frames.flow: 150 records at every stage" \
    [ "$(json "$W/rf.json" '[s["nodes"][k]["in" if k != "read" else "out"] for k in ("read","deq","batch","sink")]')" = "[150, 150, 150, 150]" ]
expect "read_frames.flow: both dequantize replicas worked" [ "$(json "$W/rf.json" 's["nodes"]["deq"]["replicas"]')" = 2 ]
expect "read_frames.flow: accounting exact" [ "$(json "$W/rf.json" 's["accounting"]["ok"] and s["accounting"]["consumed"] == 150')" = True ]
no_leftovers "read_frames.flow"

# ---- a failing node: labels out of range for num_classes --------------------
if run "$GRAPHS/read_frames.flow" --set "input_data_pattern=$DATA/*.tfrecord" --set deq.level=video --set deq.dtype=float32 \
       --set deq.num_classes=10 --summary "$W/fail.json" --quiet 2>"$W/fail.err"; then
    bad "failing node: non-zero exit" "exit 0"
else ok "failing node: non-zero exit"; fi
expect "failing node: relayed as 'ERROR: from node deq[i] (dequantize): ...'" \
    grep -qE '^ERROR: from node deq\[[01]\] \(dequantize\): .*label' "$W/fail.err"
expect "failing node: summary says not ok, with the error" \
    [ "$(json "$W/fail.json" 'not s["ok"] and "dequantize" in s["error"]')" = True ]
no_leftovers "failing node"

# ---- a corrupt shard: fail by default, skip_record goes on ------------------
cat > "$W/corrupt.flow" <<EOF2
flow corrupt v1
let input_data_pattern = "x"
node read : tfrecord_reader { pattern = "\${input_data_pattern}" }
node sink : null_sink { }
read -> sink
EOF2
if run "$W/corrupt.flow" --set "input_data_pattern=$TD/corrupt_data_crc.tfrecord" --quiet 2>"$W/c1.err"; then
    bad "corrupt shard: fails" "exit 0"; else ok "corrupt shard: fails"; fi
expect "corrupt shard: error names node, file and byte offset" \
    grep -qE '^ERROR: from node read\[0\] \(tfrecord_reader\): .*corrupt_data_crc\.tfrecord.*byte offset 4705.*data crc mismatch' "$W/c1.err"
# by reference (a replicated consumer, or by_reference = always) the process
# that reads the record finds the damage, and says the same
sed 's/null_sink { }/null_sink x2 { }/' "$W/corrupt.flow" >"$W/corrupt2.flow"
for v in "corrupt.flow --set read.by_reference=always" "corrupt2.flow"; do
    set -- $v
    if run "$W/$1" "${@:2}" --set "input_data_pattern=$TD/corrupt_data_crc.tfrecord" --quiet 2>"$W/c1b.err"; then
        bad "corrupt shard by reference ($v): fails" "exit 0"; else ok "corrupt shard by reference ($v): fails"; fi
    expect "corrupt shard by reference ($v): error names the reading node, file and byte offset" \
        grep -qE '^ERROR: from node sink\[[01]\] \(null_sink\): .*corrupt_data_crc\.tfrecord: byte offset 4705 \(record 1\): data crc mismatch.*on_corrupt = skip_record' "$W/c1b.err"
done
if run "$W/corrupt.flow" --set "input_data_pattern=$TD/corrupt_data_crc.tfrecord" --set read.on_corrupt=skip_record \
       --summary "$W/c2.json" --quiet 2>"$W/c2.err"; then ok "corrupt shard, skip_record: exits 0"
else bad "corrupt shard, skip_record: exits 0" "$(cat "$W/c2.err")"; fi
expect "corrupt shard, skip_record: skipped counted, the rest delivered" \
    [ "$(json "$W/c2.json" 's["nodes"]["read"]["skipped_records"] >= 1 and s["nodes"]["sink"]["in"] == s["nodes"]["read"]["out"] > 0')" = True ]
expect "corrupt shard, skip_record: warning names the byte offset" grep -q 'byte offset' "$W/c2.err"
no_leftovers "corrupt shard"

# ---- a graph that does not check: nothing starts ------------------------------
printf 'flow bad v1\nnode read : tfrecord_reader { patern = "x" }\nnode sink : null_sink { }\nread -> sink\n' >"$W/bad.flow"
if run "$W/bad.flow" --quiet 2>"$W/bad.err"; then bad "bad graph: exit 1" "exit 0"; else ok "bad graph: exit 1"; fi
expect "bad graph: GNU error with did-you-mean" contains "$W/bad.err" "bad.flow:2:31: error: unknown parameter 'patern' for node 'read' (tfrecord_reader)"
expect "bad graph: note" contains "$W/bad.err" "note: did you mean 'pattern'?"
expect "bad graph: missing required parameter" contains "$W/bad.err" "missing required parameter 'pattern'"
no_leftovers "bad graph"

# ---- Ctrl-C drain: an unbounded source stops, everything in flight arrives --
cat > "$W/endless.flow" <<'EOF2'
flow endless v1
node src  : synth_source x2 { videos = 0; level = frame; min_frames = 5; max_frames = 20; classes = 20 }
node deq  : dequantize { num_classes = 20 }
node sink : null_sink { }
src -> deq -> sink
EOF2
TMPDIR=$RUNTMP "$YT_BIN" run "$W/endless.flow" --summary "$W/drain.json" --quiet 2>"$W/drain.err" &
pid=$!
for i in $(seq 1 100); do grep -q '' "$W/drain.err" 2>/dev/null; sleep 0.1; [ -n "$(pgrep -f "$RUNTMP/.*plan.json sink")" ] && break; done
sleep 1.5
kill -INT $pid
wait $pid
rc=$?
expect "Ctrl-C drain: exit 0 after draining (got $rc)" [ "$rc" -eq 0 ]
expect "Ctrl-C drain: says it is draining" contains "$W/drain.err" "draining"
expect "Ctrl-C drain: records flowed and accounting is exact" \
    [ "$(json "$W/drain.json" 's["ok"] and s["accounting"]["ok"] and s["nodes"]["sink"]["in"] > 0 and s["nodes"]["sink"]["in"] == s["nodes"]["src"]["out"]')" = True ]
no_leftovers "Ctrl-C drain"

# ---- kill -9 of one replica: the run fails naming it -------------------------
TMPDIR=$RUNTMP "$YT_BIN" run "$W/endless.flow" --quiet 2>"$W/kill.err" &
pid=$!
victim=
for i in $(seq 1 100); do victim=$(pgrep -f "$RUNTMP/.*plan.json deq 0"); [ -n "$victim" ] && break; sleep 0.1; done
sleep 0.5
kill -KILL $victim
wait $pid
rc=$?
expect "kill -9 of a replica: run exits 1 (got $rc)" [ "$rc" -eq 1 ]
expect "kill -9 of a replica: error names it" \
    grep -qE '^ERROR: from node deq\[0\] \(dequantize\): killed by signal 9' "$W/kill.err"
no_leftovers "kill -9 of a replica"

# ---- kill -9 of the launcher: its nodes notice and exit -----------------------
TMPDIR=$RUNTMP "$YT_BIN" run "$W/endless.flow" --quiet 2>/dev/null &
pid=$!
for i in $(seq 1 100); do [ -n "$(pgrep -f "$RUNTMP/.*plan.json sink")" ] && break; sleep 0.1; done
sleep 0.5
kill -KILL $pid
wait $pid 2>/dev/null
gone=0
for i in $(seq 1 100); do if ! pgrep -f "$RUNTMP/" >/dev/null; then gone=1; break; fi; sleep 0.1; done
expect "kill -9 of the launcher: every node exits" [ "$gone" -eq 1 ]
rm -rf "$RUNTMP"/* # the launcher could not clean up after itself: it was killed

# ---- a replica whose coordinator died before it connected ------------------
# (the launcher killed -9 while a replica over ssh was still starting): its
# READY can go nowhere; when the control pipe (stdin) ends it must exit, not
# wait in the send for ever. A plan whose coordinator and consumer endpoints
# nobody binds; stdin closes after 0.5 s.
mkdir -p "$W/orphan"
cat >"$W/orphan/plan.json" <<EOF
{"coord": "ipc://$W/orphan/coord", "run_dir": "$W/orphan",
 "nodes": [{"name": "src", "type": "synth_source", "replicas": 1, "hosts": ["local"],
            "params": {"videos": "0", "level": "video", "classes": "20"}, "inputs": [],
            "outputs": [[{"endpoints": ["ipc://$W/orphan/n1"], "edge": 0, "hwm": 8, "codec": 0}]]}]}
EOF
(sleep 0.5) | "$YT_BIN" node "$W/orphan/plan.json" src 0 2>"$W/orphan.err" &
opid=$!
gone=0
for i in $(seq 1 300); do if ! kill -0 $opid 2>/dev/null; then gone=1; break; fi; sleep 0.1; done
[ "$gone" -eq 1 ] || kill -KILL $opid 2>/dev/null
wait $opid 2>/dev/null
orc=$?
expect "a replica with no coordinator exits when its control pipe ends (not stuck sending READY)" [ "$gone" -eq 1 ]
expect "  ... with status 1, saying the coordinator went away (got $orc)" \
    sh -c "[ $orc -eq 1 ] && grep -q 'the coordinator went away' '$W/orphan.err'"

# a damaged plan (or one from another build, over ssh): an error naming the field, not a crash
sed 's/"replicas": 1, //' "$W/orphan/plan.json" >"$W/orphan/damaged.json"
"$YT_BIN" node "$W/orphan/damaged.json" src 0 </dev/null 2>"$W/damaged.err"
drc=$?
expect "a plan without \"replicas\": exit 1 (got $drc), naming the field" \
    sh -c "[ $drc -eq 1 ] && grep -q 'plan: src: \"replicas\" is missing' '$W/damaged.err'"

echo "test_graphs: $PASS passed, $FAILN failed"
[ "$FAILN" -eq 0 ]
