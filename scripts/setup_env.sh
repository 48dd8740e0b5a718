#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv.
# Idempotent: re-installs only when pyproject.toml or constraints.txt changed since the last run.
# torch is pinned to 2.13.0 by constraints.txt (the CPU wheel on this machine); never add torchvision/timm/open_clip.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
stamp=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.setup-stamp 2>/dev/null || true)" != "$stamp" ]; then
    echo "[setup] installing unimotion and its pinned dependencies into .venv (first run takes a few minutes)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
    echo "$stamp" > .venv/.setup-stamp
fi
# Mesa's EGL/OSMesa libraries for the mannequin renderer (pyrender, off-screen; idempotent; see the script)
bash scripts/setup_render.sh
# three.js for the web app's 3D viewer and Chromium for its browser test (idempotent; see the script)
bash scripts/setup_web.sh
