#!/usr/bin/env bash
# Reproduce models/plate_detector.{onnx,json}: train (tqdm progress bar), export + int8, evaluate.
# Usage: training/detector/run.sh [extra train.py args]   (OUT=dir to change the run folder)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/work/scratch/detector/run}
python -m training.detector.train --out "$OUT" --steps "${STEPS:-3000}" --width 1.0 --eval-every 500 "$@"
python -m training.detector.export --ckpt "$OUT/best.pt"
python -m training.detector.evaluate --json "$OUT/eval.json"
