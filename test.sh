#!/usr/bin/env bash
# Run the test suite on both databases: every test on SQLite (the default store), then again on
# PostgreSQL (a throwaway server the tests start) without the model-training tests, which do not
# touch the database. About 24 minutes on 2 cores (2026-12-08), plus the first install.
#
#   ./test.sh                       both passes
#   ./test.sh --fast                skip the tests marked slow (model training) in both passes
#   ./test.sh --database postgres   one pass (sqlite or postgres)
#   ./test.sh tests/test_protocol_ws.py -x    further arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
scripts/system-deps.sh
fast=0
databases=(sqlite postgres)
while [ $# -gt 0 ]; do
  case "$1" in
    --fast) fast=1; shift ;;
    --database) databases=("$2"); shift 2 ;;
    *) break ;;
  esac
done
for database in "${databases[@]}"; do
  marker=()
  if [ "$fast" = 1 ] || [ "$database" = postgres ]; then
    marker=(-m "not slow")
  fi
  echo "== tests on $database =="
  SHOPBOT_TEST_DATABASE="$database" .venv/bin/python -m pytest "${marker[@]}" "$@"
done
