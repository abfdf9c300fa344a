#!/usr/bin/env bash
# Reproduce models/plate_detector.{onnx,json}: two training stages (tqdm progress bars),
# export (+ int8 trial), evaluation. About 75-90 min on a shared 2-core box, one torch thread.
# Usage: training/detector/run.sh            (OUT=dir to change the run folder)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/work/scratch/detector/repro}
# stage 1: 3000 steps from scratch, cosine from lr 3e-3
python -m training.detector.train --out "$OUT/stage1" --steps 3000 --lr 3e-3 --width 1.0 --eval-every 500 --seed 0
# stage 2: warm restart from stage 1's last weights, 4500 steps, cosine from lr 2e-3, fresh synthetic scenes
python -m training.detector.train --out "$OUT/stage2" --init "$OUT/stage1/last.pt" --steps 4500 --lr 2e-3 \
    --width 1.0 --eval-every 750 --seed 1
python -m training.detector.export --ckpt "$OUT/stage2/last.pt" --version 1
python -m training.detector.evaluate --json "$OUT/eval.json"
