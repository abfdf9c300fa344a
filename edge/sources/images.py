"""A folder of images (or one image), in name order, as frames at a nominal rate (`fps`, default 1).

Times are deterministic like a video's: start_time + index / fps. An unreadable image is
skipped with a warning and counted, so one bad file does not stop the run. Photos are decoded as
`edge read` decodes them (edge.recognition.stills): upright by their EXIF orientation, and very big ones
reduced while they are decoded, so a folder of 108 MP photos fits a Pi's memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from edge.records import Frame
from edge.sources import (IMAGE_SUFFIXES, UNDECODABLE_PHOTO_HINT, UNDECODABLE_PHOTO_SUFFIXES, SourceConfig,
                          SourceError, start_of)
from edge.recognition.stills import Still, read_still

log = logging.getLogger(__name__)


class ImageFolderSource:
    live = False
    stills = True  # photos: the pipeline decodes big ones one at a time

    def __init__(self, path: Path, config: SourceConfig | None = None) -> None:
        self.config = config or SourceConfig(kind="images", path=str(path))
        self.path = Path(path)
        self.name = f"images:{self.path.name}"
        if self.path.is_file():  # one photo
            files = [self.path]
        elif self.path.is_dir():
            files = [p for p in self.path.iterdir() if p.is_file()]
        else:
            raise SourceError(f"{self.path}: no such image folder or photo")
        self.files = sorted(p for p in files if p.suffix.lower() in IMAGE_SUFFIXES)
        undecodable = sorted(p.name for p in files if p.suffix.lower() in UNDECODABLE_PHOTO_SUFFIXES)
        if undecodable:
            message = (f"{self.path}: {len(undecodable)} photo(s) skipped, such as {undecodable[0]}: "
                       f"{UNDECODABLE_PHOTO_HINT}")
            if not self.files:
                raise SourceError(message)
            log.warning("%s", message)
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
                still = _read(p)
                if still is None:
                    self._counts["unreadable"] += 1
                    log.warning("%s: not a readable image, skipped", p)
                    continue
                if still.cut_short:
                    log.warning("%s: the JPEG ends early (a partial copy?); read what could be decoded", p)
                if self.config.pacing == "realtime":
                    delay = (wall0 + t_ns - time.monotonic_ns()) / 1e9
                    if delay > 0 and self._closed.wait(delay):
                        return
                self._counts["frames"] += 1
                yield Frame(seq=seq, image=still.image, t_mono_ns=t_ns,
                            t_utc=self.start + timedelta(microseconds=t_ns // 1000),
                            source=f"images:{p.name}", photo_scale=(still.scale_x, still.scale_y))
                still = None  # so this image is not kept alive while the next one decodes
                seq += 1
            if not self.config.loop:
                return
            self._counts["loops"] += 1


def _read(path: Path) -> Still | None:
    try:
        return read_still(path)
    except OSError:  # vanished, unreadable (permissions), an I/O error on the card
        return None
