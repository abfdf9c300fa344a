"""Fixtures for the collector's tests: a REAL PostgreSQL (Debian's `postgresql` package),
started by the tests in a temporary folder, and device rigs that publish through the real
outbox + publisher into a real Mosquitto.

initdb refuses to run as root, so as root the cluster runs as the `postgres` user the
Debian package creates. Without PostgreSQL or psycopg the PostgreSQL tests are skipped with
the command that installs what is missing.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import free_port

_names = itertools.count(1)


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PostgresCluster:
    """One throw-away cluster on 127.0.0.1:<port>, trust authentication, user `edge`."""

    def __init__(self) -> None:
        bindir = _pg_bindir()
        if bindir is None:
            pytest.skip("PostgreSQL is not installed: apt-get install postgresql (scripts/ci-packages.txt)")
        self.bindir = bindir
        self.run_as: dict[str, Any] = {}
        self.base = Path(tempfile.mkdtemp(prefix="edge-pg-"))  # not under pytest's root-only tmp
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no 'postgres' user for initdb")
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            self.run_as = {"user": pw.pw_uid, "group": pw.pw_gid}
        self.data = self.base / "data"
        self.port = free_port()

    def _run(self, *args: str) -> None:
        result = subprocess.run([str(a) for a in args], capture_output=True, cwd=self.base, text=True,
                                timeout=120, **self.run_as)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args))} failed: {result.stderr.strip() or result.stdout.strip()}")

    def start(self) -> PostgresCluster:
        self._run(self.bindir / "initdb", "-D", self.data, "-A", "trust", "-U", "edge", "-E", "UTF8", "--no-sync")
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.base / "server.log", "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1", "start")
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://edge@127.0.0.1:{self.port}/{dbname}"

    def new_database(self) -> str:
        import psycopg

        name = f"t{next(_names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(postgres: PostgresCluster) -> str:
    """A fresh, empty database in the session's cluster."""
    return postgres.new_database()


# ---------------------------------------------------------------------------- devices and collectors


class Device:
    """One simulated box: the real outbox, encoder, durable sink and MQTT publisher."""

    def __init__(self, folder: Path, broker: Any, device_id: str, **mqtt: Any) -> None:
        from edge.delivery.event_json import EventEncoder
        from edge.delivery.mqtt import MqttConfig, MqttPublisher
        from edge.delivery.durable import DurableSink
        from edge.delivery.outbox import Outbox, OutboxConfig

        self.id = device_id
        self.outbox = Outbox(OutboxConfig(), path=folder / f"{device_id}.db")
        cfg = MqttConfig(host=broker.host, port=broker.port, reconnect_min_s=0.05, reconnect_max_s=0.3,
                         health_interval_s=0, keepalive_s=5, **mqtt)
        self.publisher = MqttPublisher(cfg, self.outbox, device_id)
        self.sink = DurableSink(self.outbox, EventEncoder(device_id, "cam", {"detector": "d", "reader": "r"}),
                                self.publisher.notify)
        self.publisher.start()

    def submit(self, n: int) -> list[str]:
        from tests.helpers import make_event

        return [self.sink.submit(make_event(f"P{i:05d}")).id for i in range(n)]

    def delivered(self) -> bool:
        return self.outbox.stats()["depth"] == 0

    def close(self) -> None:
        self.publisher.stop(timeout=1.0)
        self.outbox.close()


@pytest.fixture
def devices(tmp_path: Path) -> Iterator[Any]:
    made: list[Device] = []

    def make(broker: Any, device_id: str, **mqtt: Any) -> Device:
        d = Device(tmp_path, broker, device_id, **mqtt)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


@pytest.fixture
def collectors() -> Iterator[Any]:
    """make(broker, db, client_id=..., share_group=...) -> a started, subscribed in-process Collector."""
    from edge.collect import open_store
    from edge.collect.subscriber import Collector, CollectOptions
    from edge.delivery.mqtt import MqttConfig

    running: list[Any] = []

    def make(broker: Any, db: str, protocol: str = "5", **options: Any) -> Any:
        cfg = MqttConfig(host=broker.host, port=broker.port, reconnect_min_s=0.05, reconnect_max_s=0.5,
                         keepalive_s=5, protocol=protocol)
        options.setdefault("client_id", f"test-collector-{len(running)}")
        c = Collector(cfg, CollectOptions(**options), open_store(db))
        c.start()
        running.append(c)
        assert c.subscribed.wait(10), "collector did not subscribe"
        return c

    def stop(c: Any) -> None:
        c.stop()
        c.store.close()
        running.remove(c)

    make.stop = stop  # type: ignore[attr-defined]
    yield make
    for c in list(running):
        stop(c)
