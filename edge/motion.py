"""A cheap motion gate so a static scene costs almost nothing.

Each frame is shrunk to ~160 px wide — first sampled to 3x that size (INTER_NEAREST, which
reads only the pixels it keeps), turned grey, then averaged down with INTER_AREA (which
smooths out sensor noise: each compared pixel is the mean of 9 samples) — and compared with a running-average background inside an optional region of
interest. If enough pixels changed, the frame goes to the detector. All buffers are reused,
so the gate costs well under a millisecond on a 1080p frame.

The gate never hides a slow or parked vehicle for long: `MotionGate.should_detect` also
says yes every `detect_every_n` frames, and on every frame for `hold_frames` after the
detector last found a plate (so a track is followed until it really ends).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class MotionConfig:
    """`[motion]`: the motion gate and region of interest.

    enabled:         false = run the detector on every frame.
    width:           frames are compared at this width (px), aspect kept.
    threshold:       grey-level difference (0-255) for a pixel to count as changed.
    min_area:        fraction of the (ROI) pixels that must change to call it motion.
    learning_rate:   how fast the background follows slow changes (light, clouds), 0-1.
    detect_every_n:  run the detector at least every N frames even without motion (0 = never).
    hold_frames:     keep detecting on every frame for this many frames after a plate was seen.
    roi:             polygon [[x, y], ...] in source-image pixels; only motion inside counts
                     and only plates whose centre is inside are kept (empty = whole frame).
    """

    enabled: bool = True
    width: int = 160
    threshold: int = 18
    min_area: float = 0.002
    learning_rate: float = 0.05
    detect_every_n: int = 15
    hold_frames: int = 8
    roi: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if not 16 <= self.width <= 1920:
            raise ValueError(f"width: must be between 16 and 1920, got {self.width}")
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"learning_rate: must be in (0, 1], got {self.learning_rate}")
        if not 0 <= self.min_area < 1:
            raise ValueError(f"min_area: must be in [0, 1), got {self.min_area}")
        if self.roi and len(self.roi) < 3:
            raise ValueError("roi: a polygon needs at least 3 points")
        for key in ("detect_every_n", "hold_frames"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key}: must be >= 0, got {getattr(self, key)}")


class MotionGate:
    """Decides per frame whether the detector should run.

    Call `should_detect(image)` for each frame, then `saw_plates(found)` after a detection.
    """

    def __init__(self, config: MotionConfig | None = None) -> None:
        self.config = config or MotionConfig()
        self._size: tuple[int, int, int, int] | None = None  # gate image (w, h), full frame (w, h)
        self._mid: np.ndarray | None = None
        self._mid_grey: np.ndarray | None = None
        self._grey: np.ndarray | None = None
        self._grey_f: np.ndarray | None = None
        self._bg: np.ndarray | None = None
        self._diff: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._mask_px = 0
        self._since_detect = 0
        self._since_plate = 10**9
        self.last_changed = 0.0  # fraction of ROI pixels that changed on the last frame
        self.counts = {"frames": 0, "motion": 0, "periodic": 0, "hold": 0, "skipped": 0}

    # -- the motion measure -------------------------------------------------------------

    def _setup(self, w: int, h: int, fw: int, fh: int) -> None:
        cw = min(self.config.width, w)
        ch = max(1, round(h * cw / w))
        self._size = (w, h, fw, fh)
        mw, mh = min(3 * cw, w), min(3 * ch, h)
        self._mid = np.empty((mh, mw, 3), np.uint8)
        self._mid_grey = np.empty((mh, mw), np.uint8)
        self._grey = np.empty((ch, cw), np.uint8)
        self._grey_f = np.empty((ch, cw), np.float32)
        self._diff = np.empty((ch, cw), np.float32)
        self._bg = None
        if self.config.roi:
            mask = np.zeros((ch, cw), np.uint8)
            pts = np.array([[x * cw / fw, y * ch / fh] for x, y in self.config.roi], np.float32)
            cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 255)
            self._mask = mask
            self._mask_px = max(1, int(np.count_nonzero(mask)))
        else:
            self._mask = None
            self._mask_px = cw * ch

    def motion(self, image: np.ndarray, frame_size: tuple[int, int] | None = None) -> bool:
        """True if the frame differs enough from the running background (inside the ROI).

        `frame_size` (w, h): the full frame `image` is a smaller copy of (a detection frame),
        which the ROI's coordinates refer to; default: `image`'s own size.
        """
        h, w = image.shape[:2]
        fw, fh = frame_size or (w, h)
        if self._size != (w, h, fw, fh):
            self._setup(w, h, fw, fh)
        cfg = self.config
        mid, mid_grey, grey, grey_f, diff = self._mid, self._mid_grey, self._grey, self._grey_f, self._diff
        if image.ndim == 2 or image.shape[2] == 1:
            cv2.resize(image, (mid.shape[1], mid.shape[0]), dst=mid_grey, interpolation=cv2.INTER_NEAREST)
        else:
            cv2.resize(image, (mid.shape[1], mid.shape[0]), dst=mid, interpolation=cv2.INTER_NEAREST)
            cv2.cvtColor(mid, cv2.COLOR_BGR2GRAY, dst=mid_grey)
        cv2.resize(mid_grey, (grey.shape[1], grey.shape[0]), dst=grey, interpolation=cv2.INTER_AREA)
        np.copyto(grey_f, grey, casting="unsafe")
        if self._bg is None:
            self._bg = grey_f.copy()
            self.last_changed = 1.0
            return True  # first frame: nothing to compare with, look at it
        cv2.absdiff(grey_f, self._bg, dst=diff)
        changed = cv2.compare(diff, float(cfg.threshold), cv2.CMP_GT)
        if self._mask is not None:
            cv2.bitwise_and(changed, self._mask, dst=changed)
        n = cv2.countNonZero(changed)
        cv2.accumulateWeighted(grey_f, self._bg, cfg.learning_rate)
        self.last_changed = n / self._mask_px
        return self.last_changed > cfg.min_area

    # -- the decision -------------------------------------------------------------------

    def should_detect(self, image: np.ndarray, tracks_open: bool = False,
                      frame_size: tuple[int, int] | None = None) -> bool:
        """Run the detector on this frame? Yes on motion, while a track is open (the tracker
        says so, or a plate was seen within `hold_frames`), and every `detect_every_n` frames."""
        cfg = self.config
        self.counts["frames"] += 1
        if not cfg.enabled:
            return True
        moving = self.motion(image, frame_size)
        self._since_detect += 1
        reason = None
        if moving:
            reason = "motion"
        elif tracks_open or self._since_plate < cfg.hold_frames:
            reason = "hold"
        elif cfg.detect_every_n and self._since_detect >= cfg.detect_every_n:
            reason = "periodic"
        self._since_plate += 1
        if reason is None:
            self.counts["skipped"] += 1
            return False
        self.counts[reason] += 1
        self._since_detect = 0
        return True

    def saw_plates(self, found: bool) -> None:
        """Tell the gate the detector ran and whether it found a plate (starts the hold)."""
        if found:
            self._since_plate = 0


def roi_contains(roi: tuple[tuple[float, float], ...], x: float, y: float) -> bool:
    """Is point (x, y) inside polygon `roi` (empty = everywhere)?"""
    if not roi:
        return True
    pts = np.asarray(roi, np.float32).reshape(-1, 1, 2)
    return cv2.pointPolygonTest(pts, (float(x), float(y)), False) >= 0
