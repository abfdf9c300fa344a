"""Has a file changed since we last looked? (size, mtime, inode: one stat, no reading), so the
publisher can notice a fixed password file at once instead of at the next retry."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


class FileWatch:
    def __init__(self, path: Callable[[], Path | None]) -> None:
        self._path = path
        self._seen = self._signature()

    def _signature(self) -> tuple | None:
        p = self._path()
        if p is None:
            return None
        try:
            st = os.stat(p)
        except OSError:
            return ("missing", str(p))
        return (str(p), st.st_ino, st.st_size, st.st_mtime_ns)

    def changed(self) -> bool:
        now = self._signature()
        if now == self._seen:
            return False
        self._seen = now
        return True
