"""What the MQTT connection did, said once in the log and counted for health: reconnections
(with how long the device was offline) and take-overs of its client id by another client
(MQTT 5 reason 0x8E "Session taken over": two boxes with the same device id)."""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("edge.mqtt")

SESSION_TAKEN_OVER = 0x8E
RECONNECT_LOG_EVERY_S = 5.0  # a flapping link: at most one reconnect line this often


def is_takeover(reason: Any) -> bool:
    value = getattr(reason, "value", reason)
    return value == SESSION_TAKEN_OVER or "taken over" in str(reason).lower()


class ConnectionLog:
    def __init__(self, broker: str, client_id: str) -> None:
        self.broker = broker
        self.client_id = client_id
        self.reconnects = 0
        self.takeovers = 0
        self._down_since: float | None = None
        self._last_line = -1e9
        self._unlogged = 0
        self._last_takeover_line = -1e9

    def connected(self, first: bool) -> None:
        now = time.monotonic()
        if first:
            log.info("mqtt: connected to %s as client id %s", self.broker, self.client_id)
        else:
            self.reconnects += 1
            offline = f" after {now - self._down_since:.1f} s offline" if self._down_since else ""
            if now - self._last_line >= RECONNECT_LOG_EVERY_S:
                more = f" ({self._unlogged} more reconnects since the last line)" if self._unlogged else ""
                log.info("mqtt: reconnected to %s%s (reconnect %d)%s; re-publishing unacknowledged "
                         "events", self.broker, offline, self.reconnects, more)
                self._unlogged = 0
                self._last_line = now
            else:
                self._unlogged += 1
        self._down_since = None

    def foreign(self, instance: str) -> None:
        """Another installation's recent status on our topic: it uses our device id."""
        self._taken_over(f"another box (installation {instance}) is online with this device id")

    def disconnected(self, reason: Any) -> bool:
        """Note a lost connection; True when it was a take-over of our client id."""
        if self._down_since is None:
            self._down_since = time.monotonic()
        if not is_takeover(reason):
            return False
        self._taken_over("the broker says another client connected with it")
        return True

    def _taken_over(self, how: str) -> None:
        self.takeovers += 1
        now = time.monotonic()
        if self.takeovers > 1 and now - self._last_takeover_line < 30.0:
            return  # flapping between two boxes: one line per 30 s, with the count
        self._last_takeover_line = now
        log.error("mqtt: client id taken over: %s (client id %r on %s, %d time(s)); two boxes with the "
                  "same device id? Give each box its own [device] id", how, self.client_id, self.broker,
                  self.takeovers)
