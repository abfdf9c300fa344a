"""The published event: a PlateEvent + its seq -> (topic, JSON payload bytes).

The payload follows schemas/edge.read-1.schema.json ("edge.read/1"); docs/events.md explains
every field. Times are RFC 3339 UTC with exactly three fractional digits and a "Z" suffix.
The encoder never raises on odd numbers from a model (NaN, out-of-range confidences): it
clamps them, because an event that cannot be encoded would be an event lost.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from edge.records import GeoFix, PlateEvent

SCHEMA_ID = "edge.read/1"
HEALTH_SCHEMA_ID = "edge.health/1"
CLOCK_STATES = ("ntp", "gps", "unsynced", "video")
LOCATION_SOURCES = ("gpsd", "nmea", "static")
DIRECTIONS = ("approaching", "receding", "left", "right")


def rfc3339_ms(t: datetime) -> str:
    """`2026-11-27T20:38:04.123Z`. Naive datetimes are taken to be UTC already."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _unit(p: float) -> float:
    """A probability in [0, 1], rounded; NaN becomes 0 (we do not trust it)."""
    try:
        p = float(p)
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(p):
        return 0.0
    return round(min(1.0, max(0.0, p)), 4)


def _finite(x: float | None, ndigits: int) -> float | None:
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return round(x, ndigits) if math.isfinite(x) else None


def encode_location(fix: GeoFix | None) -> dict[str, Any]:
    """The `location` object. No position -> source "none", lat/lon/accuracy/fix_time null."""
    lat = _finite(fix.lat, 7) if fix else None
    lon = _finite(fix.lon, 7) if fix else None
    if fix is None or lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return {"lat": None, "lon": None, "accuracy_m": None, "source": "none", "fix_time": None}
    out: dict[str, Any] = {"lat": lat, "lon": lon}
    alt = _finite(fix.alt, 2)
    if alt is not None:
        out["alt"] = alt
    acc = _finite(fix.accuracy_m, 2)
    out["accuracy_m"] = acc if acc is None or acc >= 0 else None
    heading = _finite(fix.heading_deg, 2)
    if heading is not None:
        out["heading_deg"] = round(heading % 360.0, 2)
    speed = _finite(fix.speed_mps, 3)
    if speed is not None and speed >= 0:
        out["speed_mps"] = speed
    out["source"] = fix.source if fix.source in LOCATION_SOURCES else "static"
    out["fix_time"] = rfc3339_ms(fix.fix_utc) if fix.fix_utc is not None else None
    return out


def encode_pass(event: PlateEvent) -> dict[str, Any]:
    """The optional pass attributes: `direction`, `speed` (always labelled an estimate), `vehicle`."""
    out: dict[str, Any] = {}
    d = event.direction
    angle = _finite(d.angle_deg, 1) if d is not None else None
    if d is not None and d.label in DIRECTIONS and angle is not None:
        out["direction"] = {"label": d.label, "angle_deg": angle if angle > -180 else 180.0}
    s = event.speed
    kmh = _finite(s.kmh, 1) if s is not None else None
    err = _finite(s.uncertainty_kmh, 1) if s is not None else None
    if kmh is not None and err is not None and kmh >= 0 and err >= 0:
        out["speed"] = {"kmh": kmh, "uncertainty_kmh": err, "estimate": True}
    c = event.colour
    if c is not None and c.name:
        out["vehicle"] = {"colour": c.name, "colour_confidence": _unit(c.confidence)}
    return out


class EventEncoder:
    """Turns a PlateEvent and its outbox seq into the MQTT topic and payload."""

    def __init__(
        self,
        device_id: str,
        camera: str,
        models: Mapping[str, str],
        topic_prefix: str = "alpr",
    ) -> None:
        if not device_id or any(ch in device_id for ch in "/+#"):
            raise ValueError(f"device id {device_id!r} must be non-empty and contain no '/', '+' or '#'")
        self.device_id = device_id
        self.camera = camera
        self.models = {"detector": str(models.get("detector", "unknown")),
                       "reader": str(models.get("reader", "unknown"))}
        self.topic_prefix = topic_prefix.strip("/")
        self.topic = f"{self.topic_prefix}/{device_id}/read" if self.topic_prefix else f"{device_id}/read"

    def to_dict(self, event: PlateEvent, seq: int) -> dict[str, Any]:
        if seq < 1:
            raise ValueError(f"seq must be >= 1, got {seq}")
        clock = event.clock if event.clock in CLOCK_STATES else "unsynced"
        plate: dict[str, Any] = {"text": event.text, "confidence": _unit(event.confidence)}
        if event.text_hmac_key:  # [privacy] plates = "hashed": `text` is HMAC-SHA256 hex
            plate["hmac"] = {"alg": "HMAC-SHA256", "key_id": event.text_hmac_key}
        if event.region:
            plate["region"] = event.region
        plate["chars"] = [{"c": ch.c, "p": _unit(ch.p)} for ch in event.chars]
        plate["candidates"] = [{"text": c.text, "confidence": _unit(c.confidence)}
                               for c in event.candidates]
        payload: dict[str, Any] = {
            "schema": SCHEMA_ID,
            "id": event.id,
            "seq": int(seq),
            "device": {"id": self.device_id, "camera": event.camera or self.camera},
            "plate": plate,
            "time": {
                "first_seen": rfc3339_ms(event.first_seen),
                "last_seen": rfc3339_ms(event.last_seen),
                "best": rfc3339_ms(event.best_seen),
                "clock": clock,
            },
            "location": encode_location(event.location),
            "frames": {"count": max(1, int(event.frame_count)), "best": max(0, int(event.best_frame_seq))},
            "box": [max(0, v) for v in event.box.as_list()],
            "models": dict(self.models),
        }
        payload.update(encode_pass(event))
        if event.match is not None:
            payload["match"] = {"list": event.match.list, "entry": event.match.entry,
                                "distance": round(max(0.0, float(event.match.distance)), 2)}
        if event.crop_jpeg:
            payload["image"] = base64.b64encode(event.crop_jpeg).decode("ascii")
        return payload

    def encode(self, event: PlateEvent, seq: int) -> tuple[str, bytes]:
        """(topic, compact UTF-8 JSON payload)."""
        body = json.dumps(self.to_dict(event, seq), ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False)
        return self.topic, body.encode("utf-8")
