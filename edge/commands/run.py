"""`edge run`: the capture loop as a long-running service (see edge/app.py, edge/service.py).

Without --config it runs the embedded default: the bundled fixture video, no broker, events
printed as JSON lines on stdout and kept in the outbox under ./state.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edge.commands import apply_overrides, one_line

log = logging.getLogger("edge.run")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the capture loop (camera or video -> events -> MQTT)")
    p.add_argument("--config", type=Path, help="TOML config (default: the embedded default)")
    p.add_argument("--source", metavar="URI",
                   help="override source: a video file, an image folder, rtsp://..., usb:N, /dev/videoN, picamera")
    p.add_argument("--check-config", action="store_true", help="validate the config and exit")
    p.add_argument("--no-mqtt", action="store_true", help="do not publish (events stay in the outbox)")
    p.add_argument("--print", dest="print_events", action="store_true",
                   help="also print each committed event as a JSON line on stdout")



def run(args: argparse.Namespace) -> int:
    from edge.app import Application
    from edge.configuration.validation import ConfigError
    from edge.configuration.settings import load_config

    try:
        config = load_config(args.config)
        config = apply_overrides(config, source=args.source, no_mqtt=args.no_mqtt)
        if args.check_config:
            _check_extra(config)
    except ConfigError as exc:
        print(f"edge run: {one_line(exc)}", file=sys.stderr)
        return 2
    if args.check_config:
        where = args.config or "embedded default"
        print(f"edge run: config OK ({where})")
        return 0

    from edge.service import GracefulStop, ReloadOnHangup, notifier_from_env

    notifier = notifier_from_env()
    print_events = args.print_events or not config.mqtt_enabled
    app = Application(config, print_events=print_events, notifier=notifier)
    stopper = GracefulStop(app.stop)
    stopper.install()
    hangup = ReloadOnHangup(app.reload).install()
    try:
        try:
            app.open()
        except ConfigError as exc:
            print(f"edge run: {one_line(exc)}", file=sys.stderr)
            return 2
        except (RuntimeError, OSError, ValueError) as exc:  # SourceError, OutboxError, GpsError, models...
            print(f"edge run: {one_line(exc)}", file=sys.stderr)
            return 1
        try:
            summary = app.run()
        except (RuntimeError, OSError, ValueError) as exc:
            print(f"edge run: {one_line(exc)}", file=sys.stderr)
            return 1
        frames = summary["frames"]
        kept = app.privacy.stage.suppressed if app.privacy is not None else 0
        log.info("done: %d frames (%d analysed, %d skipped as static, %d dropped), %d events%s, %.1f fps",
                 frames["processed"], frames["detected_frames"], frames["gated_frames"],
                 frames["dropped"], frames["events"] - kept,
                 f" ({kept} more matched no watchlist and were not kept)" if kept else "", summary["fps"])
        return _outcome(summary)
    finally:
        app.close()
        hangup.uninstall()
        stopper.uninstall()


EXIT_EVENTS_LOST = 3


def _outcome(summary: dict) -> int:
    """0, or EXIT_EVENTS_LOST when events of this run could be neither stored nor spilled."""
    if summary.get("spilled"):
        print(f"edge run: {summary['spilled']} event(s) could not be stored in the outbox and were "
              "spilled (outbox.spill_path); they are stored at the next start", file=sys.stderr)
    lost = int(summary.get("lost", 0))
    if not lost:
        return 0
    print(f"edge run: {lost} event(s) LOST: created, but the outbox could not store them (disk full?); "
          "counted in health as outbox.lost and skipped in seq", file=sys.stderr)
    return EXIT_EVENTS_LOST


def _check_extra(config) -> None:
    """--check-config also checks the files and settings the config points to (calibration,
    plate key, watchlists), and that an enabled metrics endpoint has its package."""
    from edge.preflight import check_config_files
    from edge.privacy_stage import open_privacy

    check_config_files(config)
    open_privacy(config.privacy, config.watchlist, watch=False).close()
    if config.metrics.enabled:
        from edge.metrics import require_prometheus_client

        require_prometheus_client()  # ConfigError naming the extra to install
