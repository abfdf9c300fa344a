"""What the preview draws into the stream and puts into its JSON, for one frame's plates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edge.records import BoundingBox, PlateRead


def plate_json(read: PlateRead, view_box: BoundingBox, min_px: float,
               label: Callable[[str], str] = lambda t: t) -> dict[str, Any]:
    """One plate for the page: `box` where it is in the view, `width_px` as the reader saw it."""
    return {
        "text": label(read.text),
        "confidence": round(float(read.confidence), 4),
        "score": round(float(read.detection_score), 4),
        "box": [round(view_box.x, 1), round(view_box.y, 1), round(view_box.w, 1), round(view_box.h, 1)],
        "width_px": round(read.box.w, 1),
        "min_px": round(min_px, 1),
        "readable": read.box.w >= min_px,
        "region": read.region,
    }


def annotate(image: np.ndarray, reads: Sequence[PlateRead], boxes: Sequence[BoundingBox], min_px: float,
             label: Callable[[str], str] = lambda t: t) -> np.ndarray:
    """A copy of the frame with each plate's box, text, confidence and pixel width drawn."""
    import cv2

    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    scale = max(1.0, out.shape[1] / 1280.0)
    thick = max(2, int(round(2 * scale)))
    for r, box in zip(reads, boxes):
        x1, y1 = int(round(box.x)), int(round(box.y))
        x2, y2 = int(round(box.x2)), int(round(box.y2))
        colour = (0, 220, 0) if r.box.w >= min_px else (0, 165, 255)  # green / orange (BGR)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        text = f"{label(r.text) or '?'} {r.confidence:.2f} {r.box.w:.0f}px"
        fs = 0.6 * scale
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, fs, thick)
        ty = y1 - 6 if y1 - th - base - 6 > 0 else y2 + th + 6
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 4, ty + base), (0, 0, 0), -1)
        cv2.putText(out, text, (x1 + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, fs, colour, thick, cv2.LINE_AA)
    return out


def encode_jpeg(image: np.ndarray, quality: int, max_width: int) -> bytes:
    import cv2

    h, w = image.shape[:2]
    if w > max_width:
        image = cv2.resize(image, (max_width, round(h * max_width / w)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
