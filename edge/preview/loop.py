"""The producer side of the stand-alone `edge preview`: frames -> (calibration) -> detect/read -> hub."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edge.ports import FrameSource, PlateDetector, PlateReader
from edge.preview import PreviewHub

log = logging.getLogger(__name__)


class PreviewLoop:
    """Runs the detector and reader (through the edge.ports protocols) on every frame it can
    keep up with and publishes the result to the hub. With no detector it shows the raw view
    (for focusing before models are installed)."""

    def __init__(self, source: FrameSource, hub: PreviewHub, detector: PlateDetector | None = None,
                 reader: PlateReader | None = None, *, rules: Any = None,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.source = source
        self.hub = hub
        self.detector = detector
        self.reader = reader
        self.rules = rules
        self.transform = transform
        self.stop_event = threading.Event()
        self.frames = 0
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def run(self) -> int:
        from edge.recognition.reading import read_image

        try:
            for frame in self.source.frames():
                if self.stop_event.is_set():
                    break
                image = frame.image
                if self.transform is not None:
                    image = self.transform(image)
                reads: tuple = ()
                if self.detector is not None and self.reader is not None:
                    reads = read_image(image, self.detector, self.reader, self.rules, frame.seq).reads
                # the raw picture when the hub maps the boxes back to it (edge.preview.geometry)
                shown = frame.image if self.hub.geometry.maps_back else image
                self.hub.publish(shown, reads, frame.t_utc)
                self.frames += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc
            raise
        return self.frames

    def start(self) -> PreviewLoop:
        def target() -> None:
            try:
                self.run()
            except BaseException:  # noqa: BLE001 - kept in self.error
                log.exception("preview loop stopped")

        self._thread = threading.Thread(target=target, name="preview-loop", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self.stop_event.set()
        try:
            self.source.close()
        except Exception:  # best effort
            log.debug("source.close failed", exc_info=True)
        if self._thread is not None:
            self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, seconds: float | None) -> None:
        deadline = None if seconds is None else time.monotonic() + seconds
        while self.alive() and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.2)
