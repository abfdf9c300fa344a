"""A ballast file beside the outbox: disk space held back so that events can still be stored
when something else fills the disk. The outbox gives it up (deletes it) the moment a write
fails for lack of space, and takes it back once the disk has room again.

Free space is asked through an injected probe (`free_bytes(folder) -> int`), so tests can say
"the disk is full" or "there is room" without a real full disk.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("edge.reserve")  # the name the logs have always carried

CHUNK = 256 * 1024


def disk_free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


class DiskReserve:
    """`path` is the ballast file, `size` its bytes (0 = no reserve)."""

    def __init__(self, path: Path, size: int, free_bytes: Callable[[Path], int] = disk_free_bytes) -> None:
        self.path = path
        self.size = max(0, int(size))
        self.free_bytes = free_bytes
        self.released = 0  # times it was given up (health)

    @property
    def held(self) -> bool:
        try:
            return self.size > 0 and self.path.stat().st_size >= self.size
        except OSError:
            return False

    def ensure(self) -> bool:
        """Create the ballast if it is missing and the disk has room for it twice over (so the
        reserve itself never fills the disk). True when it is held afterwards."""
        if self.size <= 0 or self.held:
            return self.held
        try:
            if self.free_bytes(self.path.parent) < 2 * self.size:
                return False
            with open(self.path, "wb") as fh:
                zeros = bytes(min(CHUNK, self.size))
                left = self.size
                while left > 0:
                    left -= fh.write(zeros[:left])
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            log.debug("outbox reserve %s not created: %s", self.path, exc)
            self._remove()
            return False
        return True

    def release(self) -> bool:
        """Give the space back to the disk; True when there was a reserve to give."""
        if not self.path.exists():
            return False
        self._remove()
        self.released += 1
        log.warning("outbox: disk full: released the %d kB reserve %s to keep storing events; "
                    "free space on %s", self.size // 1024, self.path, self.path.parent)
        return True

    def _remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("outbox: cannot remove the reserve %s: %s", self.path, exc.strerror or exc)
