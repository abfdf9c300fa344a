"""Detect, crop and read the plates of one image: the step shared by `edge read` and the pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from edge.formats import FormatRules
from edge.ports import PlateDetector, PlateReader
from edge.records import BoundingBox, PlateDetection, PlateRead, PlateText
from edge.sighting import sharpness, touches_edge
from edge.tilt import plate_tilt

# Smaller crops hold no readable characters.
MIN_CROP_H = 4
MIN_CROP_W = 8


@dataclass(frozen=True, slots=True)
class CropMargin:
    """Margin added on each side of a plate box, as a fraction of its width (x) and height (y)."""

    x: float
    y: float


# Detector boxes hug the plate; a little context helps the reader with tight or clipped boxes.
CONTEXT = CropMargin(0.06, 0.12)
TIGHT = CropMargin(0.0, 0.0)
WIDE = CropMargin(0.12, 0.2)
# Every plate is read from these crops (boxes vary in tightness, and the reader in what it makes
# of them), and the crops vote: each distinct text scores the sum of the confidences of the crops
# that read it, the highest wins. On the detection val splits (training/eval_val.py, 370 plates
# with a detection and a confident teacher label) the context crop alone read 300, the context
# and tight crops keeping the more confident read 305, and these three voting 313.
READ_CROPS = (CONTEXT, TIGHT, WIDE)
# The crops are read in up to three batches, each holding the crops of every plate of the image
# that still needs one: first the CONTEXT crop; then the TIGHT crop of the plates read with less
# confidence than SURE_ALONE; then the WIDE crop of those whose two crops disagree (or could not
# both be cut). When two crops agree, the third could only outvote them by being more confident
# than both together. Reading every plate's first two crops, as was done before, read the same
# 314 of 377 val plates as always reading all three, 2.48 instead of 3 crops per plate on 100
# real photos. A plate read at SURE_ALONE from its context crop alone is rarely changed by the
# others' vote: on the val images (training/eval_val.py) upright / turned 8, 15, 22 degrees /
# keystone 0.3, 0.5 the same 318 / 282, 242, 226 / 292, 263 plates were read with 0.99 as with
# every plate's tight crop read (0.95: 319 / 280, 242, 226 / 292, 263; 0.8: 317 upright), and
# the detection val splits kept the same plates (training.detector.mosaic --n 1), at 2.01
# instead of 2.47 crops per upright val plate (benchmarks/README.md: the reader's time). Scored
# once on e2e_val: the same 241 as they are and 234 as 2x2 mosaics, one fewer as 3x3 and 4x4
# (237, 218): a small plate read a character short (B12NCA) at 0.99 from its context crop alone.
SURE_ALONE = 0.99
# A detection marked `confirm` (a detector candidate below its sure threshold) is kept only when
# its read reaches both. With the detector's two thresholds chosen for them on the detection val
# splits (training/detector/confirm.py), pooled recall at precision >= 0.96 rose 0.779 -> 0.804
# (0.712 -> 0.761 before the detector's coarse pass).
CONFIRM_MIN_CONFIDENCE = 0.5
CONFIRM_MIN_CHARS = 4
# A plate read with less confidence than TILT_BELOW is also read from its CONTEXT crop turned
# level (one more batch), and the surer turned read may replace it (below): the reader holds up
# to ~10 degrees of tilt and collapses past 15 (fixture plates: 37/40 read at 10, 28/40 at 15,
# 7/40 at 20), and photos taken by hand or from a leaning vehicle are tilted. How far to turn it
# is measured on the crop (edge.tilt.plate_tilt); under TILT_FROM degrees it is not turned. Val
# images (training/eval_val.py, 377 plates) upright / turned 8, 15, 22 degrees / keystone 0.3:
# 313 / 282, 229, 188 / 291 read when the crop was turned -15 and +15 degrees instead, 317 /
# 282, 224, 208 / 294 measured (models/plate_reader.md, "Measured tilt"). Measured, a turned
# read is rarely wrong where the upright one was right, so more plates are worth turning:
# TILT_BELOW 0.8 / 0.9 / 0.95 / always read 317 / 318 / 318 / 317 upright, 224 / 239 / 243 /
# 248 and 208 / 222 / 226 / 230 turned 15 / 22, 294 / 293 / 292 / 291 keystoned, at 1.62 /
# 1.66 / 1.77 / 1.99 ms per plate of the 100 benchmark photos (the target is 2).
TILT_BELOW = 0.95
TILT_FROM = 3.0
# ... keeping only the middle TILT_BAND of the turned crop's height: a tilted plate's box is
# tall (a 4:1 plate at 22 degrees: 2.4 plate heights), and once turned the plate lies across the
# middle, so the rest is background that squeezes the characters in the reader's 128x64 input.
# 0.7 holds a 4:1 plate tilted 12-30 degrees, turned by 15. Val images turned 15 / 22 degrees
# each way (alternately), 377 plates, turned -15 and +15 (before the tilt was measured): 217 /
# 111 read with the whole turned crop, 232 / 162 with
# 0.7 (0.6: 224 / 171; 0.8: 232 / 159); 8 degrees 285 either way; upright 314 -> 312, a churn
# of a few unsure reads (5 lost, 3 gained).
TILT_BAND = 0.7
# A turned read replaces the plate's read when it is more confident than this share of it: an
# unsure read of a tilted plate is often a confident-looking wrong one. Val (same protocol, with
# the -15 and +15 degree turns, upright / 8 / 15 / 22 degrees): 1.0 read 312 / 285 / 237 / 187,
# 0.9 313 / 286 / 243 / 190, 0.8 313 / 286 / 244 / 190, 0.7 312 / 284 / 243 / 190, 0.5 311 /
# 283 / 237 / 179; detection val recall / precision unchanged (0.807 / 0.961 pooled).
TURNED_WINS_ABOVE = 0.9
# Boxes less tall than this are not turned: turned, their characters would be a few pixels tall.
# On the 100 real photos of benchmarks/models.py this saves 3.17 -> 3.05 crops per plate; val
# reads (upright, 8, 15, 22 degrees), detection and e2e_val stay the same (10 px: 3.08).
TILT_MIN_H = 14


@dataclass(frozen=True, slots=True)
class ImageReading:
    reads: tuple[PlateRead, ...]
    detect_ms: float
    ocr_ms: float


def crop_bounds(box: BoundingBox, width: int, height: int,
                margin: CropMargin = CONTEXT) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of the plate with a margin, clipped to a width x height image."""
    mx, my = box.w * margin.x, box.h * margin.y
    x1 = max(0, int(box.x - mx))
    y1 = max(0, int(box.y - my))
    x2 = min(width, int(round(box.x2 + mx)))
    y2 = min(height, int(round(box.y2 + my)))
    return x1, y1, x2, y2


def crop_plate(image: np.ndarray, box: BoundingBox, margin: CropMargin = CONTEXT) -> np.ndarray:
    """A view (no copy) of the plate with a margin, clipped to the image."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = crop_bounds(box, w, h, margin)
    return image[y1:y2, x1:x2]


def read_detections(
    image: np.ndarray | None,
    detections: Sequence[PlateDetection],
    reader: PlateReader,
    rules: FormatRules | None,
    frame_seq: int = 0,
    crop: Callable[[BoundingBox, CropMargin], np.ndarray] | None = None,
    frame_size: tuple[int, int] | None = None,
) -> list[PlateRead]:
    """Crop every detection (READ_CROPS: the CONTEXT crop, the TIGHT one where that read is less
    sure than SURE_ALONE, the WIDE one where those two disagree), read the crops in at most three
    batches, let each plate's crops vote on its text, apply the format rules; read the plates
    still unsure (TILT_BELOW) and tilted (TILT_FROM) once more,
    turned level by their measured tilt, in one more batch, cut to the band the plate lies in,
    and keep a turned read unless it is clearly less sure (TURNED_WINS_ABOVE). A crop the
    picture's edges clip to the same pixels as another margin's is read once.

    `crop(box, margin)` cuts a plate when there is no whole `image` to cut from (the pipeline
    with a calibration transform computes only the plate regions of the transformed frame).
    A detection whose text is empty is kept (text "") so a tracker can still follow it, unless
    it is a candidate the reader had to confirm (`confirm`, see CONFIRM_MIN_*).
    Each read carries how sharp its crop is and whether its box reaches the edge of the picture
    (`frame_size`, default the image's), so the tracker can keep the best view of a pass.
    """
    if frame_size is None and image is not None:
        frame_size = (image.shape[1], image.shape[0])
    # each plate's crops, cut once: the context crop of an unsure plate is turned after it was
    # read, and `crop` may remap the plate's pixels (a calibration transform)
    cuts: dict[tuple[int, CropMargin], np.ndarray | None] = {}

    def cut(i: int, margin: CropMargin) -> np.ndarray | None:
        if (i, margin) not in cuts:
            box = detections[i].box
            crop_img = crop(box, margin) if crop is not None else crop_plate(image, box, margin)
            big_enough = crop_img.shape[0] >= MIN_CROP_H and crop_img.shape[1] >= MIN_CROP_W
            cuts[(i, margin)] = crop_img if big_enough else None
        return cuts[(i, margin)]

    # the crops each plate has been read from: margins clipped by the picture's edges can cut the
    # very crop another margin cut (a plate that fills a photo), and one crop gets one vote
    cut_before: dict[int, list[np.ndarray]] = {}

    def cut_new(i: int, margin: CropMargin) -> np.ndarray | None:
        crop_img = cut(i, margin)
        if crop_img is None:
            return None
        before = cut_before.setdefault(i, [])
        if any(c.shape == crop_img.shape and np.array_equal(c, crop_img) for c in before):
            return None
        before.append(crop_img)
        return crop_img

    # per plate, per text: (summed confidence, its most confident read)
    votes: dict[int, dict[str, tuple[float, PlateText]]] = {}
    crops_read: dict[int, int] = {}

    def read(jobs: list[tuple[int, np.ndarray]]) -> None:
        if not jobs:
            return
        for (i, _), plate in zip(jobs, reader.predict([c for _, c in jobs])):
            crops_read[i] = crops_read.get(i, 0) + 1
            tally = votes.setdefault(i, {})
            total, surest = tally.get(plate.text, (0.0, plate))
            tally[plate.text] = (total + plate.confidence,
                                 plate if plate.confidence > surest.confidence else surest)

    first, second, rest = READ_CROPS[0], READ_CROPS[1], READ_CROPS[2:]
    read([(i, c) for i in range(len(detections)) if (c := cut_new(i, first)) is not None])
    unsure = [i for i in range(len(detections))
              if i not in votes or max(surest.confidence for _, surest in votes[i].values()) < SURE_ALONE]
    read([(i, c) for i in unsure if (c := cut_new(i, second)) is not None])
    undecided = [i for i in unsure if crops_read.get(i, 0) < 2 or len(votes[i]) > 1]
    read([(i, c) for i in undecided for m in rest if (c := cut_new(i, m)) is not None])
    if not votes:
        return []
    best = {i: _finish(max(votes[i].values(), key=lambda v: (v[0], v[1].confidence))[1], rules,
                       detections[i], frame_seq) for i in sorted(votes)}
    tilted = [(i, turned) for i in best if best[i].confidence < TILT_BELOW
              and detections[i].box.h >= TILT_MIN_H
              and (c := cut(i, CONTEXT)) is not None and (turned := _turned(c)) is not None]
    if tilted:
        for (i, _), plate in zip(tilted, reader.predict([c for _, c in tilted])):
            turned_read = _finish(plate, rules, detections[i], frame_seq)
            if turned_read.confidence > best[i].confidence * TURNED_WINS_ABOVE:
                best[i] = turned_read
    return [replace(r, sharpness=sharpness(cut(i, CONTEXT)), clipped=touches_edge(r.box, frame_size))
            for i, r in best.items() if not detections[i].confirm
            or (r.confidence >= CONFIRM_MIN_CONFIDENCE and len(r.text) >= CONFIRM_MIN_CHARS)]


def _finish(plate: PlateText, rules: FormatRules | None, det: PlateDetection, frame_seq: int) -> PlateRead:
    """The reader's text after the format rules, its confidence the weakest character's."""
    text, chars, region = plate.text, tuple(plate.chars), None
    if rules is not None and text:
        match = rules.best(text, chars)
        text, chars, region = match.text, tuple(match.chars), match.region
    return PlateRead(text=text, chars=chars, confidence=min((c.p for c in chars), default=0.0), box=det.box,
                     detection_score=det.score, frame_seq=frame_seq, region=region)


def _turned(crop: np.ndarray) -> np.ndarray | None:
    """The crop turned level about its centre (edge.tilt.plate_tilt), edges repeated, cut to the
    middle TILT_BAND of its height; None when it is tilted less than TILT_FROM degrees."""
    angle = plate_tilt(crop)
    if abs(angle) < TILT_FROM:
        return None
    h, w = crop.shape[:2]
    band = max(MIN_CROP_H, round(h * TILT_BAND))
    top = (h - band) // 2
    # only the band's rows are computed: the affine map is shifted up by `top`
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[1, 2] -= top
    return cv2.warpAffine(crop, m, (w, band), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


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
