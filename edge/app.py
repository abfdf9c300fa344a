"""The one place where the service is wired: AppConfig -> the parts -> `Application`.

`edge run`'s Application holds everything a running service holds, for one camera or several.
Shared by every camera: the models (one detector and one reader, loaded and warmed up once),
the format rules, the clock, the GPS, the privacy stage, one outbox behind one durable sink,
one MQTT publisher, the preview server. Per camera (`edge.cameras`): its source, its tracker,
its calibration (ROI, lens, scale) and its pipeline, whose events carry the camera's name.

The parts come from their own modules: the models from edge.recognition.models.loading, the sinks from
edge.sinks, the GPS hooks from edge.gps.hooks. The small factories below (clock, tracker,
calibration transform) are also used by `edge read`, `edge bench`, `edge preview` and
`edge doctor`, so each command builds a part the way the service does.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

import numpy as np

from edge.cameras import Camera, cameras_of, combine_health, combine_summaries
from edge.clock import SystemClock
from edge.gps.hooks import FirstFix, gps_clock_hook
from edge.recognition.models.loading import Models, load_readers, warm_up
from edge.pipeline import FrameTransform, Pipeline, PipelineOptions
from edge.ports import EventSink, FrameSource, GpsSource
from edge.records import PlateRead
from edge.service import NullNotifier, SystemdNotifier
from edge.configuration.settings import AppConfig
from edge.sources import open_source

if TYPE_CHECKING:
    from edge.calibration.file import Calibration
    from edge.delivery.durable import DurableSink
    from edge.formats import FormatRules
    from edge.delivery.mqtt import MqttPublisher
    from edge.delivery.outbox import Outbox, StoredEvent
    from edge.preview import PreviewServer
    from edge.privacy_stage import PrivacyParts
    from edge.retention import RetentionSweeper
    from edge.sinks import FileSource
    from edge.tracking import PlateTracker
    from edge.travel import TravelEstimator
    from edge.watchdog import WatchdogGroup

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- parts


def make_clock(config: AppConfig) -> SystemClock:
    return SystemClock(config.clock)


def make_travel(config: AppConfig, calibration_path: str | None = None) -> TravelEstimator:
    """Direction for every event; a speed estimate too when the calibration gives the scale."""
    from edge.calibration.scale import travel_scale
    from edge.plate_sizes import expected_plates
    from edge.travel import TravelEstimator

    return TravelEstimator(expected_plates(tuple(config.formats.regions)),
                           travel_scale(load_calibration_file(config, calibration_path)))


def make_tracker(config: AppConfig, rules: FormatRules, locate: Callable, clock_state: Callable[[], str],
                 calibration_path: str | None = None) -> PlateTracker:
    from edge.tracking import PlateTracker

    return PlateTracker(config.tracking, rules, locate, clock_state, photos=config.source.kind == "images",
                        travel=make_travel(config, calibration_path))


def _calibration_path(config: AppConfig, path: str | None) -> Path | None:
    """A calibration file named in the config: relative to the config's folder first."""
    value = path if path is not None else config.calibration.path
    if not value:
        return None
    p = Path(value)
    base = config.origin.parent if config.origin is not None else None
    if not p.is_absolute() and base is not None and (base / p).exists():
        p = base / p
    return p


def load_calibration_file(config: AppConfig, path: str | None = None) -> Calibration | None:
    """The calibration the config names (or `path`), or None when it names none."""
    from edge.calibration.file import load_calibration

    p = _calibration_path(config, path)
    return load_calibration(p) if p is not None else None


def make_transform(config: AppConfig, calibration_path: str | None = None) -> FrameTransform | None:
    p = _calibration_path(config, calibration_path)
    if p is None:
        return None
    from edge.calibration.file import CalibrationConfig
    from edge.calibration.transform import frame_transform

    return frame_transform(CalibrationConfig(str(p)))


# ---------------------------------------------------------------------------- edge run


@dataclass
class CameraRun:
    """One camera's running parts and, once it has run, its outcome."""

    camera: Camera
    source: FrameSource
    pipeline: Pipeline
    summary: dict | None = None
    error: BaseException | None = None


class Application:
    """Everything `edge run` holds; built by `open()`, run by `run()`, released by `close()`."""

    def __init__(self, config: AppConfig, *, print_events: bool = False, out: TextIO | None = None,
                 notifier: NullNotifier | SystemdNotifier | None = None) -> None:
        self.config = config
        self.print_events = print_events
        self.out = out or sys.stdout
        self.notifier = notifier or NullNotifier()
        self.cameras: list[CameraRun] = []
        self.publisher: MqttPublisher | None = None
        self.outbox: Outbox | None = None
        self.durable: DurableSink | None = None  # the one DurableSink every camera's events go to
        self.gps: GpsSource | None = None
        self.clock: SystemClock | None = None
        self.models: Models | None = None
        self.privacy: PrivacyParts | None = None
        self.retention: RetentionSweeper | None = None
        self.preview: PreviewServer | None = None  # when [preview] is enabled
        self.watchdog: WatchdogGroup | None = None  # with several cameras
        self._stop_requested = False
        self._print_lock = threading.Lock()
        self.id_warning: str | None = None
        self._closers: list[Callable[[], None]] = []

    # -- the first camera, for what reports on one pipeline (metrics, older callers)
    @property
    def pipeline(self) -> Pipeline | None:
        return self.cameras[0].pipeline if self.cameras else None

    @property
    def source(self) -> FrameSource | None:
        return self.cameras[0].source if self.cameras else None

    def stop(self) -> None:
        """Graceful stop (signal handler): every pipeline flushes its open tracks and returns."""
        self._stop_requested = True
        for run in self.cameras:
            run.pipeline.stop()

    def open(self) -> None:
        from edge.delivery.durable import DurableSink
        from edge.delivery.event_json import EventEncoder
        from edge.gps import open_gps
        from edge.integrations import start_integrations
        from edge.delivery.mqtt import MqttPublisher
        from edge.delivery.outbox import Outbox
        from edge.delivery.spill import import_spill

        cfg = self.config
        cameras = cameras_of(cfg)
        self.id_warning = cfg.device.id_warning()
        if self.id_warning:
            log.warning("WARNING: %s", self.id_warning)
        self._open_privacy()
        self.notifier.status("loading models")
        # a folder of photos is stills, not a video: big ones get the detector's fine pass
        self.models = load_readers(cfg, stills=cameras[0].source.kind == "images")
        warm_ms = warm_up(self.models)
        log.info("models %s warmed up in %.0f ms", self.models.names, warm_ms)

        self.notifier.status("opening outbox")
        self.outbox = Outbox(cfg.outbox, keep_sent_s=cfg.privacy.keep_sent_s)
        self._closers.append(self.outbox.close)
        import_spill(cfg.outbox.spill_path, self.outbox)  # events the last run could not store
        encoder = EventEncoder(cfg.device.resolved_id, cameras[0].name, self.models.names, cfg.mqtt.topic_prefix)
        self.clock = make_clock(cfg)
        first_fix = FirstFix(gps_clock_hook(cfg.gps, self.clock))
        self.gps = open_gps(cfg.gps, on_fix=first_fix)
        self._closers.append(self.gps.close)
        self.publisher = MqttPublisher(cfg.mqtt, self.outbox, cfg.device.resolved_id, health=self.health)
        self.durable = DurableSink(self.outbox, encoder, notify_publisher=self.publisher.notify)
        if len(cameras) > 1:
            from edge.watchdog import WatchdogGroup

            self.watchdog = WatchdogGroup(self.notifier, [c.name for c in cameras])
        lock = threading.Lock()
        for camera in cameras:
            self.notifier.status(f"opening camera {camera.name}")
            self.cameras.append(self._open_camera(camera, first_fix, lock if len(cameras) > 1 else None))
        self._closers.extend(start_integrations(self))  # [metrics], [homeassistant]; off by default
        if self._stop_requested:
            self.stop()

    def _open_camera(self, camera: Camera, first_fix: FirstFix, lock: threading.Lock | None) -> CameraRun:
        """One camera's source, tracker, sink chain and pipeline."""
        from edge.service import watchdog_interval_s

        assert self.models is not None and self.gps is not None and self.clock is not None
        cfg = self.config
        src_cfg = camera.source
        if src_cfg.kind in ("video", "images") and src_cfg.start_time.strip().lower() == "gps":
            src_cfg = dataclasses.replace(src_cfg, start_time=first_fix.wait_start_time(cfg.gps))
            if not cfg.camera:  # the one camera's [source]: the config says what it ran with
                self.config = dataclasses.replace(cfg, source=src_cfg)
        source = open_source(src_cfg, self.clock)
        self._closers.append(source.close)
        clock_state = self.clock.state if source.live else (lambda: "video")
        tracker = make_tracker(dataclasses.replace(cfg, source=src_cfg), self.models.rules, self.gps.position_at,
                               clock_state, calibration_path=camera.calibration)
        transform = make_transform(cfg, camera.calibration)
        notifier = self.watchdog.member(camera.name) if self.watchdog is not None else self.notifier
        pipeline = Pipeline(
            source, self.models.detector, self.models.reader, tracker, self._sink_chain(camera, source, lock),
            rules=self.models.rules, motion=camera.motion, transform=transform, notifier=notifier,
            options=PipelineOptions(queue_size=src_cfg.queue_size,
                                    watchdog_interval_s=min(watchdog_interval_s() or 5.0, 5.0),
                                    keep_crops=cfg.privacy.image, keep_context=cfg.vehicle.colour),
            on_stored=self._print_event if self.print_events else None,
            on_frame=self._preview_hook(camera, transform))
        return CameraRun(camera, source, pipeline)

    def _sink_chain(self, camera: Camera, source: FrameSource, lock: threading.Lock | None) -> EventSink:
        """Where one camera's events go, outermost first: its name (several cameras), the
        vehicle colour, the privacy stage, the replay ids (a file), the one outbox."""
        from edge.privacy_stage import PrivacySink
        from edge.sinks import CameraSink, ReplaySink, file_identity

        assert self.durable is not None and self.privacy is not None
        cfg = self.config
        sink: EventSink = self.durable
        if not source.live:  # a file: a video or a folder of photos
            sink = ReplaySink(self.durable, file_identity(cfg, cast("FileSource", source), camera.name))
        # outermost: the replay ids, the outbox and every output see only what the mode allows
        sink = PrivacySink(sink, self.privacy.stage)
        if cfg.vehicle.colour:
            from edge.vehicle_colour import VehicleColourSink

            sink = VehicleColourSink(sink, cfg.vehicle)  # once per event, before privacy and the outbox
        if lock is not None:
            sink = CameraSink(sink, camera.name, lock)
        return sink

    def _open_privacy(self) -> None:
        """Audit the config, then the key and watchlists (a ConfigError before any model loads)."""
        from edge.configuration.audit import audit_startup
        from edge.privacy_stage import open_privacy

        audit_startup(self.config, self.config.outbox.resolved_path().parent)
        self.privacy = open_privacy(self.config.privacy, self.config.watchlist)
        self._closers.append(self.privacy.close)

    def reload(self) -> None:
        """SIGHUP: reload the watchlists (signal-safe: the watcher thread does the work)."""
        if self.privacy is not None:
            self.privacy.reload()

    def _preview_hook(self, camera: Camera, transform: FrameTransform | None) \
            -> Callable[[np.ndarray, Sequence[PlateRead], datetime], None] | None:
        """The aiming page (off by default), served from the frames this run analyses: frames
        and reads go to the camera's hub, encoded on demand (no second decoder or camera user).
        One server; a box with several cameras serves a view of each."""
        pc = self.config.preview
        if not pc.enabled:
            return None
        from edge.preview import start_preview
        from edge.preview.setup import make_view

        assert self.privacy is not None
        hub, roi = make_view(self.config, transform, self.privacy.stage.display,
                             calibration=camera.calibration or None, source=camera.source)
        if self.preview is None:
            self.preview = start_preview(pc, hub, roi=roi, camera=camera.name)
            self._closers.append(self.preview.stop)
        else:
            self.preview.add_view(camera.name, hub, roi)
        return hub.publish

    def _print_event(self, stored: StoredEvent | None) -> None:
        from edge.commands import silence_stdout

        if stored is None or not self.print_events:
            return
        payload = stored.payload.decode("utf-8") if isinstance(stored.payload, bytes) else json.dumps(stored)
        try:
            with self._print_lock:  # two cameras' threads print: whole lines only
                self.out.write(payload + "\n")
                self.out.flush()
        except BrokenPipeError:
            # `edge run | head -1`: the reader is gone; stop as on SIGTERM (events stay stored).
            self.print_events = False
            silence_stdout()
            log.info("stdout was closed by its reader: stopping (as on SIGTERM)")
            self.stop()

    def health(self) -> dict:
        from edge.device_id import device_temperature

        out: dict[str, Any] = combine_health({r.camera.name: r.pipeline.health() for r in self.cameras}) \
            if self.cameras else {}
        out["temperature_c"] = device_temperature(self.config.health.temperature_path)
        if self.id_warning:
            out["warnings"] = [*out.get("warnings", []), self.id_warning]
        if self.cameras and all(not r.source.live for r in self.cameras):
            out["clock"] = "video"
        elif self.clock is not None:
            out["clock"] = self.clock.state()
        if self.privacy is not None:
            out["privacy"] = self.privacy.stage.health()
        return out

    def run(self) -> dict:
        """Start delivery, say READY, run every pipeline to its end (or stop), flush, stop delivery.

        The summary's `lost` counts events created in this run that could be neither stored nor
        spilled (the disk full at the stop): `edge run` turns it into its exit status."""
        assert self.cameras and self.publisher is not None and self.durable is not None
        from edge.retention import RetentionSweeper

        self.retention = RetentionSweeper(self.outbox, self.config.privacy.keep_sent_s).start()
        self.publisher.start()  # never waits for the broker
        self.notifier.ready()
        self.notifier.status("running: " + ", ".join(r.source.name for r in self.cameras))
        done = threading.Event()
        interval = self.config.health.print_interval_s
        if interval > 0:
            threading.Thread(target=self._log_health, args=(done, interval), name="health-log",
                             daemon=True).start()
        if self.notifier.enabled:
            threading.Thread(target=self._systemd_status, args=(done,), name="sd-status",
                             daemon=True).start()
        lost = 0
        try:
            summary = self._run_pipelines()
        finally:
            done.set()
            self.notifier.stopping()
            self.notifier.status("stopping: delivering pending events")
            try:
                lost = int(self.durable.close() or 0)
            finally:
                self.publisher.stop(timeout=5.0)
                self.retention.stop()  # events delivered during the shutdown, too
        summary["lost"] = lost
        summary["spilled"] = self.durable.spilled
        return summary

    def _run_pipelines(self) -> dict:
        """One camera: its pipeline on this thread. Several: one thread each; the first error
        stops the others (each still flushes its tracks) and is raised once all have ended."""
        if len(self.cameras) == 1:
            return self.cameras[0].pipeline.run()
        threads = [threading.Thread(target=self._run_camera, args=(r,), name=f"camera-{r.camera.name}",
                                    daemon=True) for r in self.cameras]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)  # short joins keep the main thread free for signal handlers
        failed = next((r for r in self.cameras if r.error is not None), None)
        if failed is not None and failed.error is not None:
            raise failed.error
        return combine_summaries({r.camera.name: r.summary or {} for r in self.cameras})

    def _run_camera(self, run: CameraRun) -> None:
        try:
            run.summary = run.pipeline.run()
        except BaseException as exc:  # noqa: BLE001 - raised by _run_pipelines
            run.error = exc
            log.error("camera %s stopped: %s", run.camera.name, str(exc).splitlines()[0] if str(exc) else exc)
            self.stop()
        finally:
            if self.watchdog is not None:
                self.watchdog.retire(run.camera.name)

    def _systemd_status(self, done: threading.Event, interval: float = 10.0) -> None:
        """`systemctl status edge` shows what the service is doing, refreshed every 10 s."""
        while not done.wait(interval):
            depth = ""
            try:
                depth = f", outbox depth {self.outbox.stats()['depth']}" if self.outbox is not None else ""
            except Exception:  # noqa: BLE001 - status text only
                pass
            parts = [f"{r.source.name}, {r.pipeline.current_fps():.1f} fps, {r.pipeline.counts['events']} events, "
                     f"{r.pipeline.queue.dropped} frames dropped" for r in self.cameras]
            self.notifier.status("running: " + "; ".join(parts) + depth)

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
