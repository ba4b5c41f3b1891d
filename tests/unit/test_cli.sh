#!/usr/bin/env bash
# test_cli.sh: the yt8m-flow command line, end to end (dump and gen).
#
# Environment (set by ctest, see tests/unit/CMakeLists.txt):
#   YT_BIN     path of the yt8m-flow binary
#   YT_SHARED  path of shared/ (testdata/ with expected.json, data/ with the
#              real video-level shards)
#   YT_PYTHON  a python3 (Debian's /usr/bin/python3), used to parse JSON/CSV
#
# Every check prints "ok   NAME" or "FAIL NAME: details"; the last line is
#   test_cli: N passed, M failed
# and the exit status is 1 when anything failed.
set -u

for v in YT_BIN YT_SHARED YT_PYTHON; do
    if [ -z "${!v:-}" ]; then
        echo "test_cli: error: $v is not set (run through ctest, or set YT_BIN, YT_SHARED, YT_PYTHON)" >&2
        exit 1
    fi
done
[ -x "$YT_BIN" ] || { echo "test_cli: error: YT_BIN=$YT_BIN is not an executable" >&2; exit 1; }
[ -d "$YT_SHARED/testdata" ] || { echo "test_cli: error: $YT_SHARED/testdata not found" >&2; exit 1; }

TD=$YT_SHARED/testdata
DATA=$YT_SHARED/data
EXPECTED=$TD/expected.json

W=$(mktemp -d "${TMPDIR:-/tmp}/test_cli.XXXXXX") || { echo "test_cli: error: mktemp failed" >&2; exit 1; }
trap 'rm -rf "$W"' EXIT

PASS=0
FAILN=0
ok()  { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAILN=$((FAILN + 1)); echo "FAIL $1: $2"; }
# check NAME CMD...: passes when CMD exits 0; otherwise prints its output.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "${out:-(no output)}"; fi
}
# expect_rc NAME WANT GOT [details]
expect_rc() {
    if [ "$3" -eq "$2" ]; then ok "$1"; else bad "$1" "exit status $3, want $2${4:+; $4}"; fi
}
# run_yt NAME ARGS...: runs the binary (with a time limit) into $W/NAME.{out,err,rc}
run_yt() {
    local name=$1
    shift
    timeout 60 "$YT_BIN" "$@" >"$W/$name.out" 2>"$W/$name.err"
    echo $? >"$W/$name.rc"
}
rc_of()  { cat "$W/$1.rc"; }
err_of() { head -c 2000 "$W/$1.err"; }

# --------------------------------------------------------------------------
# Python helpers: one subcommand per kind of check; exit 0 = pass, otherwise
# print what is wrong and exit 1.
# --------------------------------------------------------------------------
cat >"$W/chk.py" <<'PYEOF'
import csv, io, json, sys

def die(msg):
    print(msg)
    sys.exit(1)

def load_jsonl(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                out.append(json.loads(line))
            except ValueError as e:
                die("%s:%d: not JSON (%s): %r" % (path, n, e, line[:200]))
    return out

def close_rel(a, b, rel):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)

def feat(rec, name, key):
    try:
        return rec["features"][name][key]
    except (KeyError, TypeError):
        die("record %s has no features.%s.%s: %s" % (rec.get("index"), name, key, json.dumps(rec)[:400]))

def first(path):
    recs = load_jsonl(path)
    if len(recs) != 1:
        die("want 1 line, got %d" % len(recs))
    r = recs[0]
    want = {"id": "02aa", "labels": [3, 4, 9, 34], "num_frames": 1, "index": 0, "offset": 0}
    errs = ["%s=%r, want %r" % (k, r.get(k), v) for k, v in want.items() if r.get(k) != v]
    for name, size in (("mean_rgb", 1024), ("mean_audio", 128)):
        got = r.get("features", {}).get(name, {}).get("size")
        if got != size:
            errs.append("features.%s.size=%r, want %d" % (name, got, size))
    if not str(r.get("file", "")).endswith("validate0000.tfrecord"):
        errs.append("file=%r" % r.get("file"))
    if errs:
        die("; ".join(errs))

def edge(kind, path, expected, fname):
    exp = json.load(open(expected))[fname]["records"]
    recs = load_jsonl(path)
    if len(recs) != len(exp):
        die("%d records dumped, expected.json has %d" % (len(recs), len(exp)))
    errs = []
    for i, (r, e) in enumerate(zip(recs, exp)):
        where = "record %d (%s)" % (i, e["id"])
        if r.get("index") != i:
            errs.append("%s: index=%r" % (where, r.get("index")))
        if r.get("id") != e["id"]:
            errs.append("%s: id=%r" % (where, r.get("id")))
        if r.get("labels") != e["labels"]:
            errs.append("%s: labels=%r, want %r" % (where, r.get("labels"), e["labels"]))
        if kind == "video":
            for name in ("mean_rgb", "mean_audio"):
                got, want = feat(r, name, "sum"), e[name + "_sum"]
                if not close_rel(got, want, 1e-4):
                    errs.append("%s: %s.sum=%.9g, want %.9g" % (where, name, got, want))
                size = feat(r, name, "size")
                if size != (1024 if name == "mean_rgb" else 128):
                    errs.append("%s: %s.size=%r" % (where, name, size))
        else:
            if r.get("num_frames") != e["num_frames"]:
                errs.append("%s: num_frames=%r, want %r" % (where, r.get("num_frames"), e["num_frames"]))
            for name in ("rgb", "audio"):
                got, want = feat(r, name, "sum"), e[name + "_dequantized_sum_first300"]
                if abs(got - want) > 1e-3:
                    errs.append("%s: %s.sum=%.9g, want %.9g" % (where, name, got, want))
                if feat(r, name, "frames") != e["num_frames"]:
                    errs.append("%s: %s.frames=%r, want %r" % (where, name, feat(r, name, "frames"), e["num_frames"]))
            if feat(r, "rgb", "kept") != e["num_frames_kept_300"]:
                errs.append("%s: rgb.kept=%r, want %r" % (where, feat(r, "rgb", "kept"), e["num_frames_kept_300"]))
            for k in ("segment_labels", "segment_start_times", "segment_scores"):
                if k in e:
                    got = r.get(k)
                    if (not isinstance(got, list) or len(got) != len(e[k])
                            or any(abs(a - b) > 1e-6 for a, b in zip(got, e[k]))):
                        errs.append("%s: %s=%r, want %r" % (where, k, got, e[k]))
                elif k in r:
                    errs.append("%s: has %s=%r, expected.json has none" % (where, k, r[k]))
    if errs:
        die("; ".join(errs[:20]))

def maxframes(full, cut, n):
    n = int(n)
    a, b = load_jsonl(full), load_jsonl(cut)
    if len(a) != len(b) or not a:
        die("%d vs %d records" % (len(a), len(b)))
    errs, changed = [], 0
    for ra, rb in zip(a, b):
        frames = ra["num_frames"]
        for name in ("rgb", "audio"):
            kept = feat(rb, name, "kept")
            if kept != min(n, frames):
                errs.append("%s: %s.kept=%r with --max-frames %d, want %d" % (ra["id"], name, kept, n, min(n, frames)))
            sa, sb = feat(ra, name, "sum"), feat(rb, name, "sum")
            if frames > n:
                if sa == sb:
                    errs.append("%s: %s.sum unchanged (%.9g) with --max-frames %d although it has %d frames" % (ra["id"], name, sa, n, frames))
                elif name == "rgb":
                    changed += 1
            elif sa != sb:
                errs.append("%s: %s.sum changed %.9g -> %.9g although it has only %d frames" % (ra["id"], name, sa, sb, frames))
    if changed == 0:
        errs.append("no record has more than %d frames" % n)
    if errs:
        die("; ".join(errs[:20]))

def corrupt(fname, path, out, err, rc, expected):
    e = json.load(open(expected))[fname]
    errs = []
    rc = int(rc)
    if rc != 1:
        errs.append("exit status %d, want 1" % rc)
    lines = open(out).read().splitlines()
    if len(lines) != e["good_records_before"]:
        errs.append("%d stdout lines, want %d" % (len(lines), e["good_records_before"]))
    msg = open(err, errors="replace").read()
    for need in (path, "byte offset %d" % e["bad_record_offset"], e["error"],
                 "%s: byte offset %d (record %d): %s" % (path, e["bad_record_offset"], e["good_records_before"], e["error"])):
        if need not in msg:
            errs.append("stderr lacks %r" % need)
    if errs:
        die("; ".join(errs) + "; stderr: " + msg[:500].strip())

def gen_video(path, k, nvideos):
    k, nvideos = int(k), int(nvideos)
    recs = load_jsonl(path)
    errs = []
    if len(recs) != nvideos:
        errs.append("%d records, want %d" % (len(recs), nvideos))
    ids = [r.get("id") for r in recs]
    bad_ids = [i for i in ids if not isinstance(i, str) or len(i) != 4]
    if bad_ids:
        errs.append("ids not 4 characters: %r" % bad_ids[:5])
    if len(set(ids)) != len(ids):
        errs.append("ids not unique")
    nl = 0
    for r in recs:
        labels = r.get("labels")
        if not isinstance(labels, list):
            errs.append("%s: labels=%r" % (r.get("id"), labels))
            continue
        nl += len(labels)
        if any(not (0 <= l < k) for l in labels):
            errs.append("%s: labels %r outside [0,%d)" % (r.get("id"), labels, k))
        if feat(r, "mean_rgb", "size") != 1024 or feat(r, "mean_audio", "size") != 128:
            errs.append("%s: sizes %r/%r" % (r.get("id"), feat(r, "mean_rgb", "size"), feat(r, "mean_audio", "size")))
    avg = nl / max(len(recs), 1)
    if not (1.5 <= avg <= 5):
        errs.append("average labels per video %.3f not in [1.5, 5]" % avg)
    if errs:
        die("; ".join(errs[:20]))

def gen_json_validate(path, nvideos):
    d = json.load(open(path))
    try:
        s = d["splits"]["validate"]
    except (KeyError, TypeError):
        die("no splits.validate in %s" % json.dumps(d)[:400])
    errs = []
    if "generator" not in d:
        errs.append("no 'generator' key")
    if s.get("videos") != int(nvideos):
        errs.append("videos=%r" % s.get("videos"))
    if s.get("level") != "video":
        errs.append("level=%r" % s.get("level"))
    if s.get("labels") is not True:
        errs.append("labels=%r" % s.get("labels"))
    g = s.get("oracle", {}).get("gap_frames")
    if not isinstance(g, (int, float)) or not (0 < g <= 1):
        errs.append("oracle.gap_frames=%r not in (0,1]" % g)
    if errs:
        die("; ".join(errs) + ": " + json.dumps(s)[:400])

def gen_json_test(path, nvideos):
    d = json.load(open(path))
    sp = d.get("splits", {})
    errs = []
    if set(sp) != {"validate", "test"}:
        errs.append("splits %r, want validate and test" % sorted(sp))
    t = sp.get("test", {})
    if t.get("labels") is not False:
        errs.append("test.labels=%r, want false" % t.get("labels"))
    if "oracle" in t:
        errs.append("test has an oracle")
    if t.get("videos") != int(nvideos):
        errs.append("test.videos=%r" % t.get("videos"))
    if "oracle" not in sp.get("validate", {}):
        errs.append("validate lost its oracle")
    if errs:
        die("; ".join(errs) + ": " + json.dumps(sp)[:600])

def no_labels(path, shard, nvideos):
    recs = load_jsonl(path)
    errs = []
    if len(recs) != int(nvideos):
        errs.append("%d records, want %s" % (len(recs), nvideos))
    errs += ["%s: labels=%r" % (r.get("id"), r.get("labels")) for r in recs if r.get("labels") != []]
    if b"labels" in open(shard, "rb").read():
        errs.append("the shard contains the key 'labels'")
    if errs:
        die("; ".join(errs[:20]))

def vocab(path, k):
    k = int(k)
    header = "Index,TrainVideoCount,KnowledgeGraphId,Name,WikiUrl,Vertical1,Vertical2,Vertical3,WikiDescription"
    with open(path, newline="") as f:
        text = f.read()
    first = text.split("\n", 1)[0].rstrip("\r")
    if first != header:
        die("header %r, want %r" % (first, header))
    rows = list(csv.reader(io.StringIO(text)))[1:]
    errs = []
    if len(rows) != k:
        errs.append("%d data rows, want %d" % (len(rows), k))
    for i, row in enumerate(rows):
        if len(row) != 9:
            errs.append("row %d has %d columns: %r" % (i, len(row), row))
        elif row[0] != str(i):
            errs.append("row %d has Index %r" % (i, row[0]))
    if errs:
        die("; ".join(errs[:10]))

def meanconsist(*paths):
    errs, n = [], 0
    for p in paths:
        for r in load_jsonl(p):
            f = r["num_frames"]
            if f > 300 or f == 0:
                continue
            for mean, full in (("mean_rgb", "rgb"), ("mean_audio", "audio")):
                a = feat(r, mean, "sum") * f
                b = feat(r, full, "sum")
                # relative 1e-4 of the sum's scale (sum of |values| is at most
                # 2 per value, so use the frame count as a floor near zero)
                if abs(a - b) > 1e-4 * max(abs(a), abs(b), 1.0):
                    errs.append("%s: %s.sum*%d=%.9g, %s.sum=%.9g" % (r["id"], mean, f, a, full, b))
            n += 1
    if n == 0:
        errs.append("no records")
    if errs:
        die("; ".join(errs[:20]))

def samejsonl(a, b):
    ra, rb = load_jsonl(a), load_jsonl(b)
    if not ra:
        die("%s is empty" % a)
    if len(ra) != len(rb):
        die("%d vs %d lines" % (len(ra), len(rb)))
    for x, y in zip(ra, rb):
        x.pop("file", None)
        y.pop("file", None)
        if x != y:
            die("record %r differs: %s vs %s" % (x.get("index"), json.dumps(x)[:300], json.dumps(y)[:300]))

def lines(path, n):
    got = len(open(path).read().splitlines())
    if got != int(n):
        die("%d lines, want %s" % (got, n))

if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
PYEOF
chk() { "$YT_PYTHON" "$W/chk.py" "$@"; }

# --------------------------------------------------------------------------
# a. the real video-level shards
# --------------------------------------------------------------------------
"$YT_BIN" dump --format jsonl "$DATA/validate0000.tfrecord" 2>"$W/a1.err" | head -1 >"$W/a1.out"
check "a.first-record" chk first "$W/a1.out"

run_yt a2 dump --format jsonl "$DATA/validate0000.tfrecord"
expect_rc "a.validate0000-exit" 0 "$(rc_of a2)" "$(err_of a2)"
check "a.validate0000-284-lines" chk lines "$W/a2.out" 284

run_yt a3 dump "$DATA/validate0000.tfrecord"
expect_rc "a.validate0000-text-exit" 0 "$(rc_of a3)" "$(err_of a3)"
check "a.validate0000-text-284-lines" chk lines "$W/a3.out" 284

shards=()
for i in 0 1 2 3 4 5 6; do shards+=("$DATA/validate000$i.tfrecord"); done
run_yt a4 dump --format jsonl "${shards[@]}"
expect_rc "a.all-shards-exit" 0 "$(rc_of a4)" "$(err_of a4)"
check "a.all-shards-2069-lines" chk lines "$W/a4.out" 2069

# --------------------------------------------------------------------------
# b. conformance vectors: video_edge / frame_edge against expected.json
# --------------------------------------------------------------------------
run_yt b1 dump --format jsonl "$TD/video_edge.tfrecord"
expect_rc "b.video_edge-exit" 0 "$(rc_of b1)" "$(err_of b1)"
check "b.video_edge-vs-expected" chk edge video "$W/b1.out" "$EXPECTED" video_edge.tfrecord

run_yt b2 dump --format jsonl "$TD/frame_edge.tfrecord"
expect_rc "b.frame_edge-exit" 0 "$(rc_of b2)" "$(err_of b2)"
check "b.frame_edge-vs-expected" chk edge frame "$W/b2.out" "$EXPECTED" frame_edge.tfrecord

run_yt b3 dump --format jsonl --max-frames 5 "$TD/frame_edge.tfrecord"
expect_rc "b.frame_edge-max-frames-5-exit" 0 "$(rc_of b3)" "$(err_of b3)"
check "b.frame_edge-max-frames-5" chk maxframes "$W/b2.out" "$W/b3.out" 5

# --------------------------------------------------------------------------
# c. damaged files
# --------------------------------------------------------------------------
for f in corrupt_data_crc corrupt_length_crc truncated huge_length garbage bad_protobuf; do
    run_yt "c_$f" dump --format jsonl "$TD/$f.tfrecord"
    check "c.$f" chk corrupt "$f.tfrecord" "$TD/$f.tfrecord" "$W/c_$f.out" "$W/c_$f.err" "$(rc_of "c_$f")" "$EXPECTED"
done
run_yt c_empty dump --format jsonl "$TD/empty.tfrecord"
expect_rc "c.empty-exit" 0 "$(rc_of c_empty)" "$(err_of c_empty)"
if [ ! -s "$W/c_empty.out" ]; then ok "c.empty-no-output"; else bad "c.empty-no-output" "$(head -c 300 "$W/c_empty.out")"; fi

# --------------------------------------------------------------------------
# d. usage errors
# --------------------------------------------------------------------------
usage_case() {  # NAME ARGS...: exit 2 with a message on stderr
    local name=$1
    shift
    run_yt "d_$name" "$@"
    local rc
    rc=$(rc_of "d_$name")
    if [ "$rc" -ne 2 ]; then
        bad "d.$name" "exit status $rc, want 2 (yt8m-flow $*); stderr: $(err_of "d_$name")"
    elif [ ! -s "$W/d_$name.err" ]; then
        bad "d.$name" "exit status 2 but no message on stderr (yt8m-flow $*)"
    else
        ok "d.$name"
    fi
}
usage_case dump-no-files dump
usage_case dump-format-xml dump --format xml "$W/nonexistent.tfrecord"
usage_case gen-no-out gen --level video --videos 3
usage_case gen-level-bogus gen --out "$W/d_bogus" --level bogus --videos 3
usage_case gen-videos-negative gen --out "$W/d_neg" --level video --videos -3
usage_case gen-noise-negative gen --out "$W/d_nn" --level video --videos 3 --noise -0.1
usage_case gen-noise-word gen --out "$W/d_nw" --level video --videos 3 --noise loud
usage_case gen-confuser-over-1 gen --out "$W/d_c2" --level video --videos 3 --confuser 2
usage_case gen-confuser-trailing gen --out "$W/d_ct" --level video --videos 3 --confuser 0.5x

run_yt d_missing dump "$W/no/such/file.tfrecord"
rc=$(rc_of d_missing)
if [ "$rc" -eq 1 ] && grep -qF -- "$W/no/such/file.tfrecord" "$W/d_missing.err" && grep -qF "cannot open" "$W/d_missing.err"; then
    ok "d.dump-missing-file"
else
    bad "d.dump-missing-file" "exit status $rc (want 1); stderr: $(err_of d_missing)"
fi

# --------------------------------------------------------------------------
# e. gen determinism and file names
# --------------------------------------------------------------------------
GEN_FRAME=(--level frame --videos 20 --shards 2 --classes 50 --min-frames 5 --max-frames 40 --oracle-videos 10)
run_yt e1 gen --out "$W/f7a" "${GEN_FRAME[@]}" --seed 7
expect_rc "e.gen-frame-exit" 0 "$(rc_of e1)" "$(err_of e1)"
run_yt e2 gen --out "$W/f7b" "${GEN_FRAME[@]}" --seed 7
run_yt e3 gen --out "$W/f8" "${GEN_FRAME[@]}" --seed 8
expect_rc "e.gen-frame-rerun-exit" 0 "$(( $(rc_of e2) | $(rc_of e3) ))" "$(err_of e2) $(err_of e3)"

listing=$(cd "$W/f7a" 2>/dev/null && LC_ALL=C ls -A | tr '\n' ' ')
want="generator.json train0000.tfrecord train0001.tfrecord vocabulary.csv "
if [ "$listing" = "$want" ]; then ok "e.gen-files"; else bad "e.gen-files" "directory holds '$listing', want '$want'"; fi

same=1 detail=""
for f in train0000.tfrecord train0001.tfrecord vocabulary.csv; do
    if ! out=$(cmp "$W/f7a/$f" "$W/f7b/$f" 2>&1); then same=0; detail+="$out; "; fi
done
if [ $same -eq 1 ]; then ok "e.same-seed-identical"; else bad "e.same-seed-identical" "$detail"; fi

differ=1 detail=""
for f in train0000.tfrecord train0001.tfrecord; do
    if cmp -s "$W/f7a/$f" "$W/f8/$f"; then differ=0; detail+="$f identical for seeds 7 and 8; "; fi
    [ -s "$W/f8/$f" ] || { differ=0; detail+="$f missing or empty for seed 8; "; }
done
if [ $differ -eq 1 ]; then ok "e.other-seed-differs"; else bad "e.other-seed-differs" "$detail"; fi

# --noise: other frames, recorded in generator.json
run_yt e4 gen --out "$W/f7n" "${GEN_FRAME[@]}" --seed 7 --noise 0.3
expect_rc "e.gen-noise-exit" 0 "$(rc_of e4)" "$(err_of e4)"
if cmp -s "$W/f7a/train0000.tfrecord" "$W/f7n/train0000.tfrecord"; then
    bad "e.gen-noise-differs" "--noise 0.3 wrote the same train0000.tfrecord as the default 0.8"
elif ! "$YT_PYTHON" -c 'import json,sys; g=json.load(open(sys.argv[1])); sys.exit(0 if abs(g["generator"]["noise_std"] - 0.3) < 1e-12 else 1)' \
        "$W/f7n/generator.json" 2>/dev/null; then
    bad "e.gen-noise-differs" "generator.json does not record noise_std 0.3: $(head -c 600 "$W/f7n/generator.json")"
else
    ok "e.gen-noise-differs"
fi

# --------------------------------------------------------------------------
# f. gen video level, validate then test split into one directory
# --------------------------------------------------------------------------
run_yt f1 gen --out "$W/v" --level video --videos 50 --classes 30 --split validate
expect_rc "f.gen-video-exit" 0 "$(rc_of f1)" "$(err_of f1)"
run_yt f2 dump --format jsonl "$W/v/validate0000.tfrecord"
expect_rc "f.dump-validate-exit" 0 "$(rc_of f2)" "$(err_of f2)"
check "f.validate-records" chk gen_video "$W/f2.out" 30 50
check "f.generator-json-validate" chk gen_json_validate "$W/v/generator.json" 50

run_yt f3 gen --out "$W/v" --level video --videos 50 --classes 30 --split test
expect_rc "f.gen-test-exit" 0 "$(rc_of f3)" "$(err_of f3)"
run_yt f4 dump --format jsonl "$W/v/test0000.tfrecord"
expect_rc "f.dump-test-exit" 0 "$(rc_of f4)" "$(err_of f4)"
check "f.test-no-labels" chk no_labels "$W/f4.out" "$W/v/test0000.tfrecord" 50
check "f.generator-json-both-splits" chk gen_json_test "$W/v/generator.json" 50

# --------------------------------------------------------------------------
# g. vocabulary.csv
# --------------------------------------------------------------------------
check "g.vocabulary-k30" chk vocab "$W/v/vocabulary.csv" 30
check "g.vocabulary-k50" chk vocab "$W/f7a/vocabulary.csv" 50

# --------------------------------------------------------------------------
# h. frame level: stored mean * frames == sum of dequantized frames
# --------------------------------------------------------------------------
run_yt h1 dump --format jsonl "$W/f7a/train0000.tfrecord" "$W/f7a/train0001.tfrecord"
expect_rc "h.dump-frame-exit" 0 "$(rc_of h1)" "$(err_of h1)"
check "h.frame-corpus-20-records" chk lines "$W/h1.out" 20
check "h.mean-times-frames" chk meanconsist "$W/h1.out"

# --------------------------------------------------------------------------
# i. --zst corpus reads back the same as the plain one
# --------------------------------------------------------------------------
run_yt i1 gen --out "$W/z7" "${GEN_FRAME[@]}" --seed 7 --zst
expect_rc "i.gen-zst-exit" 0 "$(rc_of i1)" "$(err_of i1)"
for s in 0000 0001; do
    run_yt "i_z$s" dump --format jsonl "$W/z7/train$s.tfrecord.zst"
    run_yt "i_p$s" dump --format jsonl "$W/f7a/train$s.tfrecord"
    expect_rc "i.dump-zst-$s-exit" 0 "$(rc_of "i_z$s")" "$(err_of "i_z$s")"
    check "i.zst-same-as-plain-$s" chk samejsonl "$W/i_z$s.out" "$W/i_p$s.out"
done

echo "test_cli: $PASS passed, $FAILN failed"
[ "$FAILN" -eq 0 ]
