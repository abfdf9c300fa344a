"""End-to-end reading score on the detection *val* splits: the val counterpart of eval_e2e.

    python -m training.eval_val [--show-errors]

Runs the product path (`edge.recognition.models.loading.load_readers`, `edge.recognition.reading.read_image`) on every val image
(D1: val_noleak.txt) that has a plate with a confident teacher label (written by
`python -m training.ocr.prepare` to $OCR_SCRATCH/real_val.pkl), and counts a plate as read when
a detection overlaps its box (IoU >= 0.5) and reads the teacher's text. The labels are only the
plates the teacher read confidently, so the figure flatters hard plates; it exists so that
inference-time choices (crops, thresholds, passes) are made on val data and never on e2e_val.
"""

from __future__ import annotations

import argparse
import pickle
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from edge.records import BoundingBox
from training.detector.data import TRAIN_SETS, read_yolo
from training.ocr.common import DATASETS, SCRATCH

SOURCES = {name.split("_", 1)[0]: name for name in TRAIN_SETS}  # "d1" -> "d1_experiment_plates"


def labelled_images() -> dict[tuple[str, str], tuple[np.ndarray, list[tuple[BoundingBox, str]]]]:
    """(source, file) -> (image, [(box in original pixels, teacher text)]) for the confident labels."""
    with open(SCRATCH / "real_val.pkl", "rb") as f:
        records = pickle.load(f)
    texts: dict[tuple[str, str], dict[int, str]] = defaultdict(dict)
    for r in records:
        if r.get("text"):
            texts[(r["source"], r["file"])][r["box_index"]] = r["text"]
    images = {}
    for (src, name), by_index in sorted(texts.items()):
        path = DATASETS / "detect" / SOURCES[src] / "val" / "images" / name
        image = cv2.imread(str(path))
        if image is None:
            continue
        h, w = image.shape[:2]
        boxes = read_yolo(path.parent.parent / "labels" / (path.stem + ".txt"), w, h)
        images[(src, name)] = (image, [
            (BoundingBox(float(x1), float(y1), float(x2 - x1), float(y2 - y1)), by_index[i])
            for i, (x1, y1, x2, y2) in enumerate(boxes) if i in by_index])
    return images


def turned(images, degrees: float):
    """The images turned by `degrees`, one way and the other in turn, on a canvas grown to hold
    them (edges replicated); each label box becomes the upright box around its turned corners."""
    def turn(i: int, w: int, h: int) -> tuple[np.ndarray, tuple[int, int]]:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees if i % 2 == 0 else -degrees, 1.0)
        c, s = abs(m[0, 0]), abs(m[0, 1])
        nw, nh = int(round(h * s + w * c)), int(round(h * c + w * s))
        m[0, 2] += nw / 2 - w / 2
        m[1, 2] += nh / 2 - h / 2
        return np.vstack([m, [0.0, 0.0, 1.0]]), (nw, nh)

    return _warped(images, turn)


def keystoned(images, k: float):
    """The images seen from one side and the other in turn, as a camera turned away from them:
    the far edge shrunk to 1 - k of the height (a perspective warp, same canvas); each label box
    becomes the upright box around its warped corners."""
    def keystone(i: int, w: int, h: int) -> tuple[np.ndarray, tuple[int, int]]:
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        a, b = k * h / 2, 0.0
        dst = np.float32([[0, b], [w, a], [w, h - a], [0, h - b]]) if i % 2 == 0 else \
            np.float32([[0, a], [w, b], [w, h - b], [0, h - a]])
        return cv2.getPerspectiveTransform(src, dst), (w, h)

    return _warped(images, keystone)


def _warped(images, warp):
    """Each image warped by `warp(index, w, h) -> (3x3 matrix, output (w, h))`, edges replicated;
    each label box becomes the upright box around its warped corners."""
    out = {}
    for i, (key, (image, truth)) in enumerate(images.items()):
        h, w = image.shape[:2]
        m, size = warp(i, w, h)
        picture = cv2.warpPerspective(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        boxes = []
        for box, text in truth:
            corners = np.float32([[[box.x, box.y], [box.x2, box.y], [box.x2, box.y2], [box.x, box.y2]]])
            xy = cv2.perspectiveTransform(corners, m)[0]
            (x1, y1), (x2, y2) = xy.min(0), xy.max(0)
            boxes.append((BoundingBox(float(x1), float(y1), float(x2 - x1), float(y2 - y1)), text))
        out[key] = (picture, boxes)
    return out


def score(models, images, show_errors: bool = False) -> dict[str, tuple[int, int]]:
    from edge.recognition.reading import read_image

    per = defaultdict(lambda: [0, 0])
    for (src, name), (image, truth) in images.items():
        reads = read_image(image, models.detector, models.reader, models.rules).reads
        for box, text in truth:
            best = max(reads, key=lambda r: r.box.iou(box), default=None)
            got = best.text if best is not None and best.box.iou(box) >= 0.5 else None
            per[src][1] += 1
            per[src][0] += got == text
            if got != text and show_errors:
                print(f"  {src} {name}: want {text} got {got}")
    per["all"] = [sum(v[0] for v in per.values()), sum(v[1] for v in per.values())]
    return {k: (v[0], v[1]) for k, v in per.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--show-errors", action="store_true")
    ap.add_argument("--config", type=Path, default=None, help="an edge TOML config (default: the embedded one)")
    ap.add_argument("--turn", type=float, default=0.0, metavar="DEG",
                    help="turn the images by DEG degrees, one way and the other in turn (tilted plates)")
    ap.add_argument("--keystone", type=float, default=0.0, metavar="K",
                    help="warp the images as seen from one side and the other in turn, the far edge "
                         "shrunk to 1 - K of the height (plates seen at an angle)")
    args = ap.parse_args(argv)
    from edge.recognition.models.loading import load_readers
    from edge.configuration.settings import load_config

    images = labelled_images()
    if args.turn:
        images = turned(images, args.turn)
    if args.keystone:
        images = keystoned(images, args.keystone)
    result = score(load_readers(load_config(args.config), stills=True), images, args.show_errors)
    for src, (ok, n) in sorted(result.items()):
        print(f"{src:4s} {ok}/{n} = {ok / max(n, 1):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
