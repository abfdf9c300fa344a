"""Event sinks between the tracker and the outbox (edge.ports.EventSink), for the wiring in edge.app.

- `MemorySink`: no outbox (`edge read` on videos, `edge bench`): events numbered 1..N in memory.
- `ReplaySink`: file sources (a video, a folder of photos): deterministic event ids, so a file
  replayed after a crash or restart does not store its events twice.
- `CameraSink`: several cameras on one box: tags each event with its camera and serialises
  the shared stages (privacy counters, the outbox) between the cameras' inference threads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from typing import TYPE_CHECKING, Protocol

from edge.ids import pack_uuid7
from edge.records import PlateEvent

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from edge.delivery.durable import DurableSink
    from edge.delivery.event_json import EventEncoder
    from edge.delivery.outbox import StoredEvent
    from edge.ports import EventSink
    from edge.configuration.settings import AppConfig

log = logging.getLogger(__name__)


class MemorySink:
    """A sink with no outbox (edge read on videos): numbers events 1..N in memory."""

    def __init__(self, encoder: EventEncoder) -> None:
        self.encoder = encoder
        self.events: list[dict] = []

    def submit(self, event: PlateEvent) -> dict:
        payload = self.encoder.to_dict(event, len(self.events) + 1)
        self.events.append(payload)
        return payload

    def retry(self) -> None:
        pass

    def close(self) -> None:
        pass


def replay_event_id(identity: str, event: PlateEvent) -> str:
    """A deterministic UUIDv7 for an event from a replayed file: time bits = first_seen (ms),
    random bits = a hash of (file identity, first_seen, text). Replaying the same file gives
    the same ids, so a restart after a crash does not duplicate what was already recorded."""
    ms = int(event.first_seen.timestamp() * 1000) & ((1 << 48) - 1)
    digest = hashlib.sha256(f"{identity}|{ms}|{event.text}".encode()).digest()
    rand_a = int.from_bytes(digest[:2], "big") & 0x0FFF
    rand_b = int.from_bytes(digest[2:10], "big") & ((1 << 62) - 1)
    return str(pack_uuid7(ms, (rand_a << 62) | rand_b))


class ReplaySink:
    """Sink for file sources (video, image folder): deterministic event ids, so an event of the
    same file replayed after a crash or restart has the id it had, and the outbox gives it the
    seq it had instead of storing it again (the outbox remembers ids after pruning their rows).
    Live cameras never use this: their ids are random UUIDv7s made by the tracker. Holds no
    per-event state: memory stays flat however long a looped file plays."""

    def __init__(self, inner: DurableSink, identity: str) -> None:
        self.inner = inner
        self.identity = identity
        self.skipped = 0

    def submit(self, event: PlateEvent) -> StoredEvent | None:
        event = dataclasses.replace(event, id=replay_event_id(self.identity, event))
        stored = self.inner.submit(event)
        if stored is not None and not stored.new:
            self.skipped += 1
            if self.skipped == 1:
                log.info("this file was replayed before: events already in the outbox keep their "
                         "id and seq and are not stored again (delete the outbox to start over)")
        return stored

    def retry(self) -> bool:
        return self.inner.retry()

    def close(self) -> int:
        return self.inner.close()


class FileSource(Protocol):
    """What a file source (edge.sources' video and image folder) says about its file."""

    name: str
    path: Path
    start: datetime  # the start of its timeline


def file_identity(config: AppConfig, source: FileSource, camera: str | None = None) -> str:
    """Which replay this is: the file (name, size) + its timeline start + the device and camera."""
    size = source.path.stat().st_size if source.path.is_file() else 0
    camera = camera if camera is not None else config.device.camera
    return f"{config.device.resolved_id}|{camera}|{source.path.name}|{size}|{source.start}"


class CameraSink:
    """Tags each event with its camera's name and serialises the shared stages (privacy
    counters, the outbox) between the cameras' inference threads."""

    def __init__(self, inner: EventSink, camera: str, lock: threading.Lock) -> None:
        self.inner = inner
        self.camera = camera
        self.lock = lock

    def submit(self, event: PlateEvent) -> object | None:
        with self.lock:
            return self.inner.submit(dataclasses.replace(event, camera=self.camera))

    def retry(self) -> object:
        return self.inner.retry()
