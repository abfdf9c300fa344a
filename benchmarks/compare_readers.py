"""Two reader models side by side in one process: ms per plate as `edge.recognition.reading` reads it, and
ms per crop (batch 1), in interleaved rounds, so the ratio holds on a shared, noisy machine.

    python3 benchmarks/compare_readers.py OLD.onnx NEW.onnx [--rounds 15] [--photos DIR]

Each model's sidecar is the JSON beside it (or --sidecars A.json B.json). The plates are the
detector's in DIR (default: 100 of ../shared/datasets/e2e_val's photos, as benchmarks/models.py
uses, else the fixture scenes); the crops are the fixture plates.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import FIXTURES, _photo_dir  # noqa: E402  (this folder's own helper module)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs=2, type=Path)
    ap.add_argument("--sidecars", nargs=2, type=Path, default=(None, None))
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--photos", type=Path)
    args = ap.parse_args()

    from edge.recognition.models.loading import load_readers
    from edge.recognition.models.reader import OnnxPlateReader
    from edge.recognition.reading import read_detections
    from edge.configuration.settings import load_config

    models = load_readers(load_config(None))
    readers = [OnnxPlateReader(m, sidecar=s) for m, s in zip(args.models, args.sidecars)]
    photos = _photo_dir(args.photos)
    images = [im for p in sorted(photos.iterdir()) if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
              and (im := cv2.imread(str(p))) is not None]
    found = [(im, dets) for im in images if (dets := models.detector.predict(im))]
    n_plates = sum(len(d) for _, d in found)
    plates = [cv2.imread(str(p)) for p in sorted((FIXTURES / "plates").glob("*.png"))] * 5
    as_read: list[list[float]] = [[], []]
    per_crop: list[list[float]] = [[], []]
    for reader in readers:  # warm-up
        for image, dets in found[:10]:
            read_detections(image, dets, reader, models.rules)
    for _ in range(args.rounds):
        for i, reader in enumerate(readers):
            t0 = time.perf_counter()
            for image, dets in found:
                read_detections(image, dets, reader, models.rules)
            as_read[i].append((time.perf_counter() - t0) * 1e3 / n_plates)
            t0 = time.perf_counter()
            for crop in plates:
                reader.predict([crop])
            per_crop[i].append((time.perf_counter() - t0) * 1e3 / len(plates))
    med = statistics.median
    for i, (model, reader) in enumerate(zip(args.models, readers)):
        print(f"{reader.name} ({model}): {med(as_read[i]):.3f} ms per plate as read "
              f"({min(as_read[i]):.2f}-{max(as_read[i]):.2f}), {med(per_crop[i]):.3f} ms per crop")
    print(f"ratio, second / first (median of the {args.rounds} rounds' ratios): "
          f"as read {med(b / a for a, b in zip(*as_read)):.3f}, per crop {med(b / a for a, b in zip(*per_crop)):.3f}; "
          f"{n_plates} plates in {len(found)} photos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
