"""Retention: delivered events leave the device's outbox `[privacy] keep_sent_h` after delivery.

The outbox already deletes an acknowledged row on the PUBACK that makes it old enough
(`Outbox(keep_sent_s=...)`); this sweeper also deletes rows that grow old while nothing is
being delivered, at start (rows left by an earlier run), every `interval_s` and once more at
shutdown, and after any deletion empties the WAL, so the deleted rows' old pages do not linger
in the -wal file (the database itself overwrites deleted rows: PRAGMA secure_delete). Undelivered events are
never deleted here: they wait for the broker, bounded by `[outbox]` max_rows / max_age_s.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)


class ExpiringStore(Protocol):
    sent_deleted: int  # rows deleted so far, on delivery or by expire_sent

    def expire_sent(self) -> int: ...

    def checkpoint(self) -> None: ...


SHORT_RETENTION_S = 1.0  # at most this long is waited for at shutdown


def sweep_interval_s(keep_sent_s: float) -> float:
    """A quarter of the retention time, between 0.5 s and a minute."""
    return min(60.0, max(0.5, keep_sent_s / 4.0))


class RetentionSweeper:
    def __init__(self, store: ExpiringStore, keep_sent_s: float) -> None:
        self.store = store
        self.keep_sent_s = keep_sent_s
        self.interval_s = sweep_interval_s(keep_sent_s)
        self.deleted = 0
        self._checkpointed_at = 0  # store.sent_deleted at the last checkpoint
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> int:
        """Delete what is due now; errors are logged (the next sweep tries again)."""
        try:
            n = self.store.expire_sent()
        except Exception as exc:  # noqa: BLE001 - e.g. disk full; retention retries, delivery goes on
            log.warning("retention: cannot delete delivered events: %s", exc)
            return 0
        self.deleted += n
        if self.store.sent_deleted != self._checkpointed_at:  # here or on delivery (keep_sent_h 0)
            self._checkpointed_at = self.store.sent_deleted
            self.store.checkpoint()
        if n:
            log.debug("retention: deleted %d delivered event(s) older than %g h", n, self.keep_sent_s / 3600)
        return n

    def start(self) -> RetentionSweeper:
        self.sweep()
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sweep()

    def stop(self) -> None:
        """Stop the thread and sweep a last time (events delivered during shutdown). A retention
        under a second is waited out first, so that the rows delivered at the stop leave with it
        rather than at the next start."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if 0.0 < self.keep_sent_s <= SHORT_RETENTION_S:
            time.sleep(self.keep_sent_s)
        self.sweep()
        self.store.checkpoint()
