#!/usr/bin/env bash
# The GPU checks of issue 5, prepared for a session that is lent a device
# (the workplace's `device` tool), so that they take one call of its few
# minutes. Two halves:
#
#   here:   bash tests/bench/device_check.sh prepare [BUILD_DIR]
#           builds (BUILD_DIR, default ./build, with CUDA), then copies the
#           binaries and the shared libraries they need that a bare CUDA
#           image lacks (ZeroMQ, protobuf-c, zstd, cJSON, OpenBLAS and
#           theirs; not glibc, not CUDA's) into .device/ (ignored by git,
#           about 50 MB) and prints the call to make.
#   device: run  command = "bash tests/bench/device_check.sh run"
#                carry = [".device"], timeout_s = 540
#
# `run` (on the device machine, in the repository root) prints and writes to
# $OUT/device_check.log (or ./device_check.log without $OUT):
#   1. nvidia-smi; the libraries found
#   2. the gpu tests: test_cuda_probe, test_cuda_ops (every op against its CPU
#      twin), test_model_parity (every model, CPU vs cuda:0 steps)
#   3. bench_gpu --all: cuBLAS sgemm peak and each default model's training
#      examples/s and MFU; then NetVLAD again with TF32 allowed; then
#      --profile: NetVLAD's device time per kernel and cuBLAS call
#   4. the product path: a generated frame-level corpus through
#      graphs/train_netvlad.flow on cuda:0 (reader, dequantize x2, batcher,
#      train, as a user runs it), its examples/s from the train node's log
# and exits non-zero when a test or a run fails. Nothing is built there: the
# image has nvcc but not our Debian dependencies, and nothing can be fetched.
set -uo pipefail

die() { echo "device_check.sh: error: $*" >&2; exit 1; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEV=$ROOT/.device

prepare() {
    local build=${1:-$ROOT/build}
    [ -f "$build/CMakeCache.txt" ] || die "$build is not a configured build directory (run bash scripts/yt8m.sh test first)"
    grep -q '^CMAKE_CUDA_COMPILER:.*nvcc' "$build/CMakeCache.txt" ||
        die "$build was configured without CUDA: nvcc must be on PATH (or -DCMAKE_CUDA_COMPILER=...)"
    cmake --build "$build" -j"$(nproc)" --target yt8m-flow yt8m-cuda test_cuda_probe test_cuda_ops \
        test_model_parity bench_gpu >/dev/null || die "build failed (run: cmake --build $build)"
    rm -rf "$DEV" && mkdir -p "$DEV/bin" "$DEV/lib" "$DEV/lib-fallback" || die "cannot create $DEV"
    local bins=("$build/yt8m-flow" "$build/libyt8m-cuda.so" "$build/tests/gpu/test_cuda_probe"
                "$build/tests/gpu/test_cuda_ops" "$build/tests/gpu/test_model_parity" "$build/tests/bench/bench_gpu")
    for b in "${bins[@]}"; do
        [ -f "$b" ] || die "$b was not built"
        cp "$b" "$DEV/bin/" && strip --strip-debug "$DEV/bin/$(basename "$b")"
    done
    # every library the binaries load, but glibc's (the image has its own)
    # and CUDA's (the image's toolkit and driver must match each other);
    # libstdc++ / libgcc_s only as a fallback for an image older than Debian 12
    ldd "${bins[@]}" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u | while read -r name path; do
        case $name in
            libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|libresolv.so*|ld-linux*) ;;
            libcuda*|libcublas*|libcudart*) ;;
            libstdc++.so*|libgcc_s.so*) cp -L "$path" "$DEV/lib-fallback/$name" ;;
            *) cp -L "$path" "$DEV/lib/$name" ;;
        esac
    done
    grep -qx '/.device/' "$ROOT/.git/info/exclude" 2>/dev/null || echo '/.device/' >> "$ROOT/.git/info/exclude"
    echo "device_check.sh: $(du -sh "$DEV" | cut -f1) in $DEV ($(ls "$DEV/bin" | wc -l) binaries, $(ls "$DEV/lib" | wc -l) libraries)"
    echo "next (device tool): run  command=\"bash tests/bench/device_check.sh run\"  carry=[\".device\"]  timeout_s=540"
}

checks() {
    local cudalib=
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $(ls -d /usr/local/cuda-*/lib64 2>/dev/null); do
        [ -e "$d/libcublas.so.13" ] && { cudalib=$d; break; }
    done
    if [ -z "$cudalib" ]; then # the image's Python packages also hold cuBLAS and the runtime
        local p; p=$(timeout 60 find /usr /opt -name 'libcublas.so.13' 2>/dev/null | head -1)
        [ -n "$p" ] && cudalib=$(dirname "$p")
        local rt; rt=$(timeout 60 find /usr /opt -name 'libcudart.so.13' 2>/dev/null | head -1)
        [ -n "$rt" ] && cudalib=$cudalib:$(dirname "$rt")
    fi
    export LD_LIBRARY_PATH=$DEV/lib${cudalib:+:$cudalib}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    if ldd "$DEV"/bin/* 2>&1 | grep -q 'not found'; then
        export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$DEV/lib-fallback
        echo "(libstdc++ / libgcc_s from .device/lib-fallback: the image's are older)"
    fi
    export YT_CUDA_MODULE=$DEV/bin/libyt8m-cuda.so
    echo "== 1. machine"; date -u; nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    local missing; missing=$(ldd "$DEV"/bin/* 2>&1 | grep 'not found' | sort -u)
    [ -z "$missing" ] || echo "libraries not found: $missing"
    local failed=0
    step() { # NAME COMMAND...: runs it, prints its time and status
        local name=$1; shift
        local t0; t0=$(date +%s%N)
        "$@"; local rc=$?
        local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        printf '%s: exit %d after %d.%01d s\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000 / 100))
        [ "$rc" -eq 0 ] || failed=1
        return "$rc"
    }
    echo; echo "== 2. gpu tests"
    step test_cuda_probe timeout 60 "$DEV/bin/test_cuda_probe"
    step test_cuda_ops timeout 120 "$DEV/bin/test_cuda_ops"
    step test_model_parity timeout 120 "$DEV/bin/test_model_parity"
    echo; echo "== 3. bench_gpu"
    step "bench_gpu --all" timeout 150 "$DEV/bin/bench_gpu" --all
    step "bench_gpu --tf32" timeout 60 "$DEV/bin/bench_gpu" --tf32
    # where NetVLAD's step goes, kernel by kernel (YT_CUDA_PROFILE): its first 48 lines
    profile() {
        local f; f=$(mktemp /tmp/device_profile.XXXXXX)
        timeout 60 "$DEV/bin/bench_gpu" --profile --steps 3 --repeat 1 > "$f" 2>&1
        local rc=$?
        head -48 "$f"; rm -f "$f"
        return $rc
    }
    step "bench_gpu --profile" profile
    echo; echo "== 4. graphs/train_netvlad.flow on cuda:0"
    local w; w=$(mktemp -d /tmp/device_check.XXXXXX)
    train_netvlad() { # [ENV=VALUE...]: the graph as a user runs it; the train node's log says examples/s
        env "$@" timeout 150 "$DEV/bin/yt8m-flow" run "$ROOT/graphs/train_netvlad.flow" \
            --set train_data_pattern="$w/data/train*.tfrecord" --set train_dir="$w/nv" --set train.start_new_model=true \
            --set max_steps=150 --summary "$w/summary.json" > "$w/train.log" 2>&1
        local rc=$?
        if [ $rc -ne 0 ] && [ $# -eq 0 ] && grep -q "shared-memory pool" "$w/train.log"; then # no /proc/PID/fd here
            grep -m1 "shared-memory pool" "$w/train.log"
            echo "(again with YT_SHM_POOL_MB=0: frames inline over ZeroMQ)"
            train_netvlad YT_SHM_POOL_MB=0
            return
        fi
        grep -E '^train:|^training step (10|150) |ERROR|error' "$w/train.log" | tail -8
        return $rc
    }
    step gen timeout 60 "$DEV/bin/yt8m-flow" gen --out "$w/data" --level frame --videos 4000 --shards 8
    step train_netvlad train_netvlad
    rm -rf "$w"
    echo; echo "device_check.sh: $([ $failed -eq 0 ] && echo "every step passed" || echo "a step FAILED (above)")"
    return $failed
}

run() { # everything into the log as well, whole when the call returns
    [ -x "$DEV/bin/yt8m-flow" ] || die "$DEV/bin/yt8m-flow missing: run 'bash tests/bench/device_check.sh prepare' here first and carry .device"
    checks 2>&1 | tee "${OUT:-$ROOT}/device_check.log"
    return "${PIPESTATUS[0]}"
}

case ${1:-} in
    prepare) shift; prepare "$@" ;;
    run) run ;;
    *) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
