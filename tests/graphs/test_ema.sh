#!/usr/bin/env bash
# test_ema.sh: the weights' exponential moving average (REFERENCE 6.1) end to end:
# train's ema_halflife, the NAME/ExponentialMovingAverage checkpoint tensors,
# resuming, infer's use_ema and `bundle --use-ema`, real processes.
#
# A DbofModel (batch norms: its moving_mean / moving_variance are averaged too)
# on a small `gen` frame-level corpus, a checkpoint every step:
#  1. ema_halflife = 1 (d = 0): every shadow equals its weight, bit for bit;
#  2. ema_halflife = 1e9 (d rounds to 1.0f): the shadows stay at the initial
#     weights (the same at steps 1 and 3; moving_mean 0, moving_variance 1);
#  3. ema_halflife = 3: every shadow, batch-norm statistics included, equals
#     the recursion s_k = d s_(k-1) + (1 - d) w_k in float32 over the saved
#     weights, from s_0 = the initial weights (run 2's shadows, same seed);
#     a resume restores the shadows and the recursion carries on;
#  4. a checkpoint without shadows resumed with ema_halflife: they start at
#     the restored weights;
#  5. eval.flow use_ema = true runs the shadows: other figures than without;
#     on a train_dir without shadows: an error naming the checkpoint;
#  6. bundle --use-ema: the shadows as the weights, no optimizer state nor
#     shadows inside; eval of it = eval of the train dir with use_ema; without
#     shadows: exit 1 naming the checkpoint; use_ema on a bundle: an error.
#
# Environment (set by ctest): YT_BIN, YT_PYTHON. Exit 77 without python3 + numpy.
TEST=test_ema PYMODS="json, struct, numpy"
. "$(dirname "$0")/lib.sh"

cat >"$W/check.py" <<'PYEOF'
import json, struct, sys
import numpy as np
EMA = "/ExponentialMovingAverage"
def die(m): print(m); sys.exit(1)
def st(path):
    b = open(path, "rb").read()
    n, = struct.unpack_from("<Q", b, 0)
    h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    out = {}
    for k, t in h.items():
        if t["dtype"] != "F32": die("%s: %s is %s" % (path, k, t["dtype"]))
        a, z = t["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + a:8 + n + z], dtype="<f4").reshape(t["shape"])
    return out
def weights(d): return {k: v for k, v in d.items() if not k.endswith(("/Adam", "/Adam_1", EMA))}
def shadows(path):
    d = st(path)
    w = weights(d)
    missing = [k for k in w if k + EMA not in d]
    if missing: die("%s: no shadow for %s" % (path, missing))
    if not any("moving_mean" in k for k in w): die("%s: no batch-norm moving_mean among %s" % (path, sorted(w)))
    return w, {k: d[k + EMA] for k in w}
cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "equal":  # CKPT: every shadow = its weight, bit for bit
    w, s = shadows(args[0])
    bad = [k for k in w if not np.array_equal(w[k], s[k])]
    if bad: die("shadows differ from the weights: %s" % bad)
elif cmd == "initial":  # CKPT1 CKPT3: shadows the same at both, not the weights; BN stats at their start
    w1, s1 = shadows(args[0]); w3, s3 = shadows(args[1])
    bad = [k for k in s1 if not np.array_equal(s1[k], s3[k])]
    if bad: die("shadows moved between the checkpoints: %s" % bad)
    if all(np.array_equal(w3[k], s3[k]) for k in w3): die("the shadows are the trained weights")
    for k in s3:
        if k.endswith("moving_mean") and np.any(s3[k] != 0): die("%s shadow is not 0" % k)
        if k.endswith("moving_variance") and np.any(s3[k] != 1): die("%s shadow is not 1" % k)
        if k.endswith("moving_mean") and np.all(w3[k] == 0): die("%s itself never moved: no check" % k)
elif cmd == "recursion":  # HALFLIFE S0-CKPT(its shadows, or its weights with "w:") CKPT1..CKPTn
    d = np.float32(1.0 - 1.0 / float(args[0]))
    one_d = np.float32(1) - d
    src = args[1]
    if src.startswith("w:"): s = {k: v.copy() for k, v in weights(st(src[2:])).items()}
    else: s = {k: v.copy() for k, v in shadows(src)[1].items()}
    for path in args[2:]:
        w, got = shadows(path)
        for k in w:
            s[k] = (d * s[k]).astype(np.float32) + (one_d * w[k]).astype(np.float32)
            if not np.array_equal(s[k], got[k]):
                die("%s: %s shadow differs from the recursion by %g" % (path, k, np.abs(s[k] - got[k]).max()))
elif cmd == "bundle":  # BUNDLE-SAFETENSORS CKPT ema|raw: its weights are the checkpoint's shadows (or weights)
    b = st(args[0]); w, s = shadows(args[1])
    extra = [k for k in b if k.endswith(("/Adam", "/Adam_1", EMA))]
    if extra: die("%s holds %s" % (args[0], extra))
    want = s if args[2] == "ema" else w
    if sorted(b) != sorted(want): die("tensors %s, expected %s" % (sorted(b), sorted(want)))
    bad = [k for k in b if not np.array_equal(b[k], want[k])]
    if bad: die("%s: not the checkpoint's %s: %s" % (args[0], args[2], bad))
elif cmd == "differ":  # JSON1 JSON2: eval figures differ
    a, b = json.load(open(args[0])), json.load(open(args[1]))
    if a["examples"] != b["examples"] or a["examples"] <= 0: die("examples %r %r" % (a["examples"], b["examples"]))
    if a["loss"] == b["loss"] and a["gap"] == b["gap"]: die("the same loss and GAP with and without use_ema: %r" % a)
elif cmd == "same":  # JSON1 JSON2: the same figures
    a, b = json.load(open(args[0])), json.load(open(args[1]))
    a.pop("global_step", None); b.pop("global_step", None)
    if a != b: die("%r != %r" % (a, b))
PYEOF

# ---- a corpus ----------------------------------------------------------------------------
if "$YT_BIN" gen --out "$W/frames" --level frame --videos 200 --shards 2 --classes 50 --split train \
       --min-frames 5 --max-frames 40 >/dev/null 2>"$W/gen.err"; then ok "gen frame corpus"; else bad "gen" "$(cat "$W/gen.err")"; fi
# train DIR MAX_STEPS [--set ...]: DbofModel, small, a checkpoint every step
train() {
    local dir=$1 steps=$2; shift 2
    runs "$(basename "$dir") to step $steps" 0 "$W/$(basename "$dir").$steps.err" "$GRAPHS/train_frame_dbof.flow" \
        --set "train_data_pattern=$W/frames/train*.tfrecord" --set "train_dir=$dir" --set batch_size=32 \
        --set num_classes=50 --set max_frames=40 --set dbof_cluster_size=64 --set dbof_hidden_size=32 \
        --set iterations=10 --set max_steps="$steps" --set train.export_model_steps=1 "$@"
}
ck() { echo "$1/model.ckpt-$2.safetensors"; }

# ---- 1. halflife 1: the shadows are the weights ------------------------------------------------
train "$W/h1" 3 --set train.ema_halflife=1
py "ema_halflife 1: every shadow (batch-norm statistics included) = its weight" equal "$(ck "$W/h1" 3)"

# ---- 2. a huge halflife: the shadows stay at the initial weights ---------------------------------
train "$W/hbig" 3 --set train.ema_halflife=1000000000
py "ema_halflife 1e9: the shadows stay at the initial weights (steps 1 and 3)" initial "$(ck "$W/hbig" 1)" "$(ck "$W/hbig" 3)"

# ---- 3. halflife 3: the recursion over the saved weights, across a resume ------------------------------
train "$W/h3" 4 --set train.ema_halflife=3
py "ema_halflife 3: shadows = d s + (1 - d) w over steps 1..4, from the initial weights" \
    recursion 3 "$(ck "$W/hbig" 1)" "$(ck "$W/h3" 1)" "$(ck "$W/h3" 2)" "$(ck "$W/h3" 3)" "$(ck "$W/h3" 4)"
if "$YT_PYTHON" "$W/check.py" recursion 4 "$(ck "$W/hbig" 1)" "$(ck "$W/h3" 1)" >/dev/null 2>&1; then
    bad "the recursion check is sensitive" "halflife 4 passes on a halflife-3 run"
else ok "the recursion check is sensitive: halflife 4 does not match a halflife-3 run"; fi
train "$W/h3" 6 --set train.ema_halflife=3
expect "resume: the shadows restored" has "$W/h3.6.err" '^train: EMA shadows \(ema_halflife 3\) restored from the checkpoint'
py "resume: the recursion carries on from step 4's shadows (steps 5, 6)" \
    recursion 3 "$(ck "$W/h3" 4)" "$(ck "$W/h3" 5)" "$(ck "$W/h3" 6)"

# ---- 4. a checkpoint without shadows, resumed with ema_halflife -------------------------------------------
train "$W/plain" 2
expect "without ema_halflife: no shadows saved" [ -z "$(grep -a -o 'ExponentialMovingAverage' "$(ck "$W/plain" 2)" | head -n 1)" ]

# ---- 5. eval with use_ema (and the errors) ------------------------------------------------------------------
EV=("$GRAPHS/eval.flow" --set "eval_data_pattern=$W/frames/train*.tfrecord" --set level=frame --set dtype=uint8
    --set "feature_names=rgb,audio" --set max_frames=40 --set batch_size=64 --set sample_all=true
    --set eval.num_classes=50 --set "tb.logdir=$W/tb")
runs "eval, raw weights" 0 "$W/e0.err" "${EV[@]}" --set "train_dir=$W/h3" --set "output_file=$W/e0.json"
runs "eval, use_ema = true" 0 "$W/e1.err" "${EV[@]}" --set "train_dir=$W/h3" --set use_ema=true --set "output_file=$W/e1.json"
expect "eval use_ema: infer says it runs the shadows" has "$W/e1.err" '^infer: .*model\.ckpt-6\.safetensors \(DbofModel, global step 6, EMA shadows\)'
py "eval: use_ema gives other figures than the raw weights" differ "$W/e0.json" "$W/e1.json"
runs "eval use_ema = true of a train_dir without shadows" 1 "$W/e2.err" "${EV[@]}" --set "train_dir=$W/plain" --set use_ema=true
if has "$W/e2.err" "ERROR: from node infer\[0\] \(infer\): infer: use_ema = true, but $W/plain/model\.ckpt-2\.safetensors holds no EMA shadows.*ema_halflife > 0"
then ok "no shadows: the error names the checkpoint and ema_halflife"
else bad "no shadows: the error names the checkpoint and ema_halflife" "$(tr '\n' '|' <"$W/e2.err")"; fi

train "$W/plain" 3 --set train.ema_halflife=3
expect "resumed without shadows: they start at the restored weights" \
    has "$W/plain.3.err" '^train: EMA shadows \(ema_halflife 3\) start at the restored weights'
py "resumed without shadows: step 3's shadows = d w_2 + (1 - d) w_3" recursion 3 "w:$(ck "$W/plain" 2)" "$(ck "$W/plain" 3)"

# ---- 6. bundle --use-ema ---------------------------------------------------------------------------------------
cmd "bundle --use-ema" 0 "$W/b1.out" bundle "$W/h3" -o "$W/ema.tgz" --use-ema
expect "bundle --use-ema: says so" has "$W/b1.out" 'model\.ckpt-6\.safetensors \(EMA shadows as the weights\)$'
cmd "bundle (raw)" 0 "$W/b2.out" bundle "$W/h3" -o "$W/raw.tgz"
mkdir -p "$W/ue" "$W/ur"
tar xzf "$W/ema.tgz" -C "$W/ue" && tar xzf "$W/raw.tgz" -C "$W/ur"
py "bundle --use-ema: the weights are step 6's shadows; no Adam, no shadows inside" bundle "$W/ue/inference_model.safetensors" "$(ck "$W/h3" 6)" ema
py "bundle: the weights are step 6's raw weights" bundle "$W/ur/inference_model.safetensors" "$(ck "$W/h3" 6)" raw
runs "eval of the --use-ema bundle" 0 "$W/e3.err" "${EV[@]}" --set train_dir= --set "input_model_tgz=$W/ema.tgz" --set "output_file=$W/e3.json"
py "eval of the --use-ema bundle = eval of the train dir with use_ema" same "$W/e1.json" "$W/e3.json"
runs "use_ema = true on a bundle" 1 "$W/e4.err" "${EV[@]}" --set train_dir= --set "input_model_tgz=$W/ema.tgz" --set use_ema=true
expect "use_ema on a bundle: says to bundle with --use-ema" has "$W/e4.err" "ema\.tgz:inference_model\.safetensors holds no EMA shadows.*bundle --use-ema"
mkdir -p "$W/noema" && cp "$W/plain/model_flags.json" "$(ck "$W/plain" 2)" "$W/noema/"
cmd "bundle --use-ema without shadows" 1 "$W/b3.out" bundle "$W/noema" -o "$W/noema.tgz" --use-ema
expect "bundle --use-ema without shadows: names the checkpoint" \
    has "$W/b3.out" "error: $W/noema/model\.ckpt-2\.safetensors holds no EMA shadows .*ema_halflife > 0, or bundle without --use-ema"
expect "bundle --use-ema without shadows: no bundle written" [ ! -e "$W/noema.tgz" ]

finish
