"""Each privacy mode end to end, with real parts: `edge run` as a subprocess on the bundled
fixture video (plates B123ABC, 7ABC123, BRA2E19, AB12CDE) with the shipped models, a real
Mosquitto, the real SQLite outbox. What the device must not keep or publish is looked for in
every MQTT payload, in the raw bytes of the outbox files (-wal and -shm included) after the
run, and in stdout and stderr."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest

from tests.helpers import Collector, Mosquitto, wait_until

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO / "tests" / "fixtures" / "video" / "passes.mp4"
PLATES = ("B123ABC", "7ABC123", "BRA2E19", "AB12CDE")
KEY = b"0123456789abcdef-test-plate-key-0123456789"
READ_SCHEMA = json.loads((REPO / "schemas" / "edge.read-1.schema.json").read_text())
HEALTH_SCHEMA = json.loads((REPO / "schemas" / "edge.health-1.schema.json").read_text())


def _models_present() -> bool:
    from edge.recognition.models.loading import model_paths
    from edge.configuration.settings import AppConfig

    return all(p.is_file() for p in model_paths(AppConfig()))


pytestmark = pytest.mark.skipif(not _models_present(), reason="shipped models not in this checkout")


def hmac_hex(plate: str) -> str:
    """The reference: HMAC-SHA256 from the standard library, over the plate as given."""
    return hmac.new(KEY, plate.encode(), hashlib.sha256).hexdigest()


class Run:
    """One `edge run` on the fixture video: its output, what the broker saw, the outbox files."""

    def __init__(self, tmp_path: Path, broker: Mosquitto | None, privacy: str, extra: str = "") -> None:
        self.dir = tmp_path
        self.state = tmp_path / "state"
        key_file = tmp_path / "plate.key"
        key_file.write_bytes(KEY + b"\n")  # one trailing newline: not part of the key
        mqtt = (f'host = "{broker.host}"\nport = {broker.port}\ntopic_prefix = "privacy-test"\n'
                "health_interval_s = 0.5" if broker else "enabled = false")
        self.config = tmp_path / "edge.toml"
        self.config.write_text(f"""
[device]
id = "priv"

[source]
kind = "video"
path = "{VIDEO}"
start_time = "2026-05-04T07:30:00Z"

[outbox]
path = "{self.state / 'outbox.db'}"

[mqtt]
{mqtt}

[privacy]
key_file = "{key_file}"
{privacy}
{extra}
""")
        self.collector = Collector(broker, "privacy-test/#") if broker else None

    def go(self, *args: str) -> Run:
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        try:
            if self.collector is not None:
                self.collector.wait_subscribed()
            proc = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(self.config), *args],
                                  cwd=self.dir, env=env, capture_output=True, timeout=240)
            self.stdout, self.stderr, self.rc = proc.stdout, proc.stderr, proc.returncode
            if self.collector is not None:
                wait_until(lambda: any(t.endswith("/health") for t, _, _ in self.collector.messages), 5)
        finally:
            if self.collector is not None:
                self.collector.close()
        assert self.rc == 0, self.stderr.decode()
        return self

    @property
    def messages(self) -> list[tuple[str, bytes]]:
        return [(t, p) for t, p, _ in self.collector.messages] if self.collector else []

    def events(self) -> list[dict]:
        if self.collector is not None:
            return self.collector.events()
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith(b"{")]

    def health(self) -> list[dict]:
        return [json.loads(p) for t, p in self.messages if t.endswith("/health")]

    def outbox_bytes(self) -> dict[str, bytes]:
        """Every file SQLite uses for the outbox, as raw bytes (the -wal/-shm may be gone)."""
        return {p.name: p.read_bytes() for p in self.state.glob("outbox.db*")}

    def places(self, text: str) -> list[str]:
        """Everywhere the text was found: payloads, outbox files, stdout, stderr."""
        needle = text.encode()
        found = [f"mqtt {t}" for t, p in self.messages if needle in p]
        found += [name for name, data in self.outbox_bytes().items() if needle in data]
        found += [name for name, data in (("stdout", self.stdout), ("stderr", self.stderr)) if needle in data]
        return found


def test_hashed_mode_publishes_hmacs_and_the_text_is_nowhere(tmp_path, mosquitto):
    run = Run(tmp_path, mosquitto, 'plates = "hashed"').go()
    events = run.events()
    assert len(events) == 4
    for e in events:
        jsonschema.validate(e, READ_SCHEMA)
        assert e["plate"]["chars"] == [] and e["plate"]["candidates"] == []
        assert e["plate"]["hmac"]["alg"] == "HMAC-SHA256"
    assert sorted(e["plate"]["text"] for e in events) == sorted(hmac_hex(p) for p in PLATES)
    for plate in PLATES:
        assert run.places(plate) == [], plate
    assert set(run.outbox_bytes()) >= {"outbox.db"}
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for extra in ([], ["--json"]):
        listed = subprocess.run([sys.executable, "-m", "edge", "outbox", "list", "--db", str(run.state / "outbox.db"),
                                 *extra], capture_output=True, env=env, timeout=60)
        assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 4
        assert not any(p.encode() in listed.stdout + listed.stderr for p in PLATES)
        assert b'"event": "outbox.list"' in listed.stderr
    health = run.health()
    assert health and health[-1]["privacy"]["mode"] == "hashed/all"
    for h in health:
        jsonschema.validate(h, HEALTH_SCHEMA)


def test_hashed_mode_without_a_key_is_a_one_line_error(tmp_path):
    cfg = tmp_path / "edge.toml"
    cfg.write_text('[source]\nkind = "video"\n[mqtt]\nenabled = false\n[privacy]\nplates = "hashed"\n')
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(cfg)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "edge run:" in line]
    assert errors == ['edge run: privacy.key_file: plates = "hashed" needs a key: set privacy.key_file '
                      "or the systemd credential plate-key"]
    assert not (tmp_path / "state" / "outbox.db").exists()  # nothing started


def test_matches_only_publishes_the_one_listed_plate(tmp_path, mosquitto):
    (tmp_path / "stolen.txt").write_text("# test list\n7ABC123\n")
    run = Run(tmp_path, mosquitto, 'publish = "matches"',
              '[[watchlist]]\nname = "stolen"\npath = "stolen.txt"\nmax_distance = 1\n').go()
    events = run.events()
    assert [e["plate"]["text"] for e in events] == ["7ABC123"]
    assert events[0]["match"] == {"list": "stolen", "entry": "7ABC123", "distance": 0.0}
    assert events[0]["seq"] == 1  # nothing else was ever stored
    jsonschema.validate(events[0], READ_SCHEMA)
    for plate in ("B123ABC", "BRA2E19", "AB12CDE"):
        assert run.places(plate) == [], plate
    with sqlite3.connect(run.state / "outbox.db") as db:
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] <= 1
    privacy = run.health()[-1]["privacy"]
    assert privacy["mode"] == "clear/matches" and privacy["watchlists"] == {"stolen": 1}
    assert b"3 more matched no watchlist" in run.stderr


def test_a_read_two_glyphs_off_matches_within_max_distance(tmp_path):
    """The list holds 7ABC128: the video's 7ABC123 is one substitution (3/8) away."""
    (tmp_path / "near.txt").write_text("7ABC128\n")
    run = Run(tmp_path, None, 'publish = "matches"',
              '[[watchlist]]\nname = "near"\npath = "near.txt"\nmax_distance = 1\n').go()
    events = run.events()
    assert [(e["plate"]["text"], e["match"]) for e in events] == [
        ("7ABC123", {"list": "near", "entry": "7ABC128", "distance": 1.0})]


def test_hmac_line_watchlist_matches_exactly_in_hashed_mode(tmp_path):
    # the back-end makes the list with the key; the device never holds a plain entry
    (tmp_path / "plain.txt").write_text("7ABC123\n7ABC128\n")
    (tmp_path / "key").write_bytes(KEY)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    made = subprocess.run([sys.executable, "-m", "edge", "privacy", "hash", "--key-file", str(tmp_path / "key")],
                          input=(tmp_path / "plain.txt").read_bytes(), capture_output=True, env=env, timeout=60)
    assert made.returncode == 0, made.stderr
    assert sorted(made.stdout.decode().split()) == sorted([hmac_hex("7ABC123"), hmac_hex("7ABC128")])
    (tmp_path / "stolen.hmac").write_bytes(made.stdout)
    run = Run(tmp_path, None, 'plates = "hashed"\npublish = "matches"',
              '[[watchlist]]\nname = "stolen"\npath = "stolen.hmac"\n').go()
    events = run.events()
    assert len(events) == 1  # 7ABC128's HMAC matches nothing: HMAC lines match exactly
    assert events[0]["plate"]["text"] == hmac_hex("7ABC123")
    assert events[0]["match"] == {"list": "stolen", "entry": hmac_hex("7ABC123"), "distance": 0.0}
    for plate in PLATES:
        assert run.places(plate) == [], plate


@pytest.mark.parametrize("keep_sent_h", [0.0, 1e-6])
def test_retention_deletes_delivered_rows_and_their_bytes(tmp_path, mosquitto, keep_sent_h):
    run = Run(tmp_path, mosquitto, f"keep_sent_h = {keep_sent_h}").go()
    assert sorted(e["plate"]["text"] for e in run.events()) == sorted(PLATES)
    with sqlite3.connect(run.state / "outbox.db") as db:
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
        assert db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0] == 4
    for plate in PLATES:
        assert [p for p in run.places(plate) if p.startswith("outbox")] == [], plate


def test_default_retention_keeps_delivered_rows_for_replay(tmp_path, mosquitto):
    """The control for the test above: the same run keeps the texts when they are to be kept,
    so the byte search does find them when they are there."""
    run = Run(tmp_path, mosquitto, "").go()
    with sqlite3.connect(run.state / "outbox.db") as db:
        assert db.execute("SELECT count(*) FROM events WHERE sent_at IS NOT NULL").fetchone()[0] == 4
    for plate in PLATES:
        assert "outbox.db" in run.places(plate), plate


def test_image_is_a_small_jpeg_of_the_plate_only(tmp_path):
    run = Run(tmp_path, None, "image = true\nimage_width = 200").go()
    events = run.events()
    assert len(events) == 4
    for e in events:
        jsonschema.validate(e, READ_SCHEMA)
        data = base64.b64decode(e["image"])
        assert data[:2] == b"\xff\xd8" and len(data) < 12_000
        crop = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        h, w = crop.shape[:2]
        _, _, bw, bh = e["box"]
        # the plate's box, scaled to at most 200 px wide: not the 960 x 540 frame
        scale = min(1.0, 200 / bw)
        assert abs(w - round(bw * scale)) <= 2 and abs(h - round(bh * scale)) <= 2, (w, h, e["box"])


def test_no_image_by_default(tmp_path):
    run = Run(tmp_path, None, "").go()
    assert len(run.events()) == 4 and all("image" not in e for e in run.events())


def test_health_names_the_mode_and_counts_suppressed_reads(tmp_path):
    """In process (no broker): the `privacy` field of health after a matches-only run."""
    from edge.app import Application
    from edge.configuration.settings import build_config

    (tmp_path / "stolen.txt").write_text("7ABC123\n")
    config = build_config({"device": {"id": "priv"}, "source": {"kind": "video", "path": str(VIDEO)},
                           "outbox": {"path": str(tmp_path / "outbox.db")}, "mqtt": {"enabled": False},
                           "privacy": {"publish": "matches"},
                           "watchlist": [{"name": "stolen", "path": str(tmp_path / "stolen.txt")}]})
    printed = []
    out = type("Out", (), {"write": lambda self, s: printed.append(s), "flush": lambda self: None})()
    app = Application(config, print_events=True, out=out)
    try:
        app.open()
        app.run()
        health = app.health()
    finally:
        app.close()
    assert health["privacy"] == {"mode": "clear/matches", "plates": "clear", "publish": "matches",
                                 "image": False, "keep_sent_h": 24.0, "matched": 1, "suppressed": 3,
                                 "watchlists": {"stolen": 1}, "watchlist_reload_errors": 0}
    assert len([p for p in printed if p.startswith("{")]) == 1
