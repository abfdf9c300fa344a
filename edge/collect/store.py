"""The collector's database: one row per event id, per-device seq ranges and counters.

The SQL is shared by SQLite and PostgreSQL (`?` placeholders, translated by the PostgreSQL
store); each subclass gives its connection, column types, transaction and retryable errors.
A batch is one transaction: every event in it is committed, or none is, before any PUBACK.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from edge.collect.ranges import add_seq, gaps
from edge.collect.records import CollectedRead
from edge.collect.report import DeviceReport

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
READ_COLUMNS = ("id", "device", "seq", "camera", "plate", "confidence", "region", "time_best", "first_seen",
                "last_seen", "clock", "lat", "lon", "alt", "accuracy_m", "heading_deg", "speed_mps",
                "location_source", "fix_time", "topic", "received_at", "received_by", "payload")
TIME_COLUMNS = frozenset({"time_best", "first_seen", "last_seen", "fix_time", "received_at"})

# {text} {int} {real} {time} {json}: each store's own column types.
DDL = (
    "CREATE TABLE IF NOT EXISTS edge_reads (id {text} PRIMARY KEY, device {text} NOT NULL, seq {int} NOT NULL,"
    " camera {text}, plate {text} NOT NULL, confidence {real}, region {text}, time_best {time} NOT NULL,"
    " first_seen {time}, last_seen {time}, clock {text}, lat {real}, lon {real}, alt {real},"
    " accuracy_m {real}, heading_deg {real}, speed_mps {real}, location_source {text}, fix_time {time},"
    " topic {text} NOT NULL, received_at {time} NOT NULL, received_by {text} NOT NULL, payload {json} NOT NULL)",
    "CREATE INDEX IF NOT EXISTS edge_reads_plate ON edge_reads (plate, time_best)",
    "CREATE INDEX IF NOT EXISTS edge_reads_device ON edge_reads (device, seq)",
    "CREATE INDEX IF NOT EXISTS edge_reads_time ON edge_reads (time_best)",
    "CREATE TABLE IF NOT EXISTS edge_seq_ranges (device {text} NOT NULL, first_seq {int} NOT NULL,"
    " last_seq {int} NOT NULL, PRIMARY KEY (device, first_seq))",
    "CREATE TABLE IF NOT EXISTS edge_devices (device {text} PRIMARY KEY, received {int} NOT NULL DEFAULT 0,"
    " duplicates {int} NOT NULL DEFAULT 0, seq_reused {int} NOT NULL DEFAULT 0,"
    " first_received {time} NOT NULL, last_received {time} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS edge_meta (key {text} PRIMARY KEY, value {text} NOT NULL)",
)

INSERT_READ = (f"INSERT INTO edge_reads ({', '.join(READ_COLUMNS)}) VALUES ({', '.join('?' * len(READ_COLUMNS))}) "
               "ON CONFLICT (id) DO NOTHING")
# Upserting the device's row first also locks it (PostgreSQL), so collectors sharing a
# database update one device's ranges one at a time.
TOUCH_DEVICE = ("INSERT INTO edge_devices (device, first_received, last_received) VALUES (?, ?, ?) "
                "ON CONFLICT (device) DO UPDATE SET last_received = excluded.last_received")
COUNT_DEVICE = ("UPDATE edge_devices SET received = received + ?, duplicates = duplicates + ?, "
                "seq_reused = seq_reused + ? WHERE device = ?")


class StoreError(RuntimeError):
    """The database cannot be opened or written; the message is one line."""


@dataclass(frozen=True)
class WriteResult:
    stored: int
    duplicates: int
    seq_reused: int


def utc_now() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class SqlStore:
    """What both databases share. Not thread-safe: the collector's writer thread owns it."""

    kind = "sql"
    types: dict[str, str] = {}
    retries = 5

    def __init__(self, target: str) -> None:
        self.target = target
        self._conn: Any = None
        self._conn = self._connect()
        self._create_schema()

    # -- what each database says differently
    def _connect(self) -> Any:
        raise NotImplementedError

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[Any]:
        """A cursor inside one transaction (committed on exit); `write` takes the write lock first."""
        raise NotImplementedError
        yield

    def _retryable(self, exc: BaseException) -> bool:
        raise NotImplementedError

    def _value(self, column: str, value: Any) -> Any:
        return value

    def _create_schema(self) -> None:
        with self._transaction() as cur:
            for statement in DDL:
                cur.execute(statement.format(**self.types))
            cur.execute("INSERT INTO edge_meta (key, value) VALUES ('schema', ?) ON CONFLICT (key) DO NOTHING",
                        (SCHEMA_VERSION,))

    # -- the shared SQL
    def write(self, reads: Sequence[CollectedRead], received_by: str) -> WriteResult:
        """Store `reads` in one transaction (retried on lock conflicts); returns what was new."""
        if not reads:
            return WriteResult(0, 0, 0)
        for attempt in range(self.retries):
            try:
                with self._transaction() as cur:
                    return self._write(cur, reads, received_by)
            except Exception as exc:  # each store says which errors a retry can fix
                if not self._retryable(exc) or attempt == self.retries - 1:
                    raise StoreError(f"cannot write to {self.describe()}: {_one_line(exc)}") from exc
                time.sleep(0.05 * 2 ** attempt)
        raise AssertionError("unreachable")

    def _write(self, cur: Any, reads: Sequence[CollectedRead], received_by: str) -> WriteResult:
        now = utc_now()
        t = self._value("received_at", now)
        for device in sorted({r.device for r in reads}):  # one lock order: no deadlock between collectors
            cur.execute(TOUCH_DEVICE, (device, t, t))
        stored: Counter[str] = Counter()
        dups: Counter[str] = Counter()
        reused: Counter[str] = Counter()
        for r in reads:
            row = {**{c: getattr(r, c) for c in READ_COLUMNS if hasattr(r, c)},
                   "received_at": now, "received_by": received_by}
            cur.execute(INSERT_READ, tuple(self._value(c, row[c]) for c in READ_COLUMNS))
            if cur.rowcount == 0:
                dups[r.device] += 1
                continue
            stored[r.device] += 1
            if not add_seq(cur, r.device, r.seq):
                reused[r.device] += 1
        for device in sorted({r.device for r in reads}):
            cur.execute(COUNT_DEVICE, (stored[device], dups[device], reused[device], device))
        return WriteResult(sum(stored.values()), sum(dups.values()), sum(reused.values()))

    def report(self) -> list[DeviceReport]:
        with self._transaction(write=False) as cur:
            cur.execute("SELECT device, received, duplicates, seq_reused, first_received, last_received "
                        "FROM edge_devices ORDER BY device")
            devices = cur.fetchall()
            cur.execute("SELECT device, first_seq, last_seq FROM edge_seq_ranges ORDER BY device, first_seq")
            spans: dict[str, list[tuple[int, int]]] = {}
            for device, first, last in cur.fetchall():
                spans.setdefault(device, []).append((int(first), int(last)))
        out = []
        for device, received, dups, reused, first_rx, last_rx in devices:
            covered = spans.get(device, [])
            out.append(DeviceReport(
                device=device, received=int(received), duplicates=int(dups), seq_reused=int(reused),
                first_seq=covered[0][0] if covered else 0, last_seq=covered[-1][1] if covered else 0,
                missing=tuple(gaps(covered)), first_received=_iso(first_rx), last_received=_iso(last_rx)))
        return out

    def count(self) -> int:
        with self._transaction(write=False) as cur:
            cur.execute("SELECT count(*) FROM edge_reads")
            return int(cur.fetchone()[0])

    def stored_by(self) -> dict[str, int]:
        """Events stored per collector client id (how a shared subscription split the load)."""
        with self._transaction(write=False) as cur:
            cur.execute("SELECT received_by, count(*) FROM edge_reads GROUP BY received_by ORDER BY received_by")
            return {str(k): int(v) for k, v in cur.fetchall()}

    def describe(self) -> str:
        return f"{self.kind} {self.target}"

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return str(value)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_store(target: str) -> SqlStore:
    """`postgresql://...` (or `postgres://`) -> PostgreSQL; anything else is an SQLite file path
    (`sqlite:///path` accepted too). StoreError, one line, when it cannot be opened."""
    if target.startswith(("postgresql://", "postgres://")):
        from edge.collect.pg_store import PostgresStore

        return PostgresStore(target)
    from edge.collect.sqlite_store import SqliteStore

    path = target[len("sqlite:///"):] if target.startswith("sqlite:///") else target
    if path.startswith("sqlite:"):
        raise StoreError(f"{target}: write an SQLite database as a path or sqlite:///path")
    return SqliteStore(path)
