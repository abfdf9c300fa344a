"""Detect, crop and read the plates of one image: the step shared by `edge read` and the pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edge.formats import FormatRules
from edge.ports import PlateDetector, PlateReader
from edge.records import BoundingBox, PlateDetection, PlateRead

# Detector boxes hug the plate; a little context helps the reader with tight or clipped boxes.
CROP_MARGIN_X = 0.06
CROP_MARGIN_Y = 0.12
# Smaller crops hold no readable characters.
MIN_CROP_H = 4
MIN_CROP_W = 8


@dataclass(frozen=True, slots=True)
class ImageReading:
    reads: tuple[PlateRead, ...]
    detect_ms: float
    ocr_ms: float


def crop_bounds(box: BoundingBox, width: int, height: int) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of the plate with a small margin, clipped to a width x height image."""
    mx, my = box.w * CROP_MARGIN_X, box.h * CROP_MARGIN_Y
    x1 = max(0, int(box.x - mx))
    y1 = max(0, int(box.y - my))
    x2 = min(width, int(round(box.x2 + mx)))
    y2 = min(height, int(round(box.y2 + my)))
    return x1, y1, x2, y2


def crop_plate(image: np.ndarray, box: BoundingBox) -> np.ndarray:
    """A view (no copy) of the plate with a small margin, clipped to the image."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = crop_bounds(box, w, h)
    return image[y1:y2, x1:x2]


def read_detections(
    image: np.ndarray | None,
    detections: Sequence[PlateDetection],
    reader: PlateReader,
    rules: FormatRules | None,
    frame_seq: int = 0,
    crop: Callable[[BoundingBox], np.ndarray] | None = None,
) -> list[PlateRead]:
    """Crop every detection, read all crops in one batch, apply the format rules.

    `crop(box)` cuts a plate when there is no whole `image` to cut from (the pipeline with a
    calibration transform computes only the plate regions of the transformed frame).
    A detection whose text is empty is kept (text "") so a tracker can still follow it.
    """
    pairs = []
    for det in detections:
        crop_img = crop(det.box) if crop is not None else crop_plate(image, det.box)
        if crop_img.shape[0] >= MIN_CROP_H and crop_img.shape[1] >= MIN_CROP_W:
            pairs.append((det, crop_img))
    if not pairs:
        return []
    texts = reader.predict([c for _, c in pairs])
    reads = []
    for (det, _), plate in zip(pairs, texts):
        text, chars, region = plate.text, tuple(plate.chars), None
        if rules is not None and text:
            match = rules.best(text, chars)
            text, chars, region = match.text, tuple(match.chars), match.region
        confidence = min((c.p for c in chars), default=0.0)
        reads.append(PlateRead(text=text, chars=chars, confidence=confidence, box=det.box,
                               detection_score=det.score, frame_seq=frame_seq, region=region))
    return reads


def read_image(
    image: np.ndarray,
    detector: PlateDetector,
    reader: PlateReader,
    rules: FormatRules | None,
    frame_seq: int = 0,
) -> ImageReading:
    t0 = time.perf_counter()
    detections = detector.predict(image)
    t1 = time.perf_counter()
    reads = read_detections(image, detections, reader, rules, frame_seq)
    t2 = time.perf_counter()
    return ImageReading(tuple(reads), (t1 - t0) * 1000.0, (t2 - t1) * 1000.0)
