"""A stand-in for the picamera2 library (tests only): the small part of its API that
edge/sources/picamera.py uses, backed by synthetic images instead of a camera.

Frame i: "main" is BGR with every pixel = (i % 250); "lores" is YUV420 (I420) of a scaled copy;
metadata "SensorTimestamp" = 1_000_000_000 + i * 33_333_333 ns (CLOCK_MONOTONIC, as libcamera).
Every request must be released; `Picamera2.instances[-1].released` counts it.
"""

from __future__ import annotations

import cv2
import numpy as np


class _Request:
    def __init__(self, cam: Picamera2, index: int) -> None:
        self.cam = cam
        self.index = index

    def make_array(self, name: str) -> np.ndarray:
        if self.cam.fail_on == self.index:
            raise RuntimeError("buffer went away")
        cfg = self.cam.config[name]
        w, h = cfg["size"]
        if name == "main":
            return np.full((h, w, 3), self.index % 250, np.uint8)
        bgr = np.full((h, w, 3), self.index % 250, np.uint8)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)

    def get_metadata(self) -> dict:
        return {"SensorTimestamp": 1_000_000_000 + self.index * 33_333_333, "ExposureTime": 5000}

    def release(self) -> None:
        self.cam.released += 1


class Picamera2:
    instances: list[Picamera2] = []

    def __init__(self) -> None:
        self.config: dict = {}
        self.started = self.stopped = self.closed = False
        self.requests = 0
        self.released = 0
        self.fail_on: int | None = None
        Picamera2.instances.append(self)

    def create_video_configuration(self, main=None, lores=None, controls=None, buffer_count=6, **_):
        main = dict(main or {})
        main.setdefault("size", (1280, 720))
        config = {"main": main, "lores": dict(lores) if lores else None, "controls": controls or {},
                  "buffer_count": buffer_count}
        return config

    def align_configuration(self, config: dict) -> None:
        for name in ("main", "lores"):
            if config.get(name):
                w, h = config[name]["size"]
                config[name]["size"] = (w - w % 64 if w >= 64 else w, h - h % 2)

    def configure(self, config: dict) -> None:
        self.config = config

    def start(self) -> None:
        self.started = True

    def capture_request(self) -> _Request:
        request = _Request(self, self.requests)
        self.requests += 1
        return request

    def stop(self) -> None:
        self.stopped = True

    def close(self) -> None:
        self.closed = True
