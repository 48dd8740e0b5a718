#!/usr/bin/env bash
# Quick-start main job: set up .venv, then generate a motion from text with the UniMotion demo checkpoint
# (checkpoints/unimotion_bandaiml, trained on BandaiML — non-commercial use only, see its NOTICE), offline
# on the CPU: writes out/demo/motion.gif (stick figure) and out/demo/motion.bvh.
# Usage: bash scripts/demo.sh ["other text"] [more `unimotion generate` options, e.g. --seconds 6 --seed 3]
# The codec round-trip demo of earlier versions is still `unimotion demo -o out/codec_demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg
TEXT="a person walks forward happily"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then TEXT=$1; shift; fi
.venv/bin/unimotion generate "$TEXT" -o out/demo/motion.gif --bvh out/demo/motion.bvh --overwrite "$@"
