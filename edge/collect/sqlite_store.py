"""The collector's SQLite database: one file, WAL, synchronous=FULL (a commit is on disk
before its PUBACK goes out). Several collectors may share the file: BEGIN IMMEDIATE makes
each batch wait for the write lock instead of failing half-way."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge.collect.store import SqlStore, StoreError

BUSY_TIMEOUT_S = 30.0


class SqliteStore(SqlStore):
    kind = "sqlite"
    types = {"text": "TEXT", "int": "INTEGER", "real": "REAL", "time": "TEXT", "json": "TEXT"}

    def __init__(self, path: str | Path) -> None:
        super().__init__(str(path))

    def _connect(self) -> sqlite3.Connection:
        path = Path(self.target).expanduser()
        if path.is_dir():
            raise StoreError(f"{path}: is a folder, not a database file")
        if not path.parent.is_dir():
            raise StoreError(f"{path}: folder {path.parent} does not exist")
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the SQLite database: {exc}") from None
        return conn

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[Any]:
        if self._conn is None:
            raise StoreError(f"{self.target}: database is closed")
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.target}: cannot start a transaction: {exc}") from None
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:  # a failed COMMIT (disk full) must not leave it open
                self._conn.rollback()
            raise
        finally:
            cur.close()

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
