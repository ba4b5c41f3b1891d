#!/usr/bin/env bash
# bench_frame_models.sh: frame-level models on the synthetic corpus of `gen`.
# Generates a train split and a held-out validate split (same seed = same
# concept), trains FrameLevelLogisticModel (graphs/train_frame_logistic.flow),
# DbofModel (graphs/train_frame_dbof.flow), LstmModel (graphs/train_frame_lstm.flow)
# and NetVLADModelLF (graphs/train_netvlad_small.flow) for the same number of
# steps and batch size, evaluates them with graphs/eval.flow, and prints GAP / Hit@1 /
# PERR / mAP beside the generator's oracle GAP figures (generator.json).
#
# Usage: tests/bench/bench_frame_models.sh [BUILD_DIR] [--videos N] [--val-videos M] [--steps S]
#          [--classes K] [--frames LO,HI] [--batch-size B] [--lr X] [--cluster-size C] [--hidden-size H]
#          [--iterations I] [--recal-steps R] [--bn-decay X] [--lstm-cells N] [--lstm-lr X]
#          [--netvlad-cluster K] [--netvlad-hidden H] [--netvlad-lr X]
#          [--variants "fll dbof dbof_recal dbof_nobn dbof_bn lstm netvlad netvlad_nointra"]
#          [--stream] [--noise SD] [--signal LO,HI] [--min-margin G] [--workdir DIR] [--keep]
#
# Rows (--variants):
#   fll         FrameLevelLogisticModel, S steps
#   dbof        DbofModel as the starter builds it (batch norm, moving averages
#               with decay 0.999), S steps, evaluated with those moving averages
#   dbof_recal  the same weights (bit for bit), after R more steps of the train
#               node with base_learning_rate = 0 and batch 8: Adam moves no
#               weight, only the batch-norm moving averages catch up (they start
#               at mean 0 / variance 1 and keep 0.999^steps of that; the input
#               batch norm's true variance is about 1/1152, so eval with them is
#               off until roughly 10k steps). Training steps stay S.
#   dbof_nobn   DbofModel with dbof_add_batch_norm = false (biases), S steps
#   dbof_bn     DbofModel with batch_norm_decay = X (--bn-decay, 0.99): moving
#               averages that catch up within S steps, no recalibration
#   lstm        LstmModel, 1 layer of --lstm-cells cells, lr --lstm-lr, S steps
#   netvlad     NetVLADModelLF (graphs/train_netvlad_small.flow) with cluster
#               --netvlad-cluster, hidden --netvlad-hidden, iterations I,
#               batch_norm_decay X, lr --netvlad-lr, S steps
#   netvlad_nointra  the same with netvlad_intra_norm = false (not the
#               winning solution's: each cluster keeps its share of the video)
# Columns: train_s = the train node's own seconds (first to last batch);
# GAP/Hit@1/PERR/mAP on the validate split (eval.flow, sample_all = true);
# GAP_trn = GAP on the first train shard (what the model fits: a large
# GAP_trn - GAP gap is overfitting); bGAP = mean training-batch GAP the train
# node logged over its last 100 steps.
# --stream: every model trains on fresh videos instead of the train shards:
# the graph's tfrecord_reader becomes a synth_source of the same generator
# (train split, same seed, classes and frames; unbounded), so no video is seen
# twice and S steps read S x B videos (the first --videos of them are the
# train shards' videos, in order). The validate split stays held out.
# --noise SD / --signal LO,HI: gen's frame noise (default 0.8) and share of
# class frames (default 0.05,0.3), for train, validate and --stream alike
# (docs/generator.md).
# --min-margin G: exit 1 unless the best DBoF row's GAP exceeds FLL's by G.
# Exit status non-zero when any run fails.
set -euo pipefail
die() { echo "bench_frame_models.sh: error: $*" >&2; exit 1; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/build
VIDEOS=10000
VAL_VIDEOS=1000
FRAMES=60,300 # frames per generated video, uniform (gen's --min-frames / --max-frames)
STEPS=1000
CLASSES=100
BATCH=64
LR=0.01
CLUSTER=512
HIDDEN=256
ITER=30
RECAL=9000
BN_DECAY=0.99
LSTM_CELLS=256
LSTM_LR=0.001
NV_CLUSTER=32
NV_HIDDEN=256
NV_LR=0.001
VARIANTS="fll dbof_bn lstm netvlad netvlad_nointra"
MIN_MARGIN=
WORK=
KEEP=0
STREAM=0
NOISE=0.8
SIGNAL=0.05,0.3
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then BUILD=$1; shift; fi
while [ $# -gt 0 ]; do
  case $1 in
    --videos) VIDEOS=$2; shift 2 ;;
    --val-videos) VAL_VIDEOS=$2; shift 2 ;;
    --frames) FRAMES=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --classes) CLASSES=$2; shift 2 ;;
    --batch-size) BATCH=$2; shift 2 ;;
    --lr) LR=$2; shift 2 ;;
    --cluster-size) CLUSTER=$2; shift 2 ;;
    --hidden-size) HIDDEN=$2; shift 2 ;;
    --iterations) ITER=$2; shift 2 ;;
    --recal-steps) RECAL=$2; shift 2 ;;
    --bn-decay) BN_DECAY=$2; shift 2 ;;
    --lstm-cells) LSTM_CELLS=$2; shift 2 ;;
    --lstm-lr) LSTM_LR=$2; shift 2 ;;
    --netvlad-cluster) NV_CLUSTER=$2; shift 2 ;;
    --netvlad-hidden) NV_HIDDEN=$2; shift 2 ;;
    --netvlad-lr) NV_LR=$2; shift 2 ;;
    --variants) VARIANTS=$2; shift 2 ;;
    --min-margin) MIN_MARGIN=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --stream) STREAM=1; shift ;;
    --noise) NOISE=$2; shift 2 ;;
    --signal) SIGNAL=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
YT=$BUILD/yt8m-flow
[ -x "$YT" ] || die "no $YT: build first"
PY=/usr/bin/python3
[ -x "$PY" ] || die "no $PY (Debian's python3, for JSON)"
if [ -z "$WORK" ]; then
  WORK=$(mktemp -d /tmp/yt8m-bench-frame.XXXXXX)
  [ "$KEEP" = 1 ] || trap 'rm -rf "$WORK"' EXIT
else
  mkdir -p "$WORK"
fi
DATA=$WORK/data
SHARDS=$(( (VIDEOS + 499) / 500 ))
T_ALL=$(date +%s.%N)

echo "== frame-level models on gen's synthetic corpus =="
echo "host: nproc=$(nproc); workdir $WORK"
echo "data: $VIDEOS train videos ($SHARDS shards), $VAL_VIDEOS validate videos, $CLASSES classes, seed 1, noise $NOISE, signal $SIGNAL"
echo "training: $STEPS steps of batch $BATCH, base_learning_rate $LR; DBoF: cluster $CLUSTER, hidden $HIDDEN, iterations $ITER"
rm -rf "$DATA"
"$YT" gen --out "$DATA" --level frame --videos "$VIDEOS" --shards "$SHARDS" --split train --classes "$CLASSES" \
    --min-frames "${FRAMES%,*}" --max-frames "${FRAMES#*,}" --seed 1 --noise "$NOISE" --signal "$SIGNAL" >"$WORK/gen.log" 2>&1 || { cat "$WORK/gen.log"; die "gen (train) failed"; }
"$YT" gen --out "$DATA" --level frame --videos "$VAL_VIDEOS" --shards 2 --split validate --classes "$CLASSES" \
    --min-frames "${FRAMES%,*}" --max-frames "${FRAMES#*,}" --seed 1 --noise "$NOISE" --signal "$SIGNAL" >>"$WORK/gen.log" 2>&1 || { cat "$WORK/gen.log"; die "gen (validate) failed"; }
TRAIN="$DATA/train*.tfrecord"
TRAIN0="$DATA/train0000.tfrecord"
VAL="$DATA/validate*.tfrecord"

# --stream: the train graphs with synth_source in place of the reader
GRAPHS=$ROOT/graphs
if [ "$STREAM" = 1 ]; then
  GRAPHS=$WORK/graphs
  mkdir -p "$GRAPHS"
  for g in train_frame_logistic train_frame_dbof train_frame_lstm train_netvlad_small; do
    "$PY" - "$ROOT/graphs/$g.flow" "$GRAPHS/$g.flow" "${FRAMES%,*}" "${FRAMES#*,}" "$NOISE" "${SIGNAL%,*}" "${SIGNAL#*,}" <<'PYEOF' || die "cannot make the streaming $g.flow"
import re, sys
src, dst, lo, hi, noise, slo, shi = sys.argv[1:8]
s = open(src).read()
node = ('node read : synth_source { videos = 0; level = frame; split = "train"; classes = ${num_classes}\n'
        '                          min_frames = %s; max_frames = %s; seed = 1\n'
        '                          noise = %s; signal_lo = %s; signal_hi = %s }' % (lo, hi, noise, slo, shi))
# the reader's block, whose values may hold ${...}
t, n = re.subn(r'node read\s*:\s*tfrecord_reader\s*\{(?:[^{}]|\$\{[^}]*\})*\}', lambda m: node, s, count=1)
if n != 1:
    sys.exit("no 'node read : tfrecord_reader { ... }' in " + src)
open(dst, "w").write(t)
PYEOF
  done
  echo "training input: --stream (synth_source: fresh videos every step)"
fi

# train VARIANT GRAPH STEPS DIR [--set ...]...: a fresh model, STEPS steps
common=(--set train_data_pattern="$TRAIN" --set num_classes="$CLASSES" --set batch_size="$BATCH"
        --set num_epochs=1000000 --set base_learning_rate="$LR" --set train.log_every_steps=1000000000
        --set train.export_model_steps=0 --quiet)
dbof=(--set dbof_cluster_size="$CLUSTER" --set dbof_hidden_size="$HIDDEN" --set iterations="$ITER")
train() {
  local v=$1 graph=$2 steps=$3 dir=$4; shift 4
  local t0 t1
  t0=$(date +%s.%N)
  "$YT" run "$GRAPHS/$graph" "${common[@]}" --set train_dir="$dir" --set max_steps="$steps" "$@" \
      >"$WORK/$v.train.log" 2>&1 || { tail -30 "$WORK/$v.train.log"; die "training $v failed"; }
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc >"$WORK/$v.wall"
}
# evaluate VARIANT DIR PATTERN OUT
evaluate() {
  "$YT" run "$ROOT/graphs/eval.flow" --set eval_data_pattern="$3" --set train_dir="$2" --set level=frame \
      --set feature_names=rgb,audio --set feature_sizes=1024,128 --set sample_all=true --set batch_size=64 \
      --set eval.num_classes="$CLASSES" --set output_file="$4" --quiet >"$4.log" 2>&1 \
      || { tail -30 "$4.log"; die "eval of $1 failed"; }
}

for v in $VARIANTS; do
  case $v in
    fll) train fll train_frame_logistic.flow "$STEPS" "$WORK/fll" --set train.start_new_model=true ;;
    dbof) train dbof train_frame_dbof.flow "$STEPS" "$WORK/dbof" "${dbof[@]}" --set train.start_new_model=true ;;
    dbof_nobn) train dbof_nobn train_frame_dbof.flow "$STEPS" "$WORK/dbof_nobn" "${dbof[@]}" \
                   --set train.dbof_add_batch_norm=false --set train.start_new_model=true ;;
    dbof_recal)
      [ -f "$WORK/dbof/model_flags.json" ] || die "dbof_recal needs the dbof variant before it"
      rm -rf "$WORK/dbof_recal" && mkdir "$WORK/dbof_recal"
      cp "$WORK/dbof/model_flags.json" "$WORK/dbof/model.ckpt-$STEPS.safetensors" "$WORK/dbof_recal/"
      # lr 0: the weights stay bit-identical, only the batch-norm moving averages move
      train dbof_recal train_frame_dbof.flow $((STEPS + RECAL)) "$WORK/dbof_recal" "${dbof[@]}" \
          --set base_learning_rate=0 --set batch_size=8 ;;
    dbof_bn) train dbof_bn train_frame_dbof.flow "$STEPS" "$WORK/dbof_bn" "${dbof[@]}" \
                 --set train.batch_norm_decay="$BN_DECAY" --set train.start_new_model=true ;;
    lstm) train lstm train_frame_lstm.flow "$STEPS" "$WORK/lstm" --set train.lstm_layers=1 \
              --set train.lstm_cells="$LSTM_CELLS" --set base_learning_rate="$LSTM_LR" \
              --set train.start_new_model=true ;;
    netvlad|netvlad_nointra)
             intra=true; [ "$v" = netvlad ] || intra=false
             train "$v" train_netvlad_small.flow "$STEPS" "$WORK/$v" \
                 --set train.netvlad_cluster_size="$NV_CLUSTER" --set train.netvlad_hidden_size="$NV_HIDDEN" \
                 --set train.iterations="$ITER" --set train.batch_norm_decay="$BN_DECAY" \
                 --set base_learning_rate="$NV_LR" --set train.netvlad_intra_norm=$intra \
                 --set train.start_new_model=true ;;
    *) die "unknown variant $v (fll, dbof, dbof_recal, dbof_nobn, dbof_bn, lstm, netvlad, netvlad_nointra)" ;;
  esac
  evaluate "$v" "$WORK/$v" "$VAL" "$WORK/$v.eval.json"
  evaluate "$v" "$WORK/$v" "$TRAIN0" "$WORK/$v.evaltrain.json"
done

"$PY" - "$WORK" "$DATA/generator.json" "$STEPS" "$BATCH" "$RECAL" "${MIN_MARGIN:-}" $VARIANTS <<'PYEOF'
import json, re, sys
work, genjson, steps, batch, recal, min_margin = sys.argv[1:7]
variants = sys.argv[7:]
names = {"fll": "FrameLevelLogistic", "dbof": "Dbof", "dbof_recal": "Dbof+bn_recal", "dbof_nobn": "Dbof(no bn)",
         "dbof_bn": "Dbof(bn decay)", "lstm": "Lstm", "netvlad": "NetVLAD", "netvlad_nointra": "NetVLAD(no intra)"}
print("%-19s %6s %5s %8s %7s %7s %7s %7s %7s %7s" % ("model", "steps", "batch", "train_s", "GAP", "Hit@1", "PERR",
      "mAP", "GAP_trn", "bGAP"))
gaps = {}
for v in variants:
    r = json.load(open("%s/%s.eval.json" % (work, v)))
    rt = json.load(open("%s/%s.evaltrain.json" % (work, v)))
    log = open("%s/%s.train.log" % (work, v)).read()
    m = re.search(r"train: \d+ examples in ([0-9.]+) s", log)
    secs = float(m.group(1)) if m else float("nan")
    bg = [float(x) for x in re.findall(r"^training step \d+ \|.*GAP: ([0-9.]+)", log, re.M)][-10:]
    bgap = sum(bg) / len(bg) if bg else float("nan")
    st = "%s" % steps if v != "dbof_recal" else "%s+%s" % (steps, recal)
    b = batch if v != "dbof_recal" else "%s/8" % batch
    gaps[v] = r["gap"]
    print("%-19s %6s %5s %8.1f %7.4f %7.4f %7.4f %7.4f %7.4f %7.3f" % (names[v], st, b, secs, r["gap"],
          r["hit_at_one"], r["perr"], r["map"], rt["gap"], bgap))
g = json.load(open(genjson))
o = g["splits"]["validate"]["oracle"]
print("%-19s %6s %5s %8s %7.4f  (gap_frames: prototypes known, per-frame; %d videos)" % ("oracle", "-", "-", "-",
      o["gap_frames"], o["videos_scored"]))
print("%-19s %6s %5s %8s %7.4f  (gap_mean_pooling: prototypes known, mean frame)" % ("oracle", "-", "-", "-",
      o["gap_mean_pooling"]))
d = [(gaps[v], v) for v in gaps if v.startswith("dbof")]
if "fll" in gaps:
    if d:
        best, v = max(d)
        margin = best - gaps["fll"]
        print("margin: %s GAP - FrameLevelLogistic GAP = %+.4f" % (names[v], margin))
        if min_margin and margin < float(min_margin):
            print("FAIL: margin below %s" % min_margin)
            sys.exit(1)
    for v in ("lstm", "netvlad", "netvlad_nointra"):
        if v in gaps:
            print("margin: %s GAP - FrameLevelLogistic GAP = %+.4f" % (names[v], gaps[v] - gaps["fll"]))
for v in ("netvlad", "netvlad_nointra"):
    if v in gaps and d:
        print("order: %s %.4f %s best DBoF %.4f" % (names[v], gaps[v], ">=" if gaps[v] >= max(d)[0] else "<",
                                                  max(d)[0]))
PYEOF
echo "total wall time: $(echo "$(date +%s.%N) - $T_ALL" | bc | xargs printf '%.0f') s"
