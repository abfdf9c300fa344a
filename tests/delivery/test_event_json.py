"""The published payload: shape, times, location rules, and validity against the repo's schemas."""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from edge.delivery.event_json import EventEncoder, rfc3339_ms
from edge.records import GeoFix
from tests.helpers import make_event

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


READ = validator("edge.read-1.schema.json")
ENC = EventEncoder("pi-cam-01", "north-gate", {"detector": "plate_detector-v1", "reader": "plate_reader-v1"})
FIX = GeoFix(lat=51.5007292, lon=-0.1246254, alt=12.3, speed_mps=8.5, heading_deg=271.5, accuracy_m=3.2,
             fix_utc=datetime(2026, 11, 27, 20, 0, 0, 500000, tzinfo=timezone.utc), source="nmea")


def test_rfc3339_milliseconds_utc_z():
    t = datetime(2026, 1, 2, 3, 4, 5, 678999, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339_ms(t) == "2026-01-02T01:04:05.678Z"
    assert rfc3339_ms(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"  # naive = UTC


def test_full_payload_matches_contract_and_schema():
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 40 + b"\xff\xd9"
    event = make_event("AB12CDE", location=FIX, crop_jpeg=jpeg)
    topic, payload = ENC.encode(event, 7)
    assert topic == "alpr/pi-cam-01/read"
    d = json.loads(payload)
    READ.validate(d)
    assert d["schema"] == "edge.read/1" and d["id"] == event.id and d["seq"] == 7
    assert d["device"] == {"id": "pi-cam-01", "camera": "north-gate"}
    assert d["plate"]["text"] == "AB12CDE" and d["plate"]["region"] == "uk"
    assert [c["c"] for c in d["plate"]["chars"]] == list("AB12CDE")
    assert d["plate"]["candidates"][0] == {"text": "AB12CDE", "confidence": 0.9}
    assert d["time"] == {"first_seen": "2026-11-27T20:00:00.123Z", "last_seen": "2026-11-27T20:00:01.623Z",
                         "best": "2026-11-27T20:00:00.623Z", "clock": "video"}
    assert d["location"] == {"lat": 51.5007292, "lon": -0.1246254, "alt": 12.3, "accuracy_m": 3.2,
                             "heading_deg": 271.5, "speed_mps": 8.5, "source": "nmea",
                             "fix_time": "2026-11-27T20:00:00.500Z"}
    assert d["frames"] == {"count": 12, "best": 40}
    assert d["box"] == [812, 641, 180, 45]
    assert d["models"] == {"detector": "plate_detector-v1", "reader": "plate_reader-v1"}
    assert base64.b64decode(d["image"]) == jpeg


def test_no_position_is_source_none_with_nulls_and_validates():
    d = json.loads(ENC.encode(make_event(location=None, region=None), 1)[1])
    READ.validate(d)
    assert d["location"] == {"lat": None, "lon": None, "accuracy_m": None, "source": "none", "fix_time": None}
    assert "region" not in d["plate"] and "image" not in d


def test_odd_numbers_are_clamped_not_fatal():
    import dataclasses

    fix = dataclasses.replace(FIX, alt=None, accuracy_m=None, heading_deg=-90.0, speed_mps=float("nan"))
    event = dataclasses.replace(make_event(location=fix), confidence=float("nan"), clock="weird")
    d = json.loads(ENC.encode(event, 3)[1])
    READ.validate(d)
    assert d["plate"]["confidence"] == 0.0 and d["time"]["clock"] == "unsynced"
    assert d["location"]["heading_deg"] == 270.0 and "speed_mps" not in d["location"] and "alt" not in d["location"]
    assert d["location"]["accuracy_m"] is None
    bad = dataclasses.replace(FIX, lat=math.inf)
    assert json.loads(ENC.encode(make_event(location=bad), 4)[1])["location"]["source"] == "none"


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("seq"),
    lambda d: d.__setitem__("seq", 0),
    lambda d: d.__setitem__("id", "not-a-uuid"),
    lambda d: d["time"].__setitem__("best", "2026-11-27T20:00:00Z"),  # no milliseconds
    lambda d: d["location"].__setitem__("lat", None),  # null lat with a real source
    lambda d: d["location"].__setitem__("source", "wifi"),
    lambda d: d["plate"].__setitem__("confidence", 1.5),
    lambda d: d.__setitem__("box", [1, 2, 3]),
    lambda d: d.__setitem__("extra", 1),
])
def test_schema_rejects_contract_violations(mutate):
    d = json.loads(ENC.encode(make_event(location=FIX), 5)[1])
    READ.validate(d)
    mutate(d)
    with pytest.raises(jsonschema.ValidationError):
        READ.validate(d)


def test_schema_rejects_none_source_with_coordinates():
    d = json.loads(ENC.encode(make_event(location=None), 5)[1])
    d["location"]["lat"] = 1.0
    with pytest.raises(jsonschema.ValidationError):
        READ.validate(d)


def test_status_and_health_schemas():
    status = validator("edge.status-1.schema.json")
    status.validate("online")
    status.validate("offline")
    with pytest.raises(jsonschema.ValidationError):
        status.validate("up")
    health = validator("edge.health-1.schema.json")
    with pytest.raises(jsonschema.ValidationError):
        health.validate({"schema": "edge.health/1"})


def test_topic_prefix_and_bad_device_id():
    assert EventEncoder("d1", "c", {}, topic_prefix="fleet/alpr/").topic == "fleet/alpr/d1/read"
    with pytest.raises(ValueError):
        EventEncoder("a/b", "c", {})
