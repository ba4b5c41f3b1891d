#!/usr/bin/env bash
# quickstart.sh: what the README's first command runs after the build.
# Generates a small frame-level corpus (train and validate, the same concept),
# reads it back with `dump`, streams it through graphs/read_frames.flow (one
# process per node over ZeroMQ) and copies it with graphs/copy.flow, and says
# where everything is. Training, eval and the Kaggle CSV join this script when
# the training graphs land (graphs/quickstart.flow).
set -eu  # no pipefail: `dump | head` ends dump with SIGPIPE, by design
cd "$(dirname "$0")/.."
BIN=build/yt8m-flow
OUT=${QUICKSTART_DIR:-out/quickstart}
rm -rf "$OUT"
echo "== 1/4 generate a synthetic frame-level corpus (100 classes) =="
$BIN gen --out "$OUT/data" --level frame --split train --videos 400 --shards 4 --classes 100 --seed 1
$BIN gen --out "$OUT/data" --level frame --split validate --videos 100 --shards 1 --classes 100 --seed 1
echo
echo "== 2/4 read it back: the first records, as text and as JSON lines =="
$BIN dump "$OUT/data/validate0000.tfrecord" | head -3 | cut -c1-160
$BIN dump --format jsonl "$OUT/data/validate0000.tfrecord" | head -1 | cut -c1-240
n=$($BIN dump "$OUT"/data/train*.tfrecord | wc -l)
echo "train split: $n records read, every CRC checked"
echo
echo "== 3/4 run graphs: reader -> dequantize x2 -> batcher -> null_sink, then a byte-exact copy =="
$BIN run graphs/read_frames.flow --set input_data_pattern="$OUT/data/train*.tfrecord" \
    --set batch_size=32 --set deq.num_classes=100 --summary "$OUT/read_frames.json"
$BIN run graphs/copy.flow --set input_data_pattern="$OUT/data/*.tfrecord" --set output_dir="$OUT/copy" \
    --summary "$OUT/copy.json"
for f in "$OUT"/data/*.tfrecord; do cmp "$f" "$OUT/copy/$(basename "$f")"; done
echo "copy: every shard byte-identical"
echo
echo "== 4/4 where things are =="
echo "corpus:     $OUT/data (train0000..0003.tfrecord, validate0000.tfrecord)"
echo "vocabulary: $OUT/data/vocabulary.csv"
echo "generator:  $OUT/data/generator.json (parameters and the oracle GAP per split)"
echo "summaries:  $OUT/read_frames.json, $OUT/copy.json (per-node counts, exactly-once accounting)"
echo "next:       yt8m-flow inspect; yt8m-flow run --help; yt8m-flow tap --help"
echo "            training lands with graphs/quickstart.flow"
