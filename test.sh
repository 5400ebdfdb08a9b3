#!/usr/bin/env bash
# Run the whole test suite (about 5 minutes on 2 cores). `./test.sh --fast` skips the tests marked
# slow (model training). Further arguments go to pytest, e.g. `./test.sh tests/test_tools_store.py -x`.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
scripts/system-deps.sh
marker=()
if [ "${1:-}" = "--fast" ]; then
  marker=(-m "not slow")
  shift
fi
exec .venv/bin/python -m pytest "${marker[@]}" "$@"
