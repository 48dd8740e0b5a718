#!/usr/bin/env bash
# Quick-start main job: set up .venv, then run `unimotion demo` into out/demo/ (offline, CPU, ~15 s).
# A procedural motion is encoded to HumanML3D's 263 features and decoded back; the round-trip error is
# printed and written to out/demo/demo.json (+ .md), with a GIF, a PNG strip and an NPZ beside it.
# Extra arguments go to `unimotion demo` (e.g. --kind jump --frames 160 --seed 3 --mp4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg
.venv/bin/unimotion demo -o out/demo --overwrite "$@"
