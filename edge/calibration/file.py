"""The calibration file (JSON, ``"schema": "edge.calibration/1"``): its parts as frozen
dataclasses, read and written with one-line errors (`CalibrationError`). What the parts mean
and their coordinates: the package docstring (edge/calibration/__init__.py).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = "edge.calibration/1"


class CalibrationError(ValueError):
    """A calibration file or request that cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class CalibrationConfig:
    """``[calibration]`` in edge.toml: which calibration file ``edge run`` applies ("" = none)."""

    path: str = ""


@dataclass(frozen=True)
class Intrinsics:
    camera_matrix: tuple[tuple[float, float, float], ...]
    dist_coeffs: tuple[float, ...]  # OpenCV order: k1, k2, p1, p2[, k3, ...]
    # Camera matrix of the undistorted image (getOptimalNewCameraMatrix with `alpha`), stored
    # so ROI/prewarp coordinates stay valid even if OpenCV's choice changes.
    new_camera_matrix: tuple[tuple[float, float, float], ...]
    rms_px: float | None = None
    alpha: float = 0.0
    views: int = 0
    board: dict[str, Any] = field(default_factory=dict)

    @property
    def K(self) -> np.ndarray:
        return np.array(self.camera_matrix, dtype=np.float64)

    @property
    def D(self) -> np.ndarray:
        return np.array(self.dist_coeffs, dtype=np.float64)

    @property
    def K_new(self) -> np.ndarray:
        return np.array(self.new_camera_matrix, dtype=np.float64)


@dataclass(frozen=True)
class Roi:
    polygon: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Prewarp:
    points: tuple[tuple[float, float], ...]  # TL, TR, BR, BL of a real rectangle
    homography: tuple[tuple[float, float, float], ...]  # undistorted px -> output px
    output_size: tuple[int, int]

    @property
    def H(self) -> np.ndarray:
        return np.array(self.homography, dtype=np.float64)


@dataclass(frozen=True)
class Scale:
    """Focal length in pixels at the calibration's image_size, its relative uncertainty, and how
    it was found (`edge calibrate scale`)."""

    focal_px: float
    uncertainty: float = 0.03
    method: str = ""


@dataclass(frozen=True)
class Calibration:
    image_size: tuple[int, int] | None = None  # (width, height) of the frames it was made for
    intrinsics: Intrinsics | None = None
    roi: Roi | None = None
    prewarp: Prewarp | None = None
    notes: str = ""
    scale: Scale | None = None

    @property
    def empty(self) -> bool:
        return self.intrinsics is None and self.roi is None and self.prewarp is None

    # ---- (de)serialisation -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA}
        if self.image_size:
            out["image_size"] = list(self.image_size)
        if self.intrinsics:
            i = self.intrinsics
            out["intrinsics"] = {
                "camera_matrix": _lists(i.camera_matrix),
                "dist_coeffs": list(i.dist_coeffs),
                "new_camera_matrix": _lists(i.new_camera_matrix),
                "alpha": i.alpha,
                "rms_px": i.rms_px,
                "views": i.views,
                "board": dict(i.board),
            }
        if self.roi:
            out["roi"] = {"polygon": _lists(self.roi.polygon)}
        if self.prewarp:
            p = self.prewarp
            out["prewarp"] = {
                "points": _lists(p.points),
                "homography": _lists(p.homography),
                "output_size": list(p.output_size),
            }
        if self.scale:
            out["scale"] = {"focal_px": self.scale.focal_px, "uncertainty": self.scale.uncertainty,
                            "method": self.scale.method}
        if self.notes:
            out["notes"] = self.notes
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "calibration") -> Calibration:
        if not isinstance(data, dict):
            raise CalibrationError(f"{where}: expected a JSON object")
        if data.get("schema") != SCHEMA:
            raise CalibrationError(f"{where}: schema is {data.get('schema')!r}, expected {SCHEMA!r}")
        known = {"schema", "image_size", "intrinsics", "roi", "prewarp", "notes", "scale"}
        for key in data:
            if key not in known:
                raise CalibrationError(f"{where}.{key}: unknown key")
        size = _size(data.get("image_size"), f"{where}.image_size") if "image_size" in data else None
        intr = roi = warp = None
        if data.get("intrinsics") is not None:
            d = data["intrinsics"]
            p = f"{where}.intrinsics"
            K = _matrix(d.get("camera_matrix"), f"{p}.camera_matrix")
            dist = d.get("dist_coeffs")
            if not isinstance(dist, list) or len(dist) not in (4, 5, 8, 12, 14) or not all(
                isinstance(v, (int, float)) for v in dist
            ):
                raise CalibrationError(f"{p}.dist_coeffs: expected 4, 5, 8, 12 or 14 numbers")
            K_new = _matrix(d.get("new_camera_matrix", d.get("camera_matrix")), f"{p}.new_camera_matrix")
            intr = Intrinsics(K, tuple(float(v) for v in dist), K_new, d.get("rms_px"),
                              float(d.get("alpha", 0.0)), int(d.get("views", 0)), dict(d.get("board", {})))
            if size is None:
                raise CalibrationError(f"{where}.image_size: required with intrinsics")
        if data.get("roi") is not None:
            poly = _points(data["roi"].get("polygon") if isinstance(data["roi"], dict) else None,
                           f"{where}.roi.polygon", minimum=3)
            roi = Roi(poly)
        if data.get("prewarp") is not None:
            d = data["prewarp"]
            if not isinstance(d, dict):
                raise CalibrationError(f"{where}.prewarp: expected an object")
            pts = _points(d.get("points"), f"{where}.prewarp.points", minimum=4, maximum=4)
            H = _matrix(d.get("homography"), f"{where}.prewarp.homography")
            warp = Prewarp(pts, H, _size(d.get("output_size"), f"{where}.prewarp.output_size"))
        scale = _scale(data["scale"], f"{where}.scale") if data.get("scale") is not None else None
        if (roi or warp or scale) and size is None:
            raise CalibrationError(f"{where}.image_size: required with roi, prewarp or scale")
        return cls(size, intr, roi, warp, str(data.get("notes", "")), scale)


def _scale(d: Any, where: str) -> Scale:
    if not isinstance(d, dict):
        raise CalibrationError(f"{where}: expected an object")
    for key in d:
        if key not in ("focal_px", "uncertainty", "method"):
            raise CalibrationError(f"{where}.{key}: unknown key")
    f, u = d.get("focal_px"), d.get("uncertainty", 0.03)
    if not isinstance(f, (int, float)) or isinstance(f, bool) or not (math.isfinite(f) and f > 0):
        raise CalibrationError(f"{where}.focal_px: expected a positive number of pixels")
    if not isinstance(u, (int, float)) or isinstance(u, bool) or not 0 <= u < 1:
        raise CalibrationError(f"{where}.uncertainty: expected a fraction from 0 to 1 (e.g. 0.03)")
    return Scale(float(f), float(u), str(d.get("method", "")))


def _lists(rows: Sequence[Sequence[float]]) -> list[list[float]]:
    return [[float(v) for v in row] for row in rows]


def _size(value: Any, where: str) -> tuple[int, int]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise CalibrationError(f"{where}: expected [width, height] in pixels")
    return (value[0], value[1])


def _matrix(value: Any, where: str) -> tuple[tuple[float, float, float], ...]:
    try:
        m = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        m = None
    if m is None or m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise CalibrationError(f"{where}: expected a 3x3 matrix of numbers")
    return tuple(tuple(float(v) for v in row) for row in m)


def _points(value: Any, where: str, minimum: int, maximum: int | None = None) -> tuple[tuple[float, float], ...]:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 2 or arr.shape[1] != 2 or not np.all(np.isfinite(arr)):
        raise CalibrationError(f"{where}: expected a list of [x, y] points")
    if len(arr) < minimum or (maximum is not None and len(arr) > maximum):
        want = f"exactly {minimum}" if maximum == minimum else f"at least {minimum}"
        raise CalibrationError(f"{where}: expected {want} points, got {len(arr)}")
    return tuple((float(x), float(y)) for x, y in arr)


def load_calibration(path: str | os.PathLike) -> Calibration:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalibrationError(f"{p}: calibration file not found") from None
    except OSError as exc:
        raise CalibrationError(f"{p}: cannot read calibration file ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{p}: not valid JSON: {exc}") from None
    return Calibration.from_dict(data, where=str(p))


def save_calibration(calibration: Calibration, path: str | os.PathLike) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(calibration.to_dict(), indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            # mkstemp makes 0600; a calibration is not secret and the service user must read
            # a file root wrote into /etc/edge: the usual 0666 & ~umask.
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fh.fileno(), 0o666 & ~umask)
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def load_or_new(path: str | os.PathLike) -> Calibration:
    """The calibration at `path`, or an empty one if the file does not exist yet."""
    return load_calibration(path) if Path(path).exists() else Calibration()
