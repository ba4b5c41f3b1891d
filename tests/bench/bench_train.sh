#!/usr/bin/env bash
# bench_train.sh: train on real video-level shards with yt8m-flow and with an
# independent NumPy reimplementation (tests/bench/numpy_train.py, same model,
# same math, same hyperparameters), evaluate both on held-out shards, and print
# GAP / Hit@1 / PERR / mAP and training time side by side, same run.
#
# Usage: tests/bench/bench_train.sh [BUILD_DIR] [--epochs N] [--batch-size B] [--seeds K]
#                                   [--models "LogisticModel MoeModel"]
# Split: train on validate0000-0004, evaluate on validate0005-0006 (../shared/data).
# Training time: yt8m-flow's train node reports the seconds from its first
# batch to its last (the graph's input pipeline runs beside it); NumPy's is
# its training loop alone (shards loaded before the clock starts). The run's
# whole wall time (process start, reading, eval excluded) is printed too.
# --seeds K (default 3) runs both K times, with seed 1..K (initial weights and shuffling;
# the two implementations draw them differently, so one seed compares two
# draws): per model, GAP's mean and standard deviation over the seeds for
# each, the difference of the means with its standard error, and the median
# of the per-seed training-time ratios. NumPy batches as train.py's queue
# (--batching stream): both take the same number of steps.
set -euo pipefail
die() { echo "bench_train.sh: error: $*" >&2; exit 1; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/build
EPOCHS=10
BATCH=128
MODELS="LogisticModel MoeModel"
SEEDS=3
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then BUILD=$1; shift; fi
while [ $# -gt 0 ]; do
  case $1 in
    --epochs) EPOCHS=$2; shift 2 ;;
    --batch-size) BATCH=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    --seeds) SEEDS=$2; shift 2 ;;
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
[[ "$SEEDS" =~ ^[1-9][0-9]*$ ]] || die "--seeds must be a positive integer (got '$SEEDS')"
echo "host: nproc=$(nproc); batch_size $BATCH, $EPOCHS epochs, base_learning_rate 0.01 (decay 0.95 / 4M examples), seeds 1..$SEEDS"
printf '%-14s %-4s %-10s %8s %8s %8s %8s %10s %10s %9s\n' model seed impl GAP Hit@1 PERR mAP train_s ex/s wall_s
for model in $MODELS; do
  flow=$ROOT/graphs/train_video_logistic.flow
  [ "$model" = MoeModel ] && flow=$ROOT/graphs/train_video_moe.flow
  for seed in $(seq 1 "$SEEDS"); do
    r=$W/$model.$seed
    t0=$(date +%s.%N)
    "$YT" run "$flow" --set train_data_pattern="$TRAIN" --set train_dir="$r" --set batch_size="$BATCH" \
        --set num_epochs="$EPOCHS" --set seed="$seed" --set train.log_every_steps=1000000 \
        --set train.export_model_steps=0 --quiet >"$r.train.log" 2>&1 || { cat "$r.train.log"; die "training $model failed"; }
    t1=$(date +%s.%N)
    "$YT" run "$ROOT/graphs/eval.flow" --set eval_data_pattern="$EVAL" --set train_dir="$r" \
        --set output_file="$r.eval.json" --quiet >"$r.eval.log" 2>&1 || { cat "$r.eval.log"; die "eval of $model failed"; }
    line=$(grep 'examples in' "$r.train.log")
    secs=$(echo "$line" | sed -E 's/.* in ([0-9.]+) s.*/\1/')
    steps=$(echo "$line" | sed -E 's/.*global step ([0-9]+).*/\1/')
    "$PY" "$ROOT/tests/bench/numpy_train.py" --train "$TRAIN" --eval "$EVAL" --model "$model" --batch_size "$BATCH" \
        --num_epochs "$EPOCHS" --seed "$seed" --json "$r.np.json" >"$r.np.log" 2>&1 \
        || { cat "$r.np.log"; die "numpy training of $model failed"; }
    "$PY" - "$r.eval.json" "$r.np.json" "$model" "$seed" "$secs" "$steps" "$(echo "$t1 - $t0" | bc)" \
        "$W/results.jsonl" <<'PYEOF'
import json, sys
y = json.load(open(sys.argv[1])); n = json.load(open(sys.argv[2]))
model, seed, secs, steps, wall = sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
ex = n["train_examples"] * n["epochs"]
fmt = "%-14s %-4d %-10s %8.4f %8.4f %8.4f %8.4f %10.2f %10.1f %9s"
print(fmt % (model, seed, "yt8m-flow", y["gap"], y["hit_at_one"], y["perr"], y["map"], secs, ex / secs, "%.2f" % wall))
print(fmt % (model, seed, "numpy", n["gap"], n["hit1"], n["perr"], n["map"], n["train_seconds"], n["examples_per_sec"], "-"))
if steps != n["steps"]:
    sys.exit("bench_train.sh: %s seed %d: yt8m-flow took %d steps, numpy %d" % (model, seed, steps, n["steps"]))
with open(sys.argv[8], "a") as f:
    f.write(json.dumps({"model": model, "seed": seed, "gap": y["gap"], "np_gap": n["gap"],
                        "time": secs, "np_time": n["train_seconds"]}) + "\n")
PYEOF
  done
done
echo
echo "== summary over seeds 1..$SEEDS (GAP: mean +- sd; time ratio: median of the per-seed ratios, goal <= 0.5) =="
"$PY" - "$W/results.jsonl" <<'PYEOF'
import json, math, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for model in dict.fromkeys(r["model"] for r in rows):
    rs = [r for r in rows if r["model"] == model]
    a, b = [r["gap"] for r in rs], [r["np_gap"] for r in rs]
    sd = lambda v: st.stdev(v) if len(v) > 1 else float("nan")
    d = [x - y for x, y in zip(a, b)]
    se = math.sqrt(sd(a) ** 2 / len(a) + sd(b) ** 2 / len(b)) if len(a) > 1 else float("nan")
    ratios = [r["time"] / r["np_time"] for r in rs]
    print("%-14s GAP yt8m-flow %.4f +- %.4f, numpy %.4f +- %.4f; difference of the means %+.4f (standard error %.4f); "
          "yt8m-flow ahead on %d of %d seeds" % (model, st.mean(a), sd(a), st.mean(b), sd(b), st.mean(a) - st.mean(b), se,
                                                 sum(x > 0 for x in d), len(d)))
    print("%-14s training time yt8m-flow/numpy: median %.3f (per seed: %s)" % (
        model, st.median(ratios), " ".join("%.3f" % x for x in ratios)))
PYEOF
