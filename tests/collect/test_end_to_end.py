"""The end-to-end proof of "nothing lost": `edge run` reads the fixture video (looping, so it
keeps making events) and publishes into a REAL Mosquitto, `edge collect` stores into SQLite,
and in between the broker is SIGKILLed and restarted twice and the collector once. At the end
every event of the device's outbox is in the database exactly once and the report shows no gap.

The broker keeps its sessions on disk (persistence, saved on every change), as a production
broker must: a broker that forgets its sessions on a crash forgets what it owed the collector.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, Mosquitto, wait_until

VIDEO = REPO / "tests" / "fixtures" / "video" / "passes.mp4"


class PersistentMosquitto(Mosquitto):
    """The conftest broker with its sessions and queued messages saved to disk on every change."""

    def write_config(self) -> None:
        super().write_config()
        text = self.conf.read_text().replace("persistence false\n", "")
        self.conf.write_text(text + f"persistence true\npersistence_location {self.dir}/\n"
                             "autosave_on_changes true\nautosave_interval 1\n")


def edge(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge", *args]


def count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return sqlite3.connect(db, timeout=5).execute("SELECT count(*) FROM edge_reads").fetchone()[0]
    except sqlite3.OperationalError:  # the collector has not made its tables yet
        return 0


class CollectProcess:
    def __init__(self, broker: Mosquitto, db: Path, log: Path) -> None:
        self.cmd = edge("collect", "--host", broker.host, "--port", str(broker.port), "--db", str(db),
                        "--client-id", "e2e-collector")
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        mark = self.log.read_text().count("connected to") if self.log.exists() else 0
        with open(self.log, "a") as err:
            self.proc = subprocess.Popen(self.cmd, cwd=REPO, stderr=err, stdout=subprocess.DEVNULL)
        assert wait_until(lambda: self.log.read_text().count("connected to") > mark, 20), self.log.read_text()
        time.sleep(0.5)  # SUBSCRIBE follows the CONNACK

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


@pytest.mark.parametrize("persistent", [True, False], ids=["persistent-broker", "forgetful-broker"])
def test_edge_run_to_mosquitto_to_edge_collect_through_broker_and_collector_kills(persistent, tmp_path):
    """With a forgetful broker (Mosquitto's default, persistence false) each SIGKILL also loses
    the collector's session; the device keeps what arrives before the collector is back
    (mqtt.require_subscriber), so every event still arrives once."""
    broker = (PersistentMosquitto if persistent else Mosquitto)(tmp_path / "broker").start()
    db, outbox = tmp_path / "reads.db", tmp_path / "outbox.db"
    (tmp_path / "edge.toml").write_text(
        f'[device]\nid = "e2e-box"\n[source]\nkind = "video"\npath = "{VIDEO}"\nloop = true\n'
        f'[tracking]\nrepeat_suppress_s = 0.0\n'  # each loop of the video is new traffic, not a parked car
        f'[outbox]\npath = "{outbox}"\n'
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nreconnect_min_s = 0.1\nreconnect_max_s = 0.5\n'
        f'keepalive_s = 5\nhealth_interval_s = 0.0\n')
    collector = CollectProcess(broker, db, tmp_path / "collect.log")
    run_log = tmp_path / "run.log"
    device = None
    try:
        collector.start()
        with open(run_log, "w") as err:
            device = subprocess.Popen(edge("run", "--config", str(tmp_path / "edge.toml")), cwd=REPO,
                                      stderr=err, stdout=subprocess.DEVNULL)
        # each step waits for 3 more events stored after it, so traffic flows through every failure
        assert wait_until(lambda: count(db) >= 2, 60), run_log.read_text()
        broker.kill()  # a crash: no clean shutdown, no goodbye to either client
        time.sleep(1.5)  # the device goes on reading; its events wait in its outbox
        broker.start()
        n = count(db)
        assert wait_until(lambda: count(db) >= n + 3, 60), collector.log.read_text()
        collector.kill()
        time.sleep(1.0)  # the broker queues the device's events in the collector's session
        collector.start()
        n = count(db)
        assert wait_until(lambda: count(db) >= n + 3, 60), collector.log.read_text()
        broker.kill()
        time.sleep(1.0)
        broker.start()
        n = count(db)
        assert wait_until(lambda: count(db) >= n + 3, 60), collector.log.read_text()
        device.send_signal(signal.SIGTERM)  # closes open tracks, delivers what is pending
        assert device.wait(30) == 0, run_log.read_text()
        stats = json.loads(subprocess.run(edge("outbox", "stats", "--json", "--db", str(outbox)), cwd=REPO,
                                          capture_output=True, text=True, check=True).stdout)
        assert stats["depth"] == 0 and stats["dropped"] == 0, stats
        last_seq = stats["last_seq"]
        assert wait_until(lambda: count(db) == last_seq, 30), (count(db), last_seq)
        assert collector.stop() == 0
    finally:
        if device is not None and device.poll() is None:
            device.kill()
        if collector.proc is not None and collector.proc.poll() is None:
            collector.proc.kill()
        broker.stop()
    sent = dict(sqlite3.connect(outbox).execute("SELECT id, seq FROM events"))
    stored = sqlite3.connect(db).execute("SELECT id, seq, device FROM edge_reads").fetchall()
    assert len(stored) == len(sent) == last_seq >= 11
    assert {i: s for i, s, _ in stored} == sent and {d for _, _, d in stored} == {"e2e-box"}
    log = collector.log.read_text()
    if persistent:  # resumed after each broker restart and after the collector's own
        assert log.count("session resumed") >= 3, log
    else:
        assert log.count("the broker had no session for e2e-collector") == 2, log
    report = subprocess.run(edge("collect", "--db", str(db), "--report"), cwd=REPO, capture_output=True, text=True)
    assert report.returncode == 0, report.stdout + report.stderr
    assert f"e2e-box  {last_seq:>8}" in report.stdout and f"1-{last_seq}" in report.stdout, report.stdout
    assert "0 missing" in report.stdout, report.stdout
