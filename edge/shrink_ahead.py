"""The capture thread shrinks each frame for the detector while the inference thread works on
the one before it.

On a 1920x1080 video the shrink to the detector's 512 px input costs about 2.4 ms a frame
(edge bench, `downscale`), a sixth of the inference thread's frame; the capture thread, which
only decodes (2.5 ms), has time to spare on the other core. The shrunk image is exactly what
the inference thread would have made (the same `downscale_for_detection` on the same frame),
so detections and events are unchanged (benchmarks/speed.md).

Only while the detector runs frame after frame: when the motion gate skips static frames,
shrinking them ahead would only slow the capture thread, which is then the pipeline's limit (and
the gate's periodic look at a static scene is one frame, whose next is skipped again). Not for a frame that
comes with its own small image (picamera2's lores stream), nor with a calibration transform
(the pipeline transforms the small frame itself).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np


class ShrinkAhead:
    def __init__(self, side: int, shrink: Callable[[np.ndarray, int], np.ndarray], keep: int = 4) -> None:
        self.side = side
        self._shrink = shrink
        self._keep = max(1, keep)
        # id(frame image) -> (frame image, shrunk); the frame is held only until it is taken
        self._ready: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()
        self.wanted = True  # whether the last two frames were detected on (`decided`)
        self._last = True

    def prepare(self, image: np.ndarray) -> None:
        """Capture thread: shrink this frame now, if the detector is likely to want it."""
        if not self.wanted:
            return
        small = self._shrink(image, self.side)
        with self._lock:
            self._ready[id(image)] = (image, small)
            while len(self._ready) > self._keep:  # frames dropped or skipped by the gate
                self._ready.popitem(last=False)

    def decided(self, image: np.ndarray, detect: bool) -> None:
        """Inference thread: whether the detector runs on this frame (if not, its shrunk copy
        goes); frames are shrunk ahead while it ran on the last two."""
        self.wanted = detect and self._last
        self._last = detect
        if not detect and self._ready:
            self.take(image)

    def take(self, image: np.ndarray) -> np.ndarray | None:
        """Inference thread: this frame shrunk ahead, or None (then shrink it here)."""
        with self._lock:
            entry = self._ready.pop(id(image), None)
        if entry is None or entry[0] is not image:
            return None
        return entry[1]

    def clear(self) -> None:
        with self._lock:
            self._ready.clear()
