#!/bin/bash
# test_cuda_module.sh: the CUDA backend is a module loaded on demand
# (nodes/backend/cuda/loader.c). The binary does not link cudart or cuBLAS;
# the module loads on its own (RTLD_NOW: no symbol it needs is missing) and
# answers the probe; a missing module gives an error that names it and says
# what to do; and the node processes of a graph that runs no model on a GPU
# never map cuBLAS. Skipped (77) in a build without CUDA.
set -u
for v in YT_BIN YT_CUDA_MODULE_PATH; do
    [ -n "${!v+x}" ] || { echo "test_cuda_module: error: $v is not set (run through ctest)" >&2; exit 1; }
done
[ -n "$YT_CUDA_MODULE_PATH" ] || { echo "test_cuda_module: skipped: built without CUDA"; exit 77; }
PASS=0 FAILN=0
expect() { local name=$1; shift; if "$@"; then PASS=$((PASS + 1)); echo "ok   $name"; else FAILN=$((FAILN + 1)); echo "FAIL $name: $*"; fi; }
W=$(mktemp -d /tmp/yt_cuda_module.XXXXXX)
trap 'pkill -KILL -f -- "$W/" 2>/dev/null; rm -rf "$W"' EXIT

needed=$(readelf -d "$YT_BIN" | grep NEEDED)
expect "the binary does not link cudart or cuBLAS" [ -z "$(echo "$needed" | grep -i -E 'cudart|cublas')" ]
expect "the module exists beside the binary" [ -f "$(dirname "$YT_BIN")/libyt8m-cuda.so" ]
"$YT_BIN" version >"$W/version" 2>&1
expect "version loads the module and reports its CUDA build" grep -q "^cuda: CUDA [0-9]" "$W/version"
YT_CUDA_MODULE=$W/missing.so "$YT_BIN" version >"$W/missing" 2>&1
expect "a missing module is named in the probe's answer" \
    grep -q "cannot load the CUDA backend: $W/missing.so: cannot open shared object file" "$W/missing"

# a train node asked for cuda:0 with the module missing: the error names the module and says what to do
cat >"$W/train.flow" <<FLOW
flow t v1
node src   : synth_source { videos = 64; level = video; classes = 10 }
node deq   : dequantize { level = video; num_classes = 10 }
node batch : batcher { batch_size = 16 }
node train : train { model = LogisticModel; num_classes = 10; train_dir = "$W/run"; device = "cuda:0" }
node sink  : null_sink { }
src -> deq -> batch -> train -> sink
FLOW
YT_CUDA_MODULE=$W/missing.so TMPDIR=$W timeout -k 5 120 "$YT_BIN" run --quiet "$W/train.flow" 2>"$W/train.err"
expect "train with device cuda:0 and no module: exit 1" [ $? -eq 1 ]
expect "... naming the module and the way out" \
    grep -q "cuda:0: cannot load the CUDA backend ($W/missing.so).*YT_CUDA_MODULE, or use device \"cpu\"" "$W/train.err"

# node processes of a data graph do not map cuBLAS
cat >"$W/data.flow" <<FLOW
flow d v1
node src   : synth_source { videos = 0; level = frame; min_frames = 5; max_frames = 20; classes = 10 }
node deq   : dequantize { max_frames = 20 }
node batch : batcher { batch_size = 8 }
node sink  : null_sink { }
src -> deq -> batch -> sink
FLOW
TMPDIR=$W timeout -k 5 120 "$YT_BIN" run --quiet "$W/data.flow" 2>/dev/null &
rp=$!
pids=
for _ in $(seq 100); do pids=$(pgrep -f -- "$W/.*plan.json"); [ "$(echo "$pids" | wc -w)" -eq 4 ] && break; sleep 0.1; done
sleep 0.5
mapped=0
for p in $pids; do grep -q -i cublas "/proc/$p/maps" 2>/dev/null && mapped=$((mapped + 1)); done
expect "4 node processes found" [ "$(echo "$pids" | wc -w)" -eq 4 ]
expect "none of them maps cuBLAS ($mapped do)" [ "$mapped" -eq 0 ]
kill -INT $(pgrep -f -- "^$YT_BIN run --quiet $W/data.flow") 2>/dev/null
wait $rp
expect "the data graph drains cleanly" [ $? -eq 0 ]
echo "test_cuda_module: $PASS passed, $FAILN failed"
[ "$FAILN" -eq 0 ]
