"""Camera calibration: a calibration file, and the frame transform `edge run` applies from it.

A calibration file (JSON, ``"schema": "edge.calibration/1"``, kept under ``calibration/``)
holds up to three optional parts, each written by one ``edge calibrate`` tool:

- ``intrinsics`` — lens model from a checkerboard (camera matrix, distortion coefficients,
  RMS reprojection error). Frames are undistorted with it.
- ``roi`` — a polygon; everything outside it is blacked out before detection.
- ``prewarp`` — a perspective correction from four points that outline a real rectangle,
  so plates seen at an angle become closer to fronto-parallel.
- ``scale`` — the lens's focal length in pixels (from its figures, or a plate measured at a
  known distance), for speed estimates; lens intrinsics give it too. Not applied to frames.

Coordinates: the ROI polygon and the four prewarp points are in *undistorted* image pixels
(the raw image when there are no intrinsics) at the calibration's ``image_size``. The
transform applies undistort -> ROI mask -> prewarp with one ``cv2.remap`` and one mask per
frame (maps are built once per input size), so detection boxes are in the coordinates of
the transformed frame at full resolution. Frames of another resolution with the same aspect
ratio are handled by scaling every part. `edge run` never transforms the whole full-resolution
frame: it transforms the small detection frame (maps at that size) and only the plate regions
of the full-resolution frame (`CalibratedTransform.crop`).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

SCHEMA = "edge.calibration/1"


class CalibrationError(ValueError):
    """A calibration file or request that cannot be used; the message says why in one line."""


@dataclass(frozen=True)
class CalibrationConfig:
    """``[calibration]`` in edge.toml: which calibration file ``edge run`` applies ("" = none)."""

    path: str = ""


class FrameTransform(Protocol):
    """What the pipeline calls on each frame before detection."""

    def __call__(self, image: np.ndarray) -> np.ndarray: ...


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


# ---- the transform ---------------------------------------------------------------------


class CalibratedTransform:
    """Undistort -> ROI mask -> prewarp, as one remap + one mask; maps cached per input size.

    ``transform(image)`` transforms a whole frame. The pipeline avoids doing that at full
    resolution: it calls it on the small frame the detector sees (maps built at that size)
    and takes each plate crop with ``crop`` from the full-resolution frame.
    """

    def __init__(self, calibration: Calibration):
        if calibration.empty:
            raise CalibrationError("calibration has no intrinsics, roi or prewarp to apply")
        self.calibration = calibration
        self._cache: dict[tuple[int, int], _Plan] = {}

    def __call__(self, image: np.ndarray) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        plan = self._plan((w, h))
        if plan.map1 is not None:
            out = cv2.remap(image, plan.map1, plan.map2, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        else:
            out = image.copy() if plan.mask is not None else image
        if plan.mask is not None:
            cv2.bitwise_and(out, plan.mask_like(out), dst=out)
        return out

    def output_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        return self._plan(input_size).size

    def crop(self, image: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
        """Pixels ``[y1:y2, x1:x2]`` of ``self(image)``, computed for that region only.

        The full-resolution maps (built once per input size) are sliced to the region, so the
        result is the same pixels the whole-frame transform gives there, at the cost of the
        region: the pipeline detects on a small transformed frame and cuts sharp plate crops
        from the full-resolution raw frame this way. The bounds must lie inside
        ``output_size``; an empty region gives an empty array.
        """
        import cv2

        h, w = image.shape[:2]
        plan = self._plan((w, h))
        if x2 <= x1 or y2 <= y1:
            return image[0:0, 0:0]
        if plan.map1 is not None:
            out = cv2.remap(image, plan.map1[y1:y2, x1:x2], plan.map2[y1:y2, x1:x2], cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        else:
            out = image[y1:y2, x1:x2].copy() if plan.mask is not None else image[y1:y2, x1:x2]
        if plan.mask is not None:
            cv2.bitwise_and(out, plan.mask_like(out)[y1:y2, x1:x2], dst=out)
        return out

    def output_to_input(self, points: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
        """Map points of the transformed frame back to raw input pixels, (N, 2) -> (N, 2)."""
        return self._plan(input_size).back(np.asarray(points, dtype=np.float64).reshape(-1, 2))

    def _plan(self, size: tuple[int, int]) -> _Plan:
        plan = self._cache.get(size)
        if plan is None:
            plan = self._cache[size] = _Plan.build(self.calibration, size)
        return plan


@dataclass
class _Plan:
    size: tuple[int, int]
    map1: np.ndarray | None
    map2: np.ndarray | None
    mask: np.ndarray | None
    back: Any
    _masks: dict = field(default_factory=dict)

    def mask_like(self, image: np.ndarray) -> np.ndarray:
        """The 0/255 mask with the image's channel count (cached), for one bitwise_and."""
        channels = 1 if image.ndim == 2 else image.shape[2]
        m = self._masks.get(channels)
        if m is None:
            m = self._masks[channels] = self.mask if channels == 1 else np.repeat(self.mask[:, :, None], channels, 2)
        return m

    @classmethod
    def build(cls, cal: Calibration, size: tuple[int, int]) -> _Plan:
        import cv2

        w, h = size
        cw, ch = cal.image_size or size
        sx, sy = w / cw, h / ch
        if abs(sx - sy) > 0.01 * max(sx, sy):
            raise CalibrationError(
                f"frames are {w}x{h} but the calibration is for {cw}x{ch} (different aspect ratio); "
                "calibrate at this resolution")
        S = np.diag([sx, sy, 1.0])
        intr = cal.intrinsics
        K = S @ intr.K if intr else None
        K_new = S @ intr.K_new if intr else None
        D = intr.D if intr else None
        if cal.prewarp:
            ow, oh = cal.prewarp.output_size
            out_size = (max(1, round(ow * sx)), max(1, round(oh * sy)))
            H = S @ cal.prewarp.H @ np.linalg.inv(S)  # scaled undistorted px -> scaled output px
        else:
            out_size = size
            H = None

        def to_undistorted(pts: np.ndarray) -> np.ndarray:  # output px -> undistorted px
            if H is None:
                return pts
            hom = np.c_[pts, np.ones(len(pts))] @ np.linalg.inv(H).T
            w_ = hom[:, 2:3]
            behind = w_[:, 0] <= 1e-9  # beyond the horizon of the warp: no source pixel
            out = hom[:, :2] / np.where(behind[:, None], 1.0, w_)
            out[behind] = -1e6
            return out

        def to_raw(pts: np.ndarray) -> np.ndarray:  # undistorted px -> raw px
            if K is None:
                return pts
            far = np.abs(pts).max(axis=1) > 1e5
            pts = np.where(far[:, None], 0.0, pts)
            norm = np.c_[pts, np.ones(len(pts))] @ np.linalg.inv(K_new).T
            obj = norm / norm[:, 2:3]
            img, _ = cv2.projectPoints(obj.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, D)
            img = img.reshape(-1, 2)
            img[far] = -1e6
            return img

        def back(pts: np.ndarray) -> np.ndarray:
            return to_raw(to_undistorted(pts))

        map1 = map2 = None
        if K is not None and H is None:
            map1, map2 = cv2.initUndistortRectifyMap(K, D, None, K_new, size, cv2.CV_16SC2)
        elif H is not None:
            ow, oh = out_size
            xs, ys = np.meshgrid(np.arange(ow, dtype=np.float64), np.arange(oh, dtype=np.float64))
            raw = back(np.c_[xs.ravel(), ys.ravel()])
            mx = raw[:, 0].reshape(oh, ow).astype(np.float32)
            my = raw[:, 1].reshape(oh, ow).astype(np.float32)
            map1, map2 = cv2.convertMaps(mx, my, cv2.CV_16SC2)

        mask = None
        if cal.roi:
            poly = np.array(cal.roi.polygon, dtype=np.float64) * [sx, sy]
            und = np.zeros((h, w), np.uint8)
            cv2.fillPoly(und, [np.round(poly * 16).astype(np.int32)], 255, cv2.LINE_8, shift=4)
            if H is not None:
                mask = cv2.warpPerspective(und, H, out_size, flags=cv2.INTER_NEAREST)
            else:
                mask = und
        return cls(out_size, map1, map2, mask, back)


def frame_transform(config: CalibrationConfig, base_dir: str | os.PathLike | None = None) -> FrameTransform | None:
    """The callable `edge run` applies to every frame before detection, or None when there is
    no calibration configured (the pipeline then skips the step at zero cost).

    A relative `config.path` is resolved against `base_dir` (the config file's folder) first,
    then the working directory.
    """
    if not config.path:
        return None
    path = Path(config.path)
    if not path.is_absolute() and base_dir is not None and (Path(base_dir) / path).exists():
        path = Path(base_dir) / path
    calibration = load_calibration(path)
    if calibration.empty:
        return None
    return CalibratedTransform(calibration)


def undistorted_camera_matrix(K: np.ndarray, D: np.ndarray, size: tuple[int, int], alpha: float) -> np.ndarray:
    import cv2

    K_new, _ = cv2.getOptimalNewCameraMatrix(K, D, size, alpha, size)
    if not np.all(np.isfinite(K_new)) or K_new[0, 0] <= 0 or K_new[1, 1] <= 0:
        return K.copy()
    return K_new


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
