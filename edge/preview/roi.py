"""The ROI as the preview page edits it: read from, and saved to, the calibration file.

The page works in the camera's raw pixels; the file keeps the polygon in undistorted pixels at
its `image_size` (edge.calibration.points converts). Saving replaces only the ROI (lens
intrinsics and prewarp stay), atomically, and is audited. A running reader applies the file at
its next start: `state()` tells the page both the ROI in use and the one saved since.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.audit import audit
from edge.calibration.file import Calibration, CalibrationError, Roi, load_or_new, save_calibration
from edge.calibration.points import Point, roi_in_view, view_to_roi

MAX_POINTS = 64
MIN_AREA_FRACTION = 0.01


class RoiError(ValueError):
    """A polygon or a save that cannot be accepted; the message is one line for the page."""


@dataclass(frozen=True)
class SavedRoi:
    path: str
    points: int
    fraction: float  # of the frame's area


def polygon_area(points: Sequence[Point]) -> float:
    n = len(points)
    return abs(sum(points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1]
                   for i in range(n))) / 2.0


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return (d1 > 0) != (d2 > 0) and (d3 > 0) != (d4 > 0) and 0 not in (d1, d2, d3, d4)


def self_intersects(points: Sequence[Point]) -> bool:
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # neighbours through the closing edge
            if _segments_cross(*edges[i], *edges[j]):
                return True
    return False


def parse_polygon(value: Any, view_size: tuple[int, int]) -> list[Point]:
    """The page's polygon (raw pixels of a `view_size` frame), checked; RoiError says why not."""
    if not isinstance(value, list) or not 3 <= len(value) <= MAX_POINTS:
        raise RoiError(f"the ROI needs 3 to {MAX_POINTS} points")
    w, h = view_size
    points: list[Point] = []
    for item in value:
        if (not isinstance(item, list) or len(item) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in item)):
            raise RoiError("each ROI point must be [x, y] in frame pixels")
        x, y = float(item[0]), float(item[1])
        if not (-1 <= x <= w + 1 and -1 <= y <= h + 1):
            raise RoiError(f"point {x:.0f},{y:.0f} is outside the {w}x{h} frame")
        points.append((min(max(x, 0.0), float(w)), min(max(y, 0.0), float(h))))
    if self_intersects(points):
        raise RoiError("the ROI's edges cross: move the points so the outline does not cross itself")
    if polygon_area(points) < MIN_AREA_FRACTION * w * h:
        raise RoiError(f"the ROI covers less than {MIN_AREA_FRACTION:.0%} of the frame")
    return points


class RoiStore:
    """The calibration file behind the page's ROI editor. `path` None: nowhere to save."""

    def __init__(self, path: str | os.PathLike | None, active: Calibration | None = None) -> None:
        self.path = Path(path) if path else None
        self.active = active  # what the reader loaded at its start

    def saved(self) -> Calibration | None:
        if self.path is None:
            return None
        try:
            return load_or_new(self.path)
        except CalibrationError:
            return None

    def writable(self) -> bool:
        if self.path is None:
            return False
        target = self.path if self.path.exists() else self.path.parent
        return os.access(target, os.W_OK) and os.access(self.path.parent, os.W_OK)

    def state(self, view_size: tuple[int, int] | None) -> dict[str, Any]:
        """What the page shows: the ROI in use, the one in the file, and whether they differ."""
        out: dict[str, Any] = {"path": str(self.path) if self.path else None, "writable": self.writable(),
                               "active": None, "saved": None, "pending": False, "error": None}
        if self.path is None:
            out["error"] = "no calibration file configured: set [calibration] path (or edge preview --calibration)"
        if view_size is None:
            return out
        saved = self.saved()
        try:
            out["active"] = _rounded(roi_in_view(self.active, view_size))
            out["saved"] = _rounded(roi_in_view(saved, view_size))
        except CalibrationError as exc:
            out["error"] = str(exc)
        active_roi = self.active.roi if self.active is not None else None
        saved_roi = saved.roi if saved is not None else None
        out["pending"] = saved is not None and active_roi != saved_roi
        return out

    def save(self, polygon: Any, view_size: tuple[int, int], client: str = "") -> SavedRoi:
        if self.path is None:
            raise RoiError("no calibration file configured: set [calibration] path (or edge preview --calibration)")
        points = parse_polygon(polygon, view_size)
        try:
            cal = load_or_new(self.path)
            roi = view_to_roi(cal, points, view_size)
            new = dataclasses.replace(cal, image_size=cal.image_size or tuple(view_size), roi=Roi(tuple(roi)))
            save_calibration(new, self.path)
        except CalibrationError as exc:
            raise RoiError(str(exc)) from None
        except OSError as exc:
            raise RoiError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        fraction = round(polygon_area(points) / (view_size[0] * view_size[1]), 3)
        audit("preview.roi_saved", client=client, path=str(self.path), points=len(points), fraction=fraction)
        return SavedRoi(str(self.path), len(points), fraction)


def _rounded(points: list[Point] | None) -> list[list[float]] | None:
    return None if points is None else [[round(x, 1), round(y, 1)] for x, y in points]
