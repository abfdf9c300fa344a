"""`edge doctor`: is this box ready? One line per check: OK / WARN / FAIL; exit 1 on any FAIL
(2 when the config itself cannot be read).

Checks: config, device id (unique to this box?), camera/source (one frame), models (load + one inference), GPS (a fix),
broker (reachable, credentials and TLS accepted), clock sync, state directory (writable,
free space), calibration file, privacy (mode, plate key, watchlists).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge.commands import one_line

OK, WARN, FAIL = "OK", "WARN", "FAIL"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check camera, models, GPS, broker, clock and disk")
    p.add_argument("--config", type=Path, help="TOML config (default: the embedded default)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a frame / GPS fix / broker")


def _with_timeout(fn: Callable[[], tuple[str, str]], timeout: float, what: str) -> tuple[str, str]:
    result: list[tuple[str, str]] = []

    def target() -> None:
        try:
            result.append(fn())
        except Exception as exc:  # noqa: BLE001 - every failure becomes one FAIL line
            result.append((FAIL, one_line(exc)))

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if not result:
        return FAIL, f"no answer from {what} within {timeout:g} s"
    return result[0]


def check_source(config, timeout: float) -> tuple[str, str]:
    from edge.app import make_clock
    from edge.sources import open_source

    def probe() -> tuple[str, str]:
        source = open_source(config.source, make_clock(config))
        try:
            missing = getattr(source, "missing_device", lambda: None)()
            if missing:  # a camera that is not there gives no frame: say why, at once
                return FAIL, f"{source.name}: {missing}"
            for frame in source.frames():
                h, w = frame.image.shape[:2]
                return OK, f"{source.name}: got a {w}x{h} frame"
            return FAIL, f"{source.name}: opened but gave no frame"
        finally:
            source.close()

    return _with_timeout(probe, timeout, "the camera")


def check_models(config) -> tuple[str, str]:
    from edge.recognition.models.loading import load_readers, model_paths, warm_up

    det, rdr = model_paths(config)
    t0 = time.perf_counter()
    models = load_readers(config)
    load_ms = (time.perf_counter() - t0) * 1e3
    ms = warm_up(models)
    return OK, (f"detector {models.names['detector']} ({det.name}), reader {models.names['reader']} "
                f"({rdr.name}): loaded in {load_ms:.0f} ms, first inference {ms:.0f} ms")


def check_gps(config, timeout: float) -> tuple[str, str]:
    from edge.gps import open_gps

    kind = config.gps.kind
    if kind == "none":
        return WARN, "gps.kind is 'none': events will have no position"
    gps = open_gps(config.gps)
    try:
        latest = getattr(gps, "latest", None)
        deadline = time.monotonic() + timeout
        while True:
            fix = latest() if callable(latest) else None
            if fix is not None:
                acc = f", ±{fix.accuracy_m:.0f} m" if fix.accuracy_m is not None else ""
                return OK, f"{kind}: fix {fix.lat:.6f},{fix.lon:.6f}{acc} at {fix.fix_utc:%H:%M:%SZ}"
            if time.monotonic() > deadline:
                return WARN, f"{kind}: no fix within {timeout:g} s (antenna view of the sky?)"
            time.sleep(0.2)
    finally:
        gps.close()


def check_broker(config, timeout: float) -> tuple[str, str]:
    from edge.delivery.mqtt import check_broker as probe

    if not config.mqtt_enabled:
        return WARN, "mqtt disabled: events stay in the outbox"
    ok, message = probe(config.mqtt, timeout=timeout)
    return (OK if ok else FAIL), message


def check_device(config) -> tuple[str, str]:
    warning = config.device.id_warning()
    if warning:
        return WARN, warning
    where = "[device] id" if config.device.id else "derived from this box's serial / machine id"
    return OK, f"device id {config.device.resolved_id} ({where})"


def check_clock(config, source_is_file: bool) -> tuple[str, str]:
    from edge.app import make_clock

    state = make_clock(config).state()
    if state in ("ntp", "gps"):
        return OK, f"wall clock synchronised ({state})"
    if source_is_file:
        return WARN, f"wall clock {state} (video sources use the video's own timeline)"
    return WARN, f"wall clock {state}: event times may be wrong until NTP or GPS sync"


def check_state_dir(config) -> tuple[str, str]:
    path = config.outbox.resolved_path()
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-", delete=True) as fh:
            fh.write(b"x")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return FAIL, f"{folder}: state directory not writable ({exc.strerror or exc})"
    free_mb = shutil.disk_usage(folder).free / 2**20
    if free_mb < config.health.min_free_mb:
        return WARN, f"{folder}: only {free_mb:.0f} MB free (outbox at {path})"
    return OK, f"{folder}: writable, {free_mb:.0f} MB free (outbox at {path})"


def check_calibration(config) -> tuple[str, str] | None:
    path = config.calibration.path
    if not path:
        return None
    from edge.calibration.file import load_calibration
    from edge.configuration.settings import resolve_path

    p = resolve_path(config, path)
    cal = load_calibration(p)
    parts = [n for n in ("intrinsics", "roi", "prewarp", "scale") if getattr(cal, n, None) is not None]
    return OK, f"{p}: {', '.join(parts) or 'empty'}"


def per_camera(config) -> list[tuple[Callable[[str], str], object]]:
    """(check name maker, a config with that camera's source and calibration) per camera."""
    import dataclasses

    from edge.calibration.file import CalibrationConfig

    if not config.camera:
        return [(lambda what: what, config)]
    return [((lambda what, n=c.name: f"{what} {n}"),
             dataclasses.replace(config, source=c.source, calibration=CalibrationConfig(c.calibration), camera=()))
            for c in config.camera]


def check_privacy(config) -> tuple[str, str]:
    """The privacy mode, its key and watchlists load (the same checks `edge run` makes)."""
    from edge.privacy_stage import open_privacy

    parts = open_privacy(config.privacy, config.watchlist, watch=False)
    health = parts.stage.health()
    key = f", key {health['key_id']}" if "key_id" in health else ""
    lists = health.get("watchlists", {})
    listed = f", watchlists {', '.join(f'{n} ({c})' for n, c in lists.items())}" if lists else ""
    text = f"{health['mode']}{key}{listed}, delivered events kept {config.privacy.keep_sent_h:g} h"
    if config.privacy.plates == "clear" and config.privacy.publish == "all":
        return WARN, text + ": every plate is published in clear (see docs/privacy.md)"
    return OK, text


def guarded_device(config) -> tuple[str, str]:
    try:
        return check_device(config)
    except Exception as exc:  # noqa: BLE001 - one FAIL line per broken part
        return FAIL, one_line(exc)


def run(args: argparse.Namespace) -> int:
    from edge.configuration.validation import ConfigError
    from edge.configuration.settings import load_config

    results: list[tuple[str, str, str]] = []

    def report(name: str, outcome: tuple[str, str] | None) -> None:
        if outcome is None:
            return
        level, message = outcome
        results.append((level, name, message))
        print(f"{level:<4}  {name:<11} {message}", flush=True)

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        report("config", (FAIL, one_line(exc)))
        return 2  # a config error, as for every other command
    report("config", (OK, str(args.config) if args.config else "embedded default"))
    report("device", guarded_device(config))

    def guarded(fn: Callable[[], tuple[str, str] | None]) -> tuple[str, str] | None:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - one FAIL line per broken part
            return FAIL, one_line(exc)

    cameras = per_camera(config)  # one config per camera: [[camera]] tables, or the one camera
    source_is_file = all(c.source.kind in ("video", "images") for _, c in cameras)
    for name, cam in cameras:
        report(name("source"), guarded(lambda: check_source(cam, args.timeout)))
    report("models", guarded(lambda: check_models(config)))
    report("gps", guarded(lambda: check_gps(config, args.timeout)))
    report("broker", guarded(lambda: check_broker(config, args.timeout)))
    report("clock", guarded(lambda: check_clock(config, source_is_file)))
    report("state-dir", guarded(lambda: check_state_dir(config)))
    for name, cam in cameras:
        report(name("calibration"), guarded(lambda: check_calibration(cam)))
    report("privacy", guarded(lambda: check_privacy(config)))
    failed = [n for level, n, _ in results if level == FAIL]
    if failed:
        print(f"edge doctor: {len(failed)} check(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
