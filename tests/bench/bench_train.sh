#!/usr/bin/env bash
# bench_train.sh: train on real video-level shards with yt8m-flow and with an
# independent NumPy reimplementation (tests/bench/numpy_train.py, same model,
# same math, same hyperparameters), evaluate both on held-out shards, and print
# GAP / Hit@1 / PERR / mAP and training time side by side, same run.
#
# Usage: tests/bench/bench_train.sh [BUILD_DIR] [--epochs N] [--batch-size B] [--models "LogisticModel MoeModel"]
# Split: train on validate0000-0004, evaluate on validate0005-0006 (../shared/data).
# Training time: yt8m-flow's train node reports the seconds from its first
# batch to its last (the graph's input pipeline runs beside it); NumPy's is
# its training loop alone (shards loaded before the clock starts). The run's
# whole wall time (process start, reading, eval excluded) is printed too.
set -euo pipefail
die() { echo "bench_train.sh: error: $*" >&2; exit 1; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/build
EPOCHS=10
BATCH=128
MODELS="LogisticModel MoeModel"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then BUILD=$1; shift; fi
while [ $# -gt 0 ]; do
  case $1 in
    --epochs) EPOCHS=$2; shift 2 ;;
    --batch-size) BATCH=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
YT=$BUILD/yt8m-flow
[ -x "$YT" ] || die "no $YT: build first"
DATA=$(cd "$ROOT/../shared/data" && pwd)
PY=/usr/bin/python3
W=$(mktemp -d /tmp/yt8m-bench-train.XXXXXX)
trap 'rm -rf "$W"' EXIT
TRAIN="$DATA/validate000[0-4].tfrecord"
EVAL="$DATA/validate000[5-6].tfrecord"
echo "== training on real video-level shards: train validate0000-0004, eval validate0005-0006 =="
echo "host: nproc=$(nproc); batch_size $BATCH, $EPOCHS epochs, base_learning_rate 0.01 (decay 0.95 / 4M examples)"
printf '%-14s %-10s %8s %8s %8s %8s %10s %10s %9s\n' model impl GAP Hit@1 PERR mAP train_s ex/s wall_s
for model in $MODELS; do
  flow=$ROOT/graphs/train_video_logistic.flow
  [ "$model" = MoeModel ] && flow=$ROOT/graphs/train_video_moe.flow
  t0=$(date +%s.%N)
  "$YT" run "$flow" --set train_data_pattern="$TRAIN" --set train_dir="$W/$model" --set batch_size="$BATCH" \
      --set num_epochs="$EPOCHS" --set train.log_every_steps=1000000 --set train.export_model_steps=0 \
      --quiet >"$W/$model.train.log" 2>&1 || { cat "$W/$model.train.log"; die "training $model failed"; }
  t1=$(date +%s.%N)
  "$YT" run "$ROOT/graphs/eval.flow" --set eval_data_pattern="$EVAL" --set train_dir="$W/$model" \
      --set output_file="$W/$model.eval.json" --quiet >"$W/$model.eval.log" 2>&1 \
      || { cat "$W/$model.eval.log"; die "eval of $model failed"; }
  line=$(grep 'examples in' "$W/$model.train.log")
  secs=$(echo "$line" | sed -E 's/.* in ([0-9.]+) s.*/\1/')
  eps=$(echo "$line" | sed -E 's/.*\(([0-9.]+) examples\/s\).*/\1/')
  "$PY" - "$W/$model.eval.json" "$model" "$secs" "$eps" "$(echo "$t1 - $t0" | bc)" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("%-14s %-10s %8.4f %8.4f %8.4f %8.4f %10.2f %10.1f %9.2f" % (sys.argv[2], "yt8m-flow", r["gap"], r["hit_at_one"],
      r["perr"], r["map"], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])))
PYEOF
  "$PY" "$ROOT/tests/bench/numpy_train.py" --train "$TRAIN" --eval "$EVAL" --model "$model" --batch_size "$BATCH" \
      --num_epochs "$EPOCHS" --seed 1 --json "$W/$model.np.json" >"$W/$model.np.log" 2>&1 \
      || { cat "$W/$model.np.log"; die "numpy training of $model failed"; }
  "$PY" - "$W/$model.np.json" "$model" "$W/$model.eval.json" "$secs" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1])); y = json.load(open(sys.argv[3]))
print("%-14s %-10s %8.4f %8.4f %8.4f %8.4f %10.2f %10.1f %9s" % (sys.argv[2], "numpy", r["gap"], r["hit1"], r["perr"],
      r["map"], r["train_seconds"], r["examples_per_sec"], "-"))
print("%-14s ratios: GAP yt8m-flow/numpy %.3f; training time yt8m-flow/numpy %.3f (goal <= 0.5)" % (
      sys.argv[2], y["gap"] / r["gap"] if r["gap"] else float("nan"), float(sys.argv[4]) / r["train_seconds"]))
PYEOF
done
