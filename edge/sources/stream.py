"""Live cameras through OpenCV: RTSP/HTTP streams (FFmpeg) and V4L2 devices (USB webcams).

A camera that is down at start, or drops mid-run, is reopened with exponential backoff
(`reconnect_initial_s` doubling up to `reconnect_max_s`); every failed read and every
reconnect is counted in `stats()` and logged, never silent. Frame times come from the
system Clock at the moment the frame is grabbed (monotonic ns -> UTC via the measured offset).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2

from edge.ports import Clock
from edge.records import Frame
from edge.sources import SourceConfig, SourceError

log = logging.getLogger(__name__)

OPEN_TIMEOUT_MS = 10_000
READ_TIMEOUT_MS = 10_000


_PROP_NAMES = {cv2.CAP_PROP_AUTO_EXPOSURE: "CAP_PROP_AUTO_EXPOSURE", cv2.CAP_PROP_EXPOSURE: "CAP_PROP_EXPOSURE"}


def exposure_properties(config: SourceConfig) -> list[tuple[int, float]]:
    """OpenCV capture properties for `source.exposure_us` on a V4L2 (usb) camera, in order.

    With OpenCV's V4L2 backend, CAP_PROP_AUTO_EXPOSURE 1 is V4L2_EXPOSURE_MANUAL and
    CAP_PROP_EXPOSURE is V4L2's exposure_time_absolute, in 100 µs units. Nothing for rtsp
    (an IP camera's shutter is set in its own settings) or with exposure_us 0 (automatic).
    analogue_gain is not applied here: V4L2 gain units are driver-specific.
    """
    if config.kind != "usb" or not config.exposure_us:
        return []
    return [(cv2.CAP_PROP_AUTO_EXPOSURE, 1.0), (cv2.CAP_PROP_EXPOSURE, max(1.0, round(config.exposure_us / 100)))]


class StreamSource:
    live = True
    stills = False

    def __init__(self, config: SourceConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        if config.kind == "rtsp":
            if not config.url:
                raise SourceError("source.url: an rtsp:// address is required for kind 'rtsp'")
            self.target: str | int = config.url
            self.api = cv2.CAP_FFMPEG
            self.name = f"rtsp:{_redact(config.url)}"
        else:
            dev = config.device.strip()
            self.target = int(dev) if dev.isdigit() else dev
            self.api = cv2.CAP_V4L2 if hasattr(cv2, "CAP_V4L2") else cv2.CAP_ANY
            self.name = f"usb:{dev}"
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._counts = {"frames": 0, "read_failures": 0, "disconnects": 0, "reconnects": 0,
                        "open_failures": 0, "connected": False}

    def stats(self) -> dict:
        with self._lock:
            return dict(self._counts)

    def _count(self, key: str, value: object = None) -> None:
        with self._lock:
            if value is None:
                self._counts[key] += 1
            else:
                self._counts[key] = value

    def close(self) -> None:
        self._closed.set()

    def missing_device(self) -> str | None:
        """For a USB camera whose /dev node is absent: what to tell the user (OpenCV would only
        print warnings on every retry). None when there is a node, or for RTSP."""
        if self.api == cv2.CAP_FFMPEG:
            return None
        node = Path(f"/dev/video{self.target}") if isinstance(self.target, int) else Path(self.target)
        if node.exists():
            return None
        return f"no {node} (is the USB camera plugged in? `ls /dev/video*` lists the cameras)"

    def _open(self) -> cv2.VideoCapture | None:
        if self.api == cv2.CAP_FFMPEG:
            # never block forever on a dead network camera: the watchdog would not see it
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
            cap = cv2.VideoCapture(self.target, self.api, params)
        else:
            cap = cv2.VideoCapture(self.target, self.api)
        if not cap.isOpened():
            cap.release()
            return None
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a stale backlog
        if self.config.width and self.config.height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.height)
        if self.config.fps:
            cap.set(cv2.CAP_PROP_FPS, self.config.fps)
        for prop, value in exposure_properties(self.config):
            if not cap.set(prop, value):
                log.warning("%s: the camera refused %s = %s (source.exposure_us); exposure stays automatic",
                            self.name, _PROP_NAMES.get(prop, prop), value)
        return cap

    def frames(self) -> Iterator[Frame]:
        seq = 0
        backoff = self.config.reconnect_initial_s
        failures_in_row = 0
        ever_connected = False
        said_missing = False
        while not self._closed.is_set():
            missing = self.missing_device()
            cap = None if missing else self._open()
            if cap is None:
                self._count("open_failures")
                failures_in_row += 1
                limit = self.config.max_reconnects
                if limit and failures_in_row > limit:
                    raise SourceError(f"{self.name}: {missing or f'camera unreachable after {limit} retries'}")
                if missing and not said_missing:
                    log.warning("%s: %s; waiting for it", self.name, missing)
                elif not missing:
                    log.warning("%s: cannot open camera; retrying in %.1f s", self.name, backoff)
                said_missing = bool(missing)
                if self._closed.wait(backoff):
                    return
                backoff = min(backoff * 2, self.config.reconnect_max_s)
                continue
            if ever_connected:
                self._count("reconnects")
                log.info("%s: reconnected", self.name)
            ever_connected = True
            self._count("connected", True)
            try:
                while not self._closed.is_set():
                    ok = cap.grab()
                    t_mono = self.clock.monotonic_ns()
                    if ok:
                        ok, image = cap.retrieve()
                    if not ok or image is None:
                        self._count("read_failures")
                        break
                    failures_in_row = 0
                    backoff = self.config.reconnect_initial_s
                    self._count("frames")
                    yield Frame(seq=seq, image=image, t_mono_ns=t_mono,
                                t_utc=self.clock.utc_from_monotonic(t_mono), source=self.name)
                    seq += 1
            finally:
                cap.release()
                self._count("connected", False)
            if self._closed.is_set():
                return
            self._count("disconnects")
            log.warning("%s: camera stopped delivering frames; reconnecting in %.1f s",
                        self.name, backoff)
            if self._closed.wait(backoff):
                return
            backoff = min(backoff * 2, self.config.reconnect_max_s)


def _redact(url: str) -> str:
    """rtsp://user:secret@host/... -> rtsp://user:***@host/... (never log a password)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        return f"{scheme}://{creds}@{host}"
    return url
