"""The durable outbox: every event is committed here (SQLite WAL, synchronous=FULL) before it
is published, and is marked sent only when the broker acknowledges it (PUBACK).

- `seq` is assigned inside the same transaction as the insert, from a counter in the `meta`
  table, so it is gap-free, strictly increasing and survives restarts and purges.
- The queue is bounded: by unsent rows (`max_rows`), by age (`max_age_s`) and optionally by file
  size (`max_mb`). When it must drop, it drops the OLDEST unsent events and adds them to a
  persisted `dropped` counter (reported in health and by `edge outbox stats`).
- Acknowledged rows are kept (the newest `keep_sent`) so `edge outbox list/replay` can show and
  re-publish them; older acknowledged rows are deleted.
- One connection guarded by a lock: the pipeline thread appends, the publisher thread reads and
  marks. Other processes (`edge outbox ...`) may open the same file at the same time.
- Write failures become `OutboxError` / `OutboxFullError` with a one-line message; the caller
  keeps running and reports the error in health (see `DurableSink`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.records import PlateEvent

if TYPE_CHECKING:
    from edge.event_json import EventEncoder

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DB_NAME = "outbox.db"
# Wall-clock times before this were written by a clock that was not set yet (a Raspberry Pi
# has no RTC): such rows' age is unknown and they are never dropped for age.
SANE_EPOCH = 1_577_836_800.0  # 2020-01-01


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


BOOT_ID = _boot_id()


def default_state_dir() -> Path:
    """systemd's $STATE_DIRECTORY (StateDirectory=), else $XDG_STATE_HOME/edge, else ~/.local/state/edge."""
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "edge"


@dataclass(frozen=True)
class OutboxConfig:
    """`[outbox]` section. Every field has a default, so an empty section is valid."""

    path: Path | None = None  # None: <state dir>/outbox.db (see default_state_dir)
    max_rows: int = 100_000  # unsent events kept; beyond that the oldest are dropped (counted)
    max_age_s: float = 30 * 86400.0  # unsent events older than this are dropped (counted); 0 = no limit
    max_mb: float = 0.0  # database file size limit in MiB; 0 = only the disk limits it
    keep_sent: int = 1000  # acknowledged events kept for `edge outbox list/replay`

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ValueError(f"outbox.max_rows must be >= 1, got {self.max_rows}")
        if self.max_age_s < 0:
            raise ValueError(f"outbox.max_age_s must be >= 0 (0 = no limit), got {self.max_age_s}")
        if self.max_mb < 0:
            raise ValueError(f"outbox.max_mb must be >= 0 (0 = no limit), got {self.max_mb}")
        if self.keep_sent < 0:
            raise ValueError(f"outbox.keep_sent must be >= 0, got {self.keep_sent}")

    def resolved_path(self) -> Path:
        return Path(self.path) if self.path is not None else default_state_dir() / DB_NAME


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    id: str
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    id: str
    topic: str
    payload: bytes
    created: float  # wall time (epoch s) of the insert
    sent_at: float | None  # wall time of the PUBACK, None while unsent


class OutboxError(RuntimeError):
    """The outbox cannot be opened or written; the message is one line, naming the path."""


class OutboxFullError(OutboxError):
    """The disk (or the configured max_mb) is full and nothing more could be freed."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq     INTEGER PRIMARY KEY,
    id      TEXT NOT NULL,
    topic   TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    sent_at REAL,
    mono    REAL,
    boot    TEXT
);
CREATE INDEX IF NOT EXISTS events_unsent ON events(seq) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS events_sent ON events(seq) WHERE sent_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta(key, value) VALUES ('last_seq', 0), ('dropped', 0), ('sent', 0), ('purged', 0);
"""


def _is_full(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc)


class Outbox:
    """Durable, bounded, gap-free queue of encoded events. Thread-safe."""

    def __init__(self, config: OutboxConfig | None = None, path: str | os.PathLike[str] | None = None,
                 keep_sent_s: float | None = None) -> None:
        self.config = config or OutboxConfig()
        self.path = Path(path) if path is not None else self.config.resolved_path()
        # `[privacy] keep_sent_h`: acknowledged rows older than this are deleted (None = by count only)
        self.keep_sent_s = keep_sent_s
        self.sent_deleted = 0  # acknowledged rows deleted by this connection (edge.retention)
        self._lock = threading.RLock()
        self._last_error: str | None = None
        self._unstored = 0
        self._conn = self._open()

    # ---------------------------------------------------------------- opening

    def _open(self) -> sqlite3.Connection:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutboxError(f"outbox: cannot create state directory {directory}: "
                              f"{exc.strerror or exc}") from None
        if not directory.is_dir():
            raise OutboxError(f"outbox: state directory {directory} is not a directory")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise OutboxError(f"outbox: state directory {directory} is not writable "
                              f"(the outbox needs to create {self.path.name} and its -wal/-shm files there)")
        if self.path.exists() and not os.access(self.path, os.R_OK | os.W_OK):
            raise OutboxError(f"outbox: {self.path} is not readable and writable by this user")
        try:
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox: cannot open {self.path}: {exc}") from None
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("outbox: %s: WAL journal not available here (journal_mode=%s); "
                            "still durable, but slower", self.path, mode)
            conn.execute("PRAGMA synchronous=FULL")
            # Deleted rows are overwritten with zeros, not left in free pages ([privacy]).
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            if self.config.max_mb > 0:
                page = conn.execute("PRAGMA page_size").fetchone()[0]
                pages = max(16, int(self.config.max_mb * 1024 * 1024 / page))
                conn.execute(f"PRAGMA max_page_count={pages}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise OutboxError(f"outbox: {self.path} was written by a newer version "
                                  f"(schema {version} > {SCHEMA_VERSION})")
            conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
            columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
            for column, kind in (("mono", "REAL"), ("boot", "TEXT")):
                if column not in columns:  # a file from before age-by-monotonic-clock
                    conn.execute(f"ALTER TABLE events ADD COLUMN {column} {kind}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except OutboxError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            if _is_full(exc):
                raise OutboxFullError(f"outbox: disk full, cannot create {self.path}") from None
            raise OutboxError(f"outbox: cannot open {self.path}: {exc}") from None
        return conn

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- writing

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _meta(self, key: str) -> int:
        return int(self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()[0])

    def _bump(self, key: str, n: int) -> None:
        if n:
            self._conn.execute("UPDATE meta SET value = value + ? WHERE key=?", (n, key))

    def _drop_oldest_unsent(self, n: int) -> int:
        if n <= 0:
            return 0
        cur = self._conn.execute(
            "DELETE FROM events WHERE seq IN "
            "(SELECT seq FROM events WHERE sent_at IS NULL ORDER BY seq LIMIT ?)", (n,))
        self._bump("dropped", cur.rowcount)
        return cur.rowcount

    def _enforce_locked(self, now: float) -> int:
        dropped = 0
        if self.config.max_age_s > 0:
            # Age from the monotonic clock for rows of this boot (immune to the wall clock being
            # set after boot); from the wall clock for older rows, unless it was not set then.
            cur = self._conn.execute(
                "DELETE FROM events WHERE sent_at IS NULL AND ("
                " (boot IS ? AND boot IS NOT NULL AND mono < ?)"
                " OR ((boot IS NOT ? OR boot IS NULL) AND created >= ? AND created < ?))",
                (BOOT_ID, time.monotonic() - self.config.max_age_s, BOOT_ID, SANE_EPOCH,
                 now - self.config.max_age_s))
            self._bump("dropped", cur.rowcount)
            dropped += cur.rowcount
        depth = self._conn.execute("SELECT count(*) FROM events WHERE sent_at IS NULL").fetchone()[0]
        dropped += self._drop_oldest_unsent(depth - self.config.max_rows)
        return dropped

    def _near_size_limit(self) -> bool:
        if self.config.max_mb <= 0:
            return False
        pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
        limit = self._conn.execute("PRAGMA max_page_count").fetchone()[0]
        free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
        return pages - free >= limit * 0.9 or pages >= limit - 2

    def append(self, event: PlateEvent, encoder: EventEncoder) -> StoredEvent:
        """Encode `event` with the next seq and commit it; returns only once it is durable."""
        return self.append_with(event.id, lambda seq: encoder.encode(event, seq))

    def append_with(self, event_id: str, encode: Callable[[int], tuple[str, bytes]]) -> StoredEvent:
        """Like append, for any payload: `encode(seq) -> (topic, payload)` runs inside the transaction."""
        with self._lock:
            for attempt in range(50):
                now = time.time()
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    seq = self._meta("last_seq") + 1
                    topic, payload = encode(seq)
                    self._conn.execute(
                        "INSERT INTO events(seq, id, topic, payload, created, mono, boot) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (seq, event_id, topic, sqlite3.Binary(payload), now, time.monotonic(), BOOT_ID))
                    self._conn.execute("UPDATE meta SET value=? WHERE key='last_seq'", (seq,))
                    self._enforce_locked(now)
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._rollback()
                    if _is_full(exc) and self._near_size_limit():
                        self._make_room()  # the configured max_mb, not the disk: drop oldest, retry
                        continue
                    raise self._write_error(exc, "append") from None
                except BaseException:
                    self._rollback()
                    raise
                self._last_error = None
                return StoredEvent(seq, event_id, topic, payload)
            raise self._write_error(sqlite3.OperationalError("database or disk is full"), "append")

    def _make_room(self) -> None:
        """Drop the oldest unsent rows (about 5%) and the acknowledged ones to respect max_mb."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("DELETE FROM events WHERE sent_at IS NOT NULL")
            depth = self._conn.execute("SELECT count(*) FROM events WHERE sent_at IS NULL").fetchone()[0]
            n = self._drop_oldest_unsent(max(1, depth // 20))
            self._conn.execute("COMMIT")
            log.warning("outbox: %s reached max_mb=%g; dropped the %d oldest unsent events",
                        self.path, self.config.max_mb, n)
        except sqlite3.Error as exc:
            self._rollback()
            raise self._write_error(exc, "make room in") from None

    def _write_error(self, exc: sqlite3.Error, what: str) -> OutboxError:
        if _is_full(exc):
            err: OutboxError = OutboxFullError(
                f"outbox: disk full, cannot {what} {self.path} (free space on {self.path.parent}); "
                "events are kept in memory and retried")
        else:
            err = OutboxError(f"outbox: cannot {what} {self.path}: {exc}")
        self._last_error = str(err)
        return err

    def pending(self, limit: int = 100) -> list[StoredEvent]:
        """The oldest unacknowledged events, in seq order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, id, topic, payload FROM events WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
                (max(0, int(limit)),)).fetchall()
        return [StoredEvent(int(s), i, t, bytes(p)) for s, i, t, p in rows]

    def mark_sent(self, seqs: int | Iterable[int]) -> int:
        """Mark events acknowledged (PUBACK). Returns how many were newly marked."""
        seq_list = [seqs] if isinstance(seqs, int) else sorted(set(int(s) for s in seqs))
        if not seq_list:
            return 0
        with self._lock:
            now = time.time()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                marked = 0
                for i in range(0, len(seq_list), 500):
                    chunk = seq_list[i:i + 500]
                    cur = self._conn.execute(
                        f"UPDATE events SET sent_at=? WHERE sent_at IS NULL AND seq IN "
                        f"({','.join('?' * len(chunk))})", (now, *chunk))
                    marked += cur.rowcount
                self._bump("sent", marked)
                self._trim_sent_locked()
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._write_error(exc, "mark events sent in") from None
        return marked

    def _trim_sent_locked(self) -> int:
        deleted = 0
        if self.keep_sent_s is not None:
            cur = self._conn.execute("DELETE FROM events WHERE sent_at IS NOT NULL AND sent_at <= ?",
                                     (time.time() - self.keep_sent_s,))
            deleted += cur.rowcount
        keep = self.config.keep_sent
        row = self._conn.execute(
            "SELECT seq FROM events WHERE sent_at IS NOT NULL ORDER BY seq DESC LIMIT 1 OFFSET ?",
            (keep,)).fetchone()
        if row is not None:
            deleted += self._conn.execute("DELETE FROM events WHERE sent_at IS NOT NULL AND seq <= ?",
                                          (row[0],)).rowcount
        self.sent_deleted += deleted
        return deleted

    def expire_sent(self) -> int:
        """Delete acknowledged rows past keep_sent_s / keep_sent now (edge.retention calls this)."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                n = self._trim_sent_locked()
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._write_error(exc, "expire sent events in") from None
        return n

    def purge_older_than(self, age_s: float, sent_only: bool) -> int:
        """`edge outbox purge --older-than`: delete rows stored more than `age_s` ago (acknowledged
        ones only, or every one; unsent rows deleted count as `purged`)."""
        cutoff = time.time() - age_s
        state = " AND sent_at IS NOT NULL" if sent_only else ""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                unsent = self._conn.execute("SELECT count(*) FROM events WHERE sent_at IS NULL AND created < ?",
                                            (cutoff,)).fetchone()[0]
                cur = self._conn.execute(f"DELETE FROM events WHERE created < ?{state}", (cutoff,))
                if not sent_only:
                    self._bump("purged", unsent)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._write_error(exc, "purge") from None
        return cur.rowcount

    def checkpoint(self) -> None:
        """Copy the WAL into the database and empty it, so deleted rows' old pages leave the
        -wal file too (best effort: another process may be reading)."""
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.debug("outbox: checkpoint failed: %s", exc)

    def enforce_limits(self) -> int:
        """Apply max_age_s/max_rows now (the publisher calls this periodically). Returns drops."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                n = self._enforce_locked(time.time())
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._write_error(exc, "enforce limits on") from None
        if n:
            log.warning("outbox: dropped %d oldest unsent events (limits max_rows=%d max_age_s=%g)",
                        n, self.config.max_rows, self.config.max_age_s)
        return n

    def mark_unsent(self, from_seq: int | None = None, to_seq: int | None = None) -> int:
        """`edge outbox replay`: make kept acknowledged rows pending again, so they are re-published."""
        lo = from_seq if from_seq is not None else 0
        hi = to_seq if to_seq is not None else 2**62
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                cur = self._conn.execute(
                    "UPDATE events SET sent_at=NULL WHERE sent_at IS NOT NULL AND seq BETWEEN ? AND ?",
                    (lo, hi))
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._write_error(exc, "replay") from None
        return cur.rowcount

    def purge(self, sent_only: bool) -> int:
        """Delete acknowledged rows (sent_only) or every row. Unsent rows deleted count as `purged`.
        The seq counter is kept, so numbering continues without reuse."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                if sent_only:
                    cur = self._conn.execute("DELETE FROM events WHERE sent_at IS NOT NULL")
                else:
                    unsent = self._conn.execute(
                        "SELECT count(*) FROM events WHERE sent_at IS NULL").fetchone()[0]
                    cur = self._conn.execute("DELETE FROM events")
                    self._bump("purged", unsent)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._write_error(exc, "purge") from None
        return cur.rowcount

    # ---------------------------------------------------------------- reading

    def rows(self, limit: int = 50, after_seq: int = 0, unsent_only: bool = False,
             newest: bool = False) -> list[OutboxRow]:
        where = "seq > ?" + (" AND sent_at IS NULL" if unsent_only else "")
        order = "DESC" if newest else "ASC"
        with self._lock:
            rows = self._conn.execute(
                f"SELECT seq, id, topic, payload, created, sent_at FROM events WHERE {where} "
                f"ORDER BY seq {order} LIMIT ?", (after_seq, limit)).fetchall()
        return [OutboxRow(int(s), i, t, bytes(p), c, a) for s, i, t, p, c, a in rows]

    def report_unstored(self, count: int, error: str | None) -> None:
        """DurableSink tells the outbox how many events wait in memory (shown in stats/health)."""
        self._unstored = count
        if error:
            self._last_error = error

    def stats(self) -> dict[str, Any]:
        """depth, oldest_age_s, dropped, purged, sent, last_seq, rows, db_bytes, unstored, error."""
        with self._lock:
            c = self._conn
            depth = c.execute("SELECT count(*) FROM events WHERE sent_at IS NULL").fetchone()[0]
            oldest = c.execute("SELECT created, mono, boot FROM events WHERE sent_at IS NULL "
                               "ORDER BY seq LIMIT 1").fetchone()
            rows = c.execute("SELECT count(*) FROM events").fetchone()[0]
            meta = dict(c.execute("SELECT key, value FROM meta").fetchall())
            page_size = c.execute("PRAGMA page_size").fetchone()[0]
            page_count = c.execute("PRAGMA page_count").fetchone()[0]
        return {
            "depth": int(depth),
            "oldest_age_s": _age(oldest),
            "dropped": int(meta.get("dropped", 0)),
            "purged": int(meta.get("purged", 0)),
            "sent": int(meta.get("sent", 0)),
            "last_seq": int(meta.get("last_seq", 0)),
            "rows": int(rows),
            "db_bytes": int(page_size * page_count),
            "unstored": self._unstored,
            "error": self._last_error,
        }


def _age(row: tuple[float, float | None, str | None] | None) -> float | None:
    """Seconds since a row was stored (None: no row, or unknowable: stored before the clock was set)."""
    if row is None:
        return None
    created, mono, boot = row
    if boot is not None and boot == BOOT_ID and mono is not None:
        return round(max(0.0, time.monotonic() - mono), 3)
    if created >= SANE_EPOCH:
        return round(max(0.0, time.time() - created), 3)
    return None


class DurableSink:
    """The pipeline's event sink: `submit(event)` commits the event to the outbox, then wakes
    the publisher. Returns the StoredEvent once it is durable.

    If the outbox cannot be written (disk full, state directory gone read-only), `submit`
    logs one line per distinct error, keeps the event in a bounded in-memory backlog, returns
    None and keeps running; the backlog is retried, in order, on the next submit, `retry()` or
    `close()`, and its size and the error appear in `outbox.stats()` (hence in health).
    """

    def __init__(self, outbox: Outbox, encoder: EventEncoder,
                 notify_publisher: Callable[[], None] | None = None, max_unstored: int = 10_000) -> None:
        self.outbox = outbox
        self.encoder = encoder
        self.notify_publisher = notify_publisher
        self._backlog: deque[PlateEvent] = deque()
        self._max_unstored = max_unstored
        self.lost_unstored = 0  # backlog overflow (memory bound), counted
        self._logged_error: str | None = None
        self._lock = threading.Lock()

    def _store_backlog(self) -> StoredEvent | None:
        last = None
        while self._backlog:
            last = self.outbox.append(self._backlog[0], self.encoder)
            self._backlog.popleft()
        return last

    def submit(self, event: PlateEvent) -> StoredEvent | None:
        with self._lock:
            self._backlog.append(event)
            if len(self._backlog) > self._max_unstored:
                self._backlog.popleft()
                self.lost_unstored += 1
            stored = self._flush_locked()
        if stored is not None and self.notify_publisher is not None:
            self.notify_publisher()
        return stored

    def _flush_locked(self) -> StoredEvent | None:
        try:
            stored = self._store_backlog()
        except OutboxError as exc:
            msg = str(exc)
            if msg != self._logged_error:
                log.error("%s (%d event(s) waiting in memory)", msg, len(self._backlog))
                self._logged_error = msg
            self.outbox.report_unstored(len(self._backlog), msg)
            return None
        if self._logged_error is not None:
            log.info("outbox: writable again; stored the events that were waiting in memory")
            self._logged_error = None
        self.outbox.report_unstored(0, None)
        return stored

    def retry(self) -> bool:
        """Try to store the in-memory backlog now. True when nothing is left waiting."""
        with self._lock:
            if self._backlog:
                if self._flush_locked() is not None and self.notify_publisher is not None:
                    self.notify_publisher()
            return not self._backlog

    @property
    def unstored(self) -> int:
        return len(self._backlog)

    def close(self) -> bool:
        return self.retry()
