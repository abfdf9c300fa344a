"""The small protocols behind which models and hardware sit.

The pipeline is wired against these only; tests plug in real fakes (a video file, an NMEA
log, a real broker) instead of patching module paths.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol

import numpy as np

from edge.records import Frame, GeoFix, PlateDetection, PlateEvent, PlateText


class PlateDetector(Protocol):
    name: str
    # The side the detector letterboxes images to: the pipeline shrinks frames to it before
    # detection, the cheap way (0 = it is given whole frames).
    input_side: int
    # > 0: it runs a fine pass over big still images, which needs the whole frame (then the
    # pipeline never shrinks frames for it); 0 = no fine pass.
    fine_side: int

    def predict(self, image: np.ndarray) -> list[PlateDetection]:
        """Plates in a BGR image, boxes in that image's pixels, best first."""
        ...


class PlateReader(Protocol):
    name: str

    def predict(self, crops: Sequence[np.ndarray]) -> list[PlateText]:
        """Text of each BGR plate crop, in order."""
        ...


class FrameSource(Protocol):
    name: str
    # True for cameras: a slow consumer must not stall them (the pipeline drops the oldest
    # queued frame); False for files (a video, a folder of photos), which are never dropped from.
    live: bool
    # True for photos: the pipeline lets the source decode a big one only once the last big one
    # has been processed, so that few are in memory at a time.
    stills: bool

    def frames(self) -> Iterator[Frame]:
        """Frames until the source ends (a video) or `close()` is called (a camera)."""
        ...

    def stats(self) -> dict:
        """Counters for health reports (read failures, reconnects...; {} when there are none)."""
        ...

    def close(self) -> None: ...


class GpsSource(Protocol):
    name: str

    def position_at(self, t_utc: datetime) -> GeoFix | None:
        """Best position at that instant (interpolated between fixes), or None if unknown."""
        ...

    def close(self) -> None: ...


class Clock(Protocol):
    def monotonic_ns(self) -> int: ...

    def utc_from_monotonic(self, t_mono_ns: int) -> datetime: ...

    def state(self) -> str:
        """"ntp" | "gps" | "unsynced": which source the wall clock is trusted from."""
        ...


class ServiceNotifier(Protocol):
    """systemd's sd_notify, or a no-op off systemd."""

    def ready(self) -> None: ...

    def watchdog(self) -> None: ...

    def status(self, text: str) -> None: ...

    def stopping(self) -> None: ...


class EventSink(Protocol):
    """Where finished events go. `submit` returns only once the event is durably stored
    (or, when the store is failing, after queueing it in memory for `retry`)."""

    def submit(self, event: PlateEvent) -> object | None: ...

    def retry(self) -> None:
        """Store events held in memory since a failed submit (call it on the health tick)."""
        ...

    def close(self) -> None: ...
