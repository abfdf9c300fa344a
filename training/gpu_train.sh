#!/usr/bin/env bash
# Train both models at once on one GPU machine with ~16 cores, from packed data (no ../shared
# there). The same trainers run on CPU with --device cpu (see training/*/README.md).
#
# Here:   python -m training.detector.pack --out .gpu_data/detector/train.pkl
#         python -m training.ocr.pack --out .gpu_data/ocr --quality 85
#         python -m training.pack_fonts --out .gpu_data/fonts.tgz
# There:  OUT=/path/to/out MINUTES=8.4 training/gpu_train.sh   (DEVICE=cpu for a smoke run here)
#         DET_ARGS / OCR_ARGS are added to each trainer's command line, e.g.
#         OCR_ARGS="--width 24,48,96,128,160" for the wider reader trunk.
# Back here: untar $OUT/results.tgz, then export / package / evaluate on CPU (the val splits and
# e2e_val never leave this machine, so checkpoints are scored here).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the output folder}
MINUTES=${MINUTES:-8}
DET_WORKERS=${DET_WORKERS:-9}
OCR_WORKERS=${OCR_WORKERS:-6}
DEVICE=${DEVICE:-cuda}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
WORK=${WORK:-/tmp/edge-train}
mkdir -p "$OUT" "$WORK/det" "$WORK/ocr"
# the renderer's TrueType fonts, where the machine has none (python -m training.pack_fonts)
if [ -f .gpu_data/fonts.tgz ]; then
    tar xzf .gpu_data/fonts.tgz -C "$WORK" && export EDGE_SYNTH_FONTS="$WORK/fonts"
fi

nvidia-smi -L 2>&1 | head -2
python3 -c "import torch, cv2, onnx, PIL; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cv2', cv2.__version__, 'PIL', PIL.__version__, 'cpus', __import__('os').cpu_count())"
python3 -c "from edge.synth import fonts; print('fonts', sorted(fonts._font_files())[:3], len(fonts._font_files()))"

python3 -m training.detector.train --pack .gpu_data/detector/train.pkl --out "$WORK/det" \
    --minutes "$MINUTES" --workers "$DET_WORKERS" --device "$DEVICE" --batch 128 --crop 320 \
    --zoom-max 2.2 --width 1.25 --lr 4e-3 --snapshot-minutes 1.5 ${DET_ARGS:-} >"$OUT/det.log" 2>&1 &
det=$!
python3 -m training.ocr.train --pack .gpu_data/ocr --work "$WORK/ocr" --no-bar \
    --minutes "$MINUTES" --workers "$OCR_WORKERS" --device "$DEVICE" --batch 256 --lr 3e-3 \
    --eval-every 1000 ${OCR_ARGS:-} >"$OUT/ocr.log" 2>&1 &
ocr=$!

# insurance against the command's time limit: whatever exists a minute before the end
(sleep "$(awk -v m="$MINUTES" 'BEGIN { print m * 60 - 30 }')"; tar czf "$OUT/partial.tgz" -C "$WORK" det ocr 2>/dev/null) &
snap=$!
wait $det; echo "detector exit $?"
wait $ocr; echo "ocr exit $?"
kill $snap 2>/dev/null
tar czf "$OUT/results.tgz" -C "$WORK" det ocr && rm -f "$OUT/partial.tgz"
ls -la "$WORK/det" "$WORK/ocr"
tail -3 "$OUT/det.log"; tail -5 "$OUT/ocr.log"
