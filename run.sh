#!/usr/bin/env bash
# Set everything up (each step only if missing) and run the server at http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
export SHOPBOT_HOME="${SHOPBOT_HOME:-$PWD/.shopbot}"
exec .venv/bin/shopbot up "$@"
