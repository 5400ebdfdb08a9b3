#!/usr/bin/env bash
# Run the test suite (the fast subset by default; `./test.sh --all` adds the slow training tests).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
scripts/system-deps.sh
marker=(-m "not slow")
if [ "${1:-}" = "--all" ]; then
  marker=()
  shift
fi
exec .venv/bin/python -m pytest "${marker[@]}" "$@"
