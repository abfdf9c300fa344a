"""The loss ledger: a tiny file, written in place, holding how many events exist only in
memory right now (created, not yet stored: the disk is full) plus those already lost.

It is created at full size when the outbox opens and is only ever overwritten in place, so
updating it needs no new disk space: it works on the very full disk that holds the events
back. If the process dies (SIGKILL, power cut) while events wait in memory, the next start
reads the count, skips that many `seq`s and adds them to the persisted `lost` counter, so the
loss is never silent. (A crash between storing the waiting events and zeroing the ledger
over-counts by at most those events; it never under-counts.)
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("edge.ledger")  # the name the logs have always carried

SIZE = 64  # bytes: {"unstored": N} padded with spaces


class LossLedger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._written: int | None = None
        self.available = self._create()

    def _create(self) -> bool:
        try:
            if self.path.exists() and self.path.stat().st_size >= SIZE:
                self._written = self.read()
                return True
            self._write(0)
            return True
        except OSError as exc:
            log.warning("outbox: cannot create the loss ledger %s: %s", self.path, exc.strerror or exc)
            return False

    def _write(self, n: int) -> None:
        body = json.dumps({"unstored": int(n)}).encode().ljust(SIZE)[:SIZE]
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o640)
        try:
            os.pwrite(fd, body, 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._written = n

    def read(self) -> int:
        return peek(self.path)

    def set(self, n: int) -> bool:
        """Record that n events are unstored or lost; False when the ledger cannot be written."""
        if not self.available or n == self._written:
            return self.available
        try:
            self._write(max(0, n))
            return True
        except OSError as exc:
            log.error("outbox: cannot record %d unstored events in %s: %s", n, self.path, exc.strerror or exc)
            return False

    def clear(self) -> None:
        self.set(0)


def peek(path: Path) -> int:
    """The count in a ledger file, without creating it (0 when there is none)."""
    try:
        text = path.read_bytes()[:SIZE].decode().strip()
        return max(0, int(json.loads(text or "{}").get("unstored", 0)))
    except (OSError, ValueError, AttributeError):
        return 0
