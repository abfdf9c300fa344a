"""The optional `image` of an event: the plate's own pixels as a small JPEG, never the frame.

The crop is cut with no margin around the detector's box (edge.recognition.reading.TIGHT), so the driver,
passengers and other vehicles are not in it, and it is scaled down to at most `max_width`
pixels: enough for a person to confirm a watchlist hit, small enough (a few kB) to publish.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.recognition.reading import TIGHT, crop_plate
from edge.records import BoundingBox

MARGIN = TIGHT


def cut_plate(image: np.ndarray, box: BoundingBox) -> np.ndarray | None:
    """A copy of the plate's pixels (the frame may be reused by the camera), None if empty."""
    crop = crop_plate(image, box, MARGIN)
    return crop.copy() if crop.size else None


def plate_jpeg(crop: np.ndarray, max_width: int = 200, quality: int = 70) -> bytes | None:
    """JPEG bytes of the crop, at most `max_width` wide; None when it cannot be encoded."""
    if crop is None or crop.size == 0:
        return None
    h, w = crop.shape[:2]
    if w > max_width:
        crop = cv2.resize(crop, (max_width, max(1, round(h * max_width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return buf.tobytes() if ok else None
