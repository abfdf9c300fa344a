"""Video files through OpenCV, replayed with deterministic times.

frame.t_utc = start_time + the frame's presentation time (CAP_PROP_POS_MSEC after read(),
i.e. the container's PTS relative to the stream start); frame.t_mono_ns is the same PTS in
nanoseconds (plus the looped duration when `loop` is on). The same file therefore always
gives the same frame times, and tests can assert exact event times.

Errors: a missing, unreadable or undecodable file raises SourceError (one line). A file that
ends before the frame count its header promised (truncated while recording, a power cut)
stops cleanly with one warning; every frame that could be decoded is kept.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import cv2

from edge.records import Frame

# FFmpeg's own console messages ("moov atom not found", ...) would bury our one-line error;
# keep them quiet unless the user asked for them (set before the first capture is opened).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
_cv_logging = getattr(getattr(cv2, "utils", None), "logging", None)  # absent in some 4.x builds
if os.environ.get("OPENCV_LOG_LEVEL") is None and _cv_logging is not None:
    _cv_logging.setLogLevel(_cv_logging.LOG_LEVEL_ERROR)
from edge.sources import SourceConfig, SourceError, start_of

log = logging.getLogger(__name__)

MAX_FAILED_IN_ROW = 50  # undecodable frames in a row before a file counts as ended


class VideoFileSource:
    live = False
    stills = False

    def __init__(self, path: Path, config: SourceConfig | None = None) -> None:
        self.config = config or SourceConfig(kind="video", path=str(path))
        self.path = Path(path)
        self.name = f"video:{self.path.name}"
        self.start = start_of(self.config)
        self._closed = threading.Event()
        self._counts = {"frames": 0, "loops": 0, "truncated": False, "damaged_frames": 0,
                        "pts_fallbacks": 0}
        # Open once now so a bad file fails at start with a clear message, not mid-run.
        cap = self._open()
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        if not (0.5 < self.fps < 1000):
            self.fps = 25.0
        self.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(f"{self.path}: no frame could be decoded (corrupt or unsupported video)")
        self._cap: cv2.VideoCapture | None = cap
        self._first = first

    def _open(self) -> cv2.VideoCapture:
        if not self.path.exists():
            raise SourceError(f"{self.path}: video file not found")
        if self.path.is_dir():
            raise SourceError(f"{self.path}: is a folder, not a video file (use kind 'images')")
        if not os.access(self.path, os.R_OK):
            raise SourceError(f"{self.path}: video file is not readable (permission denied)")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{self.path}: video file is empty")
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.path}: cannot open as a video (corrupt, truncated or unsupported format)")
        return cap

    def stats(self) -> dict:
        return dict(self._counts)

    def close(self) -> None:
        self._closed.set()

    def frames(self) -> Iterator[Frame]:
        seq = 0
        offset_ns = 0  # added per loop so times keep increasing
        frame_ns = int(round(1e9 / self.fps))
        realtime = self.config.pacing == "realtime"
        wall0 = time.monotonic_ns()
        cap, pending = self._cap, self._first
        self._cap = self._first = None
        try:
            while not self._closed.is_set():
                if cap is None:
                    cap = self._open()
                    pending = None
                read_in_pass = 0
                failed_in_pass = 0
                failed_in_row = 0
                last_pts_ns = -1
                while not self._closed.is_set():
                    if pending is not None:
                        image, pending = pending, None
                    else:
                        ok, image = cap.read()
                        if not ok or image is None:
                            # A damaged frame: the decoder often recovers at the next one. Skip
                            # (and count) until the promised frame count, or give up after a run
                            # of failures (truncated file: nothing more to read).
                            failed_in_pass += 1
                            failed_in_row += 1
                            if (self.frame_count > 0 and read_in_pass + failed_in_pass < self.frame_count
                                    and failed_in_row < MAX_FAILED_IN_ROW):
                                continue
                            failed_in_pass -= failed_in_row  # the final run of failures is the end
                            break
                        failed_in_row = 0
                    pts_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
                    pts_ns = int(round(pts_ms * 1e6)) if pts_ms == pts_ms else -1  # NaN check
                    if pts_ns <= last_pts_ns or (pts_ns <= 0 and read_in_pass > 0):
                        # No usable container timestamp: fall back to the nominal frame rate.
                        pts_ns = last_pts_ns + frame_ns if last_pts_ns >= 0 else 0
                        self._counts["pts_fallbacks"] += 1
                    last_pts_ns = pts_ns
                    read_in_pass += 1
                    t_ns = offset_ns + pts_ns
                    if realtime:
                        delay = (wall0 + t_ns - time.monotonic_ns()) / 1e9
                        if delay > 0 and self._closed.wait(delay):
                            return
                    self._counts["frames"] += 1
                    yield Frame(seq=seq, image=image, t_mono_ns=t_ns,
                                t_utc=self.start + timedelta(microseconds=t_ns // 1000),
                                source=self.name)
                    seq += 1
                cap.release()
                cap = None
                if self._closed.is_set():
                    return
                if failed_in_pass:
                    self._counts["damaged_frames"] += failed_in_pass
                    log.warning("%s: %d damaged frame(s) could not be decoded and were skipped",
                                self.path, failed_in_pass)
                if self.frame_count > 1 and read_in_pass + failed_in_pass < self.frame_count - 1:
                    self._counts["truncated"] = True
                    log.warning("%s: video ended after %d of %d frames (truncated or damaged); "
                                "keeping what was read", self.path, read_in_pass, self.frame_count)
                if not self.config.loop or read_in_pass == 0:
                    return
                self._counts["loops"] += 1
                offset_ns += last_pts_ns + frame_ns
        finally:
            if cap is not None:
                cap.release()
