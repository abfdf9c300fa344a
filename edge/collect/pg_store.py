"""The collector's PostgreSQL database, through psycopg 3 (the optional `collect-pg` extra).

Times are `timestamptz`, the payload `jsonb`. Collectors sharing a database serialise per
device on its `edge_devices` row; a deadlock or serialisation failure retries the batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from edge.collect.store import TIME_COLUMNS, SqlStore, StoreError

INSTALL_HINT = "pip install 'edge-plate-reader[collect-pg]' (psycopg 3)"
SCHEMA_LOCK = 0x65646765  # advisory lock id ("edge"): two collectors starting at once create tables once


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError(f"a postgresql:// database needs psycopg: {INSTALL_HINT}") from None
    return psycopg


class _Cursor:
    """A psycopg cursor that takes the shared SQL's `?` placeholders."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Any = None) -> None:
        self._cur.execute(sql.replace("?", "%s"), params)

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> Any:
        return self._cur.fetchall()

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount


class PostgresStore(SqlStore):
    kind = "postgresql"
    types = {"text": "text", "int": "bigint", "real": "double precision", "time": "timestamptz",
             "json": "jsonb"}

    def _connect(self) -> Any:
        psycopg = _psycopg()
        try:
            return psycopg.connect(self.target, autocommit=False, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL {self.describe()}: {_first_line(exc)}") from None

    def _create_schema(self) -> None:
        with self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
            for statement in self._ddl():
                cur.execute(statement)

    def _ddl(self) -> list[str]:
        from edge.collect.store import DDL, SCHEMA_VERSION

        return [s.format(**self.types) for s in DDL] + [
            f"INSERT INTO edge_meta (key, value) VALUES ('schema', '{SCHEMA_VERSION}') ON CONFLICT (key) DO NOTHING"]

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[Any]:
        psycopg = _psycopg()
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                yield _Cursor(cur)
        except psycopg.OperationalError:
            self._conn.close()  # a lost connection is opened again on the next batch
            raise

    def _retryable(self, exc: BaseException) -> bool:
        psycopg = _psycopg()
        errors = psycopg.errors
        return isinstance(exc, (errors.DeadlockDetected, errors.SerializationFailure, psycopg.OperationalError))

    def _value(self, column: str, value: Any) -> Any:
        if column in TIME_COLUMNS and isinstance(value, str):
            return datetime.fromisoformat(value)
        return value  # psycopg sends a str untyped, so the server reads the payload as jsonb

    def describe(self) -> str:
        return f"postgresql {_redact(self.target)}"


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    head, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{head}{sep}{creds.split(':', 1)[0]}:***@{host}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
