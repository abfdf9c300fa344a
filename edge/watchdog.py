"""The systemd watchdog with several cameras: pinged only once every running camera has pinged.

Each camera's inference loop pings its own member; a camera that hangs stops the pings to
systemd even while another camera keeps working, so the service is restarted as with one
camera. A camera whose source ended (a video file) is retired and no longer waited for.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any


class WatchdogGroup:
    def __init__(self, notifier: Any, names: Iterable[str]) -> None:
        self.notifier = notifier
        self._waiting = set(names)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def member(self, name: str) -> _Member:
        return _Member(self, name)

    def ping(self, name: str) -> None:
        with self._lock:
            self._seen.add(name)
            due = bool(self._waiting) and self._waiting <= self._seen
            if due:
                self._seen.clear()
        if due:
            self.notifier.watchdog()

    def retire(self, name: str) -> None:
        """`name` has stopped (its source ended): the others keep the watchdog fed."""
        with self._lock:
            self._waiting.discard(name)
            self._seen.discard(name)
            due = bool(self._waiting) and self._waiting <= self._seen
            if due:
                self._seen.clear()
        if due:
            self.notifier.watchdog()


class _Member:
    """One camera's notifier (edge.ports.ServiceNotifier): its watchdog pings go to the group."""

    def __init__(self, group: WatchdogGroup, name: str) -> None:
        self.group = group
        self.name = name

    def ready(self) -> None:
        self.group.notifier.ready()

    def watchdog(self) -> None:
        self.group.ping(self.name)

    def status(self, text: str) -> None:
        self.group.notifier.status(text)

    def stopping(self) -> None:
        self.group.notifier.stopping()
