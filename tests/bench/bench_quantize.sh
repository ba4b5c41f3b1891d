#!/usr/bin/env bash
# bench_quantize.sh: what 8-bit quantization (REFERENCE.md 6.3) costs and saves on a
# model trained here: train MoeModel on a `gen` video-level corpus, `bundle`,
# `quantize`, evaluate both bundles with graphs/eval.flow on a held-out split of
# the same generator (same seed), and print the sizes, the ratio of the .tgz files
# (model_flags.json and the small float32 tensors included), GAP before/after
# and the difference. The issue's target: ratio <= 0.30, GAP loss <= 0.002.
#
# Usage: tests/bench/bench_quantize.sh [BUILD_DIR] [--videos N] [--eval-videos N] [--classes K]
#                                      [--steps S] [--batch-size B] [--mixtures M]
set -euo pipefail
die() { echo "bench_quantize.sh: error: $*" >&2; exit 1; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/build
VIDEOS=20000
EVAL_VIDEOS=5000
CLASSES=1000
STEPS=300
BATCH=128
MIXTURES=2
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then BUILD=$1; shift; fi
while [ $# -gt 0 ]; do
  case $1 in
    --videos) VIDEOS=$2; shift 2 ;;
    --eval-videos) EVAL_VIDEOS=$2; shift 2 ;;
    --classes) CLASSES=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --batch-size) BATCH=$2; shift 2 ;;
    --mixtures) MIXTURES=$2; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
YT=$BUILD/yt8m-flow
[ -x "$YT" ] || die "no $YT: build first"
PY=/usr/bin/python3
W=$(mktemp -d /tmp/yt8m-bench-quant.XXXXXX)
trap 'rm -rf "$W"' EXIT
export TMPDIR=$W # the launcher's run directories (ipc:// paths stay short)

echo "== 8-bit quantization of a MoeModel: gen video level, $VIDEOS train / $EVAL_VIDEOS held-out videos, $CLASSES classes =="
echo "host: nproc=$(nproc); MoeModel $MIXTURES mixtures, batch_size $BATCH, $STEPS steps"
"$YT" gen --out "$W/data" --level video --videos "$VIDEOS" --shards 4 --classes "$CLASSES" --split train \
    >"$W/gen.log" 2>&1 || { cat "$W/gen.log"; die "gen train failed"; }
"$YT" gen --out "$W/data" --level video --videos "$EVAL_VIDEOS" --shards 1 --classes "$CLASSES" --split validate \
    >>"$W/gen.log" 2>&1 || { cat "$W/gen.log"; die "gen validate failed"; }
t0=$(date +%s.%N)
"$YT" run "$ROOT/graphs/train_video_moe.flow" --set train_data_pattern="$W/data/train*.tfrecord" \
    --set train_dir="$W/moe" --set batch_size="$BATCH" --set max_steps="$STEPS" --set num_epochs=100 \
    --set moe_num_mixtures="$MIXTURES" --set train.num_classes="$CLASSES" --set train.log_every_steps=1000000 \
    --set train.export_model_steps=0 --quiet >"$W/train.log" 2>&1 || { cat "$W/train.log"; die "training failed"; }
t1=$(date +%s.%N)
printf '%s (%.1f s wall)\n' "$(grep 'examples in' "$W/train.log")" "$(echo "$t1 - $t0" | bc)"
"$YT" bundle "$W/moe" -o "$W/float.tgz"
t2=$(date +%s.%N)
"$YT" quantize "$W/float.tgz" -o "$W/quant.tgz"
t3=$(date +%s.%N)
printf 'quantize: %.2f s\n' "$(echo "$t3 - $t2" | bc)"
for b in float quant; do
  "$YT" run "$ROOT/graphs/eval.flow" --set eval_data_pattern="$W/data/validate*.tfrecord" --set train_dir= \
      --set input_model_tgz="$W/$b.tgz" --set eval.num_classes="$CLASSES" --set tb.logdir="$W/tb" \
      --set output_file="$W/$b.json" --quiet >"$W/$b.eval.log" 2>&1 || { cat "$W/$b.eval.log"; die "eval of $b failed"; }
done
"$PY" - "$W" <<'PYEOF'
import json, os, sys
w = sys.argv[1]
f, q = (json.load(open(os.path.join(w, b + ".json"))) for b in ("float", "quant"))
sf, sq = (os.path.getsize(os.path.join(w, b + ".tgz")) for b in ("float", "quant"))
print("%-10s %12s %8s %8s %8s %8s %9s" % ("bundle", "bytes", "GAP", "Hit@1", "PERR", "mAP", "examples"))
for name, r, s in (("float32", f, sf), ("quantized", q, sq)):
    print("%-10s %12d %8.4f %8.4f %8.4f %8.4f %9d" % (name, s, r["gap"], r["hit_at_one"], r["perr"], r["map"], r["examples"]))
ratio, dgap = sq / sf, q["gap"] - f["gap"]
print("ratio %.4f (target <= 0.30): %s" % (ratio, "met" if ratio <= 0.30 else "NOT met"))
print("GAP difference quantized - float %+.5f (target loss <= 0.002): %s" % (dgap, "met" if -dgap <= 0.002 else "NOT met"))
PYEOF
