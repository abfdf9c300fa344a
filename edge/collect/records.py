"""A received read: the `edge.read/1` payload checked and flattened into database columns.

Only what the database needs is checked (id, seq, device, best time); the full JSON Schema is
the device's contract, and a consumer must accept optional fields it does not know.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from dataclasses import dataclass
from typing import Any


class BadRead(ValueError):
    """A payload that is not a usable `edge.read/1` event (one-line message)."""


@dataclass(frozen=True, slots=True)
class CollectedRead:
    id: str
    device: str
    seq: int
    camera: str | None
    plate: str
    confidence: float | None
    region: str | None
    time_best: str
    first_seen: str | None
    last_seen: str | None
    clock: str | None
    lat: float | None
    lon: float | None
    alt: float | None
    accuracy_m: float | None
    heading_deg: float | None
    speed_mps: float | None
    location_source: str | None
    fix_time: str | None
    topic: str
    payload: str  # the JSON exactly as received, so nothing the device sent is lost


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _time(value: Any) -> str | None:
    """An RFC 3339 time as sent, or None when it does not parse (a database column is typed)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return value if parsed.tzinfo is not None else None


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def parse_read(topic: str, payload: bytes) -> CollectedRead:
    """The CollectedRead in a `{prefix}/{device}/read` message; BadRead if it cannot be stored."""
    try:
        text = payload.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRead(f"{topic}: payload is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadRead(f"{topic}: payload is not a JSON object")
    schema = data.get("schema")
    if not (isinstance(schema, str) and schema.startswith("edge.read/")):
        raise BadRead(f"{topic}: schema {schema!r} is not edge.read/N")
    event_id = data.get("id")
    try:
        event_id = str(uuid.UUID(str(event_id)))
    except ValueError:
        raise BadRead(f"{topic}: id {event_id!r} is not a UUID") from None
    seq = data.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise BadRead(f"{topic}: seq {seq!r} is not an integer >= 1")
    device = _table(data, "device")
    device_id = device.get("id")
    if not isinstance(device_id, str) or not device_id:
        raise BadRead(f"{topic}: device.id is missing")
    times = _table(data, "time")
    best = _time(times.get("best"))
    if best is None:
        raise BadRead(f"{topic}: time.best {times.get('best')!r} is not an RFC 3339 time")
    plate = _table(data, "plate")
    where = _table(data, "location")
    return CollectedRead(
        id=event_id, device=device_id, seq=seq, camera=_text(device.get("camera")),
        plate=_text(plate.get("text")) or "", confidence=_number(plate.get("confidence")),
        region=_text(plate.get("region")), time_best=best, first_seen=_time(times.get("first_seen")),
        last_seen=_time(times.get("last_seen")), clock=_text(times.get("clock")),
        lat=_number(where.get("lat")), lon=_number(where.get("lon")), alt=_number(where.get("alt")),
        accuracy_m=_number(where.get("accuracy_m")), heading_deg=_number(where.get("heading_deg")),
        speed_mps=_number(where.get("speed_mps")), location_source=_text(where.get("source")),
        fix_time=_time(where.get("fix_time")), topic=topic, payload=text)
