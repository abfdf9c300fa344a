"""A prewarp (perspective correction) from four points that outline a real rectangle."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.calibration.file import CalibrationError, Prewarp


def prewarp_from_points(points: Sequence[Sequence[float]], image_size: tuple[int, int],
                        aspect: float | None = None, output_size: tuple[int, int] | None = None) -> Prewarp:
    """A perspective correction from four points (TL, TR, BR, BL, in undistorted pixels) that
    outline a real rectangle (a plate, a road marking, a sheet held where plates pass).

    The quadrilateral is mapped to an upright rectangle of the given width/height `aspect`
    (default: the outline's own mean side lengths), as wide as the outline's mean width and
    centred where the outline's centre was, so resolution is kept where plates pass. Parts of
    the frame far from the outline may leave the output (they are black): choose the outline
    in the lane where plates are read. `output_size` defaults to the input size.
    """
    src = np.array(points, dtype=np.float64).reshape(-1, 2)
    if src.shape != (4, 2):
        raise CalibrationError("prewarp needs exactly four points: top-left, top-right, bottom-right, bottom-left")
    if not _convex_clockwise(src):
        raise CalibrationError("prewarp points must outline a convex quadrilateral in the order "
                               "top-left, top-right, bottom-right, bottom-left")
    if aspect is not None and not aspect > 0:
        raise CalibrationError("prewarp aspect (width/height) must be positive")
    top, bottom = np.linalg.norm(src[1] - src[0]), np.linalg.norm(src[2] - src[3])
    left, right = np.linalg.norm(src[3] - src[0]), np.linalg.norm(src[2] - src[1])
    rw = (top + bottom) / 2.0
    rh = rw / aspect if aspect else (left + right) / 2.0
    ow, oh = output_size or image_size
    # centre of the outline (diagonal intersection), moved with the frame if the size changes
    cx, cy = _diagonal_intersection(src)
    cx, cy = cx * ow / image_size[0], cy * oh / image_size[1]
    dst = np.array([[cx - rw / 2, cy - rh / 2], [cx + rw / 2, cy - rh / 2],
                    [cx + rw / 2, cy + rh / 2], [cx - rw / 2, cy + rh / 2]], dtype=np.float64)
    H = _homography(src, dst)
    return Prewarp(tuple((float(x), float(y)) for x, y in src),
                   tuple(tuple(float(v) for v in row) for row in H), (int(ow), int(oh)))


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 homography taking four points to four points, solved in float64."""
    A, b = [], []
    for (x, y), (u, v) in zip(src, dst):
        A.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        A.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    h = np.linalg.solve(np.array(A, np.float64), np.array(b, np.float64))
    return np.append(h, 1.0).reshape(3, 3)


def _diagonal_intersection(q: np.ndarray) -> tuple[float, float]:
    p, r = q[0], q[2] - q[0]
    s_, d = q[1], q[3] - q[1]
    denom = r[0] * d[1] - r[1] * d[0]
    t = ((s_[0] - p[0]) * d[1] - (s_[1] - p[1]) * d[0]) / denom
    x, y = p + t * r
    return float(x), float(y)


def _convex_clockwise(q: np.ndarray) -> bool:
    # Image coordinates (y down): TL->TR->BR->BL turns the same way at every corner.
    crosses = []
    for i in range(4):
        a, b, c = q[i], q[(i + 1) % 4], q[(i + 2) % 4]
        crosses.append((b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]))
    return all(c > 0 for c in crosses)
