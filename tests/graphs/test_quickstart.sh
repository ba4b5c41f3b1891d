#!/bin/bash
# test_quickstart.sh: graphs/quickstart.flow trains, evaluates and writes a
# Kaggle CSV in one graph (train.model -> infer.model: infer reads the final
# checkpoint before any eval batch). Checks: exact accounting over both halves;
# infer ran the final checkpoint (its step = train's global step); the eval
# figures equal graphs/eval.flow's on the same train_dir, and the CSV equals
# graphs/infer.flow's byte for byte (sample_all: deterministic); and a train
# node that gets no batch makes infer fail with a message, not hang.
TEST=test_quickstart
. "$(dirname "$0")/lib.sh"

"$YT_BIN" gen --out "$W/data" --level frame --split train --videos 160 --shards 2 --classes 20 --seed 3 \
    --min-frames 10 --max-frames 40 >"$W/gen.log" 2>&1 &&
"$YT_BIN" gen --out "$W/data" --level frame --split validate --videos 70 --shards 1 --classes 20 --seed 3 \
    --min-frames 10 --max-frames 40 >>"$W/gen.log" 2>&1 || { cat "$W/gen.log"; exit 1; }
Q=(--set train_data_pattern="$W/data/train*.tfrecord" --set eval_data_pattern="$W/data/validate*.tfrecord"
   --set train_dir="$W/train" --set num_classes=20 --set max_frames=40 --set num_epochs=2 --set batch_size=32)
runs "quickstart.flow" 0 "$W/q.err" "$GRAPHS/quickstart.flow" "${Q[@]}" --summary "$W/q.json"
summary_ok "quickstart.flow" "$W/q.json"
v=$(json "$W/q.json" '(s["nodes"]["train"]["consumed"], s["nodes"]["csv"]["consumed"])')
expect "train took all 320 training records (2 epochs), csv all 70 eval records: $v" [ "$v" = "(320, 70)" ]
step=$(json "$W/q.json" 's["nodes"]["train"]["global_step"]')
expect "infer ran the final checkpoint (step $step)" has "$W/q.err" "infer: .*model.ckpt-$step.safetensors \(DbofModel, global step $step\)"
expect "eval and train event files" [ -n "$(ls "$W"/train/events.out.tfevents.* "$W"/train/eval/events.out.tfevents.* 2>/dev/null)" ]
expect "the CSV has a header and 70 rows" [ "$(head -n 1 "$W/train/predictions.csv")" = "VideoId,LabelConfidencePairs" -a "$(wc -l <"$W/train/predictions.csv")" -eq 71 ]

# the same checkpoint through eval.flow and infer.flow, as separate graphs
F=(--set level=frame --set feature_names=rgb,audio --set feature_sizes=1024,128 --set dtype=uint8
   --set max_frames=40 --set batch_size=32 --set deq.num_classes=20 --set infer.sample_all=true)
runs "eval.flow on the same train_dir" 0 "$W/e.err" "$GRAPHS/eval.flow" "${F[@]}" \
    --set eval_data_pattern="$W/data/validate*.tfrecord" --set train_dir="$W/train" --set output_file="$W/eval.json" \
    --set eval_logdir="$W/eval2"
py_same=$(json "$W/eval.json" 'json.dumps(s, sort_keys=True)')
q_same=$(json "$W/train/eval.json" 'json.dumps(s, sort_keys=True)')
expect "quickstart's eval.json = eval.flow's ($q_same)" [ "$py_same" = "$q_same" ]
runs "infer.flow on the same train_dir" 0 "$W/i.err" "$GRAPHS/infer.flow" "${F[@]}" \
    --set input_data_pattern="$W/data/validate*.tfrecord" --set train_dir="$W/train" --set output_file="$W/p.csv"
expect "quickstart's CSV = infer.flow's, byte for byte" cmp -s "$W/p.csv" "$W/train/predictions.csv"

# no training batch at all: no checkpoint, so infer says why instead of waiting
runs "quickstart.flow with an empty training set" 1 "$W/n.err" "$GRAPHS/quickstart.flow" "${Q[@]}" \
    --set train_dir="$W/train_none" --set read.pattern="$W/data/validate*.tfrecord" --set batch.drop_remainder=true \
    --set batch.batch_size=1000
expect "... infer names the missing model" has "$W/n.err" "ERROR: from node infer\[0\] \(infer\): infer: batches arrived but no model did on 'model'"
finish
