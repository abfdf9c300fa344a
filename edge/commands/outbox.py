"""`edge outbox {stats,list,replay,purge}`: inspect and operate the durable event queue.

Every list, replay and purge writes an audit line (who ran it, on which outbox, how many rows).
`purge --older-than 24h` deletes acknowledged events stored more than a day ago (with --yes,
unsent ones too); deleted rows are overwritten in the file (SQLite secure_delete).

The outbox is found like `edge run` finds it: --db PATH, else --state-dir DIR/outbox.db, else
the `[outbox] path` of --config (or of the embedded default config). Safe to run while the
service is running (SQLite WAL; the service re-publishes replayed rows by itself).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("outbox", help="inspect the durable event queue (stats, list, replay, purge)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = argparse.ArgumentParser(add_help=False)
    g = where.add_argument_group("which outbox")
    g.add_argument("--db", type=Path, help="the outbox database file")
    g.add_argument("--state-dir", type=Path, help="directory holding outbox.db")
    g.add_argument("--config", type=Path, help="config file whose [outbox] path to use")
    sub = p.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    s = sub.add_parser("stats", parents=[where], help="depth, oldest age, sent/dropped counters")
    s.add_argument("--json", action="store_true", help="one JSON object")
    ls = sub.add_parser("list", parents=[where], help="list stored events (oldest first)")
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--after", type=int, default=0, metavar="SEQ", help="only seq > SEQ")
    ls.add_argument("--unsent", action="store_true", help="only events not yet acknowledged")
    ls.add_argument("--newest", action="store_true", help="newest first")
    ls.add_argument("--json", action="store_true", help="print the payloads as JSON lines")
    r = sub.add_parser("replay", parents=[where],
                       help="mark kept acknowledged events unsent so they are published again")
    r.add_argument("--from", dest="from_seq", type=int, metavar="SEQ")
    r.add_argument("--to", dest="to_seq", type=int, metavar="SEQ")
    pg = sub.add_parser("purge", parents=[where], help="delete events (seq numbering continues)")
    mode = pg.add_mutually_exclusive_group()
    mode.add_argument("--sent-only", action="store_true", help="delete only acknowledged events")
    mode.add_argument("--yes", action="store_true", help="delete ALL events, including unsent ones")
    pg.add_argument("--older-than", metavar="AGE", type=_age_arg,
                    help="only events stored more than AGE ago, e.g. 90s, 30m, 24h, 7d "
                         "(acknowledged ones only, unless --yes)")


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _age_arg(text: str) -> float:
    """'24h' -> 86400.0 seconds; a number needs its unit (s, m, h, d)."""
    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    try:
        seconds = float(value) * _UNITS[unit]
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r}: use a number and a unit: 90s, 30m, 24h or 7d") from None
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must not be negative")
    return seconds


def _db_path(args: argparse.Namespace) -> Path:
    if args.db is not None:
        return args.db
    if args.state_dir is not None:
        return args.state_dir / "outbox.db"
    from edge.configuration.settings import load_config

    return load_config(args.config).outbox.resolved_path()


def _audit(event: str, path: Path, **fields: Any) -> None:
    """One audit line per access to the stored events (edge.audit): who, which outbox, what."""
    from edge.audit import audit, who

    audit(event, **who(), db=str(path), **fields)


def _iso(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(args: argparse.Namespace) -> int:
    from edge.configuration.validation import ConfigError
    from edge.delivery.outbox import Outbox, OutboxConfig, OutboxError

    if args.outbox_command == "purge" and not (args.sent_only or args.yes or args.older_than is not None):
        print("edge outbox purge: say what to delete: --sent-only, --yes (everything) or --older-than AGE",
              file=sys.stderr)
        raise SystemExit(2)  # a usage error, as argparse gives one
    try:
        path = _db_path(args)
    except ConfigError as exc:
        print(f"edge outbox: {exc}", file=sys.stderr)
        return 2
    if not path.exists():
        print(f"edge outbox: no outbox at {path} (use --db, --state-dir or --config)", file=sys.stderr)
        return 1
    try:
        outbox = Outbox(OutboxConfig(path=path), maintain=False)
    except OutboxError as exc:
        print(f"edge {exc}", file=sys.stderr)
        return 1
    out = sys.stdout
    try:
        action = args.outbox_command
        if action == "stats":
            stats = {"path": str(path), **outbox.stats()}
            if args.json:
                out.write(json.dumps(stats) + "\n")
            else:
                for key, value in stats.items():
                    out.write(f"{key:13s} {value}\n")
        elif action == "list":
            rows = outbox.rows(limit=args.limit, after_seq=args.after, unsent_only=args.unsent,
                               newest=args.newest)
            for row in rows:
                if args.json:
                    out.write(row.payload.decode("utf-8", "replace") + "\n")
                    continue
                try:
                    d = json.loads(row.payload)
                    text = str(d.get("plate", {}).get("text", "?"))
                    seen = d.get("time", {}).get("best", "?")
                except ValueError:
                    text, seen = "?", "?"
                if len(text) > 16:  # an HMAC ([privacy] plates = "hashed"): its start tells them apart
                    text = "#" + text[:9]
                state = f"sent {_iso(row.sent_at)}" if row.sent_at is not None else "PENDING"
                out.write(f"{row.seq:>8d}  {row.id}  {text:<10s}  {seen}  {state}\n")
            _audit("outbox.list", path, rows=len(rows), limit=args.limit, after=args.after,
                   unsent=args.unsent, json=args.json)
        elif action == "replay":
            n = outbox.mark_unsent(args.from_seq, args.to_seq)
            _audit("outbox.replay", path, rows=n, from_seq=args.from_seq, to_seq=args.to_seq)
            out.write(f"{n} event(s) marked for re-publishing "
                      f"(only acknowledged events still kept in the outbox can be replayed)\n")
        elif action == "purge":
            sent_only = not args.yes
            if args.older_than is not None:
                n = outbox.purge_older_than(args.older_than, sent_only=sent_only)
            else:
                n = outbox.purge(sent_only=sent_only)
            outbox.checkpoint()  # the deleted rows' old pages leave the -wal file too
            _audit("outbox.purge", path, rows=n, sent_only=sent_only, older_than_s=args.older_than)
            what = "acknowledged " if sent_only else ""
            age = f" stored more than {args.older_than:g} s ago" if args.older_than is not None else ""
            out.write(f"deleted {n} {what}event(s){age}; seq numbering continues at "
                      f"{outbox.stats()['last_seq'] + 1}\n")
    except OutboxError as exc:
        print(f"edge {exc}", file=sys.stderr)
        return 1
    finally:
        outbox.close()
    return 0
