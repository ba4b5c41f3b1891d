#!/bin/bash
# test_metrics_numpy: the C metrics (nodes/model/metrics.c, gap.c) against an
# independent NumPy reimplementation (metrics_ref.py) run by Debian's python3:
#  - MT19937 outputs and random.sample (pool and set algorithms) vs Python's;
#  - Hit@1, PERR, loss, GAP, mAP, num_classes and the first batch's train-time
#    metrics on 3000 x 500 random predictions rounded to 2 decimals (heavy
#    ties, saturated 1.0s, rows without labels, empty classes), in batches,
#    to 1e-9. The data is checked to make the tie order matter.
# Env: YT_BUILD (CMake binary dir), YT_PYTHON (default /usr/bin/python3).
# Exit 77 (skipped) without numpy.
set -u
PY=${YT_PYTHON:-/usr/bin/python3}
BIN=${YT_BUILD:?YT_BUILD is not set (run through ctest)}/tests/model/test_metrics
REF=$(cd "$(dirname "$0")" && pwd)/metrics_ref.py

if ! "$PY" -c 'import numpy' 2>/dev/null; then
  echo "test_metrics_numpy: $PY has no numpy: skipped"
  exit 77
fi
[ -x "$BIN" ] || { echo "test_metrics_numpy: $BIN not built"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

"$PY" "$REF" mt 2000 >"$tmp/mt.py" && "$BIN" --mt 2000 >"$tmp/mt.c" || exit 1
if cmp -s "$tmp/mt.py" "$tmp/mt.c"; then echo "ok: 2000 MT19937 outputs after seed(0)"
else echo "FAILED: MT19937 outputs differ from python's"; fail=1; fi

# (n k seed): pool algorithm (k = n, or n <= setsize) and set algorithm
for spec in "10 10 0" "1 1 0" "100000 100000 0" "50 10 1" "200 10 1" "1000 5 12345" \
            "70000 3000 99" "5 0 3"; do
  set -- $spec
  "$PY" "$REF" sample "$1" "$2" "$3" >"$tmp/s.py" && "$BIN" --sample "$1" "$2" "$3" >"$tmp/s.c" || exit 1
  if cmp -s "$tmp/s.py" "$tmp/s.c"; then echo "ok: seed($3); sample(range($1), $2)"
  else echo "FAILED: seed($3); sample(range($1), $2) differs"; fail=1; fi
done

B=3000 C=500
"$PY" "$REF" gen "$tmp" $B $C 7 || exit 1
# (batch top_k): batches that do not divide B, and one batch with a small top_k
for spec in "700 20" "3000 7"; do
  set -- $spec
  "$BIN" --dump "$tmp/preds.bin" "$tmp/labels.bin" $B $C "$1" "$2" >"$tmp/c.json" || exit 1
  "$PY" "$REF" eval "$tmp/preds.bin" "$tmp/labels.bin" $B $C "$1" "$2" >"$tmp/py.json" || exit 1
  echo "batch $1, top_k $2:"
  "$PY" "$REF" compare "$tmp/c.json" "$tmp/py.json" || fail=1
done

[ $fail = 0 ] && echo "test_metrics_numpy: all agree"
exit $fail
