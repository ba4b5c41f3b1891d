#!/usr/bin/env bash
# yt8m.sh: the README's two commands.
#   bash scripts/yt8m.sh quickstart   install what is missing, build, run the quickstart
#   bash scripts/yt8m.sh test         install what is missing, build, run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  quickstart)
    bash scripts/setup.sh
    bash examples/quickstart.sh
    ;;
  test)
    bash scripts/setup.sh --test
    # -j2: the suite is sized for 2 cores; no test has a time limit.
    ctest --test-dir build --output-on-failure -j2 ${CTEST_ARGS:-}
    ;;
  *)
    echo "usage: bash scripts/yt8m.sh quickstart|test" >&2
    exit 2
    ;;
esac
