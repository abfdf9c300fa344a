"""Direction of travel and an optional speed estimate, from one track's boxes over time.

A plate of known width P (metres) that appears w pixels wide through a lens of focal length
f (pixels) is at distance Z = f·P / w; its centre (cx, cy) puts it at X = (cx − px)·Z / f,
Y = (cy − py)·Z / f beside the optical axis (px, py: the principal point). One track's reads
give that position over time; a straight line through it (least squares, weighted by w², as
a box's width is off by a roughly constant fraction) is the plate's velocity.

- **Direction** needs no calibration (the scale cancels; f defaults to the frame width, a ~53°
  lens): `approaching` / `receding` when the motion along the line of sight (Z and Y, since a
  camera looks down at the road) outweighs the sideways motion, else `left` / `right` (the way
  the plate moves in the picture). `angle_deg` is the plate's motion in the image plane:
  0 = towards the picture's right, 90 = up, ±180 = left, −90 = down. No direction when the plate
  hardly moved (a parked car) or was read in one frame only.
- **Speed** needs the focal length (a `TravelScale`: lens intrinsics, lens figures or a plate
  measured at a known distance; `edge calibrate scale`) and the plate's standard size (one
  size for the configured regions, or the read's region). Its uncertainty adds the fit's
  standard error to the scale's (focal length, plate size, and the detector's box not hugging
  the plate). Only for passes along the line of sight (approaching, receding), where the plate
  faces the camera: a plate crossing the picture is seen at an angle, looks narrower and would
  make the speed read 10-20 % high. Boxes narrower than the readable minimum are not used
  (the least accurate), nor is a prewarped picture (not a pinhole camera's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.plate_sizes import ExpectedPlates
from edge.records import Direction, SpeedEstimate

MIN_SAMPLES = 3  # reads needed for a direction or a speed
MIN_SPAN_S = 0.15  # ... spread over at least this long
MIN_SHIFT_WIDTHS = 0.25  # the plate must move this many plate widths in the picture ...
MIN_GROWTH = 0.08  # ... or change its size by this fraction, to have a direction
# A detector box's width against the plate's, over a pass (relative, systematic): the spread of
# the speed errors on the renderer's approaching and receding passes (docs/events.md).
BOX_UNCERTAINTY = 0.06
PLATE_UNCERTAINTY = 0.01  # plates of one standard differ by a few mm
MAX_SAMPLES = 256


@dataclass(frozen=True, slots=True)
class Sample:
    """One read of a track: frame time (s, monotonic), box centre and size in analysed pixels."""

    t: float
    cx: float
    cy: float
    w: float
    h: float
    text: str = ""  # what was read there (a track may have picked up another plate's reads)


@dataclass(frozen=True, slots=True)
class TravelScale:
    """The camera's focal length in pixels at `image_width` (and its principal point, if known)."""

    focal_px: float
    image_width: int
    uncertainty: float = 0.03  # relative
    principal: tuple[float, float] | None = None  # (px, py) at image_width

    def at(self, width: int) -> tuple[float, tuple[float, float] | None]:
        k = width / self.image_width
        pp = (self.principal[0] * k, self.principal[1] * k) if self.principal else None
        return self.focal_px * k, pp


def thin(samples: list[Sample]) -> list[Sample]:
    """Keep memory bounded on a long track: past MAX_SAMPLES, every other sample is dropped."""
    return samples[::2] if len(samples) >= MAX_SAMPLES else samples


def _fit(t: np.ndarray, v: np.ndarray, wts: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares slope of v(t) and its standard error."""
    tm = np.average(t, weights=wts)
    vm = np.average(v, weights=wts)
    stt = float(np.sum(wts * (t - tm) ** 2))
    if stt <= 0:
        return 0.0, math.inf
    slope = float(np.sum(wts * (t - tm) * (v - vm)) / stt)
    resid = v - (vm + slope * (t - tm))
    dof = max(1, len(t) - 2)
    sigma2 = float(np.sum(wts * resid ** 2)) / dof
    return slope, math.sqrt(sigma2 / stt)


def _inliers(t: np.ndarray, v: np.ndarray, wts: np.ndarray) -> np.ndarray:
    """Samples within 3 robust standard deviations of the line through v(t) (a box that
    caught the car's body, or lost half the plate, is not a place the plate was)."""
    slope, _ = _fit(t, v, wts)
    if not math.isfinite(slope):
        return np.ones(len(t), bool)
    resid = v - (np.average(v, weights=wts) + slope * (t - np.average(t, weights=wts)))
    mad = float(np.median(np.abs(resid - np.median(resid)))) * 1.4826
    keep = np.abs(resid) <= 3.0 * mad if mad > 0 else np.ones(len(t), bool)
    return keep if keep.sum() >= MIN_SAMPLES else np.ones(len(t), bool)


class TravelEstimator:
    """Direction (always) and speed (with a scale) of a track; `frame_size` in analysed pixels."""

    def __init__(self, plates: ExpectedPlates, scale: TravelScale | None = None) -> None:
        self.plates = plates
        self.scale = scale

    def _camera(self, frame_size: tuple[int, int]) -> tuple[float, tuple[float, float]]:
        w, h = frame_size
        if self.scale is None:
            return float(w), (w / 2.0, h / 2.0)
        f, pp = self.scale.at(w)
        return f, pp or (w / 2.0, h / 2.0)

    def direction(self, samples: Sequence[Sample], frame_size: tuple[int, int]) -> Direction | None:
        if len(samples) < MIN_SAMPLES or samples[-1].t - samples[0].t < MIN_SPAN_S:
            return None
        t, cx, cy, w = (np.array([getattr(s, k) for s in samples], np.float64) for k in ("t", "cx", "cy", "w"))
        wts = w ** 2
        dx, _ = _fit(t, cx, wts)
        dy, _ = _fit(t, cy, wts)
        span = t[-1] - t[0]
        shift = math.hypot(dx, dy) * span / max(float(np.median(w)), 1.0)
        dlogw, _ = _fit(t, np.log(np.maximum(w, 1.0)), wts)
        if shift < MIN_SHIFT_WIDTHS and abs(dlogw) * span < MIN_GROWTH:
            return None
        f, pp = self._camera(frame_size)
        vx, vy, vz = self._velocity(t, cx, cy, w, wts, f, pp, 1.0)[:3]
        angle = math.degrees(math.atan2(-dy, dx))
        if math.hypot(vz, vy) >= abs(vx):
            label = "approaching" if vz < 0 else "receding"
        else:
            label = "right" if vx > 0 else "left"
        return Direction(label, round(angle, 1))

    @staticmethod
    def _velocity(t, cx, cy, w, wts, f, pp, plate_m) -> tuple[float, float, float, float, float, float]:
        """(vx, vy, vz, and their standard errors) in metres per second for a plate_m plate.

        The depth is fitted first (a straight line, the boxes furthest off it dropped once) and
        the sideways positions use the fitted depth: multiplying each centre by its own noisy
        depth would turn box-width noise into sideways speed."""
        z = f * plate_m / np.maximum(w, 1.0)
        keep = _inliers(t, z, wts)
        t, cx, cy, z, wts = t[keep], cx[keep], cy[keep], z[keep], wts[keep]
        vz, ez = _fit(t, z, wts)
        z_fit = np.average(z, weights=wts) + vz * (t - np.average(t, weights=wts))
        x = (cx - pp[0]) * z_fit / f
        y = (cy - pp[1]) * z_fit / f
        (vx, ex), (vy, ey) = _fit(t, x, wts), _fit(t, y, wts)
        return vx, vy, vz, ex, ey, ez

    def speed(self, samples: Sequence[Sample], frame_size: tuple[int, int],
              region: str | None, direction: Direction | None) -> SpeedEstimate | None:
        plate = self.plates.for_region(region)
        if self.scale is None or plate is None or direction is None:
            return None
        if direction.label not in ("approaching", "receding"):
            return None  # a crossing plate is seen at an angle: its width is no ruler
        if len(samples) < MIN_SAMPLES or samples[-1].t - samples[0].t < MIN_SPAN_S:
            return None
        # boxes of plates narrower than the readable minimum are the least accurate: not used
        wide = [s for s in samples if s.w >= plate.min_readable_px]
        if len(wide) < MIN_SAMPLES or wide[-1].t - wide[0].t < MIN_SPAN_S:
            return None
        t, cx, cy, w = (np.array([getattr(s, k) for s in wide], np.float64) for k in ("t", "cx", "cy", "w"))
        f, pp = self._camera(frame_size)
        vx, vy, vz, ex, ey, ez = self._velocity(t, cx, cy, w, w ** 2, f, pp, plate.width_m)
        v = math.sqrt(vx * vx + vy * vy + vz * vz)
        if not math.isfinite(v) or v <= 0:
            return None
        stat = math.sqrt((vx * ex) ** 2 + (vy * ey) ** 2 + (vz * ez) ** 2) / v
        rel = math.sqrt(self.scale.uncertainty ** 2 + PLATE_UNCERTAINTY ** 2 + BOX_UNCERTAINTY ** 2)
        err = math.sqrt(stat ** 2 + (rel * v) ** 2)
        if not math.isfinite(err):
            return None
        return SpeedEstimate(round(v * 3.6, 1), round(err * 3.6, 1))
