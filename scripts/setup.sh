#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install shopbot with the pinned, tested versions.
# Re-installs only when pyproject.toml or constraints.txt changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating virtual environment .venv"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.shopbot-installed"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing dependencies (CPU torch 2.13.0; this takes a few minutes the first time)"
  # torch first, pinned, from the CPU wheel index: PyPI's torch for Linux is a multi-GB CUDA build.
  # (GPU users: install a CUDA torch 2.13.0 into .venv before running this script.)
  if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/python -m pip install --disable-pip-version-check -q --timeout 20 --retries 0 \
      --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple \
      "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
  fi
  .venv/bin/python -m pip install --disable-pip-version-check -q -c constraints.txt -e ".[dev,integrations]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import bot, server, torch, faiss, fastapi; assert torch.__version__.startswith('2.13.0')" \
    || { echo "[setup] installation failed"; exit 1; }
  echo "$want" > "$stamp"
else
  echo "[setup] dependencies up to date"
fi
