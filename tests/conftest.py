"""Shared test fixtures: a REAL Mosquitto broker (the Debian binary), and a paho subscriber.

- `mosquitto`: one plain broker for the whole session (anonymous, loopback, random port).
- `mosquitto_factory`: private brokers a test may kill (SIGKILL), restart on the same port,
  reconfigure (users/ACL, reloaded with SIGHUP) or run with TLS. Stopped at teardown.
- `collector_factory`: paho subscribers (tests.helpers.Collector), closed at teardown.
- `tls_certs`: a throw-away CA and a server certificate for 127.0.0.1/localhost, made with openssl.
- `rigs`: outbox + sink + publisher for one device each (tests.helpers.Rig), closed at teardown.
- `tiny_fs`: a real 320 kB tmpfs, for disk-full checks (root only).
- `clip`: the synthetic clip of three passes (tests.helpers.make_clip), made once per module.

The broker is never mocked. If the mosquitto binary is missing the fixture fails with the
command that installs it (scripts/mosquitto.sh install). The classes and functions the tests
share are in tests/helpers.py.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.delivery.mqtt import MqttConfig
from tests.helpers import Collector, Mosquitto, Rig, TlsFiles, find_binary, make_clip, small_tmpfs


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


@pytest.fixture
def tiny_fs(tmp_path) -> Iterator[Path]:
    """A real 320 kB tmpfs (needs root + mount); disk-full and read-only checks use it."""
    with small_tmpfs(tmp_path / "mnt", "320k") as mnt:
        yield mnt


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(config: MqttConfig, **kw: Any) -> Rig:
        r = Rig(tmp_path, config, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "passes.avi")
