"""Helpers the tests share, in one module: no test imports another test module. Fixtures stay
in tests/conftest.py (which imports what it needs from here); benchmarks that reuse a test's
set-up import it from here too.

- paths and waiting: REPO, free_port, find_binary, wait_until
- a real Mosquitto and a paho subscriber: TlsFiles, Mosquitto, Collector
- events: make_event
- the synthetic clip of three passes and its colour-plate models (make_clip, VEHICLES,
  ColourPlateDetector, HueTableReader), and the plugins a config names by
  "tests.helpers:<factory>": detector_plugin, reader_plugin, slow_detector_plugin, still_detector_plugin
- `edge` as a subprocess: write_config, start_edge, NotifyListener (the systemd side of sd_notify)
- MQTT delivery: READ_SCHEMA, HEALTH_SCHEMA, USERS, fast_config, password_file, Rig,
  assert_all_arrived, start_gated
- the tracker on frames with exact times: FrameClock, plate_read, Located, new_tracker, drain
- GPS: dist_m, write_truth_log, FakeGpsd, tpv
- the collector's rows: read_payload, collected_read
- images: fixture_plates, turned_on_grey, scene_labels, photo_of_small_scenes, with_exif_orientation
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2
import jsonschema
import numpy as np
import pytest

from edge.delivery.durable import DurableSink
from edge.delivery.event_json import EventEncoder
from edge.delivery.mqtt import MqttConfig, MqttPublisher
from edge.delivery.outbox import Outbox, OutboxConfig
from edge.records import BoundingBox, CharConfidence, Frame, GeoFix, PlateDetection, PlateRead, PlateText

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


# ---------------------------------------------------------------------------- paths and waiting


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None)


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# ---------------------------------------------------------------------------- a real broker


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path  # a CA that did NOT sign the server certificate


class Mosquitto:
    """One private mosquitto process on 127.0.0.1:<port>, with its own config and directory."""

    def __init__(self, workdir: Path, port: int | None = None, *, users: dict[str, str] | None = None,
                 acl: str | None = None, tls: TlsFiles | None = None) -> None:
        binary = find_binary("mosquitto")
        if binary is None:
            pytest.fail("mosquitto is not installed: run `scripts/mosquitto.sh install` "
                        "(apt-get install -y mosquitto mosquitto-clients)", pytrace=False)
        self.binary = binary
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.users = users
        self.acl = acl
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = self.dir / "mosquitto.conf"
        self.log = self.dir / "mosquitto.log"
        self.starts = 0

    # -- configuration
    def _write_passwords(self) -> None:
        assert self.users is not None
        pw = self.dir / "passwords"
        pw.write_text("")
        passwd = find_binary("mosquitto_passwd")
        if passwd is None:
            pytest.fail("mosquitto_passwd is missing (Debian package mosquitto)", pytrace=False)
        for user, password in self.users.items():
            subprocess.run([passwd, "-b", str(pw), user, password], check=True, capture_output=True)

    def write_config(self) -> None:
        lines = [f"listener {self.port} {self.host}", "persistence false", f"log_dest file {self.log}",
                 "log_type error", "log_type warning", "log_type notice", "log_type information",
                 "max_queued_messages 100000"]  # (0 = unlimited trips a mosquitto 2.0.11 bug with MQTT 5)
        if os.geteuid() == 0:
            lines.append("user root")  # otherwise mosquitto drops to user 'mosquitto' and cannot read our files
        if self.users is not None:
            self._write_passwords()
            lines += ["allow_anonymous false", f"password_file {self.dir / 'passwords'}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl is not None:
            (self.dir / "acl").write_text(self.acl)
            lines.append(f"acl_file {self.dir / 'acl'}")
        if self.tls is not None:
            lines += [f"cafile {self.tls.ca}", f"certfile {self.tls.cert}", f"keyfile {self.tls.key}"]
        self.conf.write_text("\n".join(lines) + "\n")

    def set_users(self, users: dict[str, str], reload: bool = True) -> None:
        """Rewrite the password file; mosquitto re-reads it on SIGHUP."""
        self.users = users
        self._write_passwords()
        if reload:
            self.reload()

    # -- lifecycle
    def start(self, timeout: float = 10.0) -> Mosquitto:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.write_config()
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.starts += 1

        def listening() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()}"  # type: ignore[union-attr]
                                   f"{self.log.read_text() if self.log.exists() else ''}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return True
            except OSError:
                return False

        if not wait_until(listening, timeout):
            raise RuntimeError(f"mosquitto did not listen on {self.port}; log: {self.log}")
        return self

    def kill(self) -> None:
        """SIGKILL: a crash, not a clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def restart(self) -> Mosquitto:
        self.kill()
        return self.start()

    def reload(self) -> None:
        assert self.proc is not None and self.proc.poll() is None
        self.proc.send_signal(signal.SIGHUP)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Collector:
    """A paho subscriber (like mosquitto_sub -v) that keeps every message and re-subscribes
    after each reconnect. `subscriptions` counts SUBACKs, so a test can wait for it to be ready."""

    def __init__(self, broker: Mosquitto, topic: str = "#", *, username: str | None = None,
                 password: str | None = None, ca: Path | None = None, client_id: str | None = None) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.topic = topic
        self.messages: list[tuple[str, bytes, bool]] = []
        self.subscriptions = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"collector-{os.getpid()}-{id(self)}",
                                  protocol=mqtt.MQTTv311)
        if username:
            self.client.username_pw_set(username, password)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca))
        self.client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect_async(broker.host, broker.port, keepalive=10)
        self.client.loop_start()

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, *_args: Any) -> None:
        with self._lock:
            self.subscriptions += 1

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def wait_subscribed(self, count: int = 1, timeout: float = 10.0) -> None:
        assert wait_until(lambda: self.subscriptions >= count, timeout), "collector did not subscribe"

    def payloads(self, suffix: str = "/read") -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if t.endswith(suffix)]

    def events(self) -> list[dict[str, Any]]:
        import json

        return [json.loads(p) for p in self.payloads("/read")]

    def seqs(self) -> set[int]:
        return {e["seq"] for e in self.events()}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# ---------------------------------------------------------------------------- events


def make_event(text: str = "AB12CDE", *, t0: Any = None, location: Any = None, crop_jpeg: bytes | None = None,
               clock: str = "video", region: str | None = "uk") -> Any:
    """A realistic PlateEvent (ids from edge.ids.uuid7)."""
    from datetime import datetime, timedelta, timezone

    from edge.ids import uuid7
    from edge.records import BoundingBox, Candidate, CharConfidence, PlateEvent

    t0 = t0 or datetime(2026, 11, 27, 20, 0, 0, 123456, tzinfo=timezone.utc)
    chars = tuple(CharConfidence(c, 0.9 + 0.01 * (i % 5)) for i, c in enumerate(text))
    return PlateEvent(
        id=uuid7(), text=text, confidence=min(ch.p for ch in chars), chars=chars,
        candidates=(Candidate(text, 0.9), Candidate(text[::-1], 0.05)), region=region,
        first_seen=t0, last_seen=t0 + timedelta(seconds=1.5), best_seen=t0 + timedelta(seconds=0.5),
        clock=clock, location=location, frame_count=12, best_frame_seq=40,
        box=BoundingBox(812.4, 640.6, 180.2, 44.9), crop_jpeg=crop_jpeg)


# ---------------------------------------------------------------------------- the synthetic clip


# The clip: 150 frames of a static road, 480x270 at 25 fps, three vehicles whose plates are
# saturated rectangles of known hue; the colour-plate models read them through VEHICLES.
FPS = 25.0
FRAME = timedelta(seconds=1 / FPS)
START = datetime(2026, 5, 4, 7, 30, tzinfo=timezone.utc)
W, H = 480, 270
VEHICLES = [
    ("ABC123", 60, 5, 40, 20, 8),
    ("XYZ789", 120, 100, 125, 380, -9),
    ("KLM456", 15, 140, 149, 300, 5),  # still in view when the video ends: flushed
]


def plate_box(vehicle, i: int) -> tuple[int, int, int, int] | None:
    _, _, first, last, x0, vx = vehicle
    if not first <= i <= last:
        return None
    x = x0 + vx * (i - first)
    return x + 20, 170, 72, 24


def draw_frame(i: int) -> np.ndarray:
    image = np.empty((H, W, 3), np.uint8)
    image[:] = np.linspace(60, 110, W, dtype=np.uint8)[None, :, None]  # static, textured road
    cv2.line(image, (0, 200), (W, 200), (200, 200, 200), 2)
    for v in VEHICLES:
        box = plate_box(v, i)
        if box is None:
            continue
        x, y, w, h = box
        cv2.rectangle(image, (x - 20, y - 60), (x + w + 20, y + h + 10), (45, 45, 50), -1)  # car body
        bgr = cv2.cvtColor(np.uint8([[[v[1], 220, 230]]]), cv2.COLOR_HSV2BGR)[0, 0]
        cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), tuple(int(c) for c in bgr), -1)
    return image


def make_clip(path: Path, frames: int = 150) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    for i in range(frames):
        writer.write(draw_frame(i))
    writer.release()
    return path


class ColourPlateDetector:
    """Finds saturated rectangles (the clip's plates) in the pixels."""

    name = "colour-plates"
    input_side = 0  # it is given whole frames
    fine_side = 0

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0

    def predict(self, image: np.ndarray) -> list[PlateDetection]:
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
        mask = cv2.inRange(hsv, (0, 120, 120), (179, 255, 255))
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        out = []
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            if w * h >= 300 and 1.5 < w / h < 6:
                out.append(PlateDetection(BoundingBox(x, y, w, h), 0.9))
        return sorted(out, key=lambda d: -d.box.area)


class HueTableReader:
    """Reads a crop's text from its plate colour, through the clip's ground-truth table."""

    name = "hue-table"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict(self, crops: Sequence[np.ndarray]) -> list[PlateText]:
        self.batches.append(len(crops))
        out = []
        for crop in crops:
            hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
            sat = hsv[..., 1] > 120
            hue = float(np.median(hsv[..., 0][sat])) if sat.any() else -100.0
            text, ref = min(((t, h) for t, h, *_ in VEHICLES), key=lambda th: abs(th[1] - hue))
            if abs(ref - hue) > 8:
                out.append(PlateText("", ()))
                continue
            out.append(PlateText(text, tuple(CharConfidence(c, 0.97) for c in text)))
        return out


class NoFrames:
    """A FrameSource with no frames, for a Pipeline whose `process` a test calls itself."""

    name = "no-frames"
    live = False
    stills = False

    def frames(self):
        return iter(())

    def stats(self) -> dict:
        return {}

    def close(self) -> None:
        pass


def detector_plugin(_section=None) -> ColourPlateDetector:
    """`detector.plugin = "tests.helpers:detector_plugin"`: the colour-plate detector."""
    return ColourPlateDetector()


def reader_plugin(_section=None) -> HueTableReader:
    return HueTableReader()


class SlowDetector:
    """A detector stuck for seconds per frame (a wedged model), for the second-signal test."""

    name = "slow"
    input_side = 0
    fine_side = 0

    def predict(self, image):
        time.sleep(2.0)
        return []


def slow_detector_plugin(_section=None) -> SlowDetector:
    return SlowDetector()


class StillDetector:
    """A detector plugin: the PlateDetector protocol, finding nothing."""

    name = "still-detector:1"
    input_side = 0
    fine_side = 0

    def predict(self, image):
        return []


def still_detector_plugin(_section=None):
    return StillDetector()


# ---------------------------------------------------------------------------- `edge` as a subprocess


class NotifyListener:
    """The systemd side of sd_notify: a bound datagram socket collecting messages."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def wait_for(self, prefix: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, m in list(self.messages):
                if any(line.startswith(prefix) for line in m.splitlines()):
                    return t
            time.sleep(0.02)
        raise AssertionError(f"no {prefix!r} within {timeout} s; got {[m for _, m in self.messages]}")

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def write_config(tmp_path: Path, clip: Path) -> Path:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(f"""
[device]
id = "svc-test"

[source]
kind = "video"
path = "{clip}"
pacing = "realtime"
start_time = "2026-05-04T07:30:00Z"

[detector]
plugin = "tests.helpers:detector_plugin"

[reader]
plugin = "tests.helpers:reader_plugin"

[outbox]
path = "{tmp_path / 'outbox.db'}"

[mqtt]
enabled = false
""")
    return cfg


def start_edge(args: list[str], env_extra: dict[str, str], cwd: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(env_extra)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, "-m", "edge", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# ---------------------------------------------------------------------------- MQTT delivery


SCHEMAS = REPO / "schemas"
READ_SCHEMA = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "edge.read-1.schema.json").read_text()),
                                              format_checker=jsonschema.FormatChecker())
HEALTH_SCHEMA = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "edge.health-1.schema.json").read_text()),
                                                format_checker=jsonschema.FormatChecker())
USERS = {"collector": "collector-pw", "edge": "edge-pw"}
COLLECTOR_ONLY = {"collector": "collector-pw"}


def fast_config(broker: Mosquitto, **kw: Any) -> MqttConfig:
    base: dict[str, Any] = dict(host=broker.host, port=broker.port, reconnect_min_s=0.05, reconnect_max_s=0.3,
                                health_interval_s=0.5, keepalive_s=5, max_inflight=20)
    base.update(kw)
    return MqttConfig(**base)


def password_file(tmp_path: Path, password: str) -> Path:
    p = tmp_path / "mqtt-password"
    p.write_text(password + "\n")
    return p


class Rig:
    """Outbox + encoder + sink + publisher for one device."""

    def __init__(self, tmp_path: Path, config: MqttConfig, device: str = "dev1", outbox_cfg: OutboxConfig | None = None):
        self.device = device
        self.outbox = Outbox(outbox_cfg or OutboxConfig(), path=tmp_path / f"{device}.db")
        self.encoder = EventEncoder(device, "cam", {"detector": "d", "reader": "r"})
        self.publisher = MqttPublisher(config, self.outbox, device, health=lambda: {"fps": 25.0, "clock": "video"})
        self.sink = DurableSink(self.outbox, self.encoder, self.publisher.notify)

    def submit(self, n: int, delay: float = 0.0) -> list[int]:
        seqs = []
        for i in range(n):
            s = self.sink.submit(make_event(f"P{i:05d}"))
            assert s is not None
            seqs.append(s.seq)
            if delay:
                time.sleep(delay)
        return seqs

    def close(self) -> None:
        self.publisher.stop(timeout=1.0)
        self.outbox.close()


def assert_all_arrived(col: Collector, last_seq: int, timeout: float = 20.0) -> dict[str, int]:
    ok = wait_until(lambda: col.seqs() >= set(range(1, last_seq + 1)), timeout)
    events = col.events()
    missing = sorted(set(range(1, last_seq + 1)) - {e["seq"] for e in events})
    assert ok and not missing, f"missing seqs: {missing[:20]} ({len(missing)})"
    ids: dict[int, set[str]] = defaultdict(set)
    for e in events:
        ids[e["seq"]].add(e["id"])
    assert all(len(v) == 1 for v in ids.values()), "a re-delivered seq carried a different id"
    assert len({next(iter(v)) for v in ids.values()}) == last_seq  # ids unique per seq
    return {"received": len(events), "unique": last_seq, "duplicates": len(events) - last_seq}


def start_gated(broker: Mosquitto, col: Collector | None, factory: Any, topic: str) -> Collector:
    """(Re)start the broker letting only the collector in; open the gate once it has subscribed."""
    broker.users = dict(COLLECTOR_ONLY)
    subscribed = col.subscriptions if col is not None else 0
    broker.start()
    if col is None:
        col = factory(broker, topic, username="collector", password=USERS["collector"])
    col.wait_subscribed(subscribed + 1)
    broker.set_users(USERS)  # SIGHUP: the device may connect now
    return col


# ---------------------------------------------------------------------------- the tracker


TRACK_START = datetime(2026, 11, 27, 21, 0, 0, tzinfo=timezone.utc)
TRACK_IMAGE = np.zeros((1, 1, 3), np.uint8)  # the tracker never looks at pixels


class FrameClock:
    """Frames at a fixed rate, with exact UTC and monotonic times."""

    def __init__(self, fps: float = 25.0) -> None:
        self.fps = fps
        self.seq = -1

    def frame(self, seq: int | None = None) -> Frame:
        self.seq = self.seq + 1 if seq is None else seq
        t = self.seq / self.fps
        return Frame(self.seq, TRACK_IMAGE, 10**12 + round(t * 1e9), TRACK_START + timedelta(seconds=t), "test")

    def t(self, seq: int) -> datetime:
        return TRACK_START + timedelta(seconds=seq / self.fps)


def plate_read(text, x, y, frame, p=0.95, w=100.0, h=25.0, low=None):
    """A read whose characters all have confidence p, except positions in `low` {i: p}."""
    low = low or {}
    chars = tuple(CharConfidence(c, low.get(i, p)) for i, c in enumerate(text))
    conf = min(ch.p for ch in chars) if chars else 0.0
    return PlateRead(text, chars, conf, BoundingBox(x, y, w, h), 0.9, frame.seq)


class Located:
    """locate() that records what it was asked and returns a fix there."""

    def __init__(self, lat=52.0, lon=13.0):
        self.asked: list[datetime] = []
        self.lat, self.lon = lat, lon

    def __call__(self, t):
        self.asked.append(t)
        return GeoFix(self.lat, self.lon, None, 0.0, None, 5.0, t, "static")


@functools.lru_cache(maxsize=1)
def any_region_rules() -> Any:
    """The format rules of no configured region (edge.formats.FormatRules), made once."""
    from edge.formats import FormatRules

    return FormatRules.for_regions(None)


def new_tracker(config=None, rules=None, locate=None, state="ntp"):
    from edge.tracking import PlateTracker, TrackerConfig

    return PlateTracker(config or TrackerConfig(), rules if rules is not None else any_region_rules(),
                        locate or Located(), lambda: state)


def drain(tracker, clock, frames=60):
    out = []
    for _ in range(frames):
        out += tracker.update(clock.frame(), [])
    return out


# ---------------------------------------------------------------------------- GPS


def dist_m(lat1, lon1, lat2, lon2) -> float:
    from tests.gps import nmea_writer as w

    dy = math.radians(lat2 - lat1) * w.R
    dx = math.radians(lon2 - lon1) * w.R * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


def write_truth_log(path, truth) -> None:
    """An NMEA log of a true track from tests/gps/nmea_writer.py."""
    from tests.gps import nmea_writer as w

    lines = [line for i, p in enumerate(truth) for line in w.epoch_lines(p, i)]
    path.write_text("\r\n".join(lines) + "\r\n")


class FakeGpsd:
    """A TCP server speaking gpsd's JSON protocol (the real gpsd is in test_gpsfake.py):
    answers ?WATCH with VERSION/DEVICES/WATCH, then streams the TPVs it is given."""

    def __init__(self, devices=("/dev/ttyFAKE",)) -> None:
        self.devices = list(devices)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.watches = 0
        self.conns: list[socket.socket] = []

    def accept_and_send(self, reports: list[dict], then_close: bool = True) -> None:
        conn, _ = self.sock.accept()
        self.conns.append(conn)
        conn.settimeout(5)
        req = conn.recv(1024)
        if b"?WATCH=" in req and b'"enable":true' in req:
            self.watches += 1
        lines = [{"class": "VERSION", "release": "3.22"},
                 {"class": "DEVICES", "devices": [{"path": d} for d in self.devices]},
                 {"class": "WATCH", "enable": True, "json": True}] + reports
        conn.sendall(b"".join(json.dumps(x).encode() + b"\n" for x in lines) + b"not json\n")
        if then_close:
            time.sleep(0.05)
            conn.close()

    def close(self) -> None:
        for c in self.conns:
            c.close()
        self.sock.close()


def tpv(p, **extra) -> dict:
    return {"class": "TPV", "device": "/dev/ttyFAKE", "mode": 3,
            "time": p.t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{p.t.microsecond // 1000:03d}Z",
            "lat": p.lat, "lon": p.lon, "altHAE": p.alt + 47.0, "altMSL": p.alt,
            "speed": p.speed, "track": p.heading, "eph": 6.5, **extra}


# ---------------------------------------------------------------------------- the collector


def read_payload(device: str, seq: int, text: str = "AB12CDE", event=None) -> bytes:
    enc = EventEncoder(device, "cam", {"detector": "d", "reader": "r"})
    return enc.encode(event or make_event(text), seq)[1]


def collected_read(device: str, seq: int, **kw):
    from edge.collect import parse_read

    return parse_read(f"alpr/{device}/read", read_payload(device, seq, **kw))


# ---------------------------------------------------------------------------- images


PLATE_ALPHABET = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def fixture_plates() -> list[tuple[str, np.ndarray, str]]:
    """(name, BGR image, text) from tests/fixtures/plates/labels.tsv (written by the renderer);
    without those files, plates drawn by the renderer from a fixed seed."""
    rows = []
    if not (FIXTURES / "plates" / "labels.tsv").is_file():
        from edge.synth.plates import render_plate

        rng = np.random.default_rng(20261127)
        for i in range(20):
            p = render_plate(rng)
            rows.append((f"seed-{i}-{p.style}", p.image,
                         "".join(c for c in p.text.upper() if c in PLATE_ALPHABET)))
        return rows
    for line in (FIXTURES / "plates" / "labels.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        img = cv2.imread(str(FIXTURES / "plates" / parts[0]))
        assert img is not None, parts[0]
        rows.append((parts[0], img, "".join(c for c in parts[1].upper() if c in PLATE_ALPHABET)))
    return rows


def turned_on_grey(plate: np.ndarray, angle: float) -> tuple[np.ndarray, BoundingBox]:
    """The plate in the middle of a grey picture twice its width and four times its height,
    the picture turned by `angle` degrees about its centre, and the upright box around the
    turned plate (what a detector would box)."""
    h, w = plate.shape[:2]
    canvas = np.full((4 * h, 2 * w, 3), 90, np.uint8)
    canvas[3 * h // 2:3 * h // 2 + h, w // 2:w // 2 + w] = plate
    m = cv2.getRotationMatrix2D((w, 2 * h), angle, 1.0)
    image = cv2.warpAffine(canvas, m, (2 * w, 4 * h), borderValue=(90, 90, 90))
    corners = np.array([[[w // 2, 3 * h // 2], [w // 2 + w, 3 * h // 2], [w // 2 + w, 3 * h // 2 + h],
                         [w // 2, 3 * h // 2 + h]]], np.float32)
    turned = cv2.transform(corners, m)[0]
    (x1, y1), (x2, y2) = turned.min(0), turned.max(0)
    return image, BoundingBox(float(x1), float(y1), float(x2 - x1), float(y2 - y1))


def scene_labels() -> dict[str, list[tuple[BoundingBox, str]]]:
    from edge.synth.big_photo import read_scene_labels

    return read_scene_labels(FIXTURES / "scenes" / "labels.tsv")


def photo_of_small_scenes(path: Path) -> list[tuple[BoundingBox, str]]:
    """A 12 MP photo holding the fixture scenes at half size: its plates (45-140 px wide) are
    readable, but the detector's 512 px main pass would shrink them to 6-18 px."""
    from edge.synth.big_photo import compose_big_photo

    scenes = [(cv2.imread(str(FIXTURES / "scenes" / name)), labelled) for name, labelled in sorted(scene_labels().items())]
    image, plates = compose_big_photo(scenes, 4000, 3000, scale=0.5)
    assert len(plates) == sum(len(v) for _, v in scenes)
    assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return plates


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an EXIF APP1 segment holding only an Orientation tag, as a phone writes
    for a photo taken with the phone turned (6: the stored pixels are to be turned 90 degrees
    clockwise for display)."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + b"\0\0\0\0"
    app1 = b"Exif\0\0" + b"MM\0*\0\0\0\x08" + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def fill_disk(folder: Path) -> Path:
    """Take every free byte of the filesystem holding `folder` (a small tmpfs): the filler file."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for chunk in (1 << 20, 65536, 4096, 512):
            try:
                while True:
                    fh.write(b"\0" * chunk)
            except OSError:
                pass
    return filler


@contextmanager
def small_tmpfs(mnt: Path, size: str, why: str = "") -> Iterator[Path]:
    """A real tmpfs of `size` mounted on `mnt` for disk-full checks; skipped, with the reason, without root."""
    import pytest

    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs" + why)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
