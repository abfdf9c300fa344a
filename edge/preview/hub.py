"""The preview hub: the latest frame and its reads, encoded and measured only when asked.

Producers (the `edge run` pipeline, or `edge preview`'s own loop) call `publish(image, reads,
t_utc)` on their thread: it keeps a reference and updates the motion meter (box arithmetic
only). JPEG encoding, drawing and the focus figure happen when a client asks, once per frame
however many clients watch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from edge.preview.aiming import AimingSettings, FocusMeter, MotionMeter
from edge.preview.geometry import ViewGeometry
from edge.records import BoundingBox, PlateRead
from edge.sighting import sharpness


@dataclass(frozen=True)
class _Snapshot:
    seq: int
    image: np.ndarray
    reads: tuple[PlateRead, ...]
    boxes: tuple[BoundingBox, ...]  # the reads' boxes in view (raw camera) pixels
    t_utc: datetime | None
    t_mono: float


def _as_read(text: str) -> str:
    return text


def _frame_time(t_utc: datetime | None, t_mono: float) -> float:
    return t_utc.timestamp() if t_utc is not None else t_mono


class PreviewHub:
    """`label(text)` is what the page shows for a read's text: edge.privacy_stage's `display`
    masks it in the modes where events do not carry it. `geometry` maps the analysed boxes to
    the published (raw) frame; `aiming` holds what the figures are judged against."""

    def __init__(self, jpeg_quality: int = 75, max_width: int = 1280,
                 label: Callable[[str], str] = _as_read, *, geometry: ViewGeometry | None = None,
                 aiming: AimingSettings | None = None) -> None:
        self.jpeg_quality = jpeg_quality
        self.max_width = max_width
        self.label = label
        self.geometry = geometry or ViewGeometry()
        self.aiming = aiming or AimingSettings()
        self.focus = FocusMeter()
        self.motion = MotionMeter(self.aiming)
        self._cond = threading.Condition()
        self._snap: _Snapshot | None = None
        self._last_plates: _Snapshot | None = None  # the latest frame that had plates
        self._jpeg: tuple[int, bytes] | None = None
        self._focus_seq = 0
        self._seq = 0
        self._times: list[float] = []
        self.closed = False
        self.frames_streamed = 0  # JPEG parts written to stream clients, all together

    def publish(self, image: np.ndarray, reads: Sequence[PlateRead] = (), t_utc: datetime | None = None) -> int:
        now = time.monotonic()
        size = (image.shape[1], image.shape[0])
        boxes = tuple(self.geometry.box(r.box, size) for r in reads)
        self.motion.add(_frame_time(t_utc, now), boxes)
        with self._cond:
            self._seq += 1
            self._snap = _Snapshot(self._seq, image, tuple(reads), boxes, t_utc, now)
            if reads:
                self._last_plates = self._snap
            self._times = [t for t in self._times if now - t < 5.0] + [now]
            self._cond.notify_all()
            return self._seq

    def count_streamed(self) -> None:
        with self._cond:
            self.frames_streamed += 1

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    @property
    def seq(self) -> int:
        return self._seq

    def fps(self) -> float:
        with self._cond:
            t = self._times
            return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def wait_newer(self, seq: int, timeout: float) -> int:
        """Block until a frame newer than `seq` exists (or timeout/close); return the latest seq."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq or self.closed, timeout)
            return self._seq

    def view_size(self) -> tuple[int, int] | None:
        with self._cond:
            snap = self._snap
        return None if snap is None else (snap.image.shape[1], snap.image.shape[0])

    def jpeg(self) -> tuple[int, bytes] | None:
        """(seq, JPEG of the latest frame with its plates drawn), encoded once per frame."""
        from edge.preview.drawing import annotate, encode_jpeg

        with self._cond:
            snap, cached = self._snap, self._jpeg
        if snap is None:
            return None
        if cached is not None and cached[0] == snap.seq:
            return cached
        image = annotate(snap.image, snap.reads, snap.boxes, self.aiming.plate.min_readable_px, self.label)
        data = encode_jpeg(image, self.jpeg_quality, self.max_width)
        with self._cond:
            if self._jpeg is None or self._jpeg[0] < snap.seq:
                self._jpeg = (snap.seq, data)
        return snap.seq, data

    def _measure_focus(self, snap: _Snapshot) -> list[float]:
        """Focus of each plate of a snapshot, in view pixels; the largest one feeds the trend."""
        h, w = snap.image.shape[:2]
        values = []
        for box in snap.boxes:
            x1, y1 = max(0, int(round(box.x))), max(0, int(round(box.y)))
            x2, y2 = min(w, int(round(box.x2))), min(h, int(round(box.y2)))
            values.append(round(sharpness(snap.image[y1:y2, x1:x2]), 1) if x2 > x1 and y2 > y1 else 0.0)
        with self._cond:
            new = snap.seq > self._focus_seq
            self._focus_seq = max(self._focus_seq, snap.seq)
        if new and values:
            largest = max(range(len(values)), key=lambda i: snap.boxes[i].w)
            self.focus.add(snap.t_mono, values[largest])
        return values

    def detections(self) -> dict[str, Any]:
        """The latest frame's plates, plus the last frame that had any (so a passing car stays
        on screen long enough to read its width), and the aiming figures."""
        from edge.preview.drawing import plate_json

        with self._cond:
            snap, last = self._snap, self._last_plates
        out: dict[str, Any] = {"seq": 0, "frame": None, "time": None, "fps": round(self.fps(), 2),
                               "streamed": self.frames_streamed, "plates": [], "last_plates": None,
                               "aiming": self.aiming_json()}
        if snap is None:
            return out
        h, w = snap.image.shape[:2]
        min_px = self.aiming.plate.min_readable_px
        out.update(seq=snap.seq, frame={"width": w, "height": h},
                   time=snap.t_utc.isoformat(timespec="milliseconds") if snap.t_utc else None,
                   plates=[plate_json(r, b, min_px, self.label) for r, b in zip(snap.reads, snap.boxes)])
        if last is not None:
            focus = self._measure_focus(last)
            out["last_plates"] = {"seq": last.seq, "age_s": round(time.monotonic() - last.t_mono, 2),
                                  "plates": [plate_json(r, b, min_px, self.label) | {"focus": f}
                                             for r, b, f in zip(last.reads, last.boxes, focus)]}
            if last is snap:
                for p, f in zip(out["plates"], focus):
                    p["focus"] = f
        out["aiming"] = self.aiming_json()
        return out

    def aiming_json(self) -> dict[str, Any]:
        s = self.aiming
        focus = self.focus.figure(time.monotonic())
        motion = self.motion.figure()
        return {
            "plate": {"region": s.plate.region, "width_mm": s.plate.width_mm, "height_mm": s.plate.height_mm,
                      "min_px": round(s.plate.min_readable_px, 1), "note": s.plate_note},
            "focus": None if focus is None else {"value": focus.value, "trend": focus.trend, "best": focus.best},
            "motion": None if motion is None else {
                "px_per_s": motion.px_per_s, "px_per_frame": motion.px_per_frame, "frame_rate": motion.frame_rate,
                "max_shutter_us": motion.max_shutter_us, "exposure_us": motion.exposure_us,
                "blur_px": motion.blur_px, "ok": motion.ok, "blur_budget_px": s.blur_budget_px},
        }
