"""How good a view of its plate one read is: the tracker keeps the best read of a pass as the
event's `box`, `frames.best` and `time.best`, so the recorded sighting is the one worth looking at.

Best = sharpest, largest, most confident, and not cut by the picture's edge. Confidence alone
picks the first read of a pass (a plate far away reads as confidently as close up), which is
the smallest view of it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge.records import BoundingBox, PlateRead

# A view this wide (pixels) is worth about 63% of a very large one: big enough to read and to
# show, so confidence and sharpness still decide between two large views.
WIDTH_SCALE_PX = 120.0
# Laplacian variance (crop scaled to SHARPNESS_HEIGHT) at which sharpness counts half.
SHARPNESS_HALF = 150.0
SHARPNESS_HEIGHT = 32
EDGE_MARGIN_PX = 2.0  # a box this close to the picture's edge is cut by it
CLIPPED_FACTOR = 0.3


def sharpness(crop: np.ndarray | None) -> float:
    """Variance of the Laplacian of the crop, in grey at a fixed height (0 for no crop): blur
    and upscaling both lower it, so it prefers a close, still view."""
    if crop is None or crop.size == 0 or crop.shape[0] < 2 or crop.shape[1] < 2:
        return 0.0
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    scale = SHARPNESS_HEIGHT / grey.shape[0]
    width = max(2, int(round(grey.shape[1] * scale)))
    small = cv2.resize(grey, (width, SHARPNESS_HEIGHT), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(small, cv2.CV_32F).var())


def touches_edge(box: BoundingBox, size: tuple[int, int] | None) -> bool:
    """True when the box reaches the border of a picture of `size` (width, height)."""
    if size is None:
        return False
    width, height = size
    return (box.x <= EDGE_MARGIN_PX or box.y <= EDGE_MARGIN_PX
            or box.x2 >= width - EDGE_MARGIN_PX or box.y2 >= height - EDGE_MARGIN_PX)


def view_score(read: PlateRead) -> float:
    """Higher is a better view: confidence x size x sharpness, much lower when cut by the edge."""
    size = 1.0 - math.exp(-max(read.box.w, 0.0) / WIDTH_SCALE_PX)
    sharp = 0.5 + 0.5 * read.sharpness / (read.sharpness + SHARPNESS_HALF) if read.sharpness > 0 else 0.5
    edge = CLIPPED_FACTOR if read.clipped else 1.0
    return max(read.confidence, 1e-3) * size * sharp * edge
