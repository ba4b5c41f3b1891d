#!/usr/bin/env bash
# update_node_reference.sh [BIN]: rewrites the README's node reference (between
# the BEGIN/END markers) from `yt8m-flow inspect --markdown`. With --check,
# changes nothing and exits 1 when the README differs (tests/unit uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
BIN=${1:-build/yt8m-flow}
ref=$(mktemp)
trap 'rm -f "$ref" "$ref.new"' EXIT
"$BIN" inspect --markdown >"$ref"
awk -v ref="$ref" '
  /<!-- BEGIN node reference -->/ { print; while ((getline line < ref) > 0) print line; skip = 1; next }
  /<!-- END node reference -->/   { skip = 0 }
  !skip { print }' README.md >"$ref.new"
if [ $check = 1 ]; then
  if ! diff -u README.md "$ref.new" >&2; then
    echo "README.md's node reference is out of date: run bash scripts/update_node_reference.sh" >&2
    exit 1
  fi
  echo "README node reference matches 'yt8m-flow inspect --markdown'"
else
  cp "$ref.new" README.md
  echo "README.md: node reference updated"
fi
