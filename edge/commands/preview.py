"""`edge preview`: a live view with detections for aiming and focusing.

Serves a small web page (MJPEG stream, plate widths, focus, motion blur, an ROI editor) from
the device, for a box that is not reading yet. Once `edge run` is set up, enable its own
preview instead (`[preview] enabled = true`): it serves the same page from the frames it
reads, so aiming never stops reading. The camera can be opened by one process only.
Loopback only by default; binding to another address requires a token.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
from pathlib import Path

from edge.commands import apply_overrides, one_line

log = logging.getLogger("edge.preview")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("preview", help="live view with detections for aiming (web page)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="TOML config (default: the embedded default)")
    p.add_argument("--source", metavar="URI", help="override the source (video file, rtsp://..., usb:N, picamera)")
    p.add_argument("--bind", help="HOST:PORT to listen on (default: preview.bind, 127.0.0.1:8080)")
    p.add_argument("--token", help="access token (required when bound beyond localhost; "
                                   "prefer preview.token_file: command lines are visible to other users)")
    p.add_argument("--no-detect", action="store_true", help="raw view only, no models (focusing)")
    p.add_argument("--calibration", metavar="FILE",
                   help="calibration file the page's ROI editor saves to (default: [calibration] path); "
                        "created when it does not exist yet")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")



def run(args: argparse.Namespace) -> int:
    from edge.configuration.validation import ConfigError
    from edge.preview import PreviewError, PreviewServer, read_token
    from edge.preview.loop import PreviewLoop
    from edge.configuration.settings import load_config

    try:
        config = load_config(args.config)
        if args.source:
            config = apply_overrides(config, source=args.source)
        pcfg = config.preview
        if args.bind:
            pcfg = dataclasses.replace(pcfg, bind=args.bind)
    except (ConfigError, ValueError) as exc:
        print(f"edge preview: {one_line(exc)}", file=sys.stderr)
        return 2

    src_cfg = config.source
    if src_cfg.kind in ("video", "images"):  # files: play at their own speed, over and over
        src_cfg = dataclasses.replace(src_cfg, pacing="realtime", loop=True)
    try:
        token = read_token(pcfg, args.token)
        from edge.privacy_stage import preview_label

        from edge.app import make_clock, make_transform
        from edge.recognition.models.loading import load_readers
        from edge.preview.setup import make_view
        from edge.sources import open_source

        transform = make_transform(_with_calibration(config, args.calibration))
        hub, roi = make_view(dataclasses.replace(config, preview=pcfg), transform,
                             preview_label(config.privacy), calibration=args.calibration)
        # refuses a non-loopback bind without a token
        server = PreviewServer(hub, pcfg, token, roi=roi, camera=config.device.camera)
        detector = reader = rules = None
        if not args.no_detect:
            models = load_readers(config)
            detector, reader, rules = models.detector, models.reader, models.rules
        source = open_source(src_cfg, make_clock(config))
    except ConfigError as exc:
        print(f"edge preview: {one_line(exc)}", file=sys.stderr)
        return 2
    except (PreviewError, RuntimeError, OSError, ValueError) as exc:
        print(f"edge preview: {one_line(exc)}", file=sys.stderr)
        return 1

    loop = PreviewLoop(source, hub, detector, reader, rules=rules, transform=transform)
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    server.start()
    loop.start()
    url = server.url + (f"?token={token}" if token and args.token else "")
    print(f"edge preview: open {url}" + ("  (append ?token=... from preview.token_file)" if token and not args.token else ""),
          flush=True)
    try:
        deadline = args.seconds
        waited = 0.0
        while not stop.is_set() and loop.alive() and (deadline is None or waited < deadline):
            stop.wait(0.2)
            waited += 0.2
    finally:
        loop.stop()
        server.stop()
        for s, h in old.items():
            signal.signal(s, h)
    if loop.error is not None:
        print(f"edge preview: {one_line(loop.error)}", file=sys.stderr)
        return 1
    return 0


def _with_calibration(config, path: str | None):
    """The config with --calibration as its [calibration] path, when that file exists already
    (a file the editor has yet to create has nothing to apply)."""
    if not path or not Path(path).exists():
        return config
    return dataclasses.replace(config, calibration=dataclasses.replace(config.calibration, path=str(path)))
