"""Points between a camera's raw pixels and a calibration's undistorted pixels.

A calibration's ROI and prewarp points are undistorted pixels at its `image_size`; a person
clicks on the raw camera picture, of whatever size the stream has. These functions convert
both ways (lens intrinsics, when the file has them) and scale between frame sizes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from edge.calibration.file import Calibration, CalibrationError

Point = tuple[float, float]


def check_same_shape(size: tuple[int, int], other: tuple[int, int]) -> None:
    """Refuse two frame sizes of different aspect ratios (points cannot be scaled between them)."""
    if abs(size[0] / size[1] - other[0] / other[1]) > 0.01 * (other[0] / other[1]):
        raise CalibrationError(f"frames are {size[0]}x{size[1]} but the calibration is for "
                               f"{other[0]}x{other[1]} (different aspect ratio); calibrate at this resolution")


def scale_points(points: Sequence[Point], from_size: tuple[int, int], to_size: tuple[int, int]) -> list[Point]:
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return [(float(x) * sx, float(y) * sy) for x, y in points]


def _scaled_intrinsics(cal: Calibration, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    intr = cal.intrinsics
    assert intr is not None and cal.image_size is not None
    S = np.diag([size[0] / cal.image_size[0], size[1] / cal.image_size[1], 1.0])
    return S @ intr.K, intr.D, S @ intr.K_new


def raw_to_undistorted(cal: Calibration, points: Sequence[Point], size: tuple[int, int]) -> list[Point]:
    """Raw camera pixels of a `size` frame -> undistorted pixels of the same size."""
    if cal.intrinsics is None or not points:
        return [(float(x), float(y)) for x, y in points]
    import cv2

    K, D, K_new = _scaled_intrinsics(cal, size)
    pts = np.array(points, np.float64).reshape(-1, 1, 2)
    und = cv2.undistortPoints(pts, K, D, P=K_new)
    return [(float(x), float(y)) for x, y in und.reshape(-1, 2)]


def undistorted_to_raw(cal: Calibration, points: Sequence[Point], size: tuple[int, int]) -> list[Point]:
    """Undistorted pixels of a `size` frame -> raw camera pixels (where the lens puts them)."""
    if cal.intrinsics is None or not points:
        return [(float(x), float(y)) for x, y in points]
    import cv2

    K, D, K_new = _scaled_intrinsics(cal, size)
    norm = np.c_[np.array(points, np.float64), np.ones(len(points))] @ np.linalg.inv(K_new).T
    img, _ = cv2.projectPoints((norm / norm[:, 2:3]).reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, D)
    return [(float(x), float(y)) for x, y in img.reshape(-1, 2)]


def roi_in_view(cal: Calibration | None, view_size: tuple[int, int]) -> list[Point] | None:
    """The calibration's ROI polygon in raw pixels of a `view_size` frame (None: no ROI)."""
    if cal is None or cal.roi is None or cal.image_size is None:
        return None
    check_same_shape(view_size, cal.image_size)
    scaled = scale_points(cal.roi.polygon, cal.image_size, view_size)
    return undistorted_to_raw(cal, scaled, view_size)


def view_to_roi(cal: Calibration, points: Sequence[Point], view_size: tuple[int, int]) -> list[Point]:
    """Raw pixels of a `view_size` frame -> the calibration's undistorted pixels at its size."""
    target = cal.image_size or view_size
    check_same_shape(view_size, target)
    und = raw_to_undistorted(cal, points, view_size)
    return scale_points(und, view_size, target)


def parse_points(text: str) -> list[tuple[float, float]]:
    """'x,y x,y ...' (or 'x,y;x,y') -> [(x, y), ...]; a one-line error names the bad item."""
    items = [t for t in text.replace(";", " ").split() if t]
    out = []
    for item in items:
        parts = item.split(",")
        try:
            if len(parts) != 2:
                raise ValueError
            x, y = float(parts[0]), float(parts[1])
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError
        except ValueError:
            raise CalibrationError(f"bad point {item!r}: expected x,y in pixels") from None
        out.append((x, y))
    return out
