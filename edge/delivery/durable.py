"""The pipeline's event sink: `submit(event)` commits the event to the outbox, then wakes the
publisher. Returns the StoredEvent once it is durable.

If the outbox cannot be written (disk full even after giving up its reserve, state directory
gone read-only), `submit` logs one line per distinct error, keeps the event in a bounded
in-memory backlog, returns None and keeps running. The backlog is retried, in order, on a timer
(`retry_s`) and on the next submit; its size and the error appear in `outbox.stats()` (hence in
health) and in the loss ledger (so even a crash cannot hide it).

Nothing is dropped silently: an event pushed out of a full backlog, or still unstored at
`close()`, goes to the spill folder if there is one, else it is LOST and counted: the next
stored event skips that many seqs and the outbox's persisted `lost` counter says why;
`close()` returns how many were lost in this run (the exit status of `edge run`).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from edge.delivery.event_json import EventEncoder
from edge.delivery.outbox import Outbox, OutboxError, StoredEvent
from edge.records import PlateEvent
from edge.delivery.spill import write_spill

log = logging.getLogger("edge.durable")  # the name the logs have always carried


class DurableSink:
    def __init__(self, outbox: Outbox, encoder: EventEncoder,
                 notify_publisher: Callable[[], None] | None = None, max_unstored: int = 10_000,
                 retry_s: float | None = None, spill_path: Path | None = None) -> None:
        self.outbox = outbox
        self.encoder = encoder
        self.notify_publisher = notify_publisher
        self.retry_s = retry_s if retry_s is not None else outbox.config.retry_s
        self.spill_path = spill_path if spill_path is not None else outbox.config.spill_path
        self._backlog: deque[PlateEvent] = deque()
        self._max_unstored = max_unstored
        self.lost = 0  # events lost in this run (never stored, never spilled)
        self.spilled = 0
        self._lost_ungapped = 0  # lost, and the outbox has not skipped their seqs yet
        self._logged_error: str | None = None
        self._lock = threading.Lock()
        self._timer: threading.Thread | None = None
        self._closed = threading.Event()

    @property
    def unstored(self) -> int:
        return len(self._backlog)

    def submit(self, event: PlateEvent) -> StoredEvent | None:
        with self._lock:
            self._backlog.append(event)
            if len(self._backlog) > self._max_unstored:
                self._give_up([self._backlog.popleft()], "the in-memory backlog is full")
            stored = self._flush_locked()
            waiting = bool(self._backlog)
        if waiting:
            self._start_timer()
        if stored is not None and self.notify_publisher is not None:
            self.notify_publisher()
        return stored

    def _flush_locked(self) -> StoredEvent | None:
        """Store the backlog in order; the last one stored (this submit's event), or None."""
        last = None
        try:
            while self._backlog:
                last = self.outbox.append(self._backlog[0], self.encoder, skip=self._lost_ungapped)
                self._backlog.popleft()
                self._lost_ungapped = 0
        except OutboxError as exc:
            msg = str(exc)
            if msg != self._logged_error:
                log.error("%s (%d event(s) waiting in memory)", msg, len(self._backlog))
                self._logged_error = msg
            self.outbox.report_unstored(len(self._backlog), msg, self._lost_ungapped)
            return None
        if self._logged_error is not None:
            log.info("outbox: writable again; stored the events that were waiting in memory")
            self._logged_error = None
            self.outbox.ensure_reserve()
        self.outbox.report_unstored(0, None, 0)
        return last

    def _give_up(self, events: list[PlateEvent], why: str) -> None:
        """Spill events that cannot be stored, or count them lost (never silently)."""
        if not events:
            return
        if self.spill_path is not None:
            items = [(e.id, self.encoder.topic, self.encoder.to_dict(e, 1)) for e in events]
            try:
                self.spilled += write_spill(Path(self.spill_path), items)
                log.warning("outbox: %s: %d event(s) spilled to %s (stored at the next start)",
                            why, len(events), self.spill_path)
                return
            except OSError as exc:
                log.error("outbox: cannot spill to %s: %s", self.spill_path, exc.strerror or exc)
        self.lost += len(events)
        self._lost_ungapped += len(events)
        log.error("outbox: %s: %d event(s) LOST (%d in this run); counted as outbox.lost, and their "
                  "seqs are skipped", why, len(events), self.lost)

    def _start_timer(self) -> None:
        with self._lock:
            if self._timer is not None or self._closed.is_set():
                return
            self._timer = threading.Thread(target=self._retry_loop, name="outbox-retry", daemon=True)
            self._timer.start()

    def _retry_loop(self) -> None:
        """Events wait in memory: try again every retry_s, not only when the next car passes."""
        while not self._closed.wait(self.retry_s):
            if self.retry():
                break
        with self._lock:
            self._timer = None

    def retry(self) -> bool:
        """Try to store the in-memory backlog now. True when nothing is left waiting."""
        with self._lock:
            if self._backlog:
                if self._flush_locked() is not None and self.notify_publisher is not None:
                    self.notify_publisher()
            return not self._backlog

    def close(self) -> int:
        """Last try to store what waits in memory; spill or count the rest. Returns the events
        lost in this run (0 = every event created was stored or spilled)."""
        self._closed.set()
        with self._lock:
            if self._backlog:
                self._flush_locked()
            if self._backlog:
                left, self._backlog = list(self._backlog), deque()
                self._give_up(left, "stopping with the outbox unwritable")
            self.outbox.report_unstored(0, self._logged_error, self._lost_ungapped)
        return self.lost
