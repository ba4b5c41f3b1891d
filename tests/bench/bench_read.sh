#!/usr/bin/env bash
# Read-throughput benchmark driver (not a test: it prints figures, it does
# not pass or fail on them).
#
# Usage: tests/bench/bench_read.sh [BUILD_DIR] [--frame-mb 500] [--repeat 5]
#                                  [--workdir DIR]
#
# Compares, on two corpora (a generated frame-level corpus of at least
# --frame-mb MB, and the real 2018 video-level validation shards in
# ../shared/data), three readers:
#   cat         `cat FILES > /dev/null`, the I/O floor (page cache warm);
#               timed with `date +%s.%N`, so it includes process start-up
#   C           BUILD_DIR/tests/bench/bench_read (its own median of --repeat)
#   Python      tests/bench/py_reader.py under Debian's /usr/bin/python3
#               (numpy + protobuf, no TensorFlow; does NOT verify CRCs, so
#               it is faster than a fair baseline); its own loop time
# Medians over --repeat runs. On the frame corpus Python runs once only,
# and on a ~120 MB subset of the shards when the corpus is over 200 MB
# (its time is then scaled to the whole corpus by bytes).
set -euo pipefail

die() { echo "bench_read.sh: error: $*" >&2; exit 1; }
usage() { sed -n '5,6p' "$0" | sed 's/^# \{0,1\}//'; }

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATA_DIR="$SCRIPT_DIR/../../../shared/data"
PY=/usr/bin/python3
PY_READER="$SCRIPT_DIR/py_reader.py"

BUILD=./build
FRAME_MB=500
REPEAT=5
WORK=/tmp/yt8m-bench
build_set=0
while [ $# -gt 0 ]; do
    case "$1" in
        --frame-mb) [ $# -ge 2 ] || die "--frame-mb needs a value"; FRAME_MB=$2; shift 2 ;;
        --frame-mb=*) FRAME_MB=${1#*=}; shift ;;
        --repeat) [ $# -ge 2 ] || die "--repeat needs a value"; REPEAT=$2; shift 2 ;;
        --repeat=*) REPEAT=${1#*=}; shift ;;
        --workdir) [ $# -ge 2 ] || die "--workdir needs a value"; WORK=$2; shift 2 ;;
        --workdir=*) WORK=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) [ $build_set -eq 0 ] || die "more than one BUILD_DIR given: $1"
           BUILD=$1; build_set=1; shift ;;
    esac
done
[[ "$FRAME_MB" =~ ^[0-9]+$ ]] && [ "$FRAME_MB" -gt 0 ] || die "--frame-mb must be a positive integer (got '$FRAME_MB')"
[[ "$REPEAT" =~ ^[0-9]+$ ]] && [ "$REPEAT" -gt 0 ] || die "--repeat must be a positive integer (got '$REPEAT')"

# --- prerequisites -----------------------------------------------------------
[ -d "$BUILD" ] || die "build directory '$BUILD' does not exist (configure and build first, or pass BUILD_DIR)"
BUILD=$(cd "$BUILD" && pwd)
YT="$BUILD/yt8m-flow"
CB="$BUILD/tests/bench/bench_read"
[ -x "$YT" ] || die "'$YT' is missing or not executable (build the project first)"
[ -x "$CB" ] || die "'$CB' is missing or not executable (build the bench_read target first)"
[ -x "$PY" ] || die "$PY not found (the Python baseline needs Debian's system python3)"
"$PY" -c 'import numpy, google.protobuf' 2>/dev/null \
    || die "$PY cannot import numpy and google.protobuf (apt-get install python3-numpy python3-protobuf)"
[ -f "$PY_READER" ] || die "'$PY_READER' is missing"
[ -d "$DATA_DIR" ] || die "video-level data directory '$DATA_DIR' does not exist"
DATA_DIR=$(cd "$DATA_DIR" && pwd)
shopt -s nullglob
VIDEO_FILES=("$DATA_DIR"/validate000*.tfrecord)
[ ${#VIDEO_FILES[@]} -gt 0 ] || die "no video-level shards $DATA_DIR/validate000*.tfrecord"
mkdir -p "$WORK/frame" || die "cannot create workdir '$WORK/frame'"
WORK=$(cd "$WORK" && pwd)

# --- helpers -------------------------------------------------------------------
now() { date +%s.%N; }
# median of the arguments (numbers)
median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1}
        END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2];
              else printf "%.9f\n", (a[NR/2] + a[NR/2+1]) / 2 }'
}
# value of KEY=... in a "prog: k=v k=v" line
kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s|^$1=||p" | head -n1; }
total_bytes() { [ $# -gt 0 ] || { echo 0; return; }; du -cb "$@" | tail -n1 | cut -f1; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# --- frame-level corpus ---------------------------------------------------------
TARGET=$((FRAME_MB * 1000000))
frame_files() { FRAME_FILES=("$WORK"/frame/*.tfrecord); }
frame_files
have=$(total_bytes "${FRAME_FILES[@]}")
if [ "$have" -ge "$TARGET" ]; then
    echo "frame corpus: reusing $WORK/frame (${#FRAME_FILES[@]} files, $have bytes >= $TARGET)"
else
    # ~215-230 KB per frame-level video (+12% margin); shards of ~25 MB (at least 2)
    videos=$(( (TARGET / 230000) * 112 / 100 + 1 ))
    shards=$(( TARGET / 25000000 )); [ "$shards" -ge 2 ] || shards=2
    for _ in 1 2 3; do
        rm -f "$WORK"/frame/*.tfrecord
        echo "frame corpus: generating $videos videos in $shards shards into $WORK/frame (target $FRAME_MB MB) ..."
        t0=$(now)
        "$YT" gen --out "$WORK/frame" --level frame --videos "$videos" --shards "$shards" \
            --classes 3862 --seed 1 >"$WORK/gen.log" 2>&1 \
            || { cat "$WORK/gen.log" >&2; die "'$YT gen' failed (log above)"; }
        t1=$(now)
        frame_files
        have=$(total_bytes "${FRAME_FILES[@]}")
        echo "frame corpus: ${#FRAME_FILES[@]} files, $have bytes in $(calc '%.1f' "$t1 - $t0") s"
        [ "$have" -ge "$TARGET" ] && break
        [ "$have" -gt 0 ] || die "'$YT gen' wrote no $WORK/frame/*.tfrecord"
        videos=$(awk -v v="$videos" -v t="$TARGET" -v h="$have" 'BEGIN { printf "%d", v * t / h * 1.05 + 1 }')
    done
    [ "$have" -ge "$TARGET" ] || die "could not generate $FRAME_MB MB of frame-level data (got $have bytes)"
fi

# --- host info -----------------------------------------------------------------------
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1 || true)
[ -n "$CPU" ] || CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1 || true)
CRC=$("$YT" version 2>/dev/null | sed -n 's/^crc32c:[[:space:]]*//p' | head -n1 || true)
VER=$("$YT" version 2>/dev/null | head -n1 || true)

# --- one corpus ----------------------------------------------------------------------
# bench_corpus NAME LEVEL FILES...   -> prints a table section
REPORT=""
bench_corpus() {
    local name=$1 level=$2; shift 2
    local files=("$@") bytes nfiles=$#
    bytes=$(total_bytes "${files[@]}")
    echo "[$name] $nfiles files, $bytes bytes: warming the page cache ..." >&2
    cat "${files[@]}" >/dev/null

    # (a) cat, the I/O floor
    local cat_s=() i t0 t1
    for ((i = 0; i < REPEAT; i++)); do
        t0=$(now); cat "${files[@]}" >/dev/null; t1=$(now)
        cat_s+=("$(calc '%.6f' "$t1 - $t0")")
    done
    local cat_med; cat_med=$(median "${cat_s[@]}")

    # (b) C bench_read (its own repeats and median)
    echo "[$name] C bench_read --repeat $REPEAT ..." >&2
    local clog="$WORK/bench_read.$name.log" cline
    "$CB" --level "$level" --repeat "$REPEAT" "${files[@]}" >"$clog" 2>&1 \
        || { cat "$clog" >&2; die "bench_read failed on the $name corpus (log above)"; }
    cline=$(grep '^bench_read:' "$clog" | tail -n1 || true)
    [ -n "$cline" ] || { cat "$clog" >&2; die "no 'bench_read:' summary line in bench_read output"; }
    local c_med c_records
    c_med=$(kv median_s "$cline"); c_records=$(kv records "$cline")
    [ -n "$c_med" ] && [ -n "$c_records" ] || die "cannot parse bench_read line: $cline"

    # (c) Python baseline
    local py_files=("${files[@]}") py_runs=$REPEAT py_note="" py_bytes=$bytes
    if [ "$level" = frame ]; then
        py_runs=1
        if [ "$bytes" -gt 200000000 ]; then
            py_files=(); py_bytes=0
            local f sz
            for f in "${files[@]}"; do
                [ "$py_bytes" -lt 120000000 ] || break
                sz=$(total_bytes "$f"); py_files+=("$f"); py_bytes=$((py_bytes + sz))
            done
        fi
    fi
    echo "[$name] Python py_reader.py x$py_runs on ${#py_files[@]} files ($py_bytes bytes) ..." >&2
    local py_s=() py_line="" py_rec=""
    for ((i = 0; i < py_runs; i++)); do
        py_line=$("$PY" "$PY_READER" --level "$level" "${py_files[@]}" | grep '^py_reader:' | tail -n1) \
            || die "py_reader.py failed on the $name corpus"
        py_s+=("$(kv seconds "$py_line")")
    done
    py_rec=$(kv records "$py_line")
    local py_sub_med py_med py_rate_rec
    py_sub_med=$(median "${py_s[@]}")
    py_rate_rec=$(calc '%.6f' "$py_rec / $py_sub_med")
    # scale to the whole corpus by bytes
    py_med=$(calc '%.6f' "$py_sub_med * $bytes / $py_bytes")
    if [ "$py_bytes" -ne "$bytes" ]; then
        py_note="Python ran once on ${#py_files[@]} of $nfiles files ($py_bytes bytes, $py_rec records, ${py_sub_med} s); its seconds are scaled to the whole corpus by bytes"
    elif [ "$py_runs" -eq 1 ]; then
        py_note="Python ran once (not $REPEAT times)"
    fi
    if [ "$py_bytes" -eq "$bytes" ] && [ "$py_rec" != "$c_records" ]; then
        py_note="${py_note:+$py_note; }WARNING: Python read $py_rec records, C read $c_records"
    fi

    # table
    local out
    out=$(awk -v name="$name" -v level="$level" -v nf="$nfiles" -v bytes="$bytes" -v rec="$c_records" \
              -v cat_s="$cat_med" -v c_s="$c_med" -v py_s="$py_med" -v py_rr="$py_rate_rec" \
              -v rep="$REPEAT" -v pyruns="$py_runs" 'BEGIN {
        printf "corpus %s (level=%s): %d files, %d bytes (%.1f MB), %d records\n", name, level, nf, bytes, bytes/1e6, rec
        printf "  %-26s %10s %10s %12s %6s\n", "reader", "median_s", "MB/s", "records/s", "runs"
        printf "  %-26s %10.4f %10.1f %12.0f %6d\n", "cat >/dev/null (I/O floor)", cat_s, bytes/1e6/cat_s, rec/cat_s, rep
        printf "  %-26s %10.4f %10.1f %12.0f %6d\n", "C bench_read", c_s, bytes/1e6/c_s, rec/c_s, rep
        printf "  %-26s %10.4f %10.1f %12.0f %6d\n", "Python py_reader (no CRC)", py_s, bytes/1e6/py_s, py_rr, pyruns
        printf "  C vs Python: %.1fx the throughput\n", py_s/c_s
        printf "  C vs cat:    C reaches %.1f%% of the I/O floor (cat MB/s)\n", 100*cat_s/c_s
    }')
    [ -z "$py_note" ] || out="$out"$'\n'"  note: $py_note"
    REPORT="$REPORT$out"$'\n\n'
}

bench_corpus video video "${VIDEO_FILES[@]}"
bench_corpus frame frame "${FRAME_FILES[@]}"

echo
echo "== yt8m-flow read benchmark =="
echo "host:    nproc=$(nproc)  cpu: ${CPU:-unknown}"
echo "build:   $BUILD (${VER:-?}; crc32c: ${CRC:-unknown})"
echo "python:  $PY ($("$PY" -c 'import sys, numpy, google.protobuf as p; from google.protobuf.internal import api_implementation as a; print("python %d.%d, numpy %s, protobuf %s/%s" % (sys.version_info[0], sys.version_info[1], numpy.__version__, p.__version__, a.Type()))' 2>/dev/null || echo '?'))"
echo "repeats: $REPEAT (medians); workdir: $WORK; page cache warm"
echo "cat time includes process start-up; C and Python report their own read-loop time."
echo "The Python baseline does not verify CRCs (the C reader does), so it is favoured."
echo
printf '%s' "$REPORT"
