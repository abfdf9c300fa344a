"""`edge gps`: print the fixes a GPS source gives, one JSON line each (an installer's check).

    edge gps                          # gpsd on 127.0.0.1:2947
    edge gps --source gpsd:10.0.0.5:2947 --count 5
    edge gps --source nmea:/dev/ttyACM0 --timeout 30
    edge gps --source nmea:drive.nmea # replays a log, as fast as possible
    edge gps --source static:52.52,13.40

Each line: time, lat, lon, alt, speed_mps, heading_deg, accuracy_m, mode, source. A summary
goes to stderr at the end. Exit 0 when at least one fix was printed, 1 when none came
(unreachable gpsd, missing device, no fix before --timeout), 2 for a bad --source.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import sys
import time
from dataclasses import replace

from edge.records import GeoFix


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("gps", help="print GPS fixes as JSON lines (installer's check)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default=None,
                   help="gpsd | gpsd:HOST[:PORT] | nmea:PATH (serial device or log file) | "
                        "static:LAT,LON[,ALT] (default: [gps] of --config, else gpsd)")
    p.add_argument("--config", default=None, help="TOML config whose [gps] section to use")
    p.add_argument("--count", type=int, default=None, help="stop after N fixes")
    p.add_argument("--timeout", type=float, default=10.0,
                   help="give up after S seconds (live sources; default 10)")
    p.add_argument("--realtime", action="store_true",
                   help="replay an NMEA log at its own pace instead of as fast as possible")


def parse_source(text: str, base=None):
    """--source text -> GpsConfig (on top of `base`). Raises ValueError with a short reason."""
    from edge.gps import GpsConfig

    base = base or GpsConfig()
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind == "gpsd":
        host, port = base.host, base.port
        if rest:
            if rest.startswith("["):  # [ipv6]:port
                h, _, p = rest[1:].partition("]")
                host, port_text = h, p.lstrip(":")
            elif rest.count(":") == 1:
                host, port_text = rest.split(":")
            else:
                host, port_text = rest, ""
            if port_text:
                try:
                    port = int(port_text)
                except ValueError:
                    raise ValueError(f"bad gpsd port {port_text!r}") from None
        return GpsConfig(**{**_fields(base), "kind": "gpsd", "host": host or base.host, "port": port})
    if kind == "nmea":
        if not rest:
            raise ValueError("nmea needs a path: nmea:/dev/ttyUSB0 or nmea:log.nmea")
        return GpsConfig(**{**_fields(base), "kind": "nmea", "path": rest})
    if kind == "static":
        try:
            parts = [float(x) for x in rest.split(",")]
        except ValueError:
            raise ValueError(f"static needs LAT,LON[,ALT] numbers, got {rest!r}") from None
        if len(parts) not in (2, 3):
            raise ValueError(f"static needs LAT,LON[,ALT], got {rest!r}")
        return GpsConfig(**{**_fields(base), "kind": "static", "lat": parts[0], "lon": parts[1],
                            "alt": parts[2] if len(parts) == 3 else None})
    if kind == "none":
        return GpsConfig(**{**_fields(base), "kind": "none"})
    raise ValueError(f"unknown source {text!r} (use gpsd, gpsd:HOST:PORT, nmea:PATH, static:LAT,LON)")


def _fields(cfg) -> dict:
    import dataclasses

    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


def fix_json(fix: GeoFix) -> str:
    def r(v, n):
        return None if v is None else round(v, n)

    t = fix.fix_utc
    return json.dumps({
        "time": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z",
        "lat": round(fix.lat, 8), "lon": round(fix.lon, 8), "alt": r(fix.alt, 2),
        "speed_mps": r(fix.speed_mps, 3), "heading_deg": r(fix.heading_deg, 2),
        "accuracy_m": r(fix.accuracy_m, 2), "mode": fix.mode, "source": fix.source,
    })


def run(args) -> int:
    from edge.gps import GpsError, open_gps

    config = _source_config(args)
    if isinstance(config, int):
        return config
    if not getattr(args, "verbose", False):
        # the source's own retry warnings would repeat what the one-line error says
        logging.getLogger("edge.gps").setLevel(logging.ERROR)
    fixes: queue.Queue[GeoFix] = queue.Queue()
    try:
        source = open_gps(config, on_fix=lambda fix, _mono: fixes.put(fix))
    except GpsError as exc:
        print(f"edge {exc}", file=sys.stderr)
        return 1

    printer = _Printer(sys.stdout)
    replay = getattr(source, "fixes", None) is not None
    try:
        failed = _print_fixes(args, config, source, fixes, printer, replay)
        if failed is not None:
            return failed
    except BrokenPipeError:  # `edge gps | head`
        return 0
    finally:
        status = source.status() if hasattr(source, "status") else {}
        source.close()
        if printer.printed:
            summary = {k: v for k, v in status.items() if v not in (None, 0, [], "")}
            print(f"edge gps: {printer.printed} fixes; {json.dumps(summary)}", file=sys.stderr)
    if printer.printed == 0:
        print(f"edge gps: {_why_nothing(config, source, args.timeout, replay)}", file=sys.stderr)
        return 1
    return 0


def _source_config(args):
    """The GpsConfig that --source, --config and --realtime ask for, or the exit status (with
    its message printed) when they ask for nothing usable."""
    from edge.configuration.validation import ConfigError, from_mapping, load_toml
    from edge.gps import GpsConfig

    base = GpsConfig()
    try:
        if args.config:
            base = from_mapping(GpsConfig, load_toml(args.config).get("gps"), "gps")
        if args.source:
            config = parse_source(args.source, base)
        elif args.config:
            config = base
        else:
            config = parse_source("gpsd", base)
        if args.realtime:
            config = replace(config, pacing="realtime")
    except (ValueError, ConfigError) as exc:
        print(f"edge gps: {exc}", file=sys.stderr)
        return 2
    if config.kind == "none":
        print("edge gps: gps.kind is 'none': no GPS configured", file=sys.stderr)
        return 1
    if args.count is not None and args.count < 1:
        print("edge gps: --count must be at least 1", file=sys.stderr)
        return 2
    return config


class _Printer:
    """Writes fixes as JSON lines, counting them."""

    def __init__(self, out) -> None:
        self.out = out
        self.printed = 0

    def emit(self, fix: GeoFix) -> None:
        self.out.write(fix_json(fix) + "\n")
        self.out.flush()
        self.printed += 1


def _print_fixes(args, config, source, fixes: queue.Queue[GeoFix], printer: _Printer,
                 replay: bool) -> int | None:
    """Print the source's fixes until --count, --timeout or the end of a replayed log; an exit
    status when it has to stop early (0: a static source's fixes are all printed; 1: gpsd is
    unreachable), else None."""
    if config.kind == "static":
        for _ in range(args.count or 1):
            printer.emit(source.latest())
        return 0
    pending: GeoFix | None = None  # gpsd re-reports an epoch as sentences arrive: print the last
    done = getattr(source, "done", None)  # NMEA source: set when the log is exhausted
    started = time.monotonic()
    deadline = started + args.timeout
    while args.count is None or printer.printed < args.count:
        if not replay and time.monotonic() > deadline:
            break
        try:
            fix = fixes.get(timeout=0.1)
        except queue.Empty:
            if done is not None and done.is_set() and fixes.empty():
                break
            if (config.kind == "gpsd" and printer.printed == 0 and pending is None and source.error
                    and time.monotonic() - started > min(2.0, args.timeout)):
                print(f"edge gps: {source.error}", file=sys.stderr)
                return 1
            continue
        if pending is not None and pending.fix_utc != fix.fix_utc:
            printer.emit(pending)
        pending = fix
    if pending is not None and (args.count is None or printer.printed < args.count):
        printer.emit(pending)
    return None


def _why_nothing(config, source, timeout: float, replay: bool) -> str:
    """One line an installer can act on."""
    if replay:
        return f"no position fix in {config.path}"
    err = getattr(source, "error", None)
    if config.kind == "gpsd":
        if err and not source.connected.is_set():
            return err
        if not source.devices:
            return (f"gpsd at {config.host}:{config.port} has no GPS device "
                    "(is the receiver plugged in and named in gpsd's DEVICES?)")
        return (f"no fix from gpsd within {timeout:g} s (devices {', '.join(source.devices)}; "
                f"{source.reports} reports, none with a position: antenna without sky view?)")
    stats = getattr(getattr(source, "parser", None), "stats", None)
    if err:
        return err
    if stats is not None and stats.lines and not stats.sentences:
        return (f"{config.path}: {stats.lines} lines but no valid NMEA sentence "
                f"(wrong baud rate? tried {config.baud})")
    if stats is not None and stats.sentences:
        return (f"no fix from {config.path} within {timeout:g} s ({stats.sentences} NMEA sentences, "
                "none with a position: antenna without sky view?)")
    return f"no data from {config.path} within {timeout:g} s"
