"""How far a plate crop is tilted: the angle that lines its characters up in rows.

A plate's characters are a row of vertical strokes. Turned so that the row is level, the
strokes' horizontal gradients fill a band of rows with sharp top and bottom edges; turned
wrong, the band smears over more rows. So each candidate angle is scored by how sharply the
row sums of the (turned) gradient change, on a small copy of the crop.
"""

from __future__ import annotations

import cv2
import numpy as np

# Crops are measured at this width: enough for the strokes of 4-8 characters, and cheap.
MEASURE_WIDTH = 96
# Angles tried: COARSE_STEP apart within +-LIMIT, then halved twice around the best.
LIMIT = 30.0
COARSE_STEP = 5.0


def plate_tilt(crop: np.ndarray) -> float:
    """Degrees to turn `crop` by (cv2.getRotationMatrix2D's sign: counter-clockwise as seen)
    so that its characters stand level; 0.0 for a crop too small to tell."""
    h, w = crop.shape[:2]
    if w < 16 or h < 8:
        return 0.0
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    small = cv2.resize(grey, (MEASURE_WIDTH, max(8, round(h * MEASURE_WIDTH / w))), interpolation=cv2.INTER_AREA)
    strokes = np.abs(cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3))
    # level unless some angle lines the strokes up better (a blank crop stays level)
    best_angle, best = 0.0, _row_sharpness(strokes, 0.0)
    for angle in np.arange(-LIMIT, LIMIT + 1e-6, COARSE_STEP):
        if angle == 0.0:  # scored above
            continue
        s = _row_sharpness(strokes, float(angle))
        if s > best:
            best_angle, best = float(angle), s
    step = COARSE_STEP
    for _ in range(2):
        step /= 2
        for angle in (best_angle - step, best_angle + step):
            s = _row_sharpness(strokes, angle)
            if s > best:
                best_angle, best = angle, s
                break
    return best_angle


def _row_sharpness(strokes: np.ndarray, angle: float) -> float:
    """Sum of squared changes between the row sums of `strokes` turned by `angle`."""
    h, w = strokes.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    turned = cv2.warpAffine(strokes, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    change = np.diff(turned.sum(axis=1))
    return float(change @ change)
