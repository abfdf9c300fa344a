"""The one place where the application is wired: AppConfig -> running service.

config -> clock, gps, source, detector/reader (+ warm-up), format rules, tracker,
outbox + encoder + durable sink, MQTT publisher, systemd notifier -> Pipeline.
`edge run`'s Application (one camera or several) is in edge.application, built from these.

Used by `edge run`, `edge read` on videos (read_video_events),
`edge read` on images (load_readers), `edge bench` and `edge doctor`.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.pipeline import Pipeline, PipelineOptions
from edge.ports import Clock, PlateDetector, PlateReader
from edge.settings import AppConfig, resolve_path
from edge.sources import SourceConfig, open_source

log = logging.getLogger(__name__)

DETECTOR_FILE = "plate_detector.onnx"
READER_FILE = "plate_reader.onnx"


class StartupError(RuntimeError):
    """Something needed to start is missing or broken; the message is one line."""


# ---------------------------------------------------------------------------- models


@dataclass
class Models:
    detector: PlateDetector
    reader: PlateReader
    rules: Any  # edge.formats.FormatRules | None

    @property
    def names(self) -> dict[str, str]:
        return {"detector": str(getattr(self.detector, "name", "unknown")),
                "reader": str(getattr(self.reader, "name", "unknown"))}


def model_paths(config: AppConfig) -> tuple[Path, Path]:
    from edge.inference import models_dir

    det = resolve_path(config, config.detector.model) if config.detector.model else models_dir() / DETECTOR_FILE
    rdr = resolve_path(config, config.reader.model) if config.reader.model else models_dir() / READER_FILE
    return det, rdr


def load_rules(config: AppConfig) -> Any:
    from edge.formats import FormatRules

    return FormatRules.from_config(config.formats)


def load_plugin(spec: str, section: Any, what: str) -> Any:
    """`package.module:factory` -> factory(section): a model behind the PlateDetector/PlateReader protocol."""
    import importlib

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise StartupError(f"{what}.plugin: {spec!r} must look like 'package.module:factory'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise StartupError(f"{what}.plugin: cannot load {spec!r}: {exc}") from None
    try:
        return factory(section)
    except TypeError:
        return factory()


def load_readers(config: AppConfig, stills: bool = False) -> Models:
    """Detector + reader + format rules from the config (RuntimeError subclasses, one line).

    `stills`: the models read single images (`edge read`), which get the detector's fine pass
    over big images (`[detector] fine_side`) and its `stills_threads`; video frames never do."""
    det_path, rdr_path = model_paths(config)
    for what, p in (("detector", det_path), ("reader", rdr_path)):
        if not getattr(config, what).plugin and not p.is_file():
            raise StartupError(f"{p}: {what} model not found (set {what}.model or $EDGE_MODELS_DIR)")
    if config.detector.plugin:
        detector = load_plugin(config.detector.plugin, config.detector, "detector")
    else:
        from edge.inference.detector import OnnxPlateDetector

        threads = config.detector.stills_threads if stills else config.detector.threads
        detector = OnnxPlateDetector(det_path, threads=threads,
                                     score_threshold=config.detector.score_threshold or None,
                                     input_side=config.detector.input_side or None,
                                     coarse_side=None if config.detector.coarse_side < 0
                                     else config.detector.coarse_side,
                                     fine_side=(None if config.detector.fine_side < 0
                                                else config.detector.fine_side) if stills else 0)
    if config.reader.plugin:
        reader = load_plugin(config.reader.plugin, config.reader, "reader")
    else:
        from edge.inference.reader import OnnxPlateReader

        sidecar = resolve_path(config, config.reader.sidecar) if config.reader.sidecar else None
        reader = OnnxPlateReader(rdr_path, threads=config.reader.threads, sidecar=sidecar)
    return Models(detector, reader, load_rules(config))


def warm_up(models: Models, size: tuple[int, int] = (1280, 720)) -> float:
    """Run each model once (first inference allocates and is slow); returns ms."""
    t0 = time.perf_counter()
    w, h = size
    image = np.full((h, w, 3), 127, np.uint8)
    models.detector.predict(image)
    models.reader.predict([np.full((48, 160, 3), 200, np.uint8)])
    return (time.perf_counter() - t0) * 1e3


# ---------------------------------------------------------------------------- parts


class _MonotonicClock:
    """Fallback used only if edge.clock is not in this checkout: wall time, state unsynced."""

    def __init__(self) -> None:
        self._offset_ns = time.time_ns() - time.monotonic_ns()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def utc_from_monotonic(self, t_mono_ns: int):
        from datetime import datetime, timezone

        return datetime.fromtimestamp((t_mono_ns + self._offset_ns) / 1e9, tz=timezone.utc)

    def state(self) -> str:
        return "unsynced"


def make_clock(config: AppConfig) -> Clock:
    try:
        import edge.clock as clock_mod
    except ModuleNotFoundError as exc:
        if exc.name != "edge.clock":
            raise
        return _MonotonicClock()
    if hasattr(clock_mod, "open_clock"):
        return clock_mod.open_clock(config.clock)
    try:
        return clock_mod.SystemClock(config.clock)
    except TypeError:
        return clock_mod.SystemClock()


def gps_clock_hook(config: AppConfig, clock: Any) -> Callable | None:
    """GPS time disciplines the clock only from a live receiver (gpsd, a serial device),
    never from a replayed log, whose times are in the past."""
    from edge.gps import is_live

    discipline = getattr(clock, "discipline_from_gps", None)
    if discipline is None or not is_live(config.gps):
        return None

    def on_fix(fix: Any, t_mono_ns: int) -> None:
        if getattr(fix, "fix_utc", None) is not None:
            discipline(fix.fix_utc, t_mono_ns)

    return on_fix


class FirstFix:
    """on_fix hook that remembers the first fix (for `source.start_time = "gps"`) and passes
    every fix on to `then` (the clock discipline, for live receivers)."""

    def __init__(self, then: Callable | None = None) -> None:
        self.then = then
        self.first: Any = None
        self._event = threading.Event()

    def __call__(self, fix: Any, t_mono_ns: int) -> None:
        if self.first is None and getattr(fix, "fix_utc", None) is not None:
            self.first = fix
            self._event.set()
        if self.then is not None:
            self.then(fix, t_mono_ns)

    def wait_start_time(self, config: AppConfig, timeout: float = 30.0) -> str:
        from edge.config import ConfigError
        from edge.event_json import rfc3339_ms

        if config.gps.kind in ("none", "static"):
            raise ConfigError("source.start_time: 'gps' needs a GPS with times ([gps] kind 'nmea' or 'gpsd')")
        if not self._event.wait(timeout):
            raise StartupError(f"source.start_time 'gps': no GPS fix within {timeout:g} s")
        return rfc3339_ms(self.first.fix_utc)


def make_travel(config: AppConfig, calibration_path: str | None = None):
    """Direction for every event; a speed estimate too when the calibration gives the scale."""
    from edge.calibration.scale import travel_scale
    from edge.plate_sizes import expected_plates
    from edge.travel import TravelEstimator

    return TravelEstimator(expected_plates(tuple(getattr(config.formats, "regions", ()))),
                           travel_scale(load_calibration_file(config, calibration_path)))


def make_tracker(config: AppConfig, rules: Any, locate: Callable, clock_state: Callable[[], str],
                 calibration_path: str | None = None):
    from edge.tracking import PlateTracker

    return PlateTracker(config.tracking, rules, locate, clock_state, photos=config.source.kind == "images",
                        travel=make_travel(config, calibration_path))


def _calibration_path(config: AppConfig, path: str | None) -> Path | None:
    """A calibration file named in the config: relative to the config's folder first."""
    value = path if path is not None else getattr(config.calibration, "path", "")
    if not value:
        return None
    p = Path(value)
    base = config.origin.parent if config.origin is not None else None
    if not p.is_absolute() and base is not None and (base / p).exists():
        p = base / p
    return p


def load_calibration_file(config: AppConfig, path: str | None = None):
    """The calibration the config names (or `path`), or None when it names none."""
    from edge.calibration import load_calibration

    p = _calibration_path(config, path)
    return load_calibration(p) if p is not None else None


def make_transform(config: AppConfig, calibration_path: str | None = None):
    p = _calibration_path(config, calibration_path)
    if p is None:
        return None
    from edge.calibration import CalibrationConfig, frame_transform

    return frame_transform(CalibrationConfig(str(p)))


def is_file_source(source: Any) -> bool:
    return not bool(getattr(source, "live", True))


class MemorySink:
    """A sink with no outbox (edge read on videos): numbers events 1..N in memory."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.events: list[dict] = []

    def submit(self, event: Any) -> dict:
        payload = self.encoder.to_dict(event, len(self.events) + 1)
        self.events.append(payload)
        return payload


def replay_event_id(identity: str, event: Any) -> str:
    """A deterministic UUIDv7 for an event from a replayed file: time bits = first_seen (ms),
    random bits = a hash of (file identity, first_seen, text). Replaying the same file gives
    the same ids, so a restart after a crash does not duplicate what was already recorded."""
    import hashlib
    import uuid

    ms = int(event.first_seen.timestamp() * 1000) & ((1 << 48) - 1)
    digest = hashlib.sha256(f"{identity}|{ms}|{event.text}".encode()).digest()
    rand_a = int.from_bytes(digest[:2], "big") & 0x0FFF
    rand_b = int.from_bytes(digest[2:10], "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


class ReplaySink:
    """Sink for file sources (video, image folder): deterministic event ids, so an event of the
    same file replayed after a crash or restart has the id it had, and the outbox gives it the
    seq it had instead of storing it again (the outbox remembers ids after pruning their rows).
    Live cameras never use this: their ids are random UUIDv7s made by the tracker. Holds no
    per-event state: memory stays flat however long a looped file plays."""

    def __init__(self, inner: Any, identity: str) -> None:
        self.inner = inner
        self.identity = identity
        self.skipped = 0

    def submit(self, event: Any) -> Any:
        event = dataclasses.replace(event, id=replay_event_id(self.identity, event))
        stored = self.inner.submit(event)
        if stored is not None and not getattr(stored, "new", True):
            self.skipped += 1
            if self.skipped == 1:
                log.info("this file was replayed before: events already in the outbox keep their "
                         "id and seq and are not stored again (delete the outbox to start over)")
        return stored

    def retry(self) -> Any:
        return self.inner.retry()

    def close(self) -> Any:
        return self.inner.close()


def file_identity(config: AppConfig, source: Any, camera: str | None = None) -> str:
    """Which replay this is: the file (name, size) + its timeline start + the device and camera."""
    path = getattr(source, "path", None)
    size = path.stat().st_size if path is not None and path.is_file() else 0
    start = getattr(source, "start", "")
    camera = camera if camera is not None else config.device.camera
    return f"{config.device.resolved_id}|{camera}|{getattr(path, 'name', source.name)}|{size}|{start}"


def device_temperature(path: str) -> float | None:
    try:
        return round(int(Path(path).read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------- edge read (video)


def read_video_events(path: Path, config: AppConfig) -> Iterator[dict]:
    """All events of one video file, as published-event dicts (seq 1..N), in order."""
    from edge.event_json import EventEncoder
    from edge.gps import open_gps

    models = load_readers(config)
    first_fix = FirstFix()
    gps = open_gps(config.gps, on_fix=first_fix)
    try:
        source_cfg = dataclasses.replace(config.source, kind="video", path=str(path), pacing="fast", loop=False)
        if source_cfg.start_time.strip().lower() == "gps":
            source_cfg = dataclasses.replace(source_cfg, start_time=first_fix.wait_start_time(config))
        source = open_source(source_cfg)
        tracker = make_tracker(config, models.rules, gps.position_at, lambda: "video")
        encoder = EventEncoder(config.device.resolved_id, config.device.camera, models.names,
                               getattr(config.mqtt, "topic_prefix", "alpr"))
        sink = MemorySink(encoder)
        outer: Any = sink
        if config.vehicle.colour:
            from edge.vehicle_colour import VehicleColourSink

            outer = VehicleColourSink(sink, config.vehicle)
        pipeline = Pipeline(source, models.detector, models.reader, tracker, outer, rules=models.rules,
                            motion=config.motion, transform=make_transform(config),
                            options=PipelineOptions(queue_size=config.source.queue_size,
                                                    keep_context=config.vehicle.colour))
        pipeline.run()
    finally:
        gps.close()
    yield from sink.events


# ---------------------------------------------------------------------------- edge run


def __getattr__(name: str) -> Any:
    """`Application` lives in edge.application (one camera or several); importable from here."""
    if name == "Application":
        from edge.application import Application

        return Application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null, so Python's own flush at exit does not
    print a BrokenPipeError traceback."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def apply_overrides(config: AppConfig, *, source: str | None = None, no_mqtt: bool = False) -> AppConfig:
    from edge.sources import source_from_uri

    if source:
        if config.camera:
            from edge.config import ConfigError

            raise ConfigError("--source: the config has [[camera]] tables; set each camera's source there")
        config = dataclasses.replace(config, source=source_from_uri(source, config.source))
    if no_mqtt and hasattr(config.mqtt, "enabled"):
        config = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, enabled=False))
    return config


__all__ = ["Application", "MemorySink", "Models", "StartupError", "apply_overrides", "load_readers",
           "make_clock", "model_paths", "read_video_events", "warm_up", "SourceConfig"]
