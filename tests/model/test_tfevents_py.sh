#!/bin/bash
# test_tfevents_py: an event file from the C writer (test_formats --write-events), read back
# by Debian's python3 + python3-protobuf (tfevents_check.py: descriptors built at run time,
# CRC-32C in pure Python). Exits 77 (skipped) without python3 or its protobuf module.
set -u
PY=${YT_PYTHON:-/usr/bin/python3}
[ -n "${YT_BUILD:-}" ] || { echo "YT_BUILD is not set (run through ctest)"; exit 1; }
BIN=$YT_BUILD/tests/model/test_formats
HERE=$(cd "$(dirname "$0")" && pwd)

[ -x "$PY" ] || { echo "no python3 at '$PY': skipped"; exit 77; }
"$PY" -c 'import google.protobuf' 2>/dev/null || { echo "python3-protobuf is missing: skipped"; exit 77; }
[ -x "$BIN" ] || { echo "$BIN is not built"; exit 1; }

dir=$(mktemp -d /tmp/yt_tfevents_py.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
path=$("$BIN" --write-events "$dir/logs/train") || { echo "test_formats --write-events failed"; exit 1; }
[ -f "$path" ] || { echo "no event file at '$path'"; exit 1; }
"$PY" "$HERE/tfevents_check.py" "$path"
