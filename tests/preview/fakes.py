"""Detectors and readers for the preview tests, behind the edge.ports protocols (real fakes,
not patches): a threshold detector that finds a bright plate, a reader returning a fixed text,
and a pair that replays a fixture video's ground truth frame by frame."""

from __future__ import annotations

import cv2
import numpy as np

from edge.records import BoundingBox, CharConfidence, PlateDetection, PlateText

PLATE_W, PLATE_H = 150, 34
TEXT = "AB12CDE"


class ThresholdDetector:
    """Finds bright plate-shaped blobs: a real (if naive) detector behind the ports protocol."""

    name = "test-threshold"
    input_side = 0  # it is given whole frames
    fine_side = 0

    def predict(self, image: np.ndarray) -> list[PlateDetection]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        _, mask = cv2.threshold(gray, 200, 255, cv2.THRESH_BINARY)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        out = []
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            if w * h > 800 and 2.0 < w / h < 8.0:
                out.append(PlateDetection(BoundingBox(float(x), float(y), float(w), float(h)), 0.9))
        return out


class FixedReader:
    name = "test-fixed"

    def predict(self, crops):
        return [PlateText(TEXT if crop.mean() > 128 else "", tuple(CharConfidence(c, 0.93) for c in TEXT))
                for crop in crops]


class GroundTruthDetector:
    """Replays the fixture's ground-truth boxes frame by frame (the i-th call is frame i, the
    video looping), so the page can be checked on the real fixture video independently of how
    well the trained models do. The reader below returns the text of the same plates."""

    name = "test-ground-truth"
    input_side = 0  # it is given whole frames
    fine_side = 0

    def __init__(self, truth: dict) -> None:
        self.frames = truth["frames"]
        self.by_frame = {f["frame"]: f["plates"] for f in truth["per_frame"]}
        self.calls = 0
        self.pending: list[str] = []

    def predict(self, image: np.ndarray) -> list[PlateDetection]:
        plates = [p for p in self.by_frame.get(self.calls % self.frames, []) if p["full"]]
        self.calls += 1
        self.pending = [p["text"] for p in plates]
        return [PlateDetection(BoundingBox(*p["box"]), 0.99) for p in plates]


class GroundTruthReader:
    name = "test-ground-truth"

    def __init__(self, detector: GroundTruthDetector) -> None:
        self.detector = detector

    def predict(self, crops):
        texts = self.detector.pending[:len(crops)]
        return [PlateText(t, tuple(CharConfidence(c, 0.97) for c in t)) for t in texts]
