#!/usr/bin/env bash
# quickstart.sh: what the README's first command runs after the build.
# Generates a small frame-level corpus (train and validate, the same concept),
# reads it back with `dump`, streams it through graphs/read_frames.flow (one
# process per node over ZeroMQ) and copies it with graphs/copy.flow, and says
# trains a small DbofModel on it, evaluates it (the starter's eval lines, GAP)
# and writes a Kaggle CSV, all in one graph (graphs/quickstart.flow), makes a
# bundle, and says where everything is.
set -eu  # no pipefail: `dump | head` ends dump with SIGPIPE, by design
cd "$(dirname "$0")/.."
BIN=build/yt8m-flow
OUT=${QUICKSTART_DIR:-out/quickstart}
rm -rf "$OUT"
echo "== 1/6 generate a synthetic frame-level corpus (100 classes) =="
$BIN gen --out "$OUT/data" --level frame --split train --videos 1000 --shards 4 --classes 100 --seed 1
$BIN gen --out "$OUT/data" --level frame --split validate --videos 300 --shards 1 --classes 100 --seed 1
echo
echo "== 2/6 read it back: the first records, as text and as JSON lines =="
$BIN dump "$OUT/data/validate0000.tfrecord" | head -3 | cut -c1-160
$BIN dump --format jsonl "$OUT/data/validate0000.tfrecord" | head -1 | cut -c1-240
n=$($BIN dump "$OUT"/data/train*.tfrecord | wc -l)
echo "train split: $n records read, every CRC checked"
echo
echo "== 3/6 run graphs: reader -> dequantize x2 -> batcher -> null_sink, then a byte-exact copy =="
$BIN run graphs/read_frames.flow --set input_data_pattern="$OUT/data/train*.tfrecord" \
    --set batch_size=32 --set deq.num_classes=100 --summary "$OUT/read_frames.json"
$BIN run graphs/copy.flow --set input_data_pattern="$OUT/data/*.tfrecord" --set output_dir="$OUT/copy" \
    --summary "$OUT/copy.json"
for f in "$OUT"/data/*.tfrecord; do cmp "$f" "$OUT/copy/$(basename "$f")"; done
echo "copy: every shard byte-identical"
echo
echo "== 4/6 train a small DbofModel (125 steps, seconds), then evaluate it and write a Kaggle CSV: one graph =="
echo "   (graphs/quickstart.flow: train -> its final checkpoint -> infer -> metrics -> csv_sink)"
$BIN run graphs/quickstart.flow --set train_data_pattern="$OUT/data/train*.tfrecord" \
    --set eval_data_pattern="$OUT/data/validate*.tfrecord" --set train_dir="$OUT/train" \
    --set output_file="$OUT/predictions.csv" --set eval_output_file="$OUT/eval.json" --summary "$OUT/train.json"
echo
echo "== 5/6 the CSV's first lines, and a bundle of the model =="
head -3 "$OUT/predictions.csv" | cut -c1-160
$BIN bundle "$OUT/train" -o "$OUT/model.tgz"
echo
echo "== 6/6 where things are =="
echo "corpus:     $OUT/data (train0000..0003.tfrecord, validate0000.tfrecord)"
echo "vocabulary: $OUT/data/vocabulary.csv"
echo "generator:  $OUT/data/generator.json (parameters and the oracle GAP per split)"
echo "summaries:  $OUT/read_frames.json, $OUT/copy.json, $OUT/train.json (per-node counts, exactly-once accounting)"
echo "eval events: $(ls "$OUT"/train/eval/events.out.tfevents.* | head -1)"
echo "model:      $OUT/train (model.ckpt-N.safetensors, model_flags.json), bundle $OUT/model.tgz"
echo "events:     $(ls "$OUT"/train/events.out.tfevents.* | head -1) (tensorboard --logdir $OUT/train)"
echo "eval:       $OUT/eval.json (GAP, Hit@1, PERR, mAP; oracle GAP in $OUT/data/generator.json)"
echo "csv:        $OUT/predictions.csv (Kaggle VideoId,LabelConfidencePairs)"
echo "next:       yt8m-flow inspect; yt8m-flow run --help; yt8m-flow tap --help"
