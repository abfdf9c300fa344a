"""Audit of the preview page: who opened it, from where (edge.audit, event `preview.access`).

The page is the one place where a person sees live plates, so each visit is recorded: the page
itself, each stream, each single frame and each refused request, always; the page's own polling
of /detections.json and its script at most once a minute per client address (the page asks
four times a second; a line each time would bury the journal without telling more).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from edge.audit import audit

POLLED = frozenset({"/detections.json", "/app.js"})


class PreviewAccessLog:
    def __init__(self, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def record(self, client: str, port: int, who: str, route: str, allowed: bool, user_agent: str) -> bool:
        """Audit one request unless it is a poll already recorded recently; True when written."""
        if allowed and route in POLLED:
            now = self.clock()
            with self._lock:
                last = self._last.get((client, route))
                if last is not None and now - last < self.every_s:
                    return False
                self._last[(client, route)] = now
                if len(self._last) > 1024:  # bounded: forget the oldest clients
                    for key in sorted(self._last, key=self._last.get)[:512]:
                        del self._last[key]
        audit("preview.access", client=client, port=port, who=who, path=route, allowed=allowed,
              user_agent=user_agent[:160])
        return True
