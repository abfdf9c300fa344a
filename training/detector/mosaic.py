"""Detection on val photos made small in a big picture: plates far off, and several cars at once.

    python -m training.detector.mosaic [--n 3] [--sets d1,d2,d6] [--config TOML]

Pastes each detection set's *val* photos (D1: val_noleak.txt) N x N into one picture (in name
order, cells as large as the set's largest photo, the layout of `eval_e2e --mosaic`), runs the
product's stills path (`edge.recognition.models.loading.load_readers(stills=True)`, `edge.recognition.reading.read_detections`) and
reports per set, at IoU >= 0.5 against every labelled box:
  raw   recall / precision of the detector's boxes, candidates for confirmation included
  kept  recall / precision of the reads `edge read` would print (candidates the reader confirmed)
and the detector's median ms per picture. N = 1 scores the photos as they are. `--unmatched DIR`
writes every kept read that matches no labelled box as a PNG (the box with its surroundings and
the read text), to look at: on D3 (dashcam) they are plates the labels leave out. Validation
only: nothing here feeds training, and e2e_val is never read. The PNGs are cut from
../shared's photos: keep them out of the repository.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from edge.records import BoundingBox
from training.detector import common, data

SHORT = {name.split("_", 1)[0]: name for name in data.TRAIN_SETS}


def pictures(root: Path, set_name: str, n: int):
    """(picture, boxes [M, 4] x1y1x2y2) per N x N group of the set's val photos."""
    from edge.synth.big_photo import compose_grid

    samples = data.load_split(root, set_name, "val", max_side=None)
    for k in range(0, len(samples), n * n):
        group = samples[k:k + n * n]
        if n == 1:
            yield group[0].image, np.asarray(group[0].boxes, np.float32).reshape(-1, 4)
            continue
        scenes = [(s.image, [(BoundingBox(float(x1), float(y1), float(x2 - x1), float(y2 - y1)), "")
                             for x1, y1, x2, y2 in s.boxes]) for s in group]
        canvas, plates = compose_grid(scenes, n)
        yield canvas, np.array([[b.x, b.y, b.x2, b.y2] for b, _ in plates], np.float32).reshape(-1, 4)


def score(models, root: Path, set_name: str, n: int, unmatched: Path | None = None) -> dict:
    from edge.recognition.reading import read_detections

    gt = 0
    found = {"raw": [0, 0], "kept": [0, 0]}  # boxes returned, true ones among them
    ms = []
    for picture, boxes in pictures(root, set_name, n):
        t0 = time.perf_counter()
        dets = models.detector.predict(picture)
        ms.append((time.perf_counter() - t0) * 1000.0)
        reads = read_detections(picture, dets, models.reader, models.rules)
        gt += len(boxes)
        for kind, hits in (("raw", [(d.box, d.score) for d in dets]),
                           ("kept", [(r.box, r.detection_score) for r in reads])):
            xyxy = np.array([[b.x, b.y, b.x2, b.y2] for b, _ in hits], np.float32).reshape(-1, 4)
            scores = np.array([s for _, s in hits], np.float32)
            tp = common.match(xyxy, scores, boxes)
            found[kind][0] += len(hits)
            found[kind][1] += int(tp.sum())
            if kind == "kept" and unmatched is not None:
                for r, hit in zip(reads, tp):
                    if not hit:
                        _write_unmatched(unmatched / f"{set_name[:2]}_{len(ms):04d}_{r.text or '-'}.png", picture, r)
    return {
        "boxes": gt,
        **{kind: (tp / max(gt, 1), tp / max(n_found, 1)) for kind, (n_found, tp) in found.items()},
        "ms": statistics.median(ms) if ms else 0.0,
    }


def _write_unmatched(path: Path, picture: np.ndarray, read) -> None:
    import cv2

    from edge.recognition.reading import CropMargin, crop_plate

    view = cv2.resize(crop_plate(picture, read.box, CropMargin(1.0, 1.5)), (240, 120))
    cv2.putText(view, f"{read.text} {read.confidence:.2f} {read.box.w:.0f}px", (2, 12), 0, 0.45, (0, 0, 255), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), view)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3, help="photos per side of each picture (1: as they are)")
    ap.add_argument("--sets", default="d1,d2,d6", help="comma-separated: d1, d2, d3, d5, d6, d7")
    ap.add_argument("--config", type=Path, default=None, help="an edge TOML config (default: the embedded one)")
    ap.add_argument("--root", type=Path, default=data.default_data_root())
    ap.add_argument("--unmatched", type=Path, default=None, metavar="DIR",
                    help="write the kept reads that match no labelled box here, as PNGs")
    args = ap.parse_args(argv)
    from edge.recognition.models.loading import load_readers
    from edge.configuration.settings import load_config

    models = load_readers(load_config(args.config), stills=True)
    for short in args.sets.split(","):
        r = score(models, args.root, SHORT[short.strip()], args.n, args.unmatched)
        print(f"{short} {args.n}x{args.n} boxes {r['boxes']:4d}  raw recall {r['raw'][0]:.3f} precision "
              f"{r['raw'][1]:.3f}  kept recall {r['kept'][0]:.3f} precision {r['kept'][1]:.3f}  "
              f"detect {r['ms']:.0f} ms", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
