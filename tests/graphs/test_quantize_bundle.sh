#!/usr/bin/env bash
# test_quantize_bundle.sh: `yt8m-flow quantize` end to end (REFERENCE 6.3), real processes.
#
# On a small `gen` video-level corpus (50 classes): train MoeModel a few dozen
# steps, `bundle`, `quantize`, then:
#  1. the summary: both weight matrices quantized (gates [1152, 150] and
#     experts [1152, 100] exceed 17000 values; the biases do not), a ratio
#     <= 0.30 that matches the file sizes, max errors within (max-min)/510;
#  2. the archive: model_flags.json as in the float bundle, the safetensors
#     with NAME_quants (U8) + NAME_space (F32 [256]) and the biases in F32
#     (read by hand with python3: the codebook is linspace(min, max) and
#     space[q] is the nearest entry to each float weight);
#  3. eval.flow with input_model_tgz = the quantized bundle: GAP within 0.01
#     of the float bundle's; infer.flow writes a CSV from it;
#  4. quantizing the quantized bundle again passes its pairs through;
#     --min-elements 200000 quantizes nothing;
#  5. errors: a train dir, a file that is not a bundle, a .tgz without
#     weights, bad usage (exit 2).
#
# Environment (set by ctest): YT_BIN, YT_PYTHON. Exit 77 without a python3.
TEST=test_quantize_bundle PYMODS="json, struct"
. "$(dirname "$0")/lib.sh"

cat >"$W/check.py" <<'PYEOF'
import json, struct, sys
def die(m): print(m); sys.exit(1)
def st(path):
    b = open(path, "rb").read()
    n, = struct.unpack_from("<Q", b, 0)
    h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    out = {}
    for k, t in h.items():
        a, z = t["data_offsets"]
        out[k] = (t["dtype"], t["shape"], b[8 + n + a:8 + n + z])
    return out
fl, q = st(sys.argv[1]), st(sys.argv[2])
def floats(x): return struct.unpack("<%df" % (len(x) // 4), x)
for k, (dt, shape, data) in fl.items():
    cnt = 1
    for d in shape: cnt *= d
    if cnt <= 17000:
        if q.get(k) != (dt, shape, data): die("%s (%d values) is not passed through as float32" % (k, cnt))
        continue
    if k in q: die("%s (%d values) is still there" % (k, cnt))
    qd, qs, qb = q.get(k + "_quants", (None, None, None))
    sd, ss, sb = q.get(k + "_space", (None, None, None))
    if qd != "U8" or qs != shape: die("%s_quants is %s %s, expected U8 %s" % (k, qd, qs, shape))
    if sd != "F32" or ss != [256]: die("%s_space is %s %s, expected F32 [256]" % (k, sd, ss))
    w, sp = floats(data), floats(sb)
    lo, hi = min(w), max(w)
    if sp[0] != lo or sp[255] != hi: die("%s: codebook ends %r %r, min/max %r %r" % (k, sp[0], sp[255], lo, hi))
    step = (hi - lo) / 255
    for i in (1, 100, 254):
        if abs(sp[i] - (lo + i * step)) > 1e-6 * max(1, abs(hi), abs(lo)): die("%s: space[%d] = %r" % (k, i, sp[i]))
    for i in range(0, len(w), 97):
        j = qb[i]
        d = abs(w[i] - sp[j])
        best = min(abs(w[i] - s) for s in sp)
        if d > best: die("%s[%d] = %r: index %d (%r) is not the nearest entry" % (k, i, w[i], j, sp[j]))
        if d > (hi - lo) / 510 + 1e-6: die("%s[%d]: error %r over the bound" % (k, i, d))
print("ok")
PYEOF

# ---- a corpus and a float bundle -------------------------------------------------
G=("$YT_BIN" gen --out "$W/data" --level video --classes 50)
if "${G[@]}" --videos 1500 --shards 2 --split train >/dev/null 2>"$W/gen.err" &&
   "${G[@]}" --videos 400 --split validate >/dev/null 2>>"$W/gen.err"; then ok "gen: train and validate"
else bad "gen" "$(tail -n 3 "$W/gen.err")"; fi
TD=$W/moe
if run "$GRAPHS/train_video_moe.flow" --set "train_data_pattern=$W/data/train*.tfrecord" --set "train_dir=$TD" \
       --set batch_size=64 --set max_steps=60 --set train.num_classes=50 2>"$W/train.err"; then ok "train MoeModel 60 steps"
else bad "train MoeModel" "$(tail -n 3 "$W/train.err")"; fi
cmd "bundle" 0 "$W/bundle.out" bundle "$TD" -o "$W/float.tgz"

# ---- 1. quantize and its summary ----------------------------------------------------
cmd "quantize" 0 "$W/q.out" quantize "$W/float.tgz" -o "$W/q.tgz"
cat "$W/q.out"
expect "summary: tower/gates/weights [1152, 150] quantized" has "$W/q.out" '^quantize: tower/gates/weights \[1152, 150\]: 172800 floats -> uint8'
expect "summary: tower/experts/weights [1152, 100] quantized" has "$W/q.out" '^quantize: tower/experts/weights \[1152, 100\]: 115200 floats'
expect "summary: 2 of 3 tensors quantized" has "$W/q.out" '^quantize: 2 of 3 tensors quantized \(288000 floats\)'
fsize=$(stat -c %s "$W/float.tgz"); qsize=$(stat -c %s "$W/q.tgz")
expect "summary: the sizes of the files ($fsize -> $qsize bytes)" has "$W/q.out" " $fsize -> .*q\.tgz $qsize bytes, ratio "
ratio=$(sed -n 's/.* ratio \([0-9.]*\) .*/\1/p' "$W/q.out")
expect "ratio $ratio <= 0.30 and = the size ratio" \
    "$YT_PYTHON" -c "import sys; r=float('$ratio'); sys.exit(not (r <= 0.30 and abs(r - $qsize / $fsize) < 1e-4))"
errs=$(sed -n 's/.*max error \([^ ]*\) (bound (max-min)\/510 = \([^)]*\)).*/\1 \2/p' "$W/q.out")
expect "summary: each max error within its bound ($(echo $errs))" \
    "$YT_PYTHON" -c "import sys; v=[float(x) for x in '''$errs'''.split()]; sys.exit(not (len(v) == 4 and v[0] <= v[1] * 1.001 and v[2] <= v[3] * 1.001))"

# ---- 2. the archive ------------------------------------------------------------------
mkdir -p "$W/uf" "$W/uq"
tar xzf "$W/float.tgz" -C "$W/uf" && tar xzf "$W/q.tgz" -C "$W/uq"
expect "archive: tar lists model_flags.json and inference_model.safetensors" \
    [ "$(tar tzf "$W/q.tgz" 2>&1 | sort | tr '\n' ' ')" = "inference_model.safetensors model_flags.json " ]
expect "archive: model_flags.json as in the float bundle" cmp -s "$W/uf/model_flags.json" "$W/uq/model_flags.json"
if out=$("$YT_PYTHON" "$W/check.py" "$W/uf/inference_model.safetensors" "$W/uq/inference_model.safetensors" 2>&1)
then ok "archive: _quants U8 + _space F32 [256] = linspace(min, max), nearest indices; biases float32"
else bad "archive: the quantized tensors" "$out"; fi

# ---- 3. eval and infer from the quantized bundle ----------------------------------------
EV=("$GRAPHS/eval.flow" --set "eval_data_pattern=$W/data/validate*.tfrecord" --set train_dir= --set batch_size=128
    --set eval.num_classes=50 --set "tb.logdir=$W/tb")
if run "${EV[@]}" --set "input_model_tgz=$W/float.tgz" --set "output_file=$W/ef.json" 2>"$W/ef.err"; then ok "eval the float bundle"
else bad "eval the float bundle" "$(tail -n 3 "$W/ef.err")"; fi
if run "${EV[@]}" --set "input_model_tgz=$W/q.tgz" --set "output_file=$W/eq.json" 2>"$W/eq.err"; then ok "eval the quantized bundle"
else bad "eval the quantized bundle" "$(tail -n 3 "$W/eq.err")"; fi
gf=$(json "$W/ef.json" 's["gap"]'); gq=$(json "$W/eq.json" 's["gap"]')
expect "eval: GAP of the quantized bundle $gq within 0.01 of the float bundle's $gf" \
    "$YT_PYTHON" -c "import sys; sys.exit(not (abs($gq - $gf) <= 0.01 and $gf > 0))"
expect "eval: over the 400 videos" [ "$(json "$W/eq.json" 's["examples"]')" = 400 ]
if run "$GRAPHS/infer.flow" --set "input_data_pattern=$W/data/validate*.tfrecord" --set train_dir= \
       --set "input_model_tgz=$W/q.tgz" --set "output_file=$W/pred.csv" 2>"$W/in.err"; then ok "infer.flow from the quantized bundle"
else bad "infer.flow from the quantized bundle" "$(tail -n 3 "$W/in.err")"; fi
expect "infer: a CSV with 400 rows" [ "$(wc -l <"$W/pred.csv" 2>/dev/null)" = 401 ]

# ---- 4. quantized again; nothing to quantize ---------------------------------------------
cmd "quantize the quantized bundle" 0 "$W/q2.out" quantize "$W/q.tgz" -o "$W/q2.tgz"
expect "again: 0 quantized, 2 passed through" has "$W/q2.out" '^quantize: 0 of 5 tensors quantized \(0 floats\), 2 already quantized passed through'
mkdir -p "$W/uq2" && tar xzf "$W/q2.tgz" -C "$W/uq2"
expect "again: the same weights file" cmp -s "$W/uq/inference_model.safetensors" "$W/uq2/inference_model.safetensors"
cmd "--min-elements 200000" 0 "$W/q3.out" quantize "$W/float.tgz" -o "$W/q3.tgz" --min-elements 200000
expect "--min-elements 200000: nothing to quantize" has "$W/q3.out" '^quantize: nothing to quantize: no float32 tensor has more than 200000 values'

# ---- 5. errors ---------------------------------------------------------------------------
cmd "quantize a train dir" 1 "$W/e1.out" quantize "$TD" -o "$W/e1.tgz"
expect "a train dir: says to bundle it first" has "$W/e1.out" "error: $TD is a directory, not a bundle: make one with .yt8m-flow bundle $TD -o model.tgz"
cmd "quantize a checkpoint" 1 "$W/e2.out" quantize "$TD/model.ckpt-60.safetensors" -o "$W/e2.tgz"
expect "not a bundle: names the file and how to make one" has "$W/e2.out" "error: $TD/model.ckpt-60.safetensors is not a bundle \(a .tgz made by .yt8m-flow bundle TRAIN_DIR -o OUT.tgz.\)"
(cd "$W/uf" && tar czf "$W/noweights.tgz" model_flags.json)
cmd "a .tgz without weights" 1 "$W/e3.out" quantize "$W/noweights.tgz" -o "$W/e3.tgz"
expect "a .tgz without weights: says what is missing" has "$W/e3.out" "noweights.tgz: no inference_model.safetensors inside: not a model bundle"
expect "errors: no output written" [ ! -e "$W/e1.tgz" -a ! -e "$W/e2.tgz" -a ! -e "$W/e3.tgz" ]
cmd "no -o" 2 "$W/e4.out" quantize "$W/float.tgz"
cmd "--min-elements -1" 2 "$W/e5.out" quantize "$W/float.tgz" -o "$W/e5.tgz" --min-elements -1
expect "no scratch file left beside the outputs" [ -z "$(ls "$W" | grep -e '\.q[0-9]*\.safetensors' -e '\.tmp$')" ]

finish
