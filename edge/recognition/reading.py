"""Detect, crop and read the plates of one image: the step shared by `edge read` and the pipeline.

How hard to look at each plate is a `ReadingPolicy` (one default, `DEFAULT_POLICY`); the
figures that chose its values are in docs/reading.md."""

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
from edge.recognition.tilt import plate_tilt


@dataclass(frozen=True, slots=True)
class CropMargin:
    """Margin added on each side of a plate box, as a fraction of its width (x) and height (y)."""

    x: float
    y: float


# Detector boxes hug the plate; a little context helps the reader with tight or clipped boxes.
CONTEXT = CropMargin(0.06, 0.12)
TIGHT = CropMargin(0.0, 0.0)
WIDE = CropMargin(0.12, 0.2)


@dataclass(frozen=True, slots=True)
class ReadingPolicy:
    """How hard each plate is looked at: which crops are read and vote, when an unsure read is
    read again turned level, and what a detector candidate's read must reach. The defaults were
    measured with the shipped models (docs/reading.md has the figures)."""

    # Crops vote on the text: the first is read for every plate, the second where that read is
    # less sure than `sure_alone`, the rest where those two disagree.
    read_crops: tuple[CropMargin, ...] = (CONTEXT, TIGHT, WIDE)
    # A read this sure from the first crop is rarely changed by the others' vote.
    sure_alone: float = 0.99
    # A detection marked `confirm` (a candidate below the detector's sure threshold) is kept only
    # when its read is this sure and this long: the rule the detector's thresholds were chosen
    # with (its sidecar's `confirmation.confirm_rule`, see `for_detector`).
    confirm_min_confidence: float = 0.5
    confirm_min_chars: int = 4
    # A read less sure than `tilt_below`, of a box at least `tilt_min_h` px tall tilted by at
    # least `tilt_from` degrees, is read again from its first crop turned level: the reader
    # collapses past ~15 degrees of tilt.
    tilt_below: float = 0.95
    tilt_from: float = 3.0
    tilt_min_h: int = 14
    # ... keeping the middle `tilt_band` of the turned crop's height, where the plate lies.
    tilt_band: float = 0.7
    # The turned read wins unless it is less confident than this share of the read it replaces.
    turned_wins_above: float = 0.9
    # Smaller crops hold no readable characters.
    min_crop_h: int = 4
    min_crop_w: int = 8

    def __post_init__(self) -> None:
        if not self.read_crops:
            raise ValueError("read_crops must name at least one crop margin")
        if self.min_crop_h < 1 or self.min_crop_w < 1:
            raise ValueError("min_crop_h and min_crop_w must be at least 1")

    def for_detector(self, detector: object) -> ReadingPolicy:
        """This policy with the confirm rule of `detector` (its `confirm_rule`, from its
        sidecar), when it has one."""
        rule = getattr(detector, "confirm_rule", None)
        if rule is None or (rule.min_confidence == self.confirm_min_confidence
                            and rule.min_chars == self.confirm_min_chars):
            return self
        return replace(self, confirm_min_confidence=float(rule.min_confidence),
                       confirm_min_chars=int(rule.min_chars))


DEFAULT_POLICY = ReadingPolicy()


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
    policy: ReadingPolicy = DEFAULT_POLICY,
) -> list[PlateRead]:
    """Crop every detection (the policy's `read_crops`: the CONTEXT crop, the TIGHT one where
    that read is less sure than `sure_alone`, the WIDE one where those two disagree), read the
    crops in at most three batches, let each plate's crops vote on its text, apply the format
    rules; read the plates still unsure (`tilt_below`) and tilted (`tilt_from`) once more,
    turned level by their measured tilt, in one more batch, cut to the band the plate lies in,
    and keep a turned read unless it is clearly less sure (`turned_wins_above`). A crop the
    picture's edges clip to the same pixels as another margin's is read once.

    `crop(box, margin)` cuts a plate when there is no whole `image` to cut from (the pipeline
    with a calibration transform computes only the plate regions of the transformed frame).
    A detection whose text is empty is kept (text "") so a tracker can still follow it, unless
    it is a candidate the reader had to confirm (`confirm`, see `confirm_min_*`).
    Each read carries how sharp its crop is and whether its box reaches the edge of the picture
    (`frame_size`, default the image's), so the tracker can keep the best view of a pass.
    """
    if frame_size is None and image is not None:
        frame_size = (image.shape[1], image.shape[0])
    crops = _PlateCrops(image, detections, crop, policy)
    votes = _vote(crops, reader, len(detections), policy)
    if not votes:
        return []
    best = {i: _finish(max(votes[i].values(), key=lambda v: (v[0], v[1].confidence))[1], rules,
                       detections[i], frame_seq) for i in sorted(votes)}
    _read_turned(best, crops, reader, rules, detections, frame_seq, policy)
    first = policy.read_crops[0]
    return [replace(r, sharpness=sharpness(crops.cut(i, first)), clipped=touches_edge(r.box, frame_size))
            for i, r in best.items() if not detections[i].confirm
            or (r.confidence >= policy.confirm_min_confidence and len(r.text) >= policy.confirm_min_chars)]


class _PlateCrops:
    """Each plate's crops, cut once: the first crop of an unsure plate is turned after it was
    read, and `crop` may remap the plate's pixels (a calibration transform)."""

    def __init__(self, image: np.ndarray | None, detections: Sequence[PlateDetection],
                 crop: Callable[[BoundingBox, CropMargin], np.ndarray] | None, policy: ReadingPolicy) -> None:
        self.image, self.detections, self.crop, self.policy = image, detections, crop, policy
        self.cuts: dict[tuple[int, CropMargin], np.ndarray | None] = {}
        # the crops each plate has been read from: margins clipped by the picture's edges can
        # cut the very crop another margin cut (a plate that fills a photo), and one crop gets
        # one vote
        self.read_before: dict[int, list[np.ndarray]] = {}

    def cut(self, i: int, margin: CropMargin) -> np.ndarray | None:
        """Plate i's crop with `margin`, or None where it is too small to read."""
        if (i, margin) not in self.cuts:
            box = self.detections[i].box
            crop_img = self.crop(box, margin) if self.crop is not None else crop_plate(self.image, box, margin)
            h, w = crop_img.shape[:2]
            big_enough = h >= self.policy.min_crop_h and w >= self.policy.min_crop_w
            self.cuts[(i, margin)] = crop_img if big_enough else None
        return self.cuts[(i, margin)]

    def cut_new(self, i: int, margin: CropMargin) -> np.ndarray | None:
        """`cut`, or None where plate i was already read from the same pixels."""
        crop_img = self.cut(i, margin)
        if crop_img is None:
            return None
        before = self.read_before.setdefault(i, [])
        if any(c.shape == crop_img.shape and np.array_equal(c, crop_img) for c in before):
            return None
        before.append(crop_img)
        return crop_img


def _vote(crops: _PlateCrops, reader: PlateReader, n: int,
          policy: ReadingPolicy) -> dict[int, dict[str, tuple[float, PlateText]]]:
    """Per plate, per text its crops read: (summed confidence, its most confident read). The
    crops are read in up to three batches (the first crop; the second of the unsure plates; the
    rest of those whose crops disagree)."""
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

    first, second, rest = policy.read_crops[0], policy.read_crops[1:2], policy.read_crops[2:]
    read([(i, c) for i in range(n) if (c := crops.cut_new(i, first)) is not None])
    unsure = [i for i in range(n) if i not in votes
              or max(surest.confidence for _, surest in votes[i].values()) < policy.sure_alone]
    read([(i, c) for i in unsure for m in second if (c := crops.cut_new(i, m)) is not None])
    undecided = [i for i in unsure if crops_read.get(i, 0) < 2 or len(votes[i]) > 1]
    read([(i, c) for i in undecided for m in rest if (c := crops.cut_new(i, m)) is not None])
    return votes


def _read_turned(best: dict[int, PlateRead], crops: _PlateCrops, reader: PlateReader,
                 rules: FormatRules | None, detections: Sequence[PlateDetection], frame_seq: int,
                 policy: ReadingPolicy) -> None:
    """Read the unsure, tilted plates of `best` again from their first crop turned level (one
    batch); a turned read replaces the plate's unless it is clearly less sure."""
    first = policy.read_crops[0]
    tilted = [(i, turned) for i in best if best[i].confidence < policy.tilt_below
              and detections[i].box.h >= policy.tilt_min_h
              and (c := crops.cut(i, first)) is not None and (turned := _turned(c, policy)) is not None]
    if not tilted:
        return
    for (i, _), plate in zip(tilted, reader.predict([c for _, c in tilted])):
        turned_read = _finish(plate, rules, detections[i], frame_seq)
        if turned_read.confidence > best[i].confidence * policy.turned_wins_above:
            best[i] = turned_read


def _finish(plate: PlateText, rules: FormatRules | None, det: PlateDetection, frame_seq: int) -> PlateRead:
    """The reader's text after the format rules, its confidence the weakest character's."""
    text, chars, region = plate.text, tuple(plate.chars), None
    if rules is not None and text:
        match = rules.best(text, chars)
        text, chars, region = match.text, tuple(match.chars), match.region
    return PlateRead(text=text, chars=chars, confidence=min((c.p for c in chars), default=0.0), box=det.box,
                     detection_score=det.score, frame_seq=frame_seq, region=region)


def _turned(crop: np.ndarray, policy: ReadingPolicy) -> np.ndarray | None:
    """The crop turned level about its centre (edge.recognition.tilt.plate_tilt), edges repeated, cut to the
    middle `tilt_band` of its height; None when it is tilted less than `tilt_from` degrees."""
    angle = plate_tilt(crop)
    if abs(angle) < policy.tilt_from:
        return None
    h, w = crop.shape[:2]
    band = max(policy.min_crop_h, round(h * policy.tilt_band))
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
    policy: ReadingPolicy | None = None,
) -> ImageReading:
    """Detect and read the plates of `image`; `policy` None: the default with the detector's
    confirm rule (`ReadingPolicy.for_detector`)."""
    if policy is None:
        policy = DEFAULT_POLICY.for_detector(detector)
    t0 = time.perf_counter()
    detections = detector.predict(image)
    t1 = time.perf_counter()
    reads = read_detections(image, detections, reader, rules, frame_seq, policy=policy)
    t2 = time.perf_counter()
    return ImageReading(tuple(reads), (t1 - t0) * 1000.0, (t2 - t1) * 1000.0)
