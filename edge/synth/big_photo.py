"""Big photos with small plates: labelled scenes shrunk and laid side by side on one canvas.

    image, plates = compose_big_photo(scenes, 4000, 3000, scale=0.5)

`scenes`: (BGR image, ((BoundingBox, text), ...)) pairs, e.g. the committed fixture scenes.
They are placed left to right, row by row, in the order given; `plates` holds every plate that
landed on the canvas, its box in the canvas's pixels. Used to test and measure how the detector
copes with a phone photo or a 4K frame of a wide scene, where the plates are readable but small
next to the whole picture.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from edge.records import BoundingBox

Labelled = tuple[BoundingBox, str]

GAP_X = 60
GAP_Y = 40
BACKGROUND = 114


def read_scene_labels(path: Path) -> dict[str, list[Labelled]]:
    """A scenes labels.tsv (`image, x, y, w, h, text`, `#` comments; scripts/make_fixtures.py):
    each image's plates, boxes in its pixels."""
    out: dict[str, list[Labelled]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, x, y, w, h, text = line.split("\t")
            out.setdefault(name, []).append((BoundingBox(float(x), float(y), float(w), float(h)), text))
    return out


def compose_big_photo(scenes: Iterable[tuple[np.ndarray, Sequence[Labelled]]], width: int, height: int,
                      scale: float) -> tuple[np.ndarray, list[Labelled]]:
    canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
    plates: list[Labelled] = []
    x = y = row_h = 0
    for image, labelled in scenes:
        scene = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        sh, sw = scene.shape[:2]
        if x + sw > width:
            x, y, row_h = 0, y + row_h + GAP_Y, 0
        if y + sh > height or sw > width:
            break
        canvas[y:y + sh, x:x + sw] = scene
        plates += [(BoundingBox(x + b.x * scale, y + b.y * scale, b.w * scale, b.h * scale), text)
                   for b, text in labelled]
        x, row_h = x + sw + GAP_X, max(row_h, sh)
    return canvas, plates


def compose_grid(scenes: Sequence[tuple[np.ndarray, Sequence[Labelled]]], n: int) -> tuple[np.ndarray, list[Labelled]]:
    """Up to n x n scenes at their own size, n to a row, each in a cell as large as the largest
    scene (the mosaics of training.eval_e2e and training.detector.mosaic)."""
    cw = max(image.shape[1] for image, _ in scenes)
    ch = max(image.shape[0] for image, _ in scenes)
    return compose_big_photo(scenes, n * cw + (n - 1) * GAP_X, n * ch + (n - 1) * GAP_Y, 1.0)
