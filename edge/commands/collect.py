"""`edge collect`: the reference receiver. Subscribes to every device's reads and stores each
event once, in SQLite (a file path) or PostgreSQL (a postgresql:// URL); `--report` prints,
per device, the events received, the seq ranges missing and the duplicates ignored.

Broker TLS, credentials and the topic prefix come from the [mqtt] section of --config (the
device's edge.toml format); --host/--port/--username/--password-file override it. The client
id must stay the same across restarts (the broker keeps the session under it) and differ
between collectors that share the load (--share GROUP).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from edge.commands import one_line


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("collect", help="receive the devices' reads into a database (SQLite or PostgreSQL)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", required=True, metavar="PATH_OR_URL",
                   help="SQLite file (created if missing) or postgresql://user@host/dbname")
    p.add_argument("--report", action="store_true", help="print the per-device report and exit "
                   "(exit status 1 when seqs are missing)")
    p.add_argument("--json", action="store_true", help="with --report: one JSON object")
    p.add_argument("--config", type=Path, help="edge.toml whose [mqtt] section to use (TLS, credentials, prefix)")
    p.add_argument("--host", help="broker host (default: the config's, else localhost)")
    p.add_argument("--port", type=int, help="broker port (default: the config's, else 1883)")
    p.add_argument("--username", help="broker user name (default: the config's)")
    p.add_argument("--password-file", type=Path, help="file holding the broker password (default: the config's)")
    p.add_argument("--client-id", help="MQTT client id, fixed across restarts (default: edge-collect-<hostname>)")
    p.add_argument("--share", metavar="GROUP", default="",
                   help="join the MQTT shared subscription $share/GROUP/... so collectors split the load")
    p.add_argument("--session-expiry", type=int, default=7 * 86400, metavar="S",
                   help="seconds the broker keeps queueing for this collector while it is away (default 7 days)")
    p.add_argument("--batch", type=int, default=200, metavar="N", help="events per transaction at most")
    p.add_argument("--reconnect-max", type=float, default=2.0, metavar="S",
                   help="longest wait between reconnection attempts (default 2 s; starts at 0.1 s)")


def _mqtt_config(args: argparse.Namespace) -> Any:
    from edge.configuration.validation import replace_section
    from edge.delivery.mqtt_config import MqttConfig

    cfg = MqttConfig()
    if args.config is not None:
        from edge.configuration.settings import load_config

        cfg = load_config(args.config).mqtt
    changes = {k: v for k, v in (("host", args.host), ("port", args.port), ("username", args.username),
                                 ("password_file", args.password_file)) if v is not None}
    return replace_section(cfg, "mqtt", **changes) if changes else cfg


def _report(args: argparse.Namespace) -> int:
    from edge.collect import StoreError, open_store
    from edge.collect.report import as_json, as_table

    if "://" not in args.db and not Path(args.db).expanduser().is_file():
        print(f"edge collect: no database at {args.db}", file=sys.stderr)
        return 2
    try:
        store = open_store(args.db)
        try:
            reports = store.report()
            where = store.describe()
        finally:
            store.close()
    except StoreError as exc:
        print(f"edge collect: {one_line(exc)}", file=sys.stderr)
        return 2
    sys.stdout.write(as_json(reports) + "\n" if args.json else as_table(reports, where))
    return 1 if any(r.missing for r in reports) else 0


def run(args: argparse.Namespace) -> int:
    if args.report:
        return _report(args)
    from edge.collect import StoreError, open_store
    from edge.collect.subscriber import Collector, CollectOptions
    from edge.configuration.validation import ConfigError

    try:
        mqtt_cfg = _mqtt_config(args)
        options = CollectOptions(share_group=args.share, session_expiry_s=args.session_expiry,
                                 batch_max=args.batch, reconnect_max_s=args.reconnect_max,
                                 **({"client_id": args.client_id} if args.client_id else {}))
    except (ConfigError, ValueError) as exc:
        print(f"edge collect: {one_line(exc)}", file=sys.stderr)
        return 2
    try:
        store = open_store(args.db)
    except StoreError as exc:
        print(f"edge collect: {one_line(exc)}", file=sys.stderr)
        return 1
    collector = Collector(mqtt_cfg, options, store)
    done = threading.Event()
    previous = {s: signal.signal(s, lambda *_: done.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            collector.start()
        except ConfigError as exc:  # password file, TLS files
            print(f"edge collect: {one_line(exc)}", file=sys.stderr)
            return 2
        done.wait()
        collector.stop()
        return 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        store.close()
