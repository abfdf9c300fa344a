"""Aiming figures for the preview page: plate width against the readable minimum, focus, and
motion blur against the shutter.

- **Width**: a plate's width in analysed pixels against `PlateSize.min_readable_px` for the
  plate size the camera expects (`[formats] regions`; edge.plate_sizes).
- **Focus**: the variance of the Laplacian inside the plate box (edge.sighting.sharpness, at a
  fixed height so a nearer plate does not score higher for being larger), with its trend over
  the last seconds: turn the focus ring while a plate stands still and follow "sharper".
- **Motion**: how fast a passing plate's edges move in the picture (px/s, from the same plate
  in consecutive frames), hence the blur per frame and the longest shutter that keeps blur
  within `blur_budget_px`, compared with `[source] exposure_us`.

Both meters keep a few seconds of history only, and are thread-safe (the pipeline's thread
adds, the web server's threads read).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.plate_sizes import EU_DEFAULT, PlateSize
from edge.records import BoundingBox

TREND_RECENT_S = 1.5  # "now" is the median of this many seconds ...
TREND_BEFORE_S = 5.0  # ... compared with the median of the seconds before, up to this far back
TREND_STEP = 0.08  # a change under 8 % is "steady" (frame-to-frame noise of a still plate is ~3 %)
MOTION_WINDOW_S = 10.0  # the motion figure covers the last pass (a car is in view 1-3 s)
MAX_PAIR_GAP_S = 0.5  # frames further apart than this are not compared
DEFAULT_BLUR_BUDGET_PX = 1.0  # as `edge calibrate advice --blur-px`


@dataclass(frozen=True)
class AimingSettings:
    """What the figures are judged against. `plate_note` says where the plate size comes from."""

    plate: PlateSize = EU_DEFAULT
    plate_note: str = "no [formats] regions configured: assuming a 520 mm plate"
    exposure_us: int = 0  # [source] exposure_us; 0 = automatic (unknown shutter)
    blur_budget_px: float = DEFAULT_BLUR_BUDGET_PX


@dataclass(frozen=True)
class FocusFigure:
    value: float
    trend: str | None  # "sharper" | "softer" | "steady" | None (not enough history yet)
    best: float  # the highest value in the last TREND_BEFORE_S seconds


@dataclass(frozen=True)
class MotionFigure:
    px_per_s: float
    px_per_frame: float | None  # at the frame rate seen (None until it is known)
    frame_rate: float | None
    max_shutter_us: int  # longest shutter keeping blur within the budget
    exposure_us: int  # the configured shutter (0 = automatic)
    blur_px: float | None  # blur at the configured shutter (None when automatic)
    ok: bool | None  # configured shutter within the advice (None when automatic)


def edge_shift(a: BoundingBox, b: BoundingBox) -> float:
    """The largest move of any of the box's four edges (translation and growth both blur)."""
    return max(abs(a.x - b.x), abs(a.x2 - b.x2), abs(a.y - b.y), abs(a.y2 - b.y2))


def same_plate(a: BoundingBox, boxes: Sequence[BoundingBox]) -> BoundingBox | None:
    """The box of `boxes` that is most likely the plate `a` one frame later (or None)."""
    best, best_d = None, 2.0
    for b in boxes:
        ratio = max(a.w, b.w) / max(min(a.w, b.w), 1.0)
        d = np.hypot(a.center[0] - b.center[0], a.center[1] - b.center[1]) / max(a.w, b.w, 1.0)
        if ratio <= 1.6 and d < best_d:
            best, best_d = b, d
    return best


class FocusMeter:
    def __init__(self) -> None:
        self._values: deque[tuple[float, float]] = deque(maxlen=256)
        self._lock = threading.Lock()

    def add(self, t: float, value: float) -> None:
        with self._lock:
            self._values.append((t, value))

    def figure(self, now: float) -> FocusFigure | None:
        with self._lock:
            values = [(t, v) for t, v in self._values if now - t <= TREND_BEFORE_S]
        if not values:
            return None
        recent = [v for t, v in values if now - t <= TREND_RECENT_S]
        before = [v for t, v in values if now - t > TREND_RECENT_S]
        current = float(np.median(recent)) if recent else values[-1][1]
        trend = None
        if recent and len(before) >= 2:
            ref = float(np.median(before))
            change = (current - ref) / ref if ref > 0 else 0.0
            trend = "sharper" if change > TREND_STEP else "softer" if change < -TREND_STEP else "steady"
        return FocusFigure(round(current, 1), trend, round(max(v for _, v in values), 1))


class MotionMeter:
    def __init__(self, settings: AimingSettings) -> None:
        self.settings = settings
        self._prev: tuple[float, tuple[BoundingBox, ...]] | None = None
        self._speeds: deque[tuple[float, float]] = deque(maxlen=512)
        self._frame_dts: deque[float] = deque(maxlen=60)
        self._last_t: float | None = None
        self._lock = threading.Lock()

    def add(self, t: float, boxes: Sequence[BoundingBox]) -> None:
        """One analysed frame at time `t` (seconds) with its plates' boxes in view pixels."""
        with self._lock:
            if self._last_t is not None and t > self._last_t:
                self._frame_dts.append(t - self._last_t)
            self._last_t = t
            if not boxes:
                return
            if self._prev is not None and 0 < t - self._prev[0] <= MAX_PAIR_GAP_S:
                dt = t - self._prev[0]
                for box in boxes:
                    before = same_plate(box, self._prev[1])
                    if before is not None:
                        self._speeds.append((t, edge_shift(box, before) / dt))
            self._prev = (t, tuple(boxes))

    def frame_rate(self) -> float | None:
        """The camera's rate as seen: from the shortest gaps between analysed frames (a slow
        pipeline skips frames, so the median gap would understate it)."""
        with self._lock:
            dts = sorted(self._frame_dts)
        if len(dts) < 3:
            return None
        return 1.0 / float(np.median(dts[: max(1, len(dts) // 4)]))

    def figure(self) -> MotionFigure | None:
        """The last pass's motion; times are the frames' own (a file may play faster than life)."""
        with self._lock:
            now = self._last_t
            speeds = [v for t, v in self._speeds if now is not None and now - t <= MOTION_WINDOW_S]
        if not speeds:
            return None
        v = float(np.percentile(speeds, 90))  # the fast part of the pass is what blurs
        rate = self.frame_rate()
        s = self.settings
        max_shutter_us = int(min(1e6, s.blur_budget_px / v * 1e6)) if v > 0 else 1_000_000
        blur = v * s.exposure_us / 1e6 if s.exposure_us else None
        return MotionFigure(round(v, 1), round(v / rate, 2) if rate else None,
                            round(rate, 2) if rate else None, max_shutter_us, s.exposure_us,
                            round(blur, 2) if blur is not None else None,
                            (blur <= s.blur_budget_px) if blur is not None else None)
