"""A folder of images, in name order, as frames at a nominal rate (`fps`, default 1).

Times are deterministic like a video's: start_time + index / fps. An unreadable image is
skipped with a warning and counted, so one bad file does not stop the run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np

from edge.records import Frame
from edge.sources import IMAGE_SUFFIXES, SourceConfig, SourceError, start_of

log = logging.getLogger(__name__)


class ImageFolderSource:
    live = False

    def __init__(self, path: Path, config: SourceConfig | None = None) -> None:
        self.config = config or SourceConfig(kind="images", path=str(path))
        self.path = Path(path)
        self.name = f"images:{self.path.name}"
        if not self.path.is_dir():
            raise SourceError(f"{self.path}: image folder not found")
        self.files = sorted(p for p in self.path.iterdir()
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"{self.path}: no images ({', '.join(IMAGE_SUFFIXES)}) in folder")
        self.fps = self.config.fps or 1.0
        self.start = start_of(self.config)
        self._closed = threading.Event()
        self._counts = {"frames": 0, "unreadable": 0, "loops": 0}

    def stats(self) -> dict:
        return dict(self._counts)

    def close(self) -> None:
        self._closed.set()

    def frames(self) -> Iterator[Frame]:
        seq = 0
        index = 0  # position on the timeline, unreadable files included (keeps times stable)
        wall0 = time.monotonic_ns()
        while not self._closed.is_set():
            for p in self.files:
                if self._closed.is_set():
                    return
                t_ns = int(round(index * 1e9 / self.fps))
                index += 1
                image = _imread(p)
                if image is None:
                    self._counts["unreadable"] += 1
                    log.warning("%s: not a readable image, skipped", p)
                    continue
                if self.config.pacing == "realtime":
                    delay = (wall0 + t_ns - time.monotonic_ns()) / 1e9
                    if delay > 0 and self._closed.wait(delay):
                        return
                self._counts["frames"] += 1
                yield Frame(seq=seq, image=image, t_mono_ns=t_ns,
                            t_utc=self.start + timedelta(microseconds=t_ns // 1000),
                            source=f"images:{p.name}")
                seq += 1
            if not self.config.loop:
                return
            self._counts["loops"] += 1


def _imread(path: Path) -> np.ndarray | None:
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return image
