#!/usr/bin/env bash
# bench_distill.sh: distillation and ensembles on gen's synthetic frame-level
# corpus (issue 6's "done when"), all in one run:
#   teacher  NetVLADModelLF small (graphs/train_netvlad_small.flow), S steps
#   student  FrameLevelLogisticModel, S steps on the train split (baseline)
#   distill  graphs/distill.flow: the train split with the teacher's predictions
#   student' the same student, S steps on the distillation set
#            (dequantize teacher_predictions = true, train loss_lambda L)
#   DBoF     DbofModel (cluster 512, hidden 256, 30 frames, batch-norm decay 0.99) as a
#            second student, on the labels and on the distillation set
#   ensembles graphs/eval_ensemble.flow of teacher + baseline student at a few weights
# Every model is evaluated on the held-out validate split (eval.flow, sample_all).
# Prints GAP / Hit@1 / PERR / mAP per row, the distillation gain (student' -
# student) and whether the best ensemble beats the better of its two members.
#
# Usage: tests/bench/bench_distill.sh [BUILD_DIR] [--videos N] [--val-videos M] [--classes K]
#          [--steps S] [--batch-size B] [--loss-lambda L] [--data DIR] [--workdir DIR] [--keep]
#   --data DIR: a corpus made by gen already (DIR/train*.tfrecord, DIR/validate*.tfrecord)
set -euo pipefail
die() { echo "bench_distill.sh: error: $*" >&2; exit 1; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/build
VIDEOS=10000 VAL_VIDEOS=1000 CLASSES=100 STEPS=800 BATCH=64 LAMBDA=0.5 DATA= WORK= KEEP=0
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then BUILD=$(cd "$1" && pwd); shift; fi
while [ $# -gt 0 ]; do
  case $1 in
    --videos) VIDEOS=$2; shift 2 ;;
    --val-videos) VAL_VIDEOS=$2; shift 2 ;;
    --classes) CLASSES=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --batch-size) BATCH=$2; shift 2 ;;
    --loss-lambda) LAMBDA=$2; shift 2 ;;
    --data) DATA=$(cd "$2" && pwd); shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) die "unknown option $1" ;;
  esac
done
YT=$BUILD/yt8m-flow
[ -x "$YT" ] || die "no $YT (build first)"
PY=/usr/bin/python3
if [ -z "$WORK" ]; then WORK=$(mktemp -d /tmp/yt_bench_distill.XXXXXX); else mkdir -p "$WORK"; fi
[ "$KEEP" = 1 ] || [ -n "${WORK##/tmp/yt_bench_distill.*}" ] || trap 'rm -rf "$WORK"' EXIT

echo "== distillation and ensembles on gen's synthetic corpus =="
echo "host: nproc=$(nproc); workdir $WORK"
if [ -z "$DATA" ]; then
  DATA=$WORK/data
  "$YT" gen --out "$DATA" --level frame --videos "$VIDEOS" --shards 20 --split train --classes "$CLASSES" \
      --seed 1 >"$WORK/gen.log" 2>&1 || { cat "$WORK/gen.log"; die "gen (train) failed"; }
  "$YT" gen --out "$DATA" --level frame --videos "$VAL_VIDEOS" --shards 2 --split validate --classes "$CLASSES" \
      --seed 1 >>"$WORK/gen.log" 2>&1 || { cat "$WORK/gen.log"; die "gen (validate) failed"; }
fi
TRAIN="$DATA/train*.tfrecord"
VAL="$DATA/validate*.tfrecord"
echo "data: $DATA ($CLASSES classes); $STEPS steps of batch $BATCH per model; loss_lambda $LAMBDA"

secs() { local t0=$1; echo "$(date +%s.%N) - $t0" | bc; }
common=(--set num_classes="$CLASSES" --set batch_size="$BATCH" --set num_epochs=1000000
        --set train.log_every_steps=1000000000 --set train.export_model_steps=0 --set train.start_new_model=true
        --set max_steps="$STEPS" --quiet)
train() { # NAME GRAPH DATA [--set ...]
  local name=$1 graph=$2 data=$3 t0; shift 3
  t0=$(date +%s.%N)
  "$YT" run "$ROOT/graphs/$graph" "${common[@]}" --set train_data_pattern="$data" --set train_dir="$WORK/$name" "$@" \
      >"$WORK/$name.train.log" 2>&1 || { tail -20 "$WORK/$name.train.log"; die "training $name failed"; }
  secs "$t0" >"$WORK/$name.wall"
}
evaluate() { # NAME DIR
  "$YT" run "$ROOT/graphs/eval.flow" --set eval_data_pattern="$VAL" --set train_dir="$2" --set level=frame \
      --set feature_names=rgb,audio --set dtype=uint8 --set sample_all=true --set batch_size=64 \
      --set eval.num_classes="$CLASSES" --set output_file="$WORK/$1.eval.json" --quiet >"$WORK/$1.eval.log" 2>&1 \
      || { tail -20 "$WORK/$1.eval.log"; die "eval of $1 failed"; }
}

train teacher train_netvlad_small.flow "$TRAIN" --set train.netvlad_cluster_size=32 --set train.netvlad_hidden_size=256 \
    --set train.iterations=30 --set train.batch_norm_decay=0.99 --set base_learning_rate=0.001
evaluate teacher "$WORK/teacher"
train student train_frame_logistic.flow "$TRAIN" --set base_learning_rate=0.01
evaluate student "$WORK/student"
t0=$(date +%s.%N)
rm -rf "$WORK/distill"
"$YT" run "$ROOT/graphs/distill.flow" --set input_data_pattern="$TRAIN" --set train_dir="$WORK/teacher" \
    --set output_dir="$WORK/distill" --set num_classes="$CLASSES" --set batch_size=128 \
    --summary "$WORK/distill.json" --quiet >"$WORK/distill.log" 2>&1 || { tail -20 "$WORK/distill.log"; die "distill.flow failed"; }
secs "$t0" >"$WORK/distill.wall"
train student_distilled train_frame_logistic.flow "$WORK/distill/train*.tfrecord" --set base_learning_rate=0.01 \
    --set deq.teacher_predictions=true --set deq.num_classes="$CLASSES" --set train.loss_lambda="$LAMBDA"
evaluate student_distilled "$WORK/student_distilled"
dbof=(--set dbof_cluster_size=512 --set dbof_hidden_size=256 --set iterations=30 --set train.batch_norm_decay=0.99
      --set base_learning_rate=0.01)
train dbof train_frame_dbof.flow "$TRAIN" "${dbof[@]}"
evaluate dbof "$WORK/dbof"
train dbof_distilled train_frame_dbof.flow "$WORK/distill/train*.tfrecord" "${dbof[@]}" \
    --set deq.teacher_predictions=true --set deq.num_classes="$CLASSES" --set train.loss_lambda="$LAMBDA"
evaluate dbof_distilled "$WORK/dbof_distilled"
ENS=
for w in 0.5 0.7 0.85; do
  name=ens_$w
  "$YT" run "$ROOT/graphs/eval_ensemble.flow" --set eval_data_pattern="$VAL" --set model_a="$WORK/teacher" \
      --set model_b="$WORK/student" --set weights="$w,$(echo "1 - $w" | bc)" --set batch_size=64 \
      --set eval.num_classes="$CLASSES" --set output_file="$WORK/$name.eval.json" --quiet >"$WORK/$name.eval.log" 2>&1 \
      || { tail -20 "$WORK/$name.eval.log"; die "ensemble $w failed"; }
  ENS="$ENS $w"
done

"$PY" - "$WORK" "$ENS" <<'EOF'
import json, os, sys
w, ens = sys.argv[1], sys.argv[2].split()
def ev(n): return json.load(open(os.path.join(w, n + ".eval.json")))
def wall(n):
    p = os.path.join(w, n + ".wall")
    return float(open(p).read()) if os.path.exists(p) else float("nan")
rows = [("teacher", "NetVLAD small (teacher)"), ("student", "FLL student, labels"),
        ("student_distilled", "FLL student, distillation set"), ("dbof", "DBoF student, labels"),
        ("dbof_distilled", "DBoF student, distillation set")] + \
       [("ens_" + e, "ensemble teacher %s + student %.2f" % (e, 1 - float(e))) for e in ens]
print("| model | GAP | Hit@1 | PERR | mAP | wall s |")
print("|---|---|---|---|---|---|")
for k, label in rows:
    r = ev(k)
    print("| %s | %.4f | %.3f | %.3f | %.3f | %.0f |" % (label, r["gap"], r["hit_at_one"], r["perr"], r["map"], wall(k)))
print("distill.flow: %.1f s for the train split (%s)" % (wall("distill"),
      json.load(open(os.path.join(w, "distill.json")))["accounting"]["verdict"]))
g = {k: ev(k)["gap"] for k, _ in rows}
for a, b in (("student", "student_distilled"), ("dbof", "dbof_distilled")):
    print("distillation, %s: %.4f -> %.4f (%+.4f): %s" % (a, g[a], g[b], g[b] - g[a],
          "beats" if g[b] > g[a] else "does NOT beat"))
best = max(g["teacher"], g["student"])
be = max(("ens_" + e for e in ens), key=lambda k: g[k])
print("ensemble: best %s %.4f vs the better member %.4f (%+.4f): %s" % (be, g[be], best, g[be] - best,
      "beats" if g[be] > best else "does NOT beat"))
EOF
