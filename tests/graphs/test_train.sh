#!/usr/bin/env bash
# test_train.sh: the training graphs end to end, real processes over ipc.
#
# Checks, on the real video-level shards of shared/data (read in place) and a
# small `gen` frame-level corpus:
#  1. train_video_logistic.flow with max_steps and export_model_steps: exit 0,
#     summary ok with exact accounting, model_flags.json byte format
#     (REFERENCE 3.5: starter key order and separators, no trailing newline),
#     model.ckpt-N.safetensors every export_model_steps and at max_steps
#     (REFERENCE 5.4: parsed by hand, buffer fully covered, step metadata),
#     "training step" log lines (REFERENCE 4.5, the Hit@1 suffix every 10th).
#  2. resume: a rerun restores the latest checkpoint and the step continues;
#     kill -9 of the launcher and the train node mid-training: nothing left
#     running, every checkpoint under its final name is whole, and a rerun
#     resumes from the latest one.
#  3. MoeModel into a LogisticModel train_dir: refused, naming model_flags.json.
#  4. eval.flow: the starter's eval log lines (REFERENCE 4.5), the JSON output
#     (metrics in [0, 1], every record of the shards counted, num_classes =
#     classes with a positive), an event file in train_dir/eval.
#  5. event files (REFERENCE 5.5): TFRecord framing with CRC-32C, Event and
#     Summary protobufs decoded by hand, file_version first, the train tags.
#  6. infer.flow: the Kaggle CSV (REFERENCE 5.1), `yt8m-flow bundle` (5.3), and
#     infer from the bundle writes the same bytes as from the train dir.
#  7. frame level: FrameLevelLogisticModel (max_steps) and DbofModel (small,
#     to the end of the input), and a deterministic DBoF eval (sample_all).
#  8. bad input: labels beyond num_classes, eval of a train_dir with no
#     checkpoint.
#
# Environment (set by ctest, see tests/graphs/CMakeLists.txt): YT_BIN,
# YT_SHARED, YT_PYTHON. Exit 77 (skipped) without the shards or a python3.
# Every check prints "ok   NAME" or "FAIL NAME: details"; the last line is
# "test_train: N passed, M failed"; the exit status is 1 when anything failed.
# Each run has a generous timeout against hangs (a hang is a failure).
set -u
for v in YT_BIN YT_SHARED YT_PYTHON; do
    [ -n "${!v:-}" ] || { echo "test_train: error: $v is not set (run through ctest)" >&2; exit 1; }
done
[ -x "$YT_BIN" ] || { echo "test_train: error: YT_BIN='$YT_BIN' is not an executable" >&2; exit 1; }
DATA=$YT_SHARED/data
for i in 0 1 2 3 4 5 6; do
    [ -f "$DATA/validate000$i.tfrecord" ] || { echo "test_train: skipped: no $DATA/validate000$i.tfrecord"; exit 77; }
done
"$YT_PYTHON" -c 'import json, struct' 2>/dev/null || { echo "test_train: skipped: no python3 at $YT_PYTHON"; exit 77; }
GRAPHS=$(cd "$(dirname "$0")/../../graphs" && pwd)

# ipc:// socket paths are limited to ~107 bytes: keep everything under /tmp
W=$(mktemp -d /tmp/yt_train.XXXXXX) || { echo "test_train: error: mktemp failed" >&2; exit 1; }
RUNTMP=$W/runs # the launcher's run directories (TMPDIR): our processes carry this path
mkdir -p "$RUNTMP"
BG=
ours() { pgrep -f -- "$RUNTMP/"; } # the node processes of our runs, by their unique path
cleanup() {
    [ -n "$BG" ] && kill -KILL "$BG" 2>/dev/null
    local p
    p=$(ours)
    [ -n "$p" ] && kill -KILL $p 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASS=0
FAILN=0
T0=$(date +%s)
ok()  { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAILN=$((FAILN + 1)); echo "FAIL $1: $2"; }
expect() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name" "condition failed: $*"; fi; }
has() { grep -qE -- "$2" "$1"; }
json() { "$YT_PYTHON" -c "import json,sys; s=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@" 2>&1; }
# py NAME SUBCOMMAND ARGS...: a check done by check.py (below); its output is the failure detail
py() {
    local name=$1 out; shift
    if out=$("$YT_PYTHON" "$W/check.py" "$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi
}
# run [ARGS...]: yt8m-flow run with our run directory, a timeout against hangs
run() { TMPDIR=$RUNTMP timeout -k 10 180 "$YT_BIN" run --quiet "$@"; }
# runs NAME RC-EXPECTED STDERR ARGS...: a run whose exit status is checked
runs() {
    local name=$1 want=$2 err=$3 rc; shift 3
    run "$@" 2>"$err"
    rc=$?
    if [ "$rc" -eq "$want" ]; then ok "$name: exit $want"
    else bad "$name: exit $want" "exit $rc; stderr tail: $(tail -n 5 "$err" | tr '\n' '|')"; fi
    return $rc
}
summary_ok() { # NAME SUMMARY.json: ok and exact accounting
    local v
    v=$(json "$2" '(s["ok"], s["accounting"]["ok"], s["accounting"]["verdict"])')
    case $v in "(True, True, "*) ok "$1: summary ok, accounting exact" ;;
               *) bad "$1: summary ok, accounting exact" "$v" ;; esac
}
no_leftovers() {
    local name=$1 i
    for i in $(seq 1 50); do [ -z "$(ours)" ] && break; sleep 0.1; done
    if [ -n "$(ours)" ]; then bad "$name: no processes left" "$(pgrep -af -- "$RUNTMP/")"; return; fi
    if [ -n "$(ls -A "$RUNTMP")" ]; then bad "$name: no run directory left" "$(ls -A "$RUNTMP")"; return; fi
    ok "$name: nothing left behind"
}
latest_step() { # the highest N of DIR/model.ckpt-N.safetensors, or empty
    ls "$1" 2>/dev/null | sed -n 's/^model\.ckpt-\([0-9][0-9]*\)\.safetensors$/\1/p' | sort -n | tail -n 1
}
first_step() { sed -n 's/^training step \([0-9][0-9]*\) .*/\1/p' "$1" | head -n 1; }

# ---- check.py: the format checks, by hand (no numpy, no protobuf) -----------
cat >"$W/check.py" <<'PYEOF'
import json, os, re, struct, sys

def die(msg):
    print(msg)
    sys.exit(1)

# CRC-32C (Castagnoli), TFRecord's masked form
_T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _T.append(c)
def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = _T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
def masked(b):
    c = crc32c(b)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF

def tfrecords(path):
    b = open(path, "rb").read()
    p, out = 0, []
    while p < len(b):
        if p + 12 > len(b): die("%s: truncated length at byte %d" % (path, p))
        n, = struct.unpack_from("<Q", b, p)
        lc, = struct.unpack_from("<I", b, p + 8)
        if lc != masked(b[p:p + 8]): die("%s: length crc mismatch at byte %d" % (path, p))
        if p + 12 + n + 4 > len(b): die("%s: truncated record at byte %d" % (path, p))
        d = b[p + 12:p + 12 + n]
        dc, = struct.unpack_from("<I", b, p + 12 + n)
        if dc != masked(d): die("%s: data crc mismatch at byte %d" % (path, p))
        out.append(d)
        p += 12 + n + 4
    return out

def varint(b, p):
    v = s = 0
    while True:
        if p >= len(b): raise ValueError("truncated varint")
        x = b[p]; p += 1
        v |= (x & 0x7F) << s; s += 7
        if not x & 0x80: return v, p

def fields(b):
    """[(field, wire, value)] of one protobuf message"""
    p, out = 0, []
    while p < len(b):
        key, p = varint(b, p)
        f, w = key >> 3, key & 7
        if w == 0: v, p = varint(b, p)
        elif w == 1: v = b[p:p + 8]; p += 8
        elif w == 2:
            n, p = varint(b, p); v = b[p:p + n]; p += n
        elif w == 5: v = b[p:p + 4]; p += 4
        else: raise ValueError("wire type %d" % w)
        if p > len(b): raise ValueError("truncated field %d" % f)
        out.append((f, w, v))
    return out

def event(d):
    """Event -> dict(wall_time, step, file_version, values={tag: float})"""
    e = {"wall_time": None, "step": None, "file_version": None, "values": {}}
    for f, w, v in fields(d):
        if f == 1 and w == 1: e["wall_time"] = struct.unpack("<d", v)[0]
        elif f == 2 and w == 0: e["step"] = v
        elif f == 3 and w == 2: e["file_version"] = v.decode()
        elif f == 5 and w == 2:
            for sf, sw, sv in fields(v):
                if sf != 1 or sw != 2: raise ValueError("Summary field %d wire %d" % (sf, sw))
                tag, val = None, None
                for vf, vw, vv in fields(sv):
                    if vf == 1 and vw == 2: tag = vv.decode()
                    elif vf == 2 and vw == 5: val = struct.unpack("<f", vv)[0]
                if tag is None or val is None: raise ValueError("Value without tag or simple_value")
                e["values"][tag] = val
        else: raise ValueError("unexpected Event field %d wire %d" % (f, w))
    return e

def read_events(path):
    recs = tfrecords(path)
    if not recs: die("%s: no records" % path)
    try: evs = [event(r) for r in recs]
    except ValueError as x: die("%s: %s" % (path, x))
    e0 = evs[0]
    if e0["file_version"] != "brain.Event:2" or not e0["wall_time"] or e0["values"]:
        die("%s: first record is not Event{wall_time, file_version: brain.Event:2}: %r" % (path, e0))
    if not re.match(r"events\.out\.tfevents\.\d{10}\.", os.path.basename(path)):
        die("%s: not named events.out.tfevents.<10 digits>.<host>" % path)
    for e in evs[1:]:
        if e["step"] is None or not e["values"] or not e["wall_time"] or e["file_version"] is not None:
            die("%s: a scalar record without step, values or wall_time: %r" % (path, e))
    return evs[1:]

def cmd_events_train(paths, first, last):
    steps = []
    for path in paths:
        evs = read_events(path)
        prev = -1
        for e in evs:
            s, tags = e["step"], set(e["values"])
            if s <= prev: die("%s: step %d after step %d" % (path, s, prev))
            prev = s
            need = {"label_loss", "learning_rate", "global_step/Examples/Second"}
            if not need <= tags: die("%s: step %d lacks %s (has %s)" % (path, s, need - tags, sorted(tags)))
            hit = {"model/Training_Hit@1", "model/Training_Perr", "model/Training_GAP"}
            if s % 10 == 0 and not hit <= tags: die("%s: step %d lacks %s" % (path, s, hit - tags))
            if s % 10 != 0 and tags & hit: die("%s: step %d has %s" % (path, s, tags & hit))
            for t, v in e["values"].items():
                if v != v or v in (float("inf"), float("-inf")): die("%s: step %d %s = %r" % (path, s, t, v))
            if e["values"]["label_loss"] <= 0: die("%s: step %d label_loss %r" % (path, s, e["values"]["label_loss"]))
            if not 0 < e["values"]["learning_rate"] <= 0.01 + 1e-9: die("%s: learning_rate %r" % (path, e["values"]["learning_rate"]))
            steps.append(s)
    if sorted(steps) != list(range(first, last + 1)):
        die("steps over the event files: %s, expected %d..%d" % (sorted(steps), first, last))

def cmd_events_eval(path, n_batches):
    evs = read_events(path)
    batch = {"GlobalStep/Eval_Hit@1", "GlobalStep/Eval_Perr", "GlobalStep/Eval_Loss", "GlobalStep/Eval_Example_Second"}
    final = {"Epoch/Eval_Avg_Hit@1", "Epoch/Eval_Avg_Perr", "Epoch/Eval_Avg_Loss", "Epoch/Eval_MAP", "Epoch/Eval_GAP"}
    if len(evs) != n_batches + 1: die("%s: %d scalar records, expected %d batches + 1" % (path, len(evs), n_batches))
    for e in evs[:-1]:
        if set(e["values"]) != batch: die("%s: batch record with %s" % (path, sorted(e["values"])))
    if set(evs[-1]["values"]) != final: die("%s: last record with %s" % (path, sorted(evs[-1]["values"])))
    return evs[-1]

def cmd_st(path, step, prefix, adam):
    b = open(path, "rb").read()
    if len(b) < 8: die("%s: %d bytes" % (path, len(b)))
    n, = struct.unpack_from("<Q", b, 0)
    if n % 8 or 8 + n > len(b) or b[8:9] != b"{": die("%s: header length %d of a %d-byte file" % (path, n, len(b)))
    try: h = json.loads(b[8:8 + n].decode("utf-8"))
    except ValueError as x: die("%s: header is not JSON: %s" % (path, x))
    meta = h.pop("__metadata__", None)
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        die("%s: __metadata__ missing or not string->string" % path)
    if meta.get("step") != str(step): die("%s: __metadata__ step %r, expected %d" % (path, meta.get("step"), step))
    spans = []
    for k, t in h.items():
        if t.get("dtype") != "F32": die("%s: %s dtype %r" % (path, k, t.get("dtype")))
        cnt = 1
        for d in t["shape"]: cnt *= d
        a, z = t["data_offsets"]
        if z - a != 4 * cnt: die("%s: %s: %d bytes for shape %s" % (path, k, z - a, t["shape"]))
        spans.append((a, z, k))
    spans.sort()
    pos = 0
    for a, z, k in spans:
        if a != pos: die("%s: %s starts at %d, expected %d (hole or overlap)" % (path, k, a, pos))
        pos = z
    if 8 + n + pos != len(b): die("%s: tensors cover %d of %d buffer bytes" % (path, pos, len(b) - 8 - n))
    names = [k for _, _, k in spans]
    if prefix and not [k for k in names if k.startswith(prefix)]: die("%s: no tensor %s...: %s" % (path, prefix, names))
    slots = [k for k in names if k.endswith("/Adam") or k.endswith("/Adam_1")]
    if adam == "yes":
        if not slots: die("%s: no Adam slots" % path)
        if meta.get("adam_t") != str(step): die("%s: adam_t %r at step %d" % (path, meta.get("adam_t"), step))
    elif adam == "no" and slots: die("%s: Adam slots in a weights-only file: %s" % (path, slots[:3]))

def cmd_flags(path, model, sizes, names, frame, classes):
    b = open(path, "rb").read()
    prefix = ('{"model": "%s", "feature_sizes": "%s", "feature_names": "%s", "frame_features": %s, '
              '"label_loss": "CrossEntropyLoss"' % (model, sizes, names, frame)).encode()
    if not b.startswith(prefix): die("%s: %r does not start with %r" % (path, b, prefix))
    if not b.endswith(b"}"): die("%s: does not end with '}' (trailing newline?): %r" % (path, b[-10:]))
    rest = b[len(prefix):]
    if rest != b"}" and not rest.startswith(b", \""): die("%s: extra keys not as ', \"key\": value': %r" % (path, rest))
    if b", " not in b or b": " not in b or b"\n" in b: die("%s: separators: %r" % (path, b))
    j = json.loads(b)
    if list(j)[:5] != ["model", "feature_sizes", "feature_names", "frame_features", "label_loss"]:
        die("%s: key order %s" % (path, list(j)))
    if j.get("num_classes", int(classes)) != int(classes): die("%s: num_classes %r" % (path, j.get("num_classes")))

def load_dump(paths):
    recs = []
    for p in paths:
        for line in open(p):
            recs.append(json.loads(line))
    return recs

TRAIN_RE = re.compile(r"^training step (\d+) \| Loss: \d+\.\d\d Examples/sec: \d+\.\d\d"
                      r"( \| Hit@1: \d\.\d\d PERR: \d\.\d\d GAP: \d\.\d\d)?$")
def cmd_train_log(path, first, last):
    steps = []
    for line in open(path):
        line = line.rstrip("\n")
        if not line.startswith("training step"): continue
        m = TRAIN_RE.match(line)
        if not m: die("%s: not the starter's format: %r" % (path, line))
        s = int(m.group(1))
        if (s % 10 == 0) != (m.group(2) is not None): die("%s: Hit@1 suffix on step %d: %r" % (path, s, line))
        steps.append(s)
    if steps != list(range(first, last + 1)): die("%s: training steps %s, expected %d..%d" % (path, steps, first, last))

F3 = r"\d+\.\d{3}"
BATCH_RE = re.compile(r"^examples_processed: (\d+) \| global_step (\S+) \| Batch Hit@1: (%s) \| Batch PERR: (%s) \| "
                      r"Batch Loss: %s \| Examples_per_sec: %s$" % (F3, F3, F3, F3))
EPOCH_RE = re.compile(r"^epoch/eval number (\S+) \| Avg_Hit@1: (%s) \| Avg_PERR: (%s) \| MAP: (%s) \| GAP: (%s) \| "
                      r"Avg_Loss: *(\d+\.\d{6}) \| num_classes: (\d+)$" % (F3, F3, F3, F3))
def cmd_eval(errpath, jpath, step, batch_size, dumps, classes):
    recs = load_dump(dumps)
    n = len(recs)
    lines = [l.rstrip("\n") for l in open(errpath)]
    batch = [l for l in lines if l.startswith("examples_processed:")]
    want_batches = (n + batch_size - 1) // batch_size
    if len(batch) != want_batches: die("%d per-batch lines, expected %d: %r" % (len(batch), want_batches, batch[:2]))
    seen = 0
    for i, l in enumerate(batch):
        m = BATCH_RE.match(l)
        if not m: die("per-batch line not in the starter's format: %r" % l)
        seen += min(batch_size, n - i * batch_size)
        if int(m.group(1)) != seen: die("examples_processed %s, expected %d (cumulative): %r" % (m.group(1), seen, l))
        if m.group(2) != str(step): die("global_step %s, expected %s: %r" % (m.group(2), step, l))
        if not (0 <= float(m.group(3)) <= 1 and 0 <= float(m.group(4)) <= 1): die("out of [0,1]: %r" % l)
    try: k = lines.index("Done with batched inference. Now calculating global performance metrics.")
    except ValueError: die("no 'Done with batched inference. ...' line")
    if k + 2 >= len(lines): die("the final lines are cut")
    m = EPOCH_RE.match(lines[k + 1])
    if not m: die("epoch line not in the starter's format: %r" % lines[k + 1])
    if lines[k + 2] != "Total: examples_processed: %d" % n: die("total line %r, expected %d" % (lines[k + 2], n))
    if m.group(1) != str(step): die("epoch/eval number %s, expected %s" % (m.group(1), step))
    positives = set()
    for r in recs: positives.update(r["labels"])
    if int(m.group(7)) != len(positives):
        die("num_classes %s in the log, but %d classes have a positive in the data" % (m.group(7), len(positives)))
    j = json.load(open(jpath))
    for key in ("gap", "hit_at_one", "perr", "map"):
        v = j.get(key)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1 + 1e-12:
            die("%s: %s = %r, not a number in [0, 1]" % (jpath, key, v))
    if j.get("examples") != n: die("%s: examples %r, the shards hold %d records" % (jpath, j.get("examples"), n))
    if j.get("global_step") != int(step): die("%s: global_step %r, expected %s" % (jpath, j.get("global_step"), step))
    if j.get("num_classes") != len(positives): die("%s: num_classes %r, expected %d" % (jpath, j.get("num_classes"), len(positives)))
    for key, g in (("hit_at_one", 2), ("perr", 3), ("map", 4), ("gap", 5)):
        if abs(j[key] - float(m.group(g))) > 0.0005 + 1e-9:
            die("%s: %s %r but the log says %s" % (jpath, key, j[key], m.group(g)))
    if abs(j["loss"] - float(m.group(6))) > 1e-6 * max(1, abs(j["loss"])):
        die("%s: loss %r but the log says %s" % (jpath, j["loss"], m.group(6)))

G = r"(?:\d+(?:\.\d+)?(?:e[-+]\d\d+)?|inf|nan)"
def cmd_csv(path, dumps, classes, top_k):
    recs = load_dump(dumps)
    b = open(path, "rb").read()
    if not b.endswith(b"\n") or b"\r" in b: die("%s: lines must end with \\n" % path)
    lines = b.decode("utf-8").split("\n")[:-1]
    if lines[0] != "VideoId,LabelConfidencePairs": die("%s: header %r" % (path, lines[0]))
    rows = lines[1:]
    if len(rows) != len(recs): die("%s: %d rows for %d videos" % (path, len(rows), len(recs)))
    line_re = re.compile(r"^([^,]+),(\d+ %s(?: \d+ %s){%d})$" % (G, G, top_k - 1))
    ids = []
    for row in rows:
        m = line_re.match(row)
        if not m: die("%s: row not 'id,' + %d '%%d %%g' pairs: %r" % (path, top_k, row))
        ids.append(m.group(1))
        t = m.group(2).split(" ")
        cls = [int(x) for x in t[0::2]]
        sc = t[1::2]
        if any(not 0 <= c < classes for c in cls): die("%s: class outside [0, %d): %r" % (path, classes, row))
        if len(set(cls)) != len(cls): die("%s: a class twice: %r" % (path, row))
        for s in sc:
            if "%g" % float(s) != s: die("%s: score %r is not printed as %%g (%r)" % (path, s, "%g" % float(s)))
        v = [float(s) for s in sc]
        if any(not 0 <= x <= 1 for x in v): die("%s: score outside [0, 1]: %r" % (path, row))
        if any(v[i] < v[i + 1] for i in range(len(v) - 1)): die("%s: scores increase along the row: %r" % (path, row))
    if sorted(ids) != sorted(r["id"] for r in recs): die("%s: the ids are not the shard's" % path)

def main():
    a = sys.argv[1:]
    c = a[0]
    if c == "st": cmd_st(a[1], int(a[2]), a[3], a[4])
    elif c == "flags": cmd_flags(*a[1:7])
    elif c == "train-log": cmd_train_log(a[1], int(a[2]), int(a[3]))
    elif c == "events-train": cmd_events_train(a[3:], int(a[1]), int(a[2]))
    elif c == "events-eval": cmd_events_eval(a[1], int(a[2]))
    elif c == "eval": cmd_eval(a[1], a[2], a[3], int(a[4]), a[6:], int(a[5]))
    elif c == "csv": cmd_csv(a[1], a[4:], int(a[2]), int(a[3]))
    else: die("check.py: unknown command %s" % c)

main()
PYEOF

"$YT_BIN" dump --format jsonl "$DATA/validate0005.tfrecord" "$DATA/validate0006.tfrecord" >"$W/eval.jsonl" 2>"$W/dump.err" ||
    bad "dump validate0005-6" "$(cat "$W/dump.err")"
"$YT_BIN" dump --format jsonl "$DATA/validate0006.tfrecord" >"$W/v6.jsonl" 2>>"$W/dump.err" || bad "dump validate0006" "$(cat "$W/dump.err")"
N56=$(wc -l <"$W/eval.jsonl")
N6=$(wc -l <"$W/v6.jsonl")
expect "the eval shards hold records ($N56, $N6)" [ "$N56" -gt 0 -a "$N6" -gt 0 ]

# ---- 1. LogisticModel on video-level features ------------------------------
TD=$W/logistic
TRAIN=("$GRAPHS/train_video_logistic.flow" --set "train_data_pattern=$DATA/validate000[0-4].tfrecord"
       --set "train_dir=$TD" --set batch_size=32 --set train.export_model_steps=5)
runs "logistic, 12 steps" 0 "$W/l1.err" "${TRAIN[@]}" --set max_steps=12 --summary "$W/l1.json"
summary_ok "logistic, 12 steps" "$W/l1.json"
expect "logistic, 12 steps: train reports global_step 12" [ "$(json "$W/l1.json" 's["nodes"]["train"]["global_step"]')" = 12 ]
expect "logistic: stops at max_steps" has "$W/l1.err" '^train: reached max_steps 12'
py "logistic: model_flags.json as the starter writes it (prefix, separators, no trailing newline)" \
    flags "$TD/model_flags.json" LogisticModel 1024,128 mean_rgb,mean_audio false 3862
expect "logistic: checkpoints 5, 10 and 12 (every export_model_steps and at max_steps)" \
    [ "$(ls "$TD" | grep '^model\.ckpt-' | sort -V | tr '\n' ' ')" = "model.ckpt-5.safetensors model.ckpt-10.safetensors model.ckpt-12.safetensors " ]
for s in 5 10 12; do
    py "logistic: model.ckpt-$s.safetensors parses (header, tower/ tensors, Adam slots, step $s)" st "$TD/model.ckpt-$s.safetensors" $s tower/ yes
done
py "logistic: training lines 1..12 in the starter's format, Hit@1/PERR/GAP at step 10" train-log "$W/l1.err" 1 12
no_leftovers "logistic"

# ---- 2. resume, then kill -9 mid-training -----------------------------------
runs "logistic resumed to 17" 0 "$W/l2.err" "${TRAIN[@]}" --set max_steps=17 --summary "$W/l2.json"
summary_ok "logistic resumed" "$W/l2.json"
expect "resume: restores model.ckpt-12" has "$W/l2.err" "^train: restored $TD/model\.ckpt-12\.safetensors \(global step 12\)"
expect "resume: the first step printed is 13 (got $(first_step "$W/l2.err"))" [ "$(first_step "$W/l2.err")" = 13 ]
py "resume: training lines 13..17" train-log "$W/l2.err" 13 17
expect "resume: latest checkpoint is 17" [ "$(latest_step "$TD")" = 17 ]
py "resume: model.ckpt-17 carries step 17 and Adam's t" st "$TD/model.ckpt-17.safetensors" 17 tower/ yes
no_leftovers "resume"

KD=$W/killed
KTRAIN=("$GRAPHS/train_video_logistic.flow" --set "train_data_pattern=$DATA/validate000[0-4].tfrecord"
        --set "train_dir=$KD" --set batch_size=32 --set num_epochs=200 --set train.export_model_steps=3)
TMPDIR=$RUNTMP "$YT_BIN" run --quiet "${KTRAIN[@]}" 2>"$W/k1.err" &
BG=$!
# wait for two checkpoints (steps 3 and 6), so that the rerun has to pick the latest
for i in $(seq 1 600); do [ "$(latest_step "$KD")" -ge 6 ] 2>/dev/null && break; kill -0 $BG 2>/dev/null || break; sleep 0.1; done
sleep 0.3
victim=$(pgrep -f -- "$RUNTMP/.*plan\.json train 0")
expect "kill -9: checkpoints appeared while training ran (latest $(latest_step "$KD"))" [ -n "$(latest_step "$KD")" -a -n "$victim" ]
{ kill -KILL $victim $BG; wait $BG; } 2>/dev/null # (no "Killed" job notice)
BG=
gone=0
for i in $(seq 1 100); do [ -z "$(ours)" ] && { gone=1; break; }; sleep 0.1; done
expect "kill -9: no process of the run is left" [ "$gone" -eq 1 ]
rm -rf "${RUNTMP:?}"/* # the launcher was killed: it could not remove its run directory
KS=$(latest_step "$KD")
nck=0
for f in "$KD"/model.ckpt-*.safetensors; do
    [ -e "$f" ] || continue
    nck=$((nck + 1))
    s=${f##*/model.ckpt-}; s=${s%.safetensors}
    py "kill -9: $(basename "$f") is whole" st "$f" "$s" tower/ yes
done
expect "kill -9: checkpoints left ($nck, latest ${KS:-none})" [ "$nck" -ge 2 ]
tmps=$(ls "$KD" | grep -v -e '^model\.ckpt-[0-9]*\.safetensors$' -e '^model_flags\.json$' -e '^events\.out\.tfevents\.' -e '\.tmp$')
expect "kill -9: nothing unexpected in train_dir ($tmps)" [ -z "$tmps" ]
if [ -n "$KS" ]; then
    runs "kill -9: rerun to $((KS + 4))" 0 "$W/k2.err" "${KTRAIN[@]}" --set max_steps=$((KS + 4)) --summary "$W/k2.json"
    expect "kill -9: the rerun restores model.ckpt-$KS" has "$W/k2.err" "^train: restored $KD/model\.ckpt-$KS\.safetensors \(global step $KS\)"
    expect "kill -9: the rerun's first step is $((KS + 1)) (got $(first_step "$W/k2.err"))" [ "$(first_step "$W/k2.err")" = $((KS + 1)) ]
    expect "kill -9: the rerun ends with model.ckpt-$((KS + 4))" [ "$(latest_step "$KD")" = $((KS + 4)) ]
fi
no_leftovers "kill -9 rerun"

# ---- 3. another model into the same train_dir -------------------------------
cp "$TD/model_flags.json" "$W/flags.before"
runs "MoeModel into the LogisticModel train_dir" 1 "$W/moe.err" "$GRAPHS/train_video_moe.flow" \
    --set "train_data_pattern=$DATA/validate0000.tfrecord" --set "train_dir=$TD" --set batch_size=32 --set max_steps=2
expect "model_flags mismatch: the error names model_flags.json and the key" \
    has "$W/moe.err" '^ERROR: from node train\[0\] \(train\): .*model_flags\.json.*model.*LogisticModel.*MoeModel'
expect "model_flags mismatch: model_flags.json and the checkpoints untouched" \
    [ "$(cmp -s "$TD/model_flags.json" "$W/flags.before" && latest_step "$TD")" = 17 ]
no_leftovers "model_flags mismatch"

# ---- 4. eval.flow --------------------------------------------------------------
runs "eval" 0 "$W/ev.err" "$GRAPHS/eval.flow" --set "eval_data_pattern=$DATA/validate000[5-6].tfrecord" \
    --set "train_dir=$TD" --set batch_size=128 --set "output_file=$W/eval.json" --summary "$W/ev.json"
summary_ok "eval" "$W/ev.json"
expect "eval: every record evaluated ($N56)" [ "$(json "$W/ev.json" 's["nodes"]["eval"]["in"]')" = "$N56" ]
py "eval: the starter's log lines and a JSON in [0,1] over $N56 videos, num_classes = classes with a positive" \
    eval "$W/ev.err" "$W/eval.json" 17 128 3862 "$W/eval.jsonl"
evf=$(ls "$TD"/eval/events.out.tfevents.* 2>/dev/null | head -n 1)
expect "eval: an event file in train_dir/eval" [ -n "$evf" ]
[ -n "$evf" ] && py "eval: its records: one per batch of GlobalStep/Eval_*, then Epoch/Eval_*" events-eval "$evf" $(( (N56 + 127) / 128 ))
no_leftovers "eval"

# ---- 5. the train event files ----------------------------------------------------
# two runs wrote to TD: steps 1..12, then 13..17, one file each
nev=$(ls "$TD" | grep -c '^events\.out\.tfevents\.')
expect "events: one file per training run in train_dir ($nev)" [ "$nev" -eq 2 ]
py "events: framing, CRCs, brain.Event:2 first, train tags, steps 1..17 increasing" \
    events-train 1 17 "$TD"/events.out.tfevents.*

# ---- 6. infer.flow, bundle ----------------------------------------------------------
runs "infer" 0 "$W/in.err" "$GRAPHS/infer.flow" --set "input_data_pattern=$DATA/validate0006.tfrecord" \
    --set "train_dir=$TD" --set "output_file=$W/pred.csv" --summary "$W/in.json"
summary_ok "infer" "$W/in.json"
expect "infer: 'Done with inference' line" has "$W/in.err" "^Done with inference\. The output file was written to $W/pred\.csv$"
py "infer: Kaggle CSV, header + $N6 rows of 20 '%d %g' pairs, scores non-increasing" csv "$W/pred.csv" 3862 20 "$W/v6.jsonl"
expect "infer: no temporary file left beside the CSV" [ "$(ls -A "$W" | grep -c '\.tmp')" -eq 0 ]
if "$YT_BIN" bundle "$TD" -o "$W/model.tgz" >"$W/bundle.out" 2>&1; then ok "bundle: exit 0"; else bad "bundle: exit 0" "$(cat "$W/bundle.out")"; fi
expect "bundle: tar lists exactly model_flags.json and inference_model.safetensors" \
    [ "$(tar tzf "$W/model.tgz" 2>&1 | sort | tr '\n' ' ')" = "inference_model.safetensors model_flags.json " ]
mkdir -p "$W/untar" && tar xzf "$W/model.tgz" -C "$W/untar" 2>/dev/null
expect "bundle: model_flags.json as in train_dir" cmp -s "$W/untar/model_flags.json" "$TD/model_flags.json"
py "bundle: inference_model.safetensors: weights of step 17, no Adam slots" st "$W/untar/inference_model.safetensors" 17 tower/ no
runs "infer from the bundle" 0 "$W/in2.err" "$GRAPHS/infer.flow" --set "input_data_pattern=$DATA/validate0006.tfrecord" \
    --set train_dir= --set "input_model_tgz=$W/model.tgz" --set "output_file=$W/pred2.csv"
expect "infer from the bundle: the same CSV, byte for byte" cmp -s "$W/pred.csv" "$W/pred2.csv"
no_leftovers "infer"

# ---- 7. frame level ------------------------------------------------------------
if "$YT_BIN" gen --out "$W/frames" --level frame --videos 200 --shards 2 --classes 50 --split train \
       --min-frames 5 --max-frames 40 >/dev/null 2>"$W/gen.err"; then ok "gen frame corpus"; else bad "gen frame corpus" "$(cat "$W/gen.err")"; fi
FD=$W/frame_logistic
runs "FrameLevelLogisticModel, 10 steps" 0 "$W/f1.err" "$GRAPHS/train_frame_logistic.flow" \
    --set "train_data_pattern=$W/frames/train*.tfrecord" --set "train_dir=$FD" --set batch_size=32 \
    --set num_classes=50 --set max_frames=40 --set max_steps=10 --summary "$W/f1.json"
summary_ok "FrameLevelLogisticModel" "$W/f1.json"
expect "FrameLevelLogisticModel: checkpoint at step 10" [ "$(latest_step "$FD")" = 10 ]
[ "$(latest_step "$FD")" = 10 ] && py "FrameLevelLogisticModel: model.ckpt-10 parses" st "$FD/model.ckpt-10.safetensors" 10 "" yes
py "FrameLevelLogisticModel: model_flags.json (rgb,audio, frame_features true)" \
    flags "$FD/model_flags.json" FrameLevelLogisticModel 1024,128 rgb,audio true 50
py "FrameLevelLogisticModel: training lines 1..10" train-log "$W/f1.err" 1 10
no_leftovers "FrameLevelLogisticModel"

# DBoF to the end of one epoch: 200 videos = 6 batches of 32 and one of 8
BD=$W/dbof
runs "DbofModel, one epoch" 0 "$W/d1.err" "$GRAPHS/train_frame_dbof.flow" \
    --set "train_data_pattern=$W/frames/train*.tfrecord" --set "train_dir=$BD" --set batch_size=32 --set num_epochs=1 \
    --set num_classes=50 --set max_frames=40 --set dbof_cluster_size=64 --set dbof_hidden_size=32 --set iterations=10 \
    --summary "$W/d1.json"
summary_ok "DbofModel" "$W/d1.json"
expect "DbofModel: 200 videos trained on, global step 7" \
    [ "$(json "$W/d1.json" '(s["accounting"]["consumed"], s["nodes"]["train"]["examples"], s["nodes"]["train"]["global_step"])')" = "(200, 200, 7)" ]
expect "DbofModel: checkpoint at the end of the input (step 7)" [ "$(latest_step "$BD")" = 7 ]
[ "$(latest_step "$BD")" = 7 ] && py "DbofModel: model.ckpt-7 parses" st "$BD/model.ckpt-7.safetensors" 7 "" yes
py "DbofModel: model_flags.json" flags "$BD/model_flags.json" DbofModel 1024,128 rgb,audio true 50
py "DbofModel: training lines 1..7" train-log "$W/d1.err" 1 7
# eval.flow's own comment: frame level with sample_all = true for a deterministic DBoF eval
DEVAL=("$GRAPHS/eval.flow" --set "eval_data_pattern=$W/frames/train*.tfrecord" --set "train_dir=$BD" --set level=frame
       --set dtype=uint8 --set "feature_names=rgb,audio" --set max_frames=40 --set batch_size=64 --set sample_all=true
       --set eval.num_classes=50)
runs "DbofModel eval, sample_all = true (1)" 0 "$W/de1.err" "${DEVAL[@]}" --set "output_file=$W/de1.json"
runs "DbofModel eval, sample_all = true (2)" 0 "$W/de2.err" "${DEVAL[@]}" --set "output_file=$W/de2.json"
expect "DbofModel eval, sample_all: the same figures twice, over 200 videos" \
    [ -s "$W/de1.json" -a "$(cmp -s "$W/de1.json" "$W/de2.json" && json "$W/de1.json" 's["examples"]')" = 200 ]
no_leftovers "DbofModel"

# NetVLADModelLF (small) and LstmModel (small), a few steps each; a NetVLAD eval with sample_all twice
NV=$W/netvlad
runs "NetVLADModelLF small, 5 steps" 0 "$W/n1.err" "$GRAPHS/train_netvlad_small.flow" \
    --set "train_data_pattern=$W/frames/train*.tfrecord" --set "train_dir=$NV" --set batch_size=32 \
    --set num_classes=50 --set max_frames=40 --set netvlad_cluster_size=8 --set netvlad_hidden_size=16 \
    --set iterations=40 --set max_steps=5 --summary "$W/n1.json"
summary_ok "NetVLADModelLF" "$W/n1.json"
expect "NetVLADModelLF: checkpoint at step 5" [ "$(latest_step "$NV")" = 5 ]
py "NetVLADModelLF: model_flags.json" flags "$NV/model_flags.json" NetVLADModelLF 1024,128 rgb,audio true 50
NEVAL=("$GRAPHS/eval.flow" --set "eval_data_pattern=$W/frames/train*.tfrecord" --set "train_dir=$NV" --set level=frame
       --set dtype=uint8 --set "feature_names=rgb,audio" --set max_frames=40 --set batch_size=64 --set sample_all=true
       --set eval.num_classes=50)
runs "NetVLADModelLF eval, sample_all = true (1)" 0 "$W/ne1.err" "${NEVAL[@]}" --set "output_file=$W/ne1.json"
runs "NetVLADModelLF eval, sample_all = true (2)" 0 "$W/ne2.err" "${NEVAL[@]}" --set "output_file=$W/ne2.json"
expect "NetVLADModelLF eval, sample_all: the same figures twice, over 200 videos" \
    [ -s "$W/ne1.json" -a "$(cmp -s "$W/ne1.json" "$W/ne2.json" && json "$W/ne1.json" 's["examples"]')" = 200 ]
LD=$W/lstm
runs "LstmModel small, 5 steps" 0 "$W/l1.err" "$GRAPHS/train_frame_lstm.flow" \
    --set "train_data_pattern=$W/frames/train*.tfrecord" --set "train_dir=$LD" --set batch_size=32 \
    --set num_classes=50 --set max_frames=40 --set lstm_layers=2 --set lstm_cells=16 --set max_steps=5 \
    --summary "$W/l1.json"
summary_ok "LstmModel" "$W/l1.json"
expect "LstmModel: checkpoint at step 5" [ "$(latest_step "$LD")" = 5 ]
py "LstmModel: training lines 1..5" train-log "$W/l1.err" 1 5
no_leftovers "NetVLADModelLF and LstmModel"

# inspect train: the parameter count a configuration implies (REFERENCE 2.7: 321,528,380 for the winner's)
"$YT_BIN" inspect train --set model=NetVLADModelLF >"$W/i1.out" 2>&1
expect "inspect train, NetVLADModelLF defaults: 321528380 trainable parameters" \
    has "$W/i1.out" "NetVLADModelLF .* 321528380 trainable parameters \(321\.5 M\) \+ 12844 batch-norm"
"$YT_BIN" inspect train --set model=MoeModel --set num_classes=10 >"$W/i2.out" 2>&1
expect "inspect train, MoeModel with 10 classes: 1152 x (10x3 + 10x2) + 20 = 57620" has "$W/i2.out" " 57620 trainable"
irc=0; "$YT_BIN" inspect train --set model=NetVLADModel >"$W/i3.out" 2>&1 || irc=$?
expect "inspect train, a misspelt model: exit 1 with a suggestion" \
    [ "$irc" = 1 ] && has "$W/i3.out" "did you mean 'NetVLADModelLF'"

# ---- 8. bad input ------------------------------------------------------------------
runs "train with num_classes below the labels" 1 "$W/b1.err" "$GRAPHS/train_video_logistic.flow" \
    --set "train_data_pattern=$DATA/validate0000.tfrecord" --set "train_dir=$W/small" --set batch_size=32 \
    --set max_steps=3 --set train.num_classes=100
expect "num_classes too small: the error names the video and num_classes" \
    has "$W/b1.err" "^ERROR: from node train\[0\] \(train\): video '[^']+' .*num_classes"
expect "num_classes too small: no checkpoint written" [ -z "$(latest_step "$W/small")" ]
mkdir -p "$W/empty"
runs "eval of a train_dir without checkpoints" 1 "$W/b2.err" "$GRAPHS/eval.flow" \
    --set "eval_data_pattern=$DATA/validate0005.tfrecord" --set "train_dir=$W/empty"
expect "no checkpoint: the error names train_dir" has "$W/b2.err" "^ERROR: from node infer\[0\] \(infer\): .*$W/empty"
no_leftovers "bad input"

echo "test_train: $PASS passed, $FAILN failed ($(($(date +%s) - T0)) s)"
[ "$FAILN" -eq 0 ]
