"""The one place where the application is wired: AppConfig -> running service.

config -> clock, gps, source, detector/reader (+ warm-up), format rules, tracker,
outbox + encoder + durable sink, MQTT publisher, systemd notifier -> Pipeline.

Used by `edge run` (run_service), `edge read` on videos (read_video_events),
`edge read` on images (load_readers), `edge bench` and `edge doctor`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

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


def file_identity(config: AppConfig, source: Any) -> str:
    """Which replay this is: the file (name, size) + its timeline start + the device."""
    path = getattr(source, "path", None)
    size = path.stat().st_size if path is not None and path.is_file() else 0
    start = getattr(source, "start", "")
    return f"{config.device.resolved_id}|{config.device.camera}|{getattr(path, 'name', source.name)}|{size}|{start}"


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
        pipeline = Pipeline(source, models.detector, models.reader, tracker, sink, rules=models.rules,
                            motion=config.motion, transform=make_transform(config),
                            options=PipelineOptions(queue_size=config.source.queue_size))
        pipeline.run()
    finally:
        gps.close()
    yield from sink.events


# ---------------------------------------------------------------------------- edge run


class Application:
    """Everything `edge run` holds; built by `open()`, run by `run()`, released by `close()`."""

    def __init__(self, config: AppConfig, *, print_events: bool = False, out: TextIO | None = None,
                 notifier: Any = None) -> None:
        from edge.service import NullNotifier

        self.config = config
        self.print_events = print_events
        self.out = out or sys.stdout
        self.notifier = notifier or NullNotifier()
        self.pipeline: Pipeline | None = None
        self.publisher: Any = None
        self.outbox: Any = None
        self.sink: Any = None
        self.gps: Any = None
        self.source: Any = None
        self.models: Models | None = None
        self.privacy: Any = None  # edge.privacy_stage.PrivacyParts
        self.retention: Any = None  # edge.retention.RetentionSweeper
        self.preview: Any = None  # edge.preview.PreviewServer, when [preview] is enabled
        self._stop_requested = False
        self.id_warning: str | None = None
        self._closers: list[Callable[[], None]] = []

    def stop(self) -> None:
        """Graceful stop (signal handler): the pipeline flushes open tracks and returns."""
        self._stop_requested = True
        if self.pipeline is not None:
            self.pipeline.stop()

    def open(self) -> None:
        from edge.event_json import EventEncoder
        from edge.gps import open_gps
        from edge.durable import DurableSink
        from edge.mqtt import MqttPublisher
        from edge.outbox import Outbox
        from edge.spill import import_spill

        cfg = self.config
        self.id_warning = cfg.device.id_warning()
        if self.id_warning:
            log.warning("WARNING: %s", self.id_warning)
        self._open_privacy()
        self.notifier.status("loading models")
        # a folder of photos is stills, not a video: big ones get the detector's fine pass
        self.models = load_readers(cfg, stills=cfg.source.kind == "images")
        warm_ms = warm_up(self.models)
        log.info("models %s warmed up in %.0f ms", self.models.names, warm_ms)

        self.notifier.status("opening outbox")
        self.outbox = Outbox(cfg.outbox, keep_sent_s=cfg.privacy.keep_sent_s)
        self._closers.append(self.outbox.close)
        import_spill(cfg.outbox.spill_path, self.outbox)  # events the last run could not store
        encoder = EventEncoder(cfg.device.resolved_id, cfg.device.camera, self.models.names,
                               getattr(cfg.mqtt, "topic_prefix", "alpr"))

        clock = make_clock(cfg)
        self.clock = clock
        first_fix = FirstFix(gps_clock_hook(cfg, clock))
        self.gps = open_gps(cfg.gps, on_fix=first_fix)
        self._closers.append(self.gps.close)
        if cfg.source.kind in ("video", "images") and cfg.source.start_time.strip().lower() == "gps":
            cfg = self.config = dataclasses.replace(
                cfg, source=dataclasses.replace(cfg.source, start_time=first_fix.wait_start_time(cfg)))

        self.notifier.status("opening camera")
        self.source = open_source(cfg.source, clock)
        self._closers.append(self.source.close)
        file_source = is_file_source(self.source)
        clock_state = (lambda: "video") if file_source else clock.state
        tracker = make_tracker(cfg, self.models.rules, self.gps.position_at, clock_state)

        self.publisher = MqttPublisher(cfg.mqtt, self.outbox, cfg.device.resolved_id, health=self.health)
        self.sink = DurableSink(self.outbox, encoder, notify_publisher=self.publisher.notify)
        if file_source:
            self.sink = ReplaySink(self.sink, file_identity(cfg, self.source))
        from edge.privacy_stage import PrivacySink

        # outermost: the replay ids, the outbox and every output see only what the mode allows
        self.sink = PrivacySink(self.sink, self.privacy.stage)
        from edge.service import watchdog_interval_s

        wd = watchdog_interval_s() or 5.0
        transform = make_transform(cfg)
        self.pipeline = Pipeline(
            self.source, self.models.detector, self.models.reader, tracker, self.sink,
            rules=self.models.rules, motion=cfg.motion, transform=transform,
            notifier=self.notifier,
            options=PipelineOptions(queue_size=cfg.source.queue_size, watchdog_interval_s=min(wd, 5.0),
                                    keep_crops=cfg.privacy.image),
            on_stored=self._print_event if self.print_events else None,
            on_frame=self._start_preview(transform))
        from edge.integrations import start_integrations

        self._closers.extend(start_integrations(self))  # [metrics], [homeassistant]; off by default
        if self._stop_requested:
            self.pipeline.stop()

    def _open_privacy(self) -> None:
        """Audit the config, then the key and watchlists (a ConfigError before any model loads)."""
        from edge.config_audit import audit_startup
        from edge.privacy_stage import open_privacy

        audit_startup(self.config, self.config.outbox.resolved_path().parent)
        self.privacy = open_privacy(self.config.privacy, self.config.watchlist)
        self._closers.append(self.privacy.close)

    def reload(self) -> None:
        """SIGHUP: reload the watchlists (signal-safe: the watcher thread does the work)."""
        if self.privacy is not None:
            self.privacy.reload()

    def _start_preview(self, transform: Any) -> Callable | None:
        """The aiming page (off by default), served from the frames this run analyses: frames
        and reads go to its hub, encoded on demand (no second decoder, no second camera user)."""
        pc = self.config.preview
        if not getattr(pc, "enabled", False):
            return None
        from edge.preview import start_preview
        from edge.preview.setup import make_view

        hub, roi = make_view(self.config, transform, self.privacy.stage.display)
        server = start_preview(pc, hub, roi=roi, camera=self.config.device.camera)
        if server is None:
            return None
        self.preview = server
        self._closers.append(server.stop)
        return hub.publish

    def _print_event(self, stored: Any) -> None:
        if stored is None or not self.print_events:
            return
        payload = stored.payload.decode("utf-8") if isinstance(stored.payload, bytes) else json.dumps(stored)
        try:
            self.out.write(payload + "\n")
            self.out.flush()
        except BrokenPipeError:
            # `edge run | head -1`: the reader is gone; stop as on SIGTERM (events stay stored).
            self.print_events = False
            silence_stdout()
            log.info("stdout was closed by its reader: stopping (as on SIGTERM)")
            self.stop()

    def health(self) -> dict:
        out: dict[str, Any] = {}
        if self.pipeline is not None:
            out.update(self.pipeline.health())
        out["temperature_c"] = device_temperature(self.config.health.temperature_path)
        if self.id_warning:
            out["warnings"] = [*out.get("warnings", []), self.id_warning]
        if self.source is not None and is_file_source(self.source):
            out["clock"] = "video"
        elif getattr(self, "clock", None) is not None:
            out["clock"] = self.clock.state()
        if self.privacy is not None:
            out["privacy"] = self.privacy.stage.health()
        return out

    def run(self) -> dict:
        """Start delivery, say READY, run the pipeline to its end (or stop), flush, stop delivery.

        The summary's `lost` counts events created in this run that could be neither stored nor
        spilled (the disk full at the stop): `edge run` turns it into its exit status."""
        assert self.pipeline is not None and self.publisher is not None
        from edge.retention import RetentionSweeper

        self.retention = RetentionSweeper(self.outbox, self.config.privacy.keep_sent_s).start()
        self.publisher.start()  # never waits for the broker
        self.notifier.ready()
        self.notifier.status(f"running: {self.source.name}")
        done = threading.Event()
        interval = self.config.health.print_interval_s
        if interval > 0:
            threading.Thread(target=self._log_health, args=(done, interval), name="health-log",
                             daemon=True).start()
        if getattr(self.notifier, "enabled", False):
            threading.Thread(target=self._systemd_status, args=(done,), name="sd-status",
                             daemon=True).start()
        lost = 0
        try:
            summary = self.pipeline.run()
        finally:
            done.set()
            self.notifier.stopping()
            self.notifier.status("stopping: delivering pending events")
            try:
                lost = int(self.sink.close() or 0)
            finally:
                self.publisher.stop(timeout=5.0)
                self.retention.stop()  # events delivered during the shutdown, too
        summary["lost"] = lost
        durable = self.sink
        while not hasattr(durable, "spilled") and hasattr(durable, "inner"):  # through the wrappers
            durable = durable.inner
        summary["spilled"] = int(getattr(durable, "spilled", 0))
        return summary

    def _systemd_status(self, done: threading.Event, interval: float = 10.0) -> None:
        """`systemctl status edge` shows what the service is doing, refreshed every 10 s."""
        while not done.wait(interval):
            p = self.pipeline
            if p is None:
                continue
            depth = ""
            try:
                depth = f", outbox depth {self.outbox.stats()['depth']}"
            except Exception:  # noqa: BLE001 - status text only
                pass
            self.notifier.status(f"running: {self.source.name}, {p.current_fps():.1f} fps, "
                                 f"{p.counts['events']} events, {p.queue.dropped} frames dropped{depth}")

    def _log_health(self, done: threading.Event, interval: float) -> None:
        while not done.wait(interval):
            h = self.health()
            lat = h.get("latency_ms", {})
            log.info("health: %.1f fps, total %.1f ms p50 / %.1f ms p95, drops %s, clock %s%s",
                     h.get("fps", 0.0), lat.get("total", 0.0), lat.get("total_p95", 0.0),
                     h.get("drops"), h.get("clock"),
                     "".join(f"; {w}" for w in h.get("warnings", [])))

    def close(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:  # closing must not hide the real outcome
                log.debug("close failed", exc_info=True)


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
        config = dataclasses.replace(config, source=source_from_uri(source, config.source))
    if no_mqtt and hasattr(config.mqtt, "enabled"):
        config = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, enabled=False))
    return config


__all__ = ["Application", "MemorySink", "Models", "StartupError", "apply_overrides", "load_readers",
           "make_clock", "model_paths", "read_video_events", "warm_up", "SourceConfig"]
