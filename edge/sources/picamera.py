"""Raspberry Pi camera via picamera2 — the only module that imports picamera2 (lazily).

Two streams from one request: "main" at full resolution (BGR, used for plate crops) and
"lores" at low resolution (YUV420, used for detection; converted to BGR and handed to the
pipeline as `frame.detect_image`, whose boxes are scaled back to the main image).
Every request is released in `finally`, whatever happens, or libcamera runs out of buffers.
The frame time is the sensor's own timestamp ("SensorTimestamp", CLOCK_MONOTONIC ns)
converted to UTC through the Clock's measured offset.

Not testable without a Pi camera; kept small on purpose.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import cv2

from edge.ports import Clock
from edge.records import Frame
from edge.sources import SourceConfig, SourceError

log = logging.getLogger(__name__)


def camera_controls(config: SourceConfig) -> dict:
    """libcamera controls the camera starts with, from `[source]`.

    exposure_us -> ExposureTime (a fixed shutter; the Pi's AGC then varies only the gain),
    analogue_gain -> AnalogueGain (fixed gain). picamera2 sets libcamera's ExposureTimeMode /
    AnalogueGainMode to manual itself when these are given (libcamera >= 0.5). 0 = automatic:
    the control is not sent at all.
    """
    controls: dict = {}
    if config.fps:
        controls["FrameRate"] = float(config.fps)
    if config.exposure_us:
        controls["ExposureTime"] = int(config.exposure_us)
    if config.analogue_gain:
        controls["AnalogueGain"] = float(config.analogue_gain)
    return controls


class PiCameraSource:
    live = True
    stills = False

    def __init__(self, config: SourceConfig, clock: Clock) -> None:
        try:
            from picamera2 import Picamera2  # noqa: PLC0415 - lazy on purpose
        except ImportError:
            raise SourceError("source.kind 'picamera': picamera2 is not installed "
                              "(on Raspberry Pi OS: sudo apt install python3-picamera2)") from None
        self.config = config
        self.clock = clock
        self.name = "picamera"
        self._closed = threading.Event()
        self._counts = {"frames": 0, "missing_timestamp": 0}
        try:
            self.cam = Picamera2()
            main = {"format": "RGB888"}  # picamera2's RGB888 is B,G,R in memory: OpenCV order
            if config.width and config.height:
                main["size"] = (config.width, config.height)
            lores = None
            if config.lores_width and config.lores_height:
                lores = {"format": "YUV420", "size": (config.lores_width, config.lores_height)}
            controls = camera_controls(config)
            cam_config = self.cam.create_video_configuration(
                main=main, lores=lores, controls=controls, buffer_count=4)
            self.cam.align_configuration(cam_config)
            self.cam.configure(cam_config)
            self.lores_size = cam_config["lores"]["size"] if lores else None
            self.cam.start()
        except Exception as exc:  # libcamera raises plain RuntimeErrors
            raise SourceError(f"picamera: cannot start the camera: {exc}".splitlines()[0]) from exc

    def stats(self) -> dict:
        return dict(self._counts)

    def close(self) -> None:
        self._closed.set()

    def frames(self) -> Iterator[Frame]:
        seq = 0
        try:
            while not self._closed.is_set():
                request = self.cam.capture_request()
                try:
                    main = request.make_array("main")  # a copy: safe after release()
                    lores = None
                    if self.lores_size is not None:
                        yuv = request.make_array("lores")
                        w, h = self.lores_size
                        lores = cv2.cvtColor(yuv[: h * 3 // 2, :w], cv2.COLOR_YUV2BGR_I420)
                    metadata = request.get_metadata()
                finally:
                    request.release()
                t_mono = metadata.get("SensorTimestamp")
                if t_mono is None:
                    self._counts["missing_timestamp"] += 1
                    t_mono = self.clock.monotonic_ns()
                self._counts["frames"] += 1
                yield Frame(seq=seq, image=main, t_mono_ns=int(t_mono),
                            t_utc=self.clock.utc_from_monotonic(int(t_mono)),
                            source=self.name, detect_image=lores)
                seq += 1
        finally:
            try:
                self.cam.stop()
                self.cam.close()
            except Exception:  # already gone; nothing left to release
                log.debug("picamera: stop/close failed", exc_info=True)
