#!/usr/bin/env bash
# test_distill.sh: graphs/distill.flow and distillation training, real processes.
#
# On a small `gen` frame-level corpus (8 shards) with a FrameLevelLogisticModel
# teacher:
#  1. distill.flow: exit 0, exact accounting, one output shard per input shard
#     with the same name and record count; every record is the input record
#     (id, labels, every feature's size and sum, as `yt8m-flow dump` reads them)
#     plus teacher_predictions of num_classes values, and those values are the
#     teacher's: the same as infer.flow's Kaggle CSV scores for that video id.
#  2. resume: an output dir holding one finished shard and a killed run's
#     temporary: the reader and the writer skip the finished shard, the
#     temporary is gone, and the shards are byte-identical to the first run's.
#  3. kill -9 of the whole run mid-way: every shard visible under its final
#     name is complete (byte-identical to the first run's); a rerun finishes
#     the set, byte-identical, with no temporaries left.
#  4. training on the set: dequantize teacher_predictions = true with
#     loss_lambda = 0 gives exactly the loss lines of training on the original
#     shards; loss_lambda = 0.5 does not. teacher_predictions = true on shards
#     without them fails naming the record and what to do.
#  5. bad graphs: records_pattern that does not match the reader's.
#  6. the ensemble node (graphs/eval_ensemble.flow): the teacher with itself at
#     0.5/0.5 gives exactly the teacher's eval figures; teacher + student at
#     0.3/0.7 evaluates every video; weights that do not sum to 1, or do not
#     match the connected inputs, fail at start. `yt8m-flow ensemble` of the
#     two bundles at 0.3/0.7 is one bundle that eval.flow runs with exactly the
#     ensemble node's figures; bad member lists and weights are refused.
#
# Environment (set by ctest): YT_BIN, YT_PYTHON. Exit 77 without a python3.
TEST=test_distill PYMODS="json"
. "$(dirname "$0")/lib.sh"

same_set() { # NAME DIR: DIR holds exactly the reference set's shards, byte for byte, nothing hidden
    local name=$1 dir=$2 f diff=
    for f in "$W"/o1/*.tfrecord; do cmp -s "$f" "$dir/$(basename "$f")" || diff="$diff $(basename "$f")"; done
    if [ -n "$diff" ]; then bad "$name: byte-identical to the uninterrupted set" "differ:$diff"; return; fi
    if [ "$(ls -A "$dir" | wc -l)" != "$(ls "$W"/o1 | wc -l)" ]; then
        bad "$name: byte-identical to the uninterrupted set" "extra files: $(ls -A "$dir" | tr '\n' ' ')"; return
    fi
    ok "$name: byte-identical to the uninterrupted set, nothing else in the directory"
}

C=20
"$YT_BIN" gen --out "$W/d" --level frame --videos 2400 --shards 8 --classes $C --max-frames 40 --min-frames 3 \
    --seed 3 >/dev/null 2>&1 || { echo "test_distill: error: gen failed" >&2; exit 1; }
runs "teacher: FrameLevelLogisticModel" 0 "$W/t.err" "$GRAPHS/train_frame_logistic.flow" \
    --set "train_data_pattern=$W/d/train*.tfrecord" --set "train_dir=$W/teacher" --set num_classes=$C \
    --set max_frames=40 --set batch_size=64 --set num_epochs=3

DIST=("$GRAPHS/distill.flow" --set "input_data_pattern=$W/d/train*.tfrecord" --set "train_dir=$W/teacher"
      --set num_classes=$C --set max_frames=40 --set batch_size=32)

# 1. the set
runs "distill.flow" 0 "$W/o1.err" "${DIST[@]}" --set "output_dir=$W/o1" --summary "$W/o1.json"
summary_ok "distill.flow" "$W/o1.json"
expect "distill.flow: 8 shards written, same names" \
    [ "$(cd "$W/o1" && ls)" = "$(cd "$W/d" && ls train*.tfrecord)" -a \
      "$(json "$W/o1.json" 's["nodes"]["out"]["shards_written"]')" = 8 ]
"$YT_BIN" dump --format jsonl "$W"/d/train*.tfrecord >"$W/in.jsonl" 2>&1
"$YT_BIN" dump --format jsonl "$W"/o1/train*.tfrecord >"$W/out.jsonl" 2>&1
run "$GRAPHS/infer.flow" --set "input_data_pattern=$W/d/train*.tfrecord" --set "train_dir=$W/teacher" \
    --set level=frame --set "feature_names=rgb,audio" --set max_frames=40 --set dtype=uint8 \
    --set "output_file=$W/teacher.csv" 2>"$W/inf.err" || bad "infer.flow for the teacher's scores" "$(tail -3 "$W/inf.err")"
cat >"$W/check.py" <<'EOF'
import csv, json, sys
inp = [json.loads(l) for l in open(sys.argv[1])]
out = [json.loads(l) for l in open(sys.argv[2])]
C = int(sys.argv[4])
scores = {}
for row in csv.DictReader(open(sys.argv[3])):
    v = row["LabelConfidencePairs"].split()
    scores[row["VideoId"]] = sum(float(x) for x in v[1::2])
assert len(inp) == len(out) == 2400, (len(inp), len(out))
for a, b in zip(inp, out):
    t = b["features"].pop("teacher_predictions", None)
    assert t is not None and t["size"] == C, ("no teacher_predictions", b["id"])
    b.pop("file"), a.pop("file"); b.pop("offset"), a.pop("offset")
    assert a == b, ("record changed", a["id"], a, b)
    want = scores[a["id"]]  # all C classes are in the CSV (top 20 of 20), %g: 6 digits
    assert abs(t["sum"] - want) <= 1e-4 * max(1.0, want), (a["id"], t["sum"], want)
print("ok")
EOF
out=$("$YT_PYTHON" "$W/check.py" "$W/in.jsonl" "$W/out.jsonl" "$W/teacher.csv" $C 2>&1)
if [ "$out" = ok ]; then ok "distill.flow: every record is the input record plus the teacher's $C scores for its id"
else bad "distill.flow: every record is the input record plus the teacher's $C scores for its id" "$(echo "$out" | tail -3)"; fi

# 2. resume from one finished shard and a killed run's temporary
mkdir -p "$W/o2"
cp "$W/o1/train0003.tfrecord" "$W/o2/"
echo partial >"$W/o2/.train0005.tfrecord.tmp.99999"
runs "distill.flow resumed" 0 "$W/o2.err" "${DIST[@]}" --set "output_dir=$W/o2" --summary "$W/o2.json"
expect "distill.flow resumed: the finished shard skipped by the reader and the writer" \
    [ "$(json "$W/o2.json" '(s["nodes"]["read"].get("shards_skipped_existing"), s["nodes"]["out"]["shards_written"], s["nodes"]["out"]["shards_existing"])')" = "(1, 7, 1)" ]
same_set "distill.flow resumed" "$W/o2"

# 3. kill -9 of everything mid-way, then rerun
mkdir -p "$W/o3"
TMPDIR=$RUNTMP setsid "$YT_BIN" run --quiet "${DIST[@]}" --set "output_dir=$W/o3" 2>"$W/o3a.err" &
PG=$!
for i in $(seq 1 400); do [ -n "$(ls "$W/o3")" ] && break; sleep 0.02; done
kill -KILL -- -"$PG" 2>/dev/null
wait "$PG" 2>/dev/null
p=$(ours); [ -n "$p" ] && kill -KILL $p 2>/dev/null
visible=0 whole=1
for f in "$W"/o3/*.tfrecord; do
    [ -e "$f" ] || continue
    visible=$((visible + 1))
    cmp -s "$f" "$W/o1/$(basename "$f")" || whole=0
done
expect "kill -9 mid-way: each of the $visible shards visible under its final name is complete" [ $whole = 1 ]
echo "     (killed with $visible of 8 shards written; temporaries: $(ls -A "$W/o3" | grep -c '^\.'))"
runs "distill.flow after kill -9" 0 "$W/o3.err" "${DIST[@]}" --set "output_dir=$W/o3"
same_set "distill.flow after kill -9" "$W/o3"

# 4. training on the set: loss_lambda 0 = the labels only; 0.5 mixes the teacher in
cat >"$W/student.flow" <<EOF
flow student v1
let data = "$W/d/train*.tfrecord"
let dir = "$W/s"
let teacher = false
let loss_lambda = 0.5
node read  : tfrecord_reader { pattern = "\${data}" }
node deq   : dequantize { level = frame; max_frames = 40; dtype = uint8; num_classes = $C; teacher_predictions = \${teacher} }
node batch : batcher { batch_size = 50; max_frames = 40 }
node train : train { model = FrameLevelLogisticModel; train_dir = "\${dir}"; num_classes = $C; max_frames = 40
                     loss_lambda = \${loss_lambda}; log_every_steps = 1 }
node tb    : null_sink { }
read -> deq -> batch -> train -> tb
EOF
losses() { grep -o 'Loss: [0-9.e+-]*' "$1" | tr '\n' ' '; }
runs "student on the original shards" 0 "$W/s0.err" "$W/student.flow" --set "dir=$W/s0"
runs "student on the set, loss_lambda 0" 0 "$W/s1.err" "$W/student.flow" --set "dir=$W/s1" \
    --set "data=$W/o1/train*.tfrecord" --set teacher=true --set loss_lambda=0
runs "student on the set, loss_lambda 0.5" 0 "$W/s2.err" "$W/student.flow" --set "dir=$W/s2" \
    --set "data=$W/o1/train*.tfrecord" --set teacher=true --set loss_lambda=0.5
expect "loss_lambda 0: the same loss lines as the labels alone (48 steps)" \
    [ -n "$(losses "$W/s0.err")" -a "$(losses "$W/s0.err")" = "$(losses "$W/s1.err")" -a \
      "$(grep -c 'Loss:' "$W/s0.err")" = 48 ]
expect "loss_lambda 0.5: other loss lines" [ "$(losses "$W/s0.err")" != "$(losses "$W/s2.err")" ]
runs "teacher_predictions = true without them" 1 "$W/s3.err" "$W/student.flow" --set "dir=$W/s3" --set teacher=true
expect "teacher_predictions = true without them: names the record and graphs/distill.flow" \
    has "$W/s3.err" "train0000.tfrecord: record 0: no feature 'teacher_predictions'.*distill.flow"

# 5. bad graphs
runs "records_pattern not the reader's" 1 "$W/b1.err" "$GRAPHS/distill.flow" \
    --set "input_data_pattern=$W/d/train000[0-3].tfrecord" --set "train_dir=$W/teacher" --set num_classes=$C \
    --set max_frames=40 --set "output_dir=$W/b1" --set "out.records_pattern=$W/d/train000[4-7].tfrecord"
expect "records_pattern not the reader's: says so" has "$W/b1.err" "train0004.tfrecord: record 0: it is video .*, but the prediction for it is for video .*records_pattern"
expect "records_pattern not the reader's: no shard visible (a temporary the next run removes may remain)" [ -z "$(ls "$W/b1" 2>/dev/null)" ]

# 6. ensembles
EVAL=(--set "eval_data_pattern=$W/d/train000[0-1].tfrecord" --set max_frames=40 --set batch_size=64)
runs "eval.flow of the teacher" 0 "$W/e0.err" "$GRAPHS/eval.flow" "${EVAL[@]}" --set "train_dir=$W/teacher" \
    --set level=frame --set "feature_names=rgb,audio" --set dtype=uint8 --set "output_file=$W/e0.json"
runs "ensemble of the teacher with itself" 0 "$W/e1.err" "$GRAPHS/eval_ensemble.flow" "${EVAL[@]}" \
    --set "model_a=$W/teacher" --set "model_b=$W/teacher" --set "weights=0.5,0.5" --set "output_file=$W/e1.json"
expect "ensemble of the teacher with itself: exactly its GAP, Hit@1, PERR, mAP over the same 600 videos" \
    [ "$(json "$W/e0.json" '(s["examples"], s["gap"], s["hit_at_one"], s["perr"], s["map"])')" = \
      "$(json "$W/e1.json" '(s["examples"], s["gap"], s["hit_at_one"], s["perr"], s["map"])')" -a \
      "$(json "$W/e0.json" 's["examples"]')" = 600 ]
runs "ensemble of the teacher and a student" 0 "$W/e2.err" "$GRAPHS/eval_ensemble.flow" "${EVAL[@]}" \
    --set "model_a=$W/teacher" --set "model_b=$W/s2" --set "weights=0.3,0.7" --set "output_file=$W/e2.json"
expect "ensemble of the teacher and a student: 600 videos, its own GAP" \
    [ "$(json "$W/e2.json" 's["examples"]')" = 600 -a "$(json "$W/e2.json" 's["gap"]')" != "$(json "$W/e0.json" 's["gap"]')" ]
runs "ensemble weights 0.5,0.6" 1 "$W/e3.err" "$GRAPHS/eval_ensemble.flow" "${EVAL[@]}" \
    --set "model_a=$W/teacher" --set "model_b=$W/s2" --set "weights=0.5,0.6"
expect "ensemble weights 0.5,0.6: says they sum to 1.1" has "$W/e3.err" "ensemble: the weights sum to 1.1, not 1"
runs "ensemble with 3 weights for 2 inputs" 1 "$W/e4.err" "$GRAPHS/eval_ensemble.flow" "${EVAL[@]}" \
    --set "model_a=$W/teacher" --set "model_b=$W/s2" --set "weights=0.2,0.3,0.5"
expect "ensemble with 3 weights for 2 inputs: says so" has "$W/e4.err" "3 weights for 2 connected inputs"

"$YT_BIN" bundle "$W/teacher" -o "$W/teacher.tgz" >/dev/null 2>&1 && "$YT_BIN" bundle "$W/s2" -o "$W/s2.tgz" >/dev/null 2>&1 \
    || bad "bundles of the teacher and the student" "yt8m-flow bundle failed"
"$YT_BIN" ensemble "$W/teacher.tgz" "$W/s2.tgz" --weights 0.3,0.7 -o "$W/ens.tgz" >"$W/ens.out" 2>&1
expect "yt8m-flow ensemble: one bundle, two members" has "$W/ens.out" "ensemble: .*ens.tgz: 2 members"
runs "eval.flow of the ensemble bundle" 0 "$W/e5.err" "$GRAPHS/eval.flow" "${EVAL[@]}" --set train_dir= \
    --set "input_model_tgz=$W/ens.tgz" --set "tb.logdir=$W/tb5" --set level=frame --set "feature_names=rgb,audio" \
    --set dtype=uint8 --set "output_file=$W/e5.json"
expect "eval.flow of the ensemble bundle: exactly the ensemble node's figures" \
    [ "$(json "$W/e2.json" '(s["examples"], s["gap"], s["hit_at_one"], s["perr"], s["map"])')" = \
      "$(json "$W/e5.json" '(s["examples"], s["gap"], s["hit_at_one"], s["perr"], s["map"])')" ]
expect "eval.flow of the ensemble bundle: infer names its members" has "$W/e5.err" "member 1 FrameLevelLogisticModel, weight 0.7"
"$YT_BIN" ensemble "$W/teacher.tgz" "$W/s2.tgz" --weights 0.3,0.6 -o "$W/bad.tgz" >"$W/ens2.out" 2>&1
expect "yt8m-flow ensemble, weights summing to 0.9: exit 2, says so, nothing written" \
    [ $? = 2 -a ! -e "$W/bad.tgz" ] && expect "yt8m-flow ensemble, weights summing to 0.9: message" has "$W/ens2.out" "sum to 0.9, not 1"
"$YT_BIN" ensemble "$W/ens.tgz" "$W/s2.tgz" -o "$W/bad.tgz" >"$W/ens3.out" 2>&1
expect "yt8m-flow ensemble of an ensemble: refused, names it" has "$W/ens3.out" "ens.tgz: no inference_model.safetensors \(an ensemble itself"

finish
