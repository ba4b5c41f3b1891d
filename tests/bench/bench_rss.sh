#!/usr/bin/env bash
# Memory benchmark driver: does a node's peak RSS stay flat as the data grows?
# (Not a test: it prints figures; it fails only when a run fails or records
# go missing.)
#
# Usage: tests/bench/bench_rss.sh [BUILD_DIR] [--small-gb 2] [--large-gb 20]
#                                 [--deq-replicas 2] [--batch-size 32] [--workdir DIR]
#
# Runs synth_source -> dequantize xN -> batcher -> null_sink (frame level,
# max_frames 300, float32; no disk: synth_source makes the records in memory)
# twice: with synth_source's `videos` chosen so that the reader-side bytes
# (synth_source's out_bytes in the run summary) reach about --small-gb and
# about --large-gb GB (10^9 bytes). A short calibration run of 300 videos
# first gives the bytes per video and the throughput, and so an estimate of
# the time the two runs will take (printed before they start; lower
# --large-gb when it is too long). Prints each node's peak RSS (the largest
# replica's, from the summary) at both sizes and the ratio large / small,
# and the achieved GB, time and throughput of each run. Flat memory means a
# ratio near 1: what a node holds is bounded by the high-water marks and the
# batch size, not by the stream's length.
set -euo pipefail

die() { echo "bench_rss.sh: error: $*" >&2; exit 1; }
usage() { sed -n '6,7p' "$0" | sed 's/^# \{0,1\}//'; }

PY=/usr/bin/python3
BUILD=./build
SMALL=2
LARGE=20
DEQ=2
BATCH=32
CAL_VIDEOS=300
WORK=/tmp/yt8m-bench-rss
build_set=0
while [ $# -gt 0 ]; do
    case "$1" in
        --small-gb) [ $# -ge 2 ] || die "--small-gb needs a value"; SMALL=$2; shift 2 ;;
        --small-gb=*) SMALL=${1#*=}; shift ;;
        --large-gb) [ $# -ge 2 ] || die "--large-gb needs a value"; LARGE=$2; shift 2 ;;
        --large-gb=*) LARGE=${1#*=}; shift ;;
        --deq-replicas) [ $# -ge 2 ] || die "--deq-replicas needs a value"; DEQ=$2; shift 2 ;;
        --deq-replicas=*) DEQ=${1#*=}; shift ;;
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
posnum() { [[ "$1" =~ ^[0-9]*\.?[0-9]+$ ]] && awk -v x="$1" 'BEGIN { exit !(x > 0) }'; }
posnum "$SMALL" || die "--small-gb must be a positive number (got '$SMALL')"
posnum "$LARGE" || die "--large-gb must be a positive number (got '$LARGE')"
[[ "$DEQ" =~ ^[0-9]+$ ]] && [ "$DEQ" -ge 1 ] || die "--deq-replicas must be a positive integer (got '$DEQ')"
[[ "$BATCH" =~ ^[0-9]+$ ]] && [ "$BATCH" -ge 1 ] || die "--batch-size must be a positive integer (got '$BATCH')"

[ -d "$BUILD" ] || die "build directory '$BUILD' does not exist (configure and build first, or pass BUILD_DIR)"
BUILD=$(cd "$BUILD" && pwd)
YT="$BUILD/yt8m-flow"
[ -x "$YT" ] || die "'$YT' is missing or not executable (build the project first)"
[ -x "$PY" ] || die "$PY not found (used to read the run summaries)"
mkdir -p "$WORK" || die "cannot create workdir '$WORK'"
WORK=$(cd "$WORK" && pwd)

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
# jget FILE EXPR: a Python expression over s (the summary) and n (its nodes)
jget() { "$PY" -c 'import json, sys; s = json.load(open(sys.argv[1])); n = s["nodes"]; print(eval(sys.argv[2]))' "$1" "$2"; }

FLOW="$WORK/rss.flow"
cat >"$FLOW" <<EOF
# written by tests/bench/bench_rss.sh
flow bench_rss v1

let videos = $CAL_VIDEOS
let batch_size = $BATCH
let max_frames = 300

node src   : synth_source { videos = \${videos}; level = frame }
node deq   : dequantize x$DEQ { level = frame; max_frames = \${max_frames} }
node batch : batcher { batch_size = \${batch_size}; max_frames = \${max_frames} }
node sink  : null_sink { }

src -> deq -> batch -> sink
EOF

# run_graph TAG VIDEOS -> sets SECS; the summary is $WORK/TAG.json
run_graph() {
    local tag=$1 videos=$2 t0 t1
    local log="$WORK/$tag.log"
    t0=$(now)
    "$YT" run "$FLOW" --set videos="$videos" --summary "$WORK/$tag.json" --quiet >"$log" 2>&1 ||
        { cat "$log" >&2; die "the $tag run failed (log above)"; }
    t1=$(now)
    SECS=$(calc '%.3f' "$t1 - $t0")
    "$PY" - "$WORK/$tag.json" "$videos" <<'EOF' || die "the $tag run's summary is not ok (see above)"
import json, sys
s = json.load(open(sys.argv[1])); want = int(sys.argv[2]); n = s["nodes"]; a = s.get("accounting", {})
bad = []
if s.get("ok") is not True: bad.append("ok is not true")
if a.get("ok") is not True: bad.append("accounting: %s" % a.get("verdict"))
if n["src"]["out"] != want: bad.append("synth_source made %s videos, not %d" % (n["src"]["out"], want))
if n["sink"]["in"] != want: bad.append("the sink got %s videos, not %d" % (n["sink"]["in"], want))
if bad: print("summary %s: %s" % (sys.argv[1], "; ".join(bad)), file=sys.stderr); sys.exit(1)
EOF
}

echo "calibration: $CAL_VIDEOS videos ..." >&2
run_graph cal "$CAL_VIDEOS"
CAL_BYTES=$(jget "$WORK/cal.json" 'int(n["src"]["out_bytes"])')
CAL_SECS=$SECS
PER_VIDEO=$(calc '%.3f' "$CAL_BYTES / $CAL_VIDEOS")
RATE=$(calc '%.3f' "$CAL_BYTES / $CAL_SECS") # bytes/s, fixed start-up cost included
V_SMALL=$(awk -v g="$SMALL" -v b="$PER_VIDEO" 'BEGIN { v = g * 1e9 / b; printf "%d", (v == int(v)) ? v : int(v) + 1 }')
V_LARGE=$(awk -v g="$LARGE" -v b="$PER_VIDEO" 'BEGIN { v = g * 1e9 / b; printf "%d", (v == int(v)) ? v : int(v) + 1 }')
EST_SMALL=$(calc '%.0f' "$SMALL * 1e9 / $RATE")
EST_LARGE=$(calc '%.0f' "$LARGE * 1e9 / $RATE")
echo "calibration: $CAL_BYTES bytes from synth_source in $CAL_SECS s: $PER_VIDEO bytes/video, $(calc '%.1f' "$RATE / 1e6") MB/s" >&2
echo "estimate: ~${SMALL} GB = $V_SMALL videos, ~${EST_SMALL} s; ~${LARGE} GB = $V_LARGE videos, ~${EST_LARGE} s; total ~$(calc '%.1f' "($EST_SMALL + $EST_LARGE) / 60") min (lower --large-gb if too long)" >&2

echo "small run: $V_SMALL videos ..." >&2
run_graph small "$V_SMALL"
S_SECS=$SECS
echo "large run: $V_LARGE videos ..." >&2
run_graph large "$V_LARGE"
L_SECS=$SECS

CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1 || true)
echo
echo "== yt8m-flow peak RSS vs stream length =="
echo "host:   nproc=$(nproc)  cpu: ${CPU:-unknown}  mem: $(free -g | awk '/^Mem:/ { print $2 " GiB" }')"
echo "build:  $BUILD ($("$YT" version 2>/dev/null | head -n1 || echo '?'))"
echo "graph:  synth_source -> dequantize x$DEQ (float32) -> batcher (batch_size $BATCH, max_frames 300) -> null_sink, frame level"
echo "        (edges: the default high-water mark; batch = $BATCH x 300 x 1152 float32 = $(calc '%.1f' "$BATCH * 300 * 1152 * 4 / 1e6") MB)"
echo "calibration: $CAL_VIDEOS videos, $PER_VIDEO bytes/video, $(calc '%.1f' "$RATE / 1e6") MB/s; estimated ${EST_SMALL} s + ${EST_LARGE} s"
echo
"$PY" - "$WORK/small.json" "$WORK/large.json" "$S_SECS" "$L_SECS" <<'EOF'
import json, sys
S = json.load(open(sys.argv[1])); L = json.load(open(sys.argv[2]))
ts, tl = float(sys.argv[3]), float(sys.argv[4])
def line(tag, s, t):
    b = s["nodes"]["src"]["out_bytes"]; v = s["nodes"]["src"]["out"]
    return "  %-6s %10d videos  %7.3f GB from synth_source  %8.1f s wall  %7.1f MB/s  %8.0f videos/s" % (
        tag, v, b / 1e9, t, b / 1e6 / t, v / t)
print(line("small", S, ts))
print(line("large", L, tl))
print("  bytes ratio large/small: %.2f" % (L["nodes"]["src"]["out_bytes"] / S["nodes"]["src"]["out_bytes"]))
print()
print("  %-6s %-13s %4s %14s %14s %12s" % ("node", "type", "reps", "peak_rss small", "peak_rss large", "large/small"))
for name, x in S["nodes"].items():
    y = L["nodes"][name]
    print("  %-6s %-13s %4d %11.1f MB %11.1f MB %12.3f" % (
        name, x["type"], x["replicas"], x["peak_rss_kb"] / 1024, y["peak_rss_kb"] / 1024,
        y["peak_rss_kb"] / x["peak_rss_kb"] if x["peak_rss_kb"] else float("nan")))
print("  (peak_rss: the largest replica's ru_maxrss, MB = 2^20 bytes)")
print()
print("  busy %%: small %s" % "  ".join("%s %.1f" % (k, v["busy_pct"]) for k, v in S["nodes"].items()))
print("          large %s" % "  ".join("%s %.1f" % (k, v["busy_pct"]) for k, v in L["nodes"].items()))
print("  accounting: small %s; large %s" % (S["accounting"]["verdict"], L["accounting"]["verdict"]))
EOF
