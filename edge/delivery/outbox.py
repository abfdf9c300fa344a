"""The durable outbox: every event is committed here (SQLite WAL, synchronous=FULL) before it
is published, and is marked sent only when the broker acknowledges it (PUBACK).

- `seq` is assigned inside the same transaction as the insert, from a counter in the `meta`
  table, so it is strictly increasing and survives restarts and purges. It is gap-free except
  where events were lost before they could be stored: then exactly that many seqs are skipped
  and the persisted `lost` counter says so (see edge/delivery/ledger.py).
- An event id is given one seq, ever: the `ids` table remembers the newest `keep_ids` ids after
  their rows are pruned, so a replayed file never reissues an old event under a new seq.
- The queue is bounded: by unsent rows (`max_rows`), by age (`max_age_s`) and optionally by file
  size (`max_mb`). When it must drop, it drops the OLDEST unsent events and adds them to a
  persisted `dropped` counter (reported in health and by `edge outbox stats`).
- A full disk: the outbox holds a ballast file (`reserve_mb`, edge/delivery/reserve.py) and gives it up
  the moment a write fails for lack of space, then retries the write.
- A payload that fails its check before sending (edge/delivery/payload_check.py) is moved to the
  `quarantine` table and counted (`quarantined`), never published.
- Acknowledged rows are kept (the newest `keep_sent`) so `edge outbox list/replay` can show and
  re-publish them; older acknowledged rows are deleted.
- One connection guarded by a lock: the pipeline thread appends, the publisher thread reads and
  marks. Other processes (`edge outbox ...`) may open the same file at the same time; opening
  an up-to-date file writes nothing, so they work on a full disk too.
- Write failures become `OutboxError` / `OutboxFullError` with a one-line message; the caller
  keeps running and reports the error in health (see edge/delivery/durable.py).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from edge.delivery.ledger import LossLedger, peek
from edge.records import PlateEvent
from edge.delivery.reserve import DiskReserve, disk_free_bytes

if TYPE_CHECKING:
    from edge.delivery.event_json import EventEncoder

log = logging.getLogger("edge.outbox")  # the name the logs have always carried
T = TypeVar("T")

SCHEMA_VERSION = 2
DB_NAME = "outbox.db"
# Wall-clock times before this were written by a clock that was not set yet (a Raspberry Pi
# has no RTC): such rows' age is unknown and they are never dropped for age.
SANE_EPOCH = 1_577_836_800.0  # 2020-01-01
WAL_CHECKPOINT_PAGES = 100
WAL_KEEP_BYTES = 256 * 1024
# Below this much free space every append is followed by a checkpoint, so the WAL (a full page
# per changed page per commit: ~20 kB per event) never holds space the events need.
LOW_SPACE_BYTES = 8 * 1024 * 1024
META_KEYS = ("last_seq", "dropped", "sent", "purged", "lost", "quarantined")


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
    keep_ids: int = 100_000  # ids of past events remembered, so a replayed file keeps their seqs
    reserve_mb: float = 4.0  # disk space held back (a ballast file), given up when the disk fills
    spill_path: Path | None = None  # folder on another disk for events not storable at a stop
    retry_s: float = 2.0  # how often events waiting in memory (disk full) are retried

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ValueError(f"max_rows: must be >= 1, got {self.max_rows}")
        if self.max_age_s < 0:
            raise ValueError(f"max_age_s: must be >= 0 (0 = no limit), got {self.max_age_s}")
        if self.max_mb < 0:
            raise ValueError(f"max_mb: must be >= 0 (0 = no limit), got {self.max_mb}")
        if self.keep_sent < 0:
            raise ValueError(f"keep_sent: must be >= 0, got {self.keep_sent}")
        if self.keep_ids < 1000:
            raise ValueError(f"keep_ids: must be >= 1000, got {self.keep_ids}")
        if self.reserve_mb < 0:
            raise ValueError(f"reserve_mb: must be >= 0 (0 = no reserve), got {self.reserve_mb}")
        if not 0.05 <= self.retry_s <= 3600:
            raise ValueError(f"retry_s: must be between 0.05 and 3600, got {self.retry_s}")

    def resolved_path(self) -> Path:
        return Path(self.path) if self.path is not None else default_state_dir() / DB_NAME


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    id: str
    topic: str
    payload: bytes
    new: bool = True  # False: this id was stored before and keeps its seq (a replayed file)


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
CREATE TABLE IF NOT EXISTS ids (
    id  TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ids_seq ON ids(seq);
CREATE TABLE IF NOT EXISTS quarantine (
    seq     INTEGER PRIMARY KEY,
    id      TEXT,
    topic   TEXT,
    payload BLOB,
    reason  TEXT NOT NULL,
    at      REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
""" + "".join(f"INSERT OR IGNORE INTO meta(key, value) VALUES ('{k}', 0);\n" for k in META_KEYS) + (
    # which installation this is: the same box keeps it across restarts, another box has its own
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('instance', abs(random()) % 9007199254740991);\n")


def _is_full(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc)


class Outbox:
    """Durable, bounded queue of encoded events. Thread-safe.

    `maintain=False` (the `edge outbox` command): inspect and operate only, without creating
    the reserve or the loss ledger nor applying the ledger. `free_bytes(folder)` is the free
    space probe behind the reserve (tests inject one)."""

    def __init__(self, config: OutboxConfig | None = None, path: str | os.PathLike[str] | None = None,
                 keep_sent_s: float | None = None, *, maintain: bool = True,
                 free_bytes: Callable[[Path], int] = disk_free_bytes) -> None:
        self.config = config or OutboxConfig()
        self.path = Path(path) if path is not None else self.config.resolved_path()
        # `[privacy] keep_sent_h`: acknowledged rows older than this are deleted (None = by count only)
        self.keep_sent_s = keep_sent_s
        self.sent_deleted = 0  # acknowledged rows deleted by this connection (edge.retention)
        self._lock = threading.RLock()
        self._last_error: str | None = None
        self._unstored = 0
        self._lost_pending = 0  # lost by the sink in this run, not yet given a seq gap
        self._carried = 0  # lost in an earlier run (the ledger), not yet given a seq gap
        self._conn = self._open()
        self._page_limit = int(self._conn.execute("PRAGMA max_page_count").fetchone()[0])
        reserve_bytes = int(self.config.reserve_mb * 1024 * 1024) if maintain else 0
        self.reserve = DiskReserve(self.path.with_name(self.path.name + ".reserve"), reserve_bytes, free_bytes)
        ledger_path = self.path.with_name(self.path.name + ".lost")
        self.ledger = LossLedger(ledger_path) if maintain else None
        if maintain:
            self.reserve.ensure()
            self._apply_ledger()
        else:  # what the running service holds in memory (or lost) right now, from its ledger
            self._unstored = peek(ledger_path)

    # ---------------------------------------------------------------- opening

    def _check_directory(self) -> None:
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

    def _open(self) -> sqlite3.Connection:
        self._check_directory()
        try:
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox: cannot open {self.path}: {exc}") from None
        try:
            self._configure(conn)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise OutboxError(f"outbox: {self.path} was written by a newer version "
                                  f"(schema {version} > {SCHEMA_VERSION})")
            if version < SCHEMA_VERSION or not self._schema_complete(conn):
                self._create_schema(conn, version)
        except OutboxError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            if _is_full(exc):
                raise OutboxFullError(f"outbox: disk full, cannot create {self.path}") from None
            raise OutboxError(f"outbox: cannot open {self.path}: {exc}") from None
        return conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("outbox: %s: WAL journal not available here (journal_mode=%s); "
                        "still durable, but slower", self.path, mode)
        conn.execute("PRAGMA synchronous=FULL")
        # Deleted rows are overwritten with zeros, not left in free pages ([privacy]).
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        # A small WAL, truncated after each checkpoint: by default it grows to ~4 MB and keeps
        # that size, which on a small or nearly full disk is the space new events need.
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
        if self.config.max_mb > 0:
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            pages = max(16, int(self.config.max_mb * 1024 * 1024 / page))
            conn.execute(f"PRAGMA max_page_count={pages}")

    @staticmethod
    def _schema_complete(conn: sqlite3.Connection) -> bool:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"events", "ids", "quarantine", "meta"} <= tables:
            return False
        keys = {r[0] for r in conn.execute("SELECT key FROM meta")}
        return {*META_KEYS, "instance"} <= keys

    def _create_schema(self, conn: sqlite3.Connection, version: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
            for column, kind in (("mono", "REAL"), ("boot", "TEXT")):
                if column not in columns:  # a file from before age-by-monotonic-clock
                    conn.execute(f"ALTER TABLE events ADD COLUMN {column} {kind}")
            if version < 2:  # a file from before the ids table: remember what it holds
                conn.execute("INSERT OR IGNORE INTO ids(id, seq) SELECT id, seq FROM events")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _apply_ledger(self) -> None:
        """Events lost before they could be stored (an earlier run): skip that many seqs and
        count them; if the disk is still full, at the next append that succeeds."""
        if self.ledger is None:
            return
        self._carried = self.ledger.read()
        if self._carried <= 0:
            return
        n = self._carried

        def skip() -> int:
            first = self._meta("last_seq") + 1
            self._conn.execute("UPDATE meta SET value = value + ? WHERE key='last_seq'", (n,))
            self._bump("lost", n)
            return first

        try:
            first = self._write("record lost events in", skip)
        except OutboxError as exc:
            log.error("%s; %d event(s) lost in an earlier run are counted at the next append", exc, n)
            return
        self._carried = 0
        self.ledger.clear()
        log.error("outbox: %d event(s) were lost before they could be stored (disk full, then a stop "
                  "or crash); seq %d-%d are skipped and counted as lost", n, first, first + n - 1)

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

    # ---------------------------------------------------------------- storage limits

    def cap_pages(self, extra: int = 0) -> None:
        """Let the database grow by at most `extra` pages from now on: a full disk, for tests and
        the fault soak, without a real one (SQLite's max_page_count). `uncap()` undoes it."""
        with self._lock:
            pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
            self._conn.execute(f"PRAGMA max_page_count={int(pages) + max(0, int(extra))}")

    def uncap(self) -> None:
        with self._lock:
            self._conn.execute(f"PRAGMA max_page_count={self._page_limit}")

    def ensure_reserve(self) -> bool:
        """Take the reserve back once the disk has room for it again (after an incident)."""
        return self.reserve.ensure()

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

    def _write(self, what: str, body: Callable[[], T]) -> T:
        """Run `body` in one IMMEDIATE transaction; on a full disk give up the reserve and retry."""
        with self._lock:
            reclaimed = False
            while True:
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    result = body()
                    self._conn.execute("COMMIT")
                    return result
                except sqlite3.Error as exc:
                    self._rollback()
                    if _is_full(exc) and not self._near_size_limit():
                        if not reclaimed and self._shrink_wal():
                            reclaimed = True  # once per write: a failed write leaves frames behind
                            continue
                        if self.reserve.release():
                            continue
                    raise self._write_error(exc, what) from None
                except BaseException:
                    self._rollback()
                    raise

    def _keep_wal_small(self) -> None:
        try:
            low = self.reserve.free_bytes(self.path.parent) < LOW_SPACE_BYTES
        except OSError:
            return
        if low:
            with self._lock:
                self._shrink_wal()

    def _shrink_wal(self) -> bool:
        """After a write failed for lack of space: move the WAL into the database and truncate
        it. True when that freed space (the write is worth retrying)."""
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            before = wal.stat().st_size
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return wal.stat().st_size < before
        except (OSError, sqlite3.Error):
            return False

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

    def append(self, event: PlateEvent, encoder: EventEncoder, skip: int = 0) -> StoredEvent:
        """Encode `event` with the next seq and commit it; returns only once it is durable."""
        return self.append_with(event.id, lambda seq: encoder.encode(event, seq), skip=skip)

    def append_with(self, event_id: str, encode: Callable[[int], tuple[str, bytes]],
                    skip: int = 0) -> StoredEvent:
        """Like append, for any payload: `encode(seq) -> (topic, payload)` runs inside the transaction.

        `skip`: events lost just before this one (never stored): that many seqs are left out and
        counted as `lost`, so a consumer sees the gap and the device's counter explains it. An id
        stored before keeps its seq and is not stored again (`new=False`)."""
        for _attempt in range(50):
            try:
                stored = self._write("append to", lambda: self._insert_locked(event_id, encode, skip))
            except OutboxFullError:
                if not self._near_size_limit():
                    raise
                self._make_room()  # the configured max_mb, not the disk: drop oldest, retry
                continue
            self._last_error = None
            self._keep_wal_small()
            if stored.new and self._carried:
                self._carried = 0
                self._sync_ledger()
            return stored
        raise self._write_error(sqlite3.OperationalError("database or disk is full"), "append to")

    def _insert_locked(self, event_id: str, encode: Callable[[int], tuple[str, bytes]],
                       skip: int) -> StoredEvent:
        known = self._conn.execute("SELECT seq FROM ids WHERE id=?", (event_id,)).fetchone()
        if known is not None:
            return self._known_locked(int(known[0]), event_id, encode)
        now = time.time()
        skip = max(0, skip) + self._carried
        seq = self._meta("last_seq") + 1 + skip
        topic, payload = encode(seq)
        self._conn.execute(
            "INSERT INTO events(seq, id, topic, payload, created, mono, boot) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, event_id, topic, sqlite3.Binary(payload), now, time.monotonic(), BOOT_ID))
        self._conn.execute("INSERT INTO ids(id, seq) VALUES (?, ?)", (event_id, seq))
        self._conn.execute("DELETE FROM ids WHERE seq <= ?", (seq - self.config.keep_ids,))
        self._conn.execute("UPDATE meta SET value=? WHERE key='last_seq'", (seq,))
        self._bump("lost", skip)
        self._enforce_locked(now)
        return StoredEvent(seq, event_id, topic, payload)

    def _known_locked(self, seq: int, event_id: str, encode: Callable[[int], tuple[str, bytes]]) -> StoredEvent:
        row = self._conn.execute("SELECT topic, payload FROM events WHERE seq=? AND id=?",
                                 (seq, event_id)).fetchone()
        topic, payload = (row[0], bytes(row[1])) if row is not None else encode(seq)
        return StoredEvent(seq, event_id, topic, payload, new=False)

    def instance_id(self) -> str:
        """This installation's id (random, made with the file): tells this box from another one
        that uses the same device id (edge/delivery/mqtt_presence.py)."""
        with self._lock:
            return f"{self._meta('instance'):x}"

    def seq_of(self, event_id: str) -> int | None:
        """The seq an event id was stored under (while remembered), else None."""
        with self._lock:
            row = self._conn.execute("SELECT seq FROM ids WHERE id=?", (event_id,)).fetchone()
        return int(row[0]) if row is not None else None

    def _make_room(self) -> None:
        """Drop the oldest unsent rows (about 5%) and the acknowledged ones to respect max_mb."""

        def drop() -> int:
            self._conn.execute("DELETE FROM events WHERE sent_at IS NOT NULL")
            depth = self._conn.execute("SELECT count(*) FROM events WHERE sent_at IS NULL").fetchone()[0]
            return self._drop_oldest_unsent(max(1, depth // 20))

        n = self._write("make room in", drop)
        log.warning("outbox: %s reached max_mb=%g; dropped the %d oldest unsent events",
                    self.path, self.config.max_mb, n)

    def _write_error(self, exc: sqlite3.Error, what: str) -> OutboxError:
        if _is_full(exc):
            then = "events are kept in memory and retried" if what == "append to" else "retried"
            err: OutboxError = OutboxFullError(
                f"outbox: disk full, cannot {what} {self.path} (free space on {self.path.parent}); {then}")
        else:
            err = OutboxError(f"outbox: cannot {what} {self.path}: {exc}")
        self._last_error = str(err)
        return err

    def mark_sent(self, seqs: int | Iterable[int]) -> int:
        """Mark events acknowledged (PUBACK). Returns how many were newly marked."""
        seq_list = [seqs] if isinstance(seqs, int) else sorted(set(int(s) for s in seqs))
        if not seq_list:
            return 0

        def mark() -> int:
            now, marked = time.time(), 0
            for i in range(0, len(seq_list), 500):
                chunk = seq_list[i:i + 500]
                cur = self._conn.execute(
                    f"UPDATE events SET sent_at=? WHERE sent_at IS NULL AND seq IN "
                    f"({','.join('?' * len(chunk))})", (now, *chunk))
                marked += cur.rowcount
            self._bump("sent", marked)
            self._trim_sent_locked()
            return marked

        return self._write("mark events sent in", mark)

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

    def quarantine(self, seq: int, reason: str) -> bool:
        """Move a row whose payload failed its check out of the queue (kept, counted, not sent)."""

        def move() -> bool:
            cur = self._conn.execute(
                "INSERT OR REPLACE INTO quarantine(seq, id, topic, payload, reason, at) "
                "SELECT seq, id, topic, payload, ?, ? FROM events WHERE seq=?", (reason, time.time(), seq))
            if cur.rowcount == 0:
                return False
            self._conn.execute("DELETE FROM events WHERE seq=?", (seq,))
            self._bump("quarantined", 1)
            return True

        moved = self._write("quarantine a payload in", move)
        if moved:
            log.error("outbox: event seq %d has a damaged payload (%s): quarantined, not published "
                      "(counted in health as outbox.quarantined)", seq, reason)
        return moved

    def enforce_limits(self) -> int:
        """Apply max_age_s/max_rows now (the publisher calls this periodically). Returns drops."""
        n = self._write("enforce limits on", lambda: self._enforce_locked(time.time()))
        if n:
            log.warning("outbox: dropped %d oldest unsent events (limits max_rows=%d max_age_s=%g)",
                        n, self.config.max_rows, self.config.max_age_s)
        return n

    def mark_unsent(self, from_seq: int | None = None, to_seq: int | None = None) -> int:
        """`edge outbox replay`: make kept acknowledged rows pending again, so they are re-published."""
        lo = from_seq if from_seq is not None else 0
        hi = to_seq if to_seq is not None else 2**62
        return self._write("replay", lambda: self._conn.execute(
            "UPDATE events SET sent_at=NULL WHERE sent_at IS NOT NULL AND seq BETWEEN ? AND ?",
            (lo, hi)).rowcount)

    def purge(self, sent_only: bool) -> int:
        """Delete acknowledged rows (sent_only) or every row. Unsent rows deleted count as `purged`.
        The seq counter is kept, so numbering continues without reuse."""

        def delete() -> int:
            if sent_only:
                return self._conn.execute("DELETE FROM events WHERE sent_at IS NOT NULL").rowcount
            unsent = self._conn.execute("SELECT count(*) FROM events WHERE sent_at IS NULL").fetchone()[0]
            self._bump("purged", unsent)
            return self._conn.execute("DELETE FROM events").rowcount

        return self._write("purge", delete)

    # ---------------------------------------------------------------- reading

    def pending(self, limit: int = 100) -> list[StoredEvent]:
        """The oldest unacknowledged events, in seq order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, id, topic, payload FROM events WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
                (max(0, int(limit)),)).fetchall()
        return [StoredEvent(int(s), i, t, bytes(p)) for s, i, t, p in rows]

    def rows(self, limit: int = 50, after_seq: int = 0, unsent_only: bool = False,
             newest: bool = False) -> list[OutboxRow]:
        where = "seq > ?" + (" AND sent_at IS NULL" if unsent_only else "")
        order = "DESC" if newest else "ASC"
        with self._lock:
            rows = self._conn.execute(
                f"SELECT seq, id, topic, payload, created, sent_at FROM events WHERE {where} "
                f"ORDER BY seq {order} LIMIT ?", (after_seq, limit)).fetchall()
        return [OutboxRow(int(s), i, t, bytes(p), c, a) for s, i, t, p, c, a in rows]

    def report_unstored(self, count: int, error: str | None, lost: int = 0) -> None:
        """The sink says how many events wait in memory and how many it lost (not yet given a seq
        gap): shown in stats/health, and written to the loss ledger so a crash cannot hide them."""
        self._unstored = count
        self._lost_pending = lost
        if error:
            self._last_error = error
        elif count == 0:
            self._last_error = None
        self._sync_ledger()

    def _sync_ledger(self) -> None:
        if self.ledger is not None:
            self.ledger.set(self._carried + self._lost_pending + self._unstored)

    def stats(self) -> dict[str, Any]:
        """depth, oldest_age_s, dropped, lost, quarantined, purged, sent, last_seq, rows, db_bytes,
        unstored, reserve_held, error."""
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
            "lost": int(meta.get("lost", 0)) + self._carried + self._lost_pending,
            "quarantined": int(meta.get("quarantined", 0)),
            "purged": int(meta.get("purged", 0)),
            "sent": int(meta.get("sent", 0)),
            "last_seq": int(meta.get("last_seq", 0)),
            "rows": int(rows),
            "db_bytes": int(page_size * page_count),
            "unstored": self._unstored,
            "reserve_held": self.reserve.held,
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
