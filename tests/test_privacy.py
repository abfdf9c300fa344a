"""The [privacy] section, the plate key, the HMAC, and the privacy stage on real events."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from edge.configuration.validation import ConfigError
from edge.delivery.event_json import EventEncoder
from edge.privacy import PlateHasher, PrivacyConfig, normalise, read_key
from edge.privacy_stage import PrivacySink, PrivacyStage, open_privacy, preview_label
from edge.records import PlateRead
from edge.configuration.settings import build_config
from edge.watchlist import WatchlistConfig, Watchlists
from tests.helpers import make_event

KEY = b"privacy-unit-test-key-0123456789"
ENC = EventEncoder("dev", "cam", {"detector": "d", "reader": "r"})


def test_normalised_text_and_hmac_match_the_standard_library():
    assert normalise("ab-12 cde") == "AB12CDE" and normalise("7·abc·123") == "7ABC123"
    hasher = PlateHasher(KEY)
    want = hmac.new(KEY, b"AB12CDE", hashlib.sha256).hexdigest()
    assert hasher.digest("ab 12-cde") == want == hasher.digest("AB12CDE")
    assert len(hasher.key_id) == 8 and hasher.key_id not in repr(KEY)
    assert PlateHasher(KEY + b"x").key_id != hasher.key_id  # a rotated key is told apart
    assert "privacy-unit" not in repr(hasher)


def test_key_file_bytes_with_one_trailing_newline_ignored(tmp_path):
    f = tmp_path / "k"
    f.write_bytes(KEY + b"\n")
    assert read_key(PrivacyConfig(key_file=str(f))) == KEY
    f.write_bytes(KEY + b"\n\n")  # only one is ignored
    assert read_key(PrivacyConfig(key_file=str(f))) == KEY + b"\n"
    f.write_bytes(b"short\n")
    with pytest.raises(ConfigError, match=r"^privacy\.key_file: the key in .* is 5 bytes; use at least 16"):
        read_key(PrivacyConfig(key_file=str(f)))
    with pytest.raises(ConfigError, match=r"^privacy\.key_file: cannot read .*missing"):
        read_key(PrivacyConfig(key_file=str(tmp_path / "missing")))


def test_key_from_the_systemd_credential(tmp_path, monkeypatch):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "plate-key").write_bytes(KEY + b"\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert read_key(PrivacyConfig()) == KEY
    parts = open_privacy(PrivacyConfig(plates="hashed"), (), watch=False)
    assert parts.stage.hasher.digest("AB12CDE") == PlateHasher(KEY).digest("AB12CDE")


@pytest.mark.parametrize("data, message", [
    ({"privacy": {"plates": "sha"}}, r"^privacy\.plates: 'sha' is not one of 'clear', 'hashed'$"),
    ({"privacy": {"publish": "some"}}, r"^privacy\.publish: 'some' is not one of 'all', 'matches'$"),
    ({"privacy": {"keyfile": "x"}}, r"^privacy\.keyfile: unknown key \(did you mean 'key_file'\?\)$"),
    ({"privacy": {"keep_sent_h": -1}}, r"^privacy\.keep_sent_h: must be >= 0 hours"),
    ({"privacy": {"image": "yes"}}, r"^privacy\.image: expected true or false"),
    ({"privacy": {"plates": "hashed", "image": True}}, r'^privacy\.image: a plate image shows the text'),
    ({"privacy": {"publish": "matches"}}, r'^privacy\.publish: "matches" needs at least one \[\[watchlist\]\]'),
])
def test_privacy_config_errors_are_one_line_naming_the_key(data, message):
    with pytest.raises(ConfigError, match=message) as exc:
        build_config(data)
    assert "\n" not in str(exc.value)


def test_contract_defaults():
    p = build_config({}).privacy
    assert (p.plates, p.key_file, p.publish, p.keep_sent_h, p.image) == ("clear", "", "all", 24.0, False)


def _lists(tmp_path: Path, text: str, hasher: PlateHasher | None = None) -> Watchlists:
    path = tmp_path / "stolen.txt"
    path.write_text(text)
    return Watchlists([WatchlistConfig("stolen", str(path), 1.0)], hasher)


def test_hashed_stage_keeps_no_plain_text_in_the_payload(tmp_path):
    hasher = PlateHasher(KEY)
    stage = PrivacyStage(PrivacyConfig(plates="hashed"), _lists(tmp_path, "AB12CDF\n"), hasher)
    out = stage.apply(make_event("AB12CDE"))
    payload = json.loads(ENC.encode(out, 1)[1])
    assert payload["plate"]["text"] == hasher.digest("AB12CDE")
    assert payload["plate"]["hmac"] == {"alg": "HMAC-SHA256", "key_id": hasher.key_id}
    assert payload["plate"]["chars"] == [] and payload["plate"]["candidates"] == []
    # the matched plain entry is hashed too, or it would publish a neighbour of the plate
    assert payload["match"] == {"list": "stolen", "entry": hasher.digest("AB12CDF"), "distance": 1.0}
    raw = ENC.encode(out, 1)[1]
    assert b"AB12CD" not in raw and b"EDC21BA" not in raw  # candidates held the reversed text


def test_matches_only_stage_drops_and_counts(tmp_path):
    stage = PrivacyStage(PrivacyConfig(publish="matches"), _lists(tmp_path, "7ABC123\n"))
    stored = []
    sink = PrivacySink(type("S", (), {"submit": lambda self, e: stored.append(e) or e})(), stage)
    assert sink.submit(make_event("B123ABC")) is None
    assert sink.submit(make_event("7ABC128")).match.distance == 1.0
    assert [e.text for e in stored] == ["7ABC128"]
    h = stage.health()
    assert (h["mode"], h["matched"], h["suppressed"], h["watchlists"]) == ("clear/matches", 1, 1, {"stolen": 1})


def test_image_only_when_enabled_and_the_pixels_never_leave_the_stage():
    crop = np.full((40, 180, 3), 200, np.uint8)
    event = dataclasses.replace(make_event("AB12CDE"), crop=crop)
    off = PrivacyStage(PrivacyConfig()).apply(event)
    assert off.crop is None and off.crop_jpeg is None
    on = PrivacyStage(PrivacyConfig(image=True, image_width=90)).apply(event)
    assert on.crop is None and on.crop_jpeg[:2] == b"\xff\xd8"
    import cv2

    assert cv2.imdecode(np.frombuffer(on.crop_jpeg, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (20, 90)
    assert json.loads(ENC.encode(on, 1)[1])["image"].startswith("/9j/")


def test_preview_labels_follow_the_mode(tmp_path):
    key = tmp_path / "k"
    key.write_bytes(KEY)
    hashed = preview_label(PrivacyConfig(plates="hashed", key_file=str(key)))
    assert hashed("AB12CDE") == "#" + PlateHasher(KEY).digest("AB12CDE")[:8]
    assert PrivacyStage(PrivacyConfig(publish="matches"), _lists(tmp_path, "X1\n")).display("AB12CDE") == "*" * 7
    assert PrivacyStage(PrivacyConfig()).display("AB12CDE") == "AB12CDE"

    from edge.preview import PreviewHub
    from edge.records import BoundingBox

    hub = PreviewHub(label=hashed)
    hub.publish(np.zeros((90, 160, 3), np.uint8),
                [PlateRead("AB12CDE", (), 0.9, BoundingBox(10, 10, 60, 15), 0.9, 1)])
    assert "AB12CDE" not in json.dumps(hub.detections())
    assert hub.jpeg() is not None  # the drawn label is the masked one (no text to find in pixels)


def test_logs_of_a_hashed_stage_hold_no_plate(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    stage = PrivacyStage(PrivacyConfig(plates="hashed", publish="matches"),
                         _lists(tmp_path, "7ABC123\n", PlateHasher(KEY)), PlateHasher(KEY))
    for text in ("7ABC123", "B123ABC"):
        stage.apply(make_event(text))
    assert "7ABC123" not in caplog.text and "B123ABC" not in caplog.text


def test_doctor_reports_the_privacy_mode(tmp_path):
    from edge.commands.doctor import check_privacy

    key = tmp_path / "k"
    key.write_bytes(KEY)
    (tmp_path / "l.txt").write_text("7ABC123\nB123ABC\n")
    config = build_config({"privacy": {"plates": "hashed", "key_file": str(key), "publish": "matches"},
                           "watchlist": [{"name": "stolen", "path": str(tmp_path / "l.txt")}]})
    level, text = check_privacy(config)
    assert level == "OK"
    assert text == (f"hashed/matches, key {PlateHasher(KEY).key_id}, watchlists stolen (2), "
                    "delivered events kept 24 h")
    assert check_privacy(build_config({}))[0] == "WARN"
