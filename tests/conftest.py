"""Shared test fixtures: a REAL Mosquitto broker (the Debian binary), and a paho subscriber.

- `mosquitto`: one plain broker for the whole session (anonymous, loopback, random port).
- `mosquitto_factory`: private brokers a test may kill (SIGKILL), restart on the same port,
  reconfigure (users/ACL, reloaded with SIGHUP) or run with TLS. Stopped at teardown.
- `tls_certs`: a throw-away CA and a server certificate for 127.0.0.1/localhost, made with openssl.
- `Collector`: a paho subscriber that records every message it receives.

The broker is never mocked. If the mosquitto binary is missing the fixture fails with the
command that installs it (scripts/mosquitto.sh install).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None)


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


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


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A plain anonymous broker shared by the session's tests (do not kill it: use the factory)."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """make(start=True, port=None, users=None, acl=None, tls=None) -> a private broker."""
    brokers: list[Mosquitto] = []

    def make(start: bool = True, **kwargs: Any) -> Mosquitto:
        broker = Mosquitto(tmp_path / f"broker{len(brokers)}", **kwargs)
        brokers.append(broker)
        return broker.start() if start else broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def collector_factory() -> Iterator[Callable[..., Collector]]:
    collectors: list[Collector] = []

    def make(broker: Mosquitto, topic: str = "#", **kwargs: Any) -> Collector:
        c = Collector(broker, topic, **kwargs)
        collectors.append(c)
        return c

    yield make
    for c in collectors:
        c.close()


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA + server certificate (CN=localhost, SAN DNS:localhost, IP:127.0.0.1), and an unrelated CA."""
    openssl = find_binary("openssl")
    if openssl is None:
        pytest.fail("openssl is not installed (Debian package openssl)", pytrace=False)
    d = tmp_path_factory.mktemp("tls")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=d)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for name in ("ca", "other_ca"):
        run("req", "-x509", *ec, "-days", "2", "-subj", f"/CN=edge test {name}",
            "-keyout", f"{name}.key", "-out", f"{name}.crt")
    run("req", *ec, "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "san.ext", "-out", "server.crt")
    return TlsFiles(ca=d / "ca.crt", cert=d / "server.crt", key=d / "server.key", other_ca=d / "other_ca.crt")


# ---------------------------------------------------------------------------- events for tests


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


@pytest.fixture
def tiny_fs(tmp_path) -> Iterator[Path]:
    """A real 320 kB tmpfs (needs root + mount); disk-full and read-only checks use it."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
