"""The frame transform `edge run` applies from a calibration: undistort -> ROI mask -> prewarp,
as one remap and one mask, with maps built once per input size."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge.calibration.file import Calibration, CalibrationConfig, CalibrationError, load_calibration


class FrameTransform(Protocol):
    """What the pipeline calls on each frame before detection."""

    def __call__(self, image: np.ndarray) -> np.ndarray: ...


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
