#!/usr/bin/env bash
# Dataflow-overhead benchmark driver (not a test: it prints figures; it fails
# only when a run fails or records go missing).
#
# Usage: tests/bench/bench_pipeline.sh [BUILD_DIR] [--mb 1000] [--repeat 3]
#                                      [--batch-size 32] [--workdir DIR]
#
# What does running graphs/read_frames.flow as processes connected by
# ZeroMQ cost, against the same stages in one process? On a generated
# frame-level corpus of about --mb MB (1000 by default: long enough that a
# run's fixed 0.04 s start/stop and the first pass over the shared-memory
# pool weigh little, as on a real corpus; kept in --workdir, default
# /tmp/yt8m-bench-pipeline, and reused when it was made for the same size),
# --repeat times each, interleaved (one round runs every variant once):
# Three placements of the uint8 -> float32 step, each as one process and as
# processes with one and two dequantize replicas:
#   float32 rows: dequantize dtype = float32, batcher passes them on
#   a  one process: BUILD_DIR/tests/bench/bench_pipeline (the harness chain,
#      which deep-copies each message between stages)
#   a' one process, --direct (each emit calls the next node: no copy)
#   b  yt8m-flow run, dequantize x1
#   b0 the same with YT_SHM_POOL_MB=0 (no shared-memory frames: all inline)
#   c  yt8m-flow run, dequantize x2
#   uint8 batches: dequantize dtype = uint8, batcher dtype = same (what the
#   training graphs ship; the model dequantizes)
#   a8, a8', d, d0, e   as a, a', b, b0, c
#   float32 batches dequantized in the batcher: dequantize dtype = uint8,
#   batcher dtype = float32 (graphs/read_frames.flow as it is)
#   a9, a9', g, h       as a, a', b, c
#   f  yt8m-flow run, x1, on a 1-video corpus: the fixed cost of a run
#      (spawning, connecting, draining), included in b..h
# Same stages and parameters as graphs/read_frames.flow (temporary .flow
# copies with the replica count and dtypes changed), batch_size --batch-size.
# Times: bench_pipeline's own loop time (median of a variant's repeats); for
# `yt8m-flow run`, the wall time of the command. Ratios are throughput
# against (a) (and against the one-process run of the same dtype). Every run's
# summary must say ok, accounting ok, and the corpus's record count at the
# sink. Then BUILD_DIR/tests/bench/bench_hop (one ZeroMQ hop vs memcpy) and
# BUILD_DIR/tests/bench/bench_membw (what two cores at once write per second
# against one: the ceiling of the float32 variants' memory-bound stages).
# With two dequantize replicas the reader sends records by reference (the
# replicas read the shard themselves: tfrecord_reader's by_reference = auto),
# so that variant's read->deq edge carries about 0 MB.
set -euo pipefail

die() { echo "bench_pipeline.sh: error: $*" >&2; exit 1; }
usage() { sed -n '5,6p' "$0" | sed 's/^# \{0,1\}//'; }

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
GRAPH="$ROOT/graphs/read_frames.flow"
PY=/usr/bin/python3

BUILD=./build
MB=1000
REPEAT=3
BATCH=32
WORK=/tmp/yt8m-bench-pipeline
build_set=0
while [ $# -gt 0 ]; do
    case "$1" in
        --mb) [ $# -ge 2 ] || die "--mb needs a value"; MB=$2; shift 2 ;;
        --mb=*) MB=${1#*=}; shift ;;
        --repeat) [ $# -ge 2 ] || die "--repeat needs a value"; REPEAT=$2; shift 2 ;;
        --repeat=*) REPEAT=${1#*=}; shift ;;
        --batch-size) [ $# -ge 2 ] || die "--batch-size needs a value"; BATCH=$2; shift 2 ;;
        --batch-size=*) BATCH=${1#*=}; shift ;;
        --workdir) [ $# -ge 2 ] || die "--workdir needs a value"; WORK=$2; shift 2 ;;
        --workdir=*) WORK=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) [ $build_set -eq 0 ] || die "more than one BUILD_DIR given: $1"
           BUILD=$1; build_set=1; shift ;;
    esac
done
[[ "$MB" =~ ^[0-9]+$ ]] && [ "$MB" -gt 0 ] || die "--mb must be a positive integer (got '$MB')"
[[ "$REPEAT" =~ ^[0-9]+$ ]] && [ "$REPEAT" -gt 0 ] || die "--repeat must be a positive integer (got '$REPEAT')"
[[ "$BATCH" =~ ^[0-9]+$ ]] && [ "$BATCH" -gt 0 ] || die "--batch-size must be a positive integer (got '$BATCH')"

# --- prerequisites -----------------------------------------------------------
[ -d "$BUILD" ] || die "build directory '$BUILD' does not exist (configure and build first, or pass BUILD_DIR)"
BUILD=$(cd "$BUILD" && pwd)
YT="$BUILD/yt8m-flow"
BP="$BUILD/tests/bench/bench_pipeline"
BH="$BUILD/tests/bench/bench_hop"
BM="$BUILD/tests/bench/bench_membw"
for x in "$YT" "$BP" "$BH" "$BM"; do
    [ -x "$x" ] || die "'$x' is missing or not executable (build the project first)"
done
[ -f "$GRAPH" ] || die "'$GRAPH' is missing"
[ -x "$PY" ] || die "$PY not found (used to read the run summaries)"
mkdir -p "$WORK/corpus" "$WORK/one" "$WORK/runs" || die "cannot create workdir '$WORK'"
WORK=$(cd "$WORK" && pwd)

# --- helpers -------------------------------------------------------------------
now() { date +%s.%N; }
median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1}
        END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2];
              else printf "%.9f\n", (a[NR/2] + a[NR/2+1]) / 2 }'
}
kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s|^$1=||p" | head -n1; }
total_bytes() { [ $# -gt 0 ] || { echo 0; return; }; du -cb "$@" | tail -n1 | cut -f1; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# --- the corpus -------------------------------------------------------------------
shopt -s nullglob
TARGET=$((MB * 1000000))
STAMP="$WORK/corpus/bench.stamp"
files=("$WORK"/corpus/train*.tfrecord)
if [ -f "$STAMP" ] && [ "$(sed -n 's/^mb=//p' "$STAMP")" = "$MB" ] && [ ${#files[@]} -gt 0 ] \
   && [ "$(total_bytes "${files[@]}")" = "$(sed -n 's/^bytes=//p' "$STAMP")" ]; then
    echo "corpus: reusing $WORK/corpus ($(sed -n 's/^videos=//p' "$STAMP") videos, ${#files[@]} files, $(total_bytes "${files[@]}") bytes, made for --mb $MB)" >&2
else
    # ~209 KB per frame-level video with gen's defaults (+5%); shards of ~25 MB
    videos=$(( TARGET / 209000 * 105 / 100 + 1 ))
    shards=$(( TARGET / 25000000 )); [ "$shards" -ge 2 ] || shards=2
    rm -f "$STAMP" "$WORK"/corpus/*.tfrecord
    echo "corpus: generating $videos frame-level videos in $shards shards into $WORK/corpus (about $MB MB) ..." >&2
    t0=$(now)
    "$YT" gen --out "$WORK/corpus" --level frame --videos "$videos" --shards "$shards" --seed 1 \
        --oracle-videos 10 >"$WORK/gen.log" 2>&1 || { cat "$WORK/gen.log" >&2; die "'$YT gen' failed (log above)"; }
    files=("$WORK"/corpus/train*.tfrecord)
    [ ${#files[@]} -gt 0 ] || die "'$YT gen' wrote no $WORK/corpus/train*.tfrecord"
    printf 'mb=%s\nvideos=%s\nbytes=%s\n' "$MB" "$videos" "$(total_bytes "${files[@]}")" >"$STAMP"
    echo "corpus: ${#files[@]} files, $(total_bytes "${files[@]}") bytes in $(calc '%.1f' "$(now) - $t0") s" >&2
fi
VIDEOS=$(sed -n 's/^videos=//p' "$STAMP")
BYTES=$(total_bytes "${files[@]}")
NFILES=${#files[@]}
PATTERN="$WORK/corpus/train*.tfrecord"
# the 1-video corpus for the fixed cost of a run
one=("$WORK"/one/train*.tfrecord)
if [ ${#one[@]} -eq 0 ]; then
    "$YT" gen --out "$WORK/one" --level frame --videos 1 --shards 1 --seed 1 --oracle-videos 1 \
        >"$WORK/gen-one.log" 2>&1 || { cat "$WORK/gen-one.log" >&2; die "'$YT gen' failed on the 1-video corpus"; }
fi
echo "corpus: warming the page cache ..." >&2
cat "${files[@]}" >/dev/null

# --- graph variants: read_frames.flow with the replica count and dtypes changed ----
# write_flow FILE REPLICAS DEQUANTIZE_DTYPE BATCHER_DTYPE
write_flow() {
    sed -e "s/^\(node deq *: dequantize\)\( x[0-9]*\)\{0,1\} {/\1 x$2 {/" \
        -e "/feature_sizes = /s/dtype = [a-z0-9]* }/dtype = $3 }/" \
        -e "/^node batch *: batcher/s/dtype = [a-z0-9]* }/dtype = $4 }/" "$GRAPH" >"$1"
    grep -q "dequantize x$2 {" "$1" && grep -q "feature_sizes = .*dtype = $3 }" "$1" \
        && grep -q "^node batch *: batcher.*dtype = $4 }" "$1" \
        || die "could not derive $1 from $GRAPH (its dequantize or batcher line changed: update write_flow)"
}
write_flow "$WORK/runs/deq1_f32.flow" 1 float32 same
write_flow "$WORK/runs/deq2_f32.flow" 2 float32 same
write_flow "$WORK/runs/deq1_u8.flow" 1 uint8 same
write_flow "$WORK/runs/deq2_u8.flow" 2 uint8 same
write_flow "$WORK/runs/deq1_bf32.flow" 1 uint8 float32
write_flow "$WORK/runs/deq2_bf32.flow" 2 uint8 float32

# --- variants -------------------------------------------------------------------------
VARIANTS=(a a_dir b b0 c a8 a8_dir d d0 e a9 a9_dir g h f)
RUNS=(b b0 c d d0 e g h)
declare -A DESC=(
    [a]="a  1 process (harness)      f32 rows"
    [a_dir]="a' 1 process (--direct)     f32 rows"
    [b]="b  run, dequantize x1       f32 rows"
    [b0]="b0 run x1, frames inline    f32 rows"
    [c]="c  run, dequantize x2       f32 rows"
    [a8]="a8 1 process (harness)      u8"
    [a8_dir]="a8' 1 process (--direct)    u8"
    [d]="d  run, dequantize x1       u8"
    [d0]="d0 run x1, frames inline    u8"
    [e]="e  run, dequantize x2       u8"
    [a9]="a9 1 process (harness)      f32 batcher"
    [a9_dir]="a9' 1 process (--direct)    f32 batcher"
    [g]="g  run, dequantize x1       f32 batcher"
    [h]="h  run, dequantize x2       f32 batcher"
    [f]="f  run x1, 1-video corpus   f32 batcher"
)
declare -A FLOW=([b]=deq1_f32 [b0]=deq1_f32 [c]=deq2_f32 [d]=deq1_u8 [d0]=deq1_u8 [e]=deq2_u8 [g]=deq1_bf32
                 [h]=deq2_bf32 [f]=deq1_bf32)
# b0, d0: the same runs with the shared-memory pool off (YT_SHM_POOL_MB=0): every
# frame crosses the ipc socket, as before transport/shm.c
declare -A ENVS=([b0]="YT_SHM_POOL_MB=0" [d0]="YT_SHM_POOL_MB=0")
declare -A SECS ELAPSED
RECORDS=""

# check_summary FILE EXPECTED_RECORDS -> dies unless ok
check_summary() {
    "$PY" - "$1" "$2" <<'EOF' || die "run summary $1 is not ok (see above)"
import json, sys
s = json.load(open(sys.argv[1])); want = int(sys.argv[2])
a = s.get("accounting", {}); n = s.get("nodes", {})
sink = n.get("sink", {}).get("in"); read = n.get("read", {}).get("out")
bad = []
if s.get("ok") is not True: bad.append("ok is not true")
if a.get("ok") is not True: bad.append("accounting: %s" % a.get("verdict"))
if read != want: bad.append("the reader sent %s records, the corpus has %d" % (read, want))
if sink != want: bad.append("the sink got %s records, the corpus has %d" % (sink, want))
if bad: print("summary %s: %s" % (sys.argv[1], "; ".join(bad)), file=sys.stderr); sys.exit(1)
EOF
}

# run_variant V ROUND
run_variant() {
    local v=$1 r=$2 log="$WORK/runs/$1.$2.log" out t0 t1
    case $v in
        a|a_dir|a8|a8_dir|a9|a9_dir)
            local args=(--pattern "$PATTERN" --batch-size "$BATCH" --repeat 1)
            case $v in a_dir|a8_dir|a9_dir) args+=(--direct) ;; esac
            case $v in a8|a8_dir) args+=(--dtype uint8) ;; esac
            case $v in a9|a9_dir) args+=(--dtype uint8 --batcher-dtype float32) ;; esac
            "$BP" "${args[@]}" >"$log" 2>&1 || { cat "$log" >&2; die "bench_pipeline ($v) failed (log above)"; }
            out=$(grep '^bench_pipeline: mode=' "$log" | tail -n1)
            [ -n "$out" ] || { cat "$log" >&2; die "no summary line from bench_pipeline ($v)"; }
            local rec; rec=$(kv records "$out")
            [ "$(kv consumed "$out")" = "$rec" ] || die "bench_pipeline ($v): the sink did not get every record: $out"
            if [ -z "$RECORDS" ]; then RECORDS=$rec; fi
            [ "$rec" = "$RECORDS" ] || die "bench_pipeline ($v) read $rec records, another variant $RECORDS"
            SECS[$v]="${SECS[$v]:-} $(kv median_s "$out")"
            ;;
        *)
            local pat="$PATTERN" want=$RECORDS
            if [ "$v" = f ]; then pat="$WORK/one/train*.tfrecord"; want=1; fi
            t0=$(now)
            env ${ENVS[$v]:-} "$YT" run "$WORK/runs/${FLOW[$v]}.flow" --set input_data_pattern="$pat" --set batch_size="$BATCH" \
                --summary "$WORK/runs/$v.$r.json" --quiet >"$log" 2>&1 ||
                { cat "$log" >&2; die "yt8m-flow run ($v, round $r) failed (log above)"; }
            t1=$(now)
            check_summary "$WORK/runs/$v.$r.json" "$want"
            SECS[$v]="${SECS[$v]:-} $(calc '%.6f' "$t1 - $t0")"
            ELAPSED[$v]="${ELAPSED[$v]:-} $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["elapsed"])' "$WORK/runs/$v.$r.json")"
            ;;
    esac
}

for ((r = 1; r <= REPEAT; r++)); do
    for v in "${VARIANTS[@]}"; do
        echo "round $r/$REPEAT: $v ..." >&2
        run_variant "$v" "$r"
    done
done
[ "$RECORDS" = "$VIDEOS" ] || die "the corpus was made with $VIDEOS videos but the reader read $RECORDS"

# --- report ---------------------------------------------------------------------------
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1 || true)
echo
echo "== yt8m-flow pipeline benchmark: read_frames.flow, one process vs processes + ZeroMQ =="
echo "host:    nproc=$(nproc)  cpu: ${CPU:-unknown}"
echo "build:   $BUILD ($("$YT" version 2>/dev/null | head -n1 || echo '?'))"
echo "corpus:  $NFILES files, $BYTES bytes ($(calc '%.1f' "$BYTES / 1e6") MB), $RECORDS frame-level videos; page cache warm"
echo "stages:  tfrecord_reader -> dequantize -> batcher (batch_size $BATCH, max_frames 300) -> null_sink"
echo "repeats: $REPEAT, interleaved (medians); 1-process times are bench_pipeline's loop, run times the"
echo "         command's wall time (run startup and teardown included; row f measures them alone)"
echo
printf '  %-40s %9s %10s %10s %7s %10s %10s\n' "variant" "median_s" "records/s" "input MB/s" "vs a" "vs 1p harn" "vs 1p dir"
declare -A MED
for v in "${VARIANTS[@]}"; do
    # shellcheck disable=SC2086
    MED[$v]=$(median ${SECS[$v]})
done
# the one-process baselines of a variant's dtype: harness chain, direct calls
harness_of() { case $1 in a8|a8_dir|d|d0|e) echo "${MED[a8]}" ;; a9|a9_dir|g|h|f) echo "${MED[a9]}" ;; *) echo "${MED[a]}" ;; esac; }
direct_of() { case $1 in a8|a8_dir|d|d0|e) echo "${MED[a8_dir]}" ;; a9|a9_dir|g|h|f) echo "${MED[a9_dir]}" ;; *) echo "${MED[a_dir]}" ;; esac; }
for v in "${VARIANTS[@]}"; do
    if [ "$v" = f ]; then
        printf '  %-40s %9.4f %10s %10s %7s %10s %10s\n' "${DESC[$v]}" "${MED[$v]}" "-" "-" "-" "-" "-"
    else
        printf '  %-40s %9.4f %10.1f %10.1f %7.3f %10.3f %10.3f\n' "${DESC[$v]}" "${MED[$v]}" \
            "$(calc '%.4f' "$RECORDS / ${MED[$v]}")" "$(calc '%.4f' "$BYTES / 1e6 / ${MED[$v]}")" \
            "$(calc '%.6f' "${MED[a]} / ${MED[$v]}")" "$(calc '%.6f' "$(harness_of "$v") / ${MED[$v]}")" \
            "$(calc '%.6f' "$(direct_of "$v") / ${MED[$v]}")"
    fi
done
echo "  (h is graphs/read_frames.flow as it is; f32 rows: dequantize dtype = float32; u8: uint8 batches;"
echo "   f32 batcher: uint8 rows, the batcher dequantizes into float32 batches)"
echo "  (throughput ratios, > 1 faster: vs a; vs the one-process run of the same dtype, harness chain"
echo "   (copies each message between stages) and direct (no copies: the strongest baseline))"
line="  run time minus the fixed cost (f), vs 1p direct:"
for v in "${RUNS[@]}"; do
    net=$(calc '%.6f' "${MED[$v]} - ${MED[f]}")
    line="$line $v $(calc '%.4f' "$net") s ($(calc '%.3f' "$(direct_of "$v") / $net"));"
done
echo "$line"
echo
echo "per node, from the summary of each run variant's median round (busy % = time in the node's"
echo "callbacks / its lifetime, summed over replicas; rss = the largest replica's peak):"
for v in "${RUNS[@]}"; do
    # the round whose time is closest to the median
    best=1 bestd=""
    r=1
    for s in ${SECS[$v]}; do
        d=$(calc '%.9f' "($s - ${MED[$v]}) * ($s - ${MED[$v]})")
        if [ -z "$bestd" ] || awk "BEGIN { exit !($d < $bestd) }"; then best=$r; bestd=$d; fi
        r=$((r + 1))
    done
    "$PY" - "$WORK/runs/$v.$best.json" "${DESC[$v]}" "$best" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1])); n = s["nodes"]
parts = []
for name in ("read", "deq", "batch", "sink"):
    x = n[name]
    parts.append("%s%s %5.1f%% %5.0f MB" % (name, " x%d" % x["replicas"] if x["replicas"] > 1 else "",
                                         x["busy_pct"], x["peak_rss_kb"] / 1024.0))
edges = "bytes on edges: read->deq %.0f MB, deq->batch %.0f MB, batch->sink %.0f MB" % (
    n["read"]["out_bytes"] / 1e6, n["deq"]["out_bytes"] / 1e6, n["batch"]["out_bytes"] / 1e6)
print("  %-40s round %s, elapsed %.3f s: %s" % (sys.argv[2], sys.argv[3], s["elapsed"], ";  ".join(parts)))
print("  %-40s %s" % ("", edges))
EOF
done
echo
echo "every run: summary ok, accounting exact, $RECORDS records at the sink ($((REPEAT * ${#RUNS[@]})) runs + $REPEAT on the 1-video corpus)"
echo
echo "== one ZeroMQ hop ($BH --repeat 5) =="
"$BH" --repeat 5 || die "bench_hop failed"
echo
echo "== memory bandwidth, one process vs two at once ($BM --repeat 5) =="
echo "(float32 rows: per shard byte, dequantize writes 4 bytes and the batcher reads them and writes"
echo " about 6.4 padded; dequantized in the batcher, only the 6.4; where '2 at once' is not above"
echo " '1 alone', a second replica cannot speed that up)"
"$BM" --repeat 5 || die "bench_membw failed"
