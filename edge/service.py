"""Service lifecycle: signals (once), systemd notify/watchdog, graceful stop.

- `notifier_from_env()` -> `SystemdNotifier` when $NOTIFY_SOCKET is set (Type=notify units),
  else `NullNotifier`. sd_notify is one datagram on a unix socket; implemented here with the
  socket module (no libsystemd dependency). Abstract sockets ("@name") are supported.
- `watchdog_interval_s()` -> half of $WATCHDOG_USEC (systemd's advice), or None.
- `GracefulStop` installs SIGTERM/SIGINT handlers once: the first signal asks the pipeline
  to stop gracefully (open tracks are closed, their events committed, the publisher stopped);
  a second signal exits at once (everything already committed is in the outbox: SQLite WAL
  with synchronous=FULL, so an immediate exit loses nothing that was recorded).
- `ReloadOnHangup` makes SIGHUP reload the watchlists instead of ending the process.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class NullNotifier:
    """Off systemd: every notification is a no-op."""

    enabled = False

    def ready(self) -> None: ...

    def watchdog(self) -> None: ...

    def status(self, text: str) -> None: ...

    def stopping(self) -> None: ...


class SystemdNotifier:
    """sd_notify(3) over the datagram socket named by $NOTIFY_SOCKET."""

    enabled = True

    def __init__(self, address: str) -> None:
        if address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace
        self.address = address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._lock = threading.Lock()
        self.failures = 0

    def notify(self, message: str) -> bool:
        with self._lock:
            try:
                self._sock.sendto(message.encode("utf-8", "replace"), self.address)
                return True
            except OSError as exc:
                self.failures += 1
                if self.failures <= 3:
                    log.warning("sd_notify failed: %s", exc)
                return False

    def ready(self) -> None:
        self.notify(f"READY=1\nMAINPID={os.getpid()}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def status(self, text: str) -> None:
        self.notify("STATUS=" + " ".join(text.split()))  # one line

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def close(self) -> None:
        self._sock.close()


def notifier_from_env(environ: dict | None = None) -> NullNotifier | SystemdNotifier:
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return NullNotifier()
    return SystemdNotifier(address)


def watchdog_interval_s(environ: dict | None = None) -> float | None:
    """How often to ping: half of WATCHDOG_USEC, if the watchdog is meant for this process."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid.isdigit() and int(pid) != os.getpid():
        return None
    return max(0.05, int(usec) / 2e6)


class GracefulStop:
    """SIGTERM/SIGINT handling, installed once per process (main thread only).

    First signal: call `on_stop` (must be quick and thread-safe: set flags, close sources).
    Second signal: exit immediately with status 128 + signal number.
    """

    _installed = False

    def __init__(self, on_stop: Callable[[], None]) -> None:
        self.on_stop = on_stop
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> GracefulStop:
        if GracefulStop._installed:
            raise RuntimeError("signal handlers are already installed")
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("signal handlers can only be installed from the main thread")
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        GracefulStop._installed = True
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        GracefulStop._installed = False

    def _handle(self, signum: int, _frame: object) -> None:
        if self.signal is not None:
            os.write(2, f"edge: second {signal.Signals(signum).name}: exiting now\n".encode())
            os._exit(128 + signum)
        self.signal = signum
        os.write(2, f"edge: {signal.Signals(signum).name}: stopping (closing open tracks; "
                    "send again to exit now)\n".encode())
        self.on_stop()

    def __enter__(self) -> GracefulStop:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


class ReloadOnHangup:
    """SIGHUP (`systemctl reload edge`) calls `on_reload`, which must only set a flag: the
    service reloads its watchlists without a restart. Without it SIGHUP would end the process."""

    def __init__(self, on_reload: Callable[[], None]) -> None:
        self.on_reload = on_reload
        self._previous: object = None

    def install(self) -> ReloadOnHangup:
        self._previous = signal.signal(signal.SIGHUP, self._handle)
        return self

    def uninstall(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGHUP, self._previous)
            self._previous = None

    def _handle(self, _signum: int, _frame: object) -> None:
        self.on_reload()


__all__ = ["GracefulStop", "ReloadOnHangup", "NullNotifier", "SystemdNotifier", "notifier_from_env",
           "watchdog_interval_s"]
