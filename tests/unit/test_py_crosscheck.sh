#!/usr/bin/env bash
# test_py_crosscheck.sh: the C writer (yt8m-flow gen) and reader (yt8m-flow
# dump) against an independent reader, tests/bench/py_reader.py (Python's
# protobuf runtime + numpy, pure-Python CRC32C).
#
# For each input, `py_reader.py --crc --verbose` and `yt8m-flow dump --format
# jsonl` must agree per record on id, labels, frame count and feature sums
# (frame sums within 1e-3 absolute, video sums within 1e-4 relative).
# Inputs: generated frame-level corpora (short videos over 2 shards, and
# videos around the 300-frame cut), generated video-level corpora (validate
# and the label-less test split), the real shard validate0000.tfrecord and
# the conformance vector frame_edge.tfrecord.
#
# Environment: YT_BIN, YT_SHARED, YT_PYTHON (see test_cli.sh). Exits 77
# (skipped) when YT_PYTHON lacks numpy or google.protobuf. Last line:
#   test_py_crosscheck: N passed, M failed
set -u

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY_READER=$SRC/tests/bench/py_reader.py

for v in YT_BIN YT_SHARED YT_PYTHON; do
    if [ -z "${!v:-}" ]; then
        echo "test_py_crosscheck: error: $v is not set (run through ctest, or set YT_BIN, YT_SHARED, YT_PYTHON)" >&2
        exit 1
    fi
done
[ -x "$YT_BIN" ] || { echo "test_py_crosscheck: error: YT_BIN=$YT_BIN is not an executable" >&2; exit 1; }
[ -f "$PY_READER" ] || { echo "test_py_crosscheck: error: $PY_READER not found" >&2; exit 1; }
if ! why=$("$YT_PYTHON" -c 'import numpy, google.protobuf' 2>&1); then
    echo "test_py_crosscheck: skipped: $YT_PYTHON cannot import numpy and google.protobuf" \
         "(install python3-numpy python3-protobuf): ${why##*$'\n'}"
    exit 77
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/test_py_crosscheck.XXXXXX") || { echo "test_py_crosscheck: error: mktemp failed" >&2; exit 1; }
trap 'rm -rf "$W"' EXIT

PASS=0
FAILN=0
ok()  { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAILN=$((FAILN + 1)); echo "FAIL $1: $2"; }

cat >"$W/cmp.py" <<'PYEOF'
"""cmp.py LEVEL PY_OUT DUMP_OUT: compare py_reader --verbose with dump jsonl."""
import json, re, sys

level, py_out, dump_out = sys.argv[1:4]
LINE = re.compile(r"^record (\d+) id=(.*?) labels=(\[[-0-9, ]*\]) frames=(\d+) "
                  r"rgb_sum=(\S+) audio_sum=(\S+) rgb_sha256=[0-9a-f]{64}$")
py, summary, errs = [], None, []
for line in open(py_out):
    line = line.rstrip("\n")
    m = LINE.match(line)
    if m:
        py.append((int(m.group(1)), m.group(2), json.loads(m.group(3)),
                   int(m.group(4)), float(m.group(5)), float(m.group(6))))
    elif line.startswith("py_reader: "):
        summary = line
    else:
        errs.append("unexpected py_reader line %r" % line[:200])
if summary is None:
    errs.append("py_reader printed no summary line")
else:
    m = re.search(r" records=(\d+) ", summary)
    if not m or int(m.group(1)) != len(py):
        errs.append("py_reader summary %r disagrees with %d record lines" % (summary, len(py)))

c = [json.loads(l) for l in open(dump_out)]
if not c:
    errs.append("dump printed no records")
if len(c) != len(py):
    errs.append("dump has %d records, py_reader %d" % (len(c), len(py)))

for i, (p, r) in enumerate(zip(py, c)):
    idx, pid, plabels, pframes, prgb, paudio = p
    where = "record %d (%s)" % (i, pid)
    if idx != i:
        errs.append("%s: py_reader numbered it %d" % (where, idx))
    if r.get("id") != pid:
        errs.append("%s: dump id %r" % (where, r.get("id")))
    if r.get("labels") != plabels:
        errs.append("%s: labels py %r, dump %r" % (where, plabels, r.get("labels")))
    f = r.get("features", {})
    try:
        if level == "video":
            crgb, caudio, cframes = f["mean_rgb"]["sum"], f["mean_audio"]["sum"], 1
            for name, a, b in (("mean_rgb", prgb, crgb), ("mean_audio", paudio, caudio)):
                if abs(a - b) > 1e-4 * max(abs(a), abs(b), 1e-6):
                    errs.append("%s: %s sum py %.9g, dump %.9g" % (where, name, a, b))
            if f["mean_rgb"]["size"] != 1024 or f["mean_audio"]["size"] != 128:
                errs.append("%s: sizes %r/%r" % (where, f["mean_rgb"]["size"], f["mean_audio"]["size"]))
        else:
            crgb, caudio = f["rgb"]["sum"], f["audio"]["sum"]
            cframes = max(f["rgb"]["kept"], f["audio"]["kept"])
            for name, a, b in (("rgb", prgb, crgb), ("audio", paudio, caudio)):
                if abs(a - b) > 1e-3:
                    errs.append("%s: %s sum py %.9g, dump %.9g" % (where, name, a, b))
        if cframes != pframes:
            errs.append("%s: frames py %d, dump %d" % (where, pframes, cframes))
    except (KeyError, TypeError) as e:
        errs.append("%s: dump record lacks %s: %s" % (where, e, json.dumps(r)[:300]))
if errs:
    print("; ".join(errs[:20]))
    sys.exit(1)
PYEOF

# crosscheck NAME LEVEL [--max-frames N] FILE...
crosscheck() {
    local name=$1 level=$2
    shift 2
    local mf=()
    if [ "$1" = "--max-frames" ]; then mf=(--max-frames "$2"); shift 2; fi
    local prc drc out
    timeout 120 "$YT_PYTHON" "$PY_READER" --level "$level" --crc --verbose "${mf[@]}" "$@" \
        >"$W/$name.py" 2>"$W/$name.pyerr"
    prc=$?
    timeout 60 "$YT_BIN" dump --format jsonl "${mf[@]}" "$@" >"$W/$name.c" 2>"$W/$name.cerr"
    drc=$?
    if [ $prc -ne 0 ]; then
        bad "$name" "py_reader exit status $prc: $(head -c 500 "$W/$name.pyerr")"
    elif [ $drc -ne 0 ]; then
        bad "$name" "dump exit status $drc: $(head -c 500 "$W/$name.cerr")"
    elif out=$("$YT_PYTHON" "$W/cmp.py" "$level" "$W/$name.py" "$W/$name.c" 2>&1); then
        ok "$name ($(wc -l <"$W/$name.c") records)"
    else
        bad "$name" "$out"
    fi
}

# gen NAME ARGS...: generate into $W/NAME, a check of its own
gen() {
    local name=$1
    shift
    if out=$(timeout 60 "$YT_BIN" gen --out "$W/${name%-test}" "$@" 2>&1); then
        ok "gen-$name"
    else
        bad "gen-$name" "yt8m-flow gen $* failed: $out"
    fi
}

# generated frame level: short videos over two shards
gen frame --level frame --videos 24 --shards 2 --classes 40 --seed 3 \
    --min-frames 1 --max-frames 40 --oracle-videos 8
crosscheck frame-corpus frame "$W"/frame/train0000.tfrecord "$W"/frame/train0001.tfrecord
crosscheck frame-corpus-max-frames-7 frame --max-frames 7 "$W"/frame/train0000.tfrecord "$W"/frame/train0001.tfrecord

# generated frame level: around the 300-frame cut
gen frame-long --level frame --videos 3 --classes 40 --seed 4 \
    --min-frames 295 --max-frames 310 --oracle-videos 3
crosscheck frame-corpus-long frame "$W"/frame-long/train0000.tfrecord

# generated video level: a labelled split and the label-less test split
gen video --level video --videos 60 --shards 2 --classes 100 --seed 5 --split validate --oracle-videos 20
gen video-test --level video --videos 20 --classes 100 --seed 5 --split test --oracle-videos 20
crosscheck video-corpus video "$W"/video/validate0000.tfrecord "$W"/video/validate0001.tfrecord
crosscheck video-corpus-test-split video "$W"/video/test0000.tfrecord

# real data and a conformance vector
crosscheck real-validate0000 video "$YT_SHARED/data/validate0000.tfrecord"
crosscheck frame_edge frame "$YT_SHARED/testdata/frame_edge.tfrecord"

echo "test_py_crosscheck: $PASS passed, $FAILN failed"
[ "$FAILN" -eq 0 ]
