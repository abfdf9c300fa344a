"""`edge run`'s Application: everything a running service holds, for one camera or several.

Shared by every camera: the models (one detector and one reader, loaded and warmed up once),
the format rules, the clock, the GPS, the privacy stage, one outbox behind one durable sink,
one MQTT publisher, the preview server. Per camera (`edge.cameras`): its source, its tracker,
its calibration (ROI, lens, scale) and its pipeline, whose events carry the camera's name.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from edge.app import (FirstFix, Models, ReplaySink, device_temperature, file_identity, gps_clock_hook,
                      is_file_source, load_readers, make_clock, make_tracker, make_transform, silence_stdout,
                      warm_up)
from edge.cameras import Camera, cameras_of, combine_health, combine_summaries
from edge.pipeline import Pipeline, PipelineOptions
from edge.settings import AppConfig
from edge.sources import open_source

log = logging.getLogger("edge.app")


class CameraSink:
    """Tags each event with its camera's name and serialises the shared stages (privacy
    counters, the outbox) between the cameras' inference threads."""

    def __init__(self, inner: Any, camera: str, lock: threading.Lock) -> None:
        self.inner = inner
        self.camera = camera
        self.lock = lock

    def submit(self, event: Any) -> Any:
        with self.lock:
            return self.inner.submit(dataclasses.replace(event, camera=self.camera))

    def retry(self) -> Any:
        return self.inner.retry()


@dataclass
class CameraRun:
    """One camera's running parts and, once it has run, its outcome."""

    camera: Camera
    source: Any
    pipeline: Pipeline
    summary: dict | None = None
    error: BaseException | None = None


class Application:
    """Everything `edge run` holds; built by `open()`, run by `run()`, released by `close()`."""

    def __init__(self, config: AppConfig, *, print_events: bool = False, out: TextIO | None = None,
                 notifier: Any = None) -> None:
        from edge.service import NullNotifier

        self.config = config
        self.print_events = print_events
        self.out = out or sys.stdout
        self.notifier = notifier or NullNotifier()
        self.cameras: list[CameraRun] = []
        self.publisher: Any = None
        self.outbox: Any = None
        self.durable: Any = None  # the one DurableSink every camera's events go to
        self.gps: Any = None
        self.clock: Any = None
        self.models: Models | None = None
        self.privacy: Any = None  # edge.privacy_stage.PrivacyParts
        self.retention: Any = None  # edge.retention.RetentionSweeper
        self.preview: Any = None  # edge.preview.PreviewServer, when [preview] is enabled
        self.watchdog: Any = None  # edge.watchdog.WatchdogGroup, with several cameras
        self._stop_requested = False
        self._print_lock = threading.Lock()
        self.id_warning: str | None = None
        self._closers: list[Callable[[], None]] = []

    # -- the first camera, for what reports on one pipeline (metrics, older callers)
    @property
    def pipeline(self) -> Pipeline | None:
        return self.cameras[0].pipeline if self.cameras else None

    @property
    def source(self) -> Any:
        return self.cameras[0].source if self.cameras else None

    def stop(self) -> None:
        """Graceful stop (signal handler): every pipeline flushes its open tracks and returns."""
        self._stop_requested = True
        for run in self.cameras:
            run.pipeline.stop()

    def open(self) -> None:
        from edge.durable import DurableSink
        from edge.event_json import EventEncoder
        from edge.gps import open_gps
        from edge.mqtt import MqttPublisher
        from edge.outbox import Outbox
        from edge.spill import import_spill

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
        encoder = EventEncoder(cfg.device.resolved_id, cameras[0].name, self.models.names,
                               getattr(cfg.mqtt, "topic_prefix", "alpr"))
        self.clock = make_clock(cfg)
        first_fix = FirstFix(gps_clock_hook(cfg, self.clock))
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
        from edge.integrations import start_integrations

        self._closers.extend(start_integrations(self))  # [metrics], [homeassistant]; off by default
        if self._stop_requested:
            self.stop()

    def _open_camera(self, camera: Camera, first_fix: FirstFix, lock: threading.Lock | None) -> CameraRun:
        """One camera's source, tracker, sink chain and pipeline."""
        from edge.privacy_stage import PrivacySink
        from edge.service import watchdog_interval_s

        cfg = self.config
        src_cfg = camera.source
        if src_cfg.kind in ("video", "images") and src_cfg.start_time.strip().lower() == "gps":
            src_cfg = dataclasses.replace(src_cfg, start_time=first_fix.wait_start_time(cfg))
            if not cfg.camera:  # the one camera's [source]: the config says what it ran with
                self.config = dataclasses.replace(cfg, source=src_cfg)
        source = open_source(src_cfg, self.clock)
        self._closers.append(source.close)
        file_source = is_file_source(source)
        clock_state = (lambda: "video") if file_source else self.clock.state
        cam_cfg = dataclasses.replace(cfg, source=src_cfg)
        tracker = make_tracker(cam_cfg, self.models.rules, self.gps.position_at, clock_state,
                               calibration_path=camera.calibration)
        sink: Any = self.durable
        if file_source:
            sink = ReplaySink(sink, file_identity(cfg, source, camera.name))
        # outermost: the replay ids, the outbox and every output see only what the mode allows
        sink = PrivacySink(sink, self.privacy.stage)
        if cfg.vehicle.colour:
            from edge.vehicle_colour import VehicleColourSink

            sink = VehicleColourSink(sink, cfg.vehicle)  # once per event, before privacy and the outbox
        if lock is not None:
            sink = CameraSink(sink, camera.name, lock)
        transform = make_transform(cfg, camera.calibration)
        notifier = self.watchdog.member(camera.name) if self.watchdog is not None else self.notifier
        pipeline = Pipeline(
            source, self.models.detector, self.models.reader, tracker, sink,
            rules=self.models.rules, motion=camera.motion, transform=transform, notifier=notifier,
            options=PipelineOptions(queue_size=src_cfg.queue_size,
                                    watchdog_interval_s=min(watchdog_interval_s() or 5.0, 5.0),
                                    keep_crops=cfg.privacy.image, keep_context=cfg.vehicle.colour),
            on_stored=self._print_event if self.print_events else None,
            on_frame=self._preview_hook(camera, transform))
        return CameraRun(camera, source, pipeline)

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

    def _preview_hook(self, camera: Camera, transform: Any) -> Callable | None:
        """The aiming page (off by default), served from the frames this run analyses: frames
        and reads go to the camera's hub, encoded on demand (no second decoder or camera user).
        One server; a box with several cameras serves a view of each."""
        pc = self.config.preview
        if not getattr(pc, "enabled", False):
            return None
        from edge.preview import start_preview
        from edge.preview.setup import make_view

        hub, roi = make_view(self.config, transform, self.privacy.stage.display,
                             calibration=camera.calibration or None, source=camera.source)
        if self.preview is None:
            self.preview = start_preview(pc, hub, roi=roi, camera=camera.name)
            self._closers.append(self.preview.stop)
        else:
            self.preview.add_view(camera.name, hub, roi)
        return hub.publish

    def _print_event(self, stored: Any) -> None:
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
        out: dict[str, Any] = combine_health({r.camera.name: r.pipeline.health() for r in self.cameras}) \
            if self.cameras else {}
        out["temperature_c"] = device_temperature(self.config.health.temperature_path)
        if self.id_warning:
            out["warnings"] = [*out.get("warnings", []), self.id_warning]
        if self.cameras and all(is_file_source(r.source) for r in self.cameras):
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
        assert self.cameras and self.publisher is not None
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
        if getattr(self.notifier, "enabled", False):
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
        summary["spilled"] = int(getattr(self.durable, "spilled", 0))
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
        if failed is not None:
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
                depth = f", outbox depth {self.outbox.stats()['depth']}"
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
