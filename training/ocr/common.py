"""Shared constants and helpers for OCR training (alphabet, crop geometry, paths)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
PAD = "_"
VOCAB = ALPHABET + PAD  # index 36 = pad / no character
PAD_INDEX = len(ALPHABET)
SLOTS = 9
IMG_H, IMG_W = 64, 128

SHARED = Path(os.environ.get("EDGE_SHARED", Path(__file__).resolve().parents[3] / "shared"))
DATASETS = SHARED / "datasets"
TEACHER = SHARED / "teachers" / "cct_xs_v1_global.onnx"
SCRATCH = Path(os.environ.get("OCR_SCRATCH", "/work/scratch/ocr"))

DETECT_SETS = [
    "d1_experiment_plates",
    "d2_openimages_plates",
    "d3_romania_dashcam",
    "d5_us_lhqow",
    "d6_openimages_gplates",
]


def encode(text: str) -> np.ndarray:
    """Text -> SLOTS indices, left-aligned, pad-filled."""
    idx = [ALPHABET.index(c) for c in text[:SLOTS]]
    return np.array(idx + [PAD_INDEX] * (SLOTS - len(idx)), dtype=np.int64)


def clean_text(text: str) -> str:
    return "".join(c for c in text.upper() if c in ALPHABET)


def to_input(bgr: np.ndarray) -> np.ndarray:
    """BGR crop -> uint8 RGB 64x128 (stretched, like fast-plate-ocr)."""
    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    img = cv2.resize(bgr, (IMG_W, IMG_H), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def crop_box(img: np.ndarray, x: float, y: float, w: float, h: float,
             mx: float = 0.0, my: float = 0.0) -> np.ndarray:
    """Crop box (x, y, w, h) grown by margins mx*w / my*h each side (may be negative), clipped."""
    H, W = img.shape[:2]
    x1 = int(round(max(0, x - mx * w)))
    y1 = int(round(max(0, y - my * h)))
    x2 = int(round(min(W, x + w + mx * w)))
    y2 = int(round(min(H, y + h + my * h)))
    if x2 - x1 < 2 or y2 - y1 < 2:
        x1, y1, x2, y2 = int(x), int(y), int(x + max(w, 2)), int(y + max(h, 2))
    return img[y1:y2, x1:x2]


def read_yolo(label_path: Path, W: int, H: int) -> list[tuple[float, float, float, float]]:
    boxes = []
    for line in label_path.read_text().splitlines():
        p = line.split()
        if len(p) != 5:
            continue
        cx, cy, w, h = (float(v) for v in p[1:])
        boxes.append(((cx - w / 2) * W, (cy - h / 2) * H, w * W, h * H))
    return boxes
