"""`edge collect` against a REAL Mosquitto: devices publish through their real outbox and
publisher, the collector stores into real SQLite / PostgreSQL. Each event must be stored once,
across collector restarts, a SIGKILL before the commit, shared subscriptions and re-deliveries."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.collect import open_store
from tests.helpers import REPO, fill_disk, wait_until


def stored_ids(db: Path) -> list[str]:
    return [r[0] for r in sqlite3.connect(db).execute("SELECT id FROM edge_reads")]


def edge_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge", *args]


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_collector_stopped_and_started_again_misses_nothing(protocol, mosquitto, devices, collectors, tmp_path):
    db = str(tmp_path / "reads.db")
    box = devices(mosquitto, "gate-1")
    c = collectors(mosquitto, db, protocol=protocol, client_id=f"restart-me-{protocol}")
    ids = box.submit(10)
    assert wait_until(lambda: c.counts["stored"] == 10, 15)
    collectors.stop(c)
    ids += box.submit(10)  # while it is away the broker queues them in its persistent session
    assert wait_until(box.delivered, 10)
    c = collectors(mosquitto, db, protocol=protocol, client_id=f"restart-me-{protocol}")
    assert wait_until(lambda: c.counts["stored"] == 10, 15), c.counts
    assert sorted(stored_ids(Path(db))) == sorted(ids)
    [r] = c.store.report()
    assert (r.device, r.received, r.missing, r.first_seq, r.last_seq) == ("gate-1", 20, (), 1, 20)


def test_reads_wait_on_the_device_until_someone_subscribes(mosquitto_factory, devices, collectors, tmp_path):
    """A broker that lost its sessions (a restart without persistence) answers "no matching
    subscribers" (MQTT 5): the device keeps those events and offers them again until a collector
    has subscribed. With require_subscriber = false they count as delivered, and are gone."""
    broker = mosquitto_factory()
    kept, lost = devices(broker, "gate-kept"), devices(broker, "gate-lost", require_subscriber=False)
    ids = kept.submit(50)
    lost.submit(3)
    assert wait_until(lost.delivered, 10)  # "delivered" to nobody
    time.sleep(3.0)
    assert kept.outbox.stats()["depth"] == 50
    state = kept.publisher.state()
    assert "no subscriber for gate-kept's reads" in (state["last_error"] or "")
    assert 20 <= state["published"] <= 60  # one window (max_inflight 20) every 2 s, not the backlog
    c = collectors(broker, str(tmp_path / "reads.db"), client_id="late")
    assert wait_until(lambda: c.counts["stored"] == 50, 15), c.counts
    assert wait_until(kept.delivered, 10)
    assert sorted(stored_ids(tmp_path / "reads.db")) == sorted(ids)


def test_puback_goes_out_only_after_the_commit(mosquitto, devices, tmp_path):
    """The collector is SIGKILLed while its batch waits for the database lock: nothing was
    committed, so nothing may have been acknowledged: the broker must deliver it all again."""
    db = tmp_path / "reads.db"
    open_store(str(db)).close()
    log = tmp_path / "collect.log"
    cmd = edge_cmd("-v", "collect", "--host", mosquitto.host, "--port", str(mosquitto.port), "--db", str(db),
                   "--client-id", "kill-me")
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stderr=err, stdout=subprocess.DEVNULL)
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        assert wait_until(lambda: "connected to" in log.read_text(), 15), log.read_text()
        time.sleep(0.5)  # its SUBSCRIBE is on the wire right after the CONNACK
        blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: the collector's commit waits
        ids = devices(mosquitto, "gate-1").submit(5)
        # the first batch now waits for the lock; the others queue behind it in the collector
        assert wait_until(lambda: " event(s) in one transaction" in log.read_text(), 15), log.read_text()
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        blocker.execute("ROLLBACK")
        blocker.close()
    assert stored_ids(db) == []
    with open(log, "a") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stderr=err, stdout=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: len(stored_ids(db)) == 5, 20), log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    assert sorted(stored_ids(db)) == sorted(ids)
    report = subprocess.run(edge_cmd("collect", "--db", str(db), "--report"), cwd=REPO, capture_output=True,
                            text=True)
    assert report.returncode == 0, report.stderr
    assert "gate-1" in report.stdout and "1 device(s), 5 event(s)" in report.stdout and "0 missing" in report.stdout


def test_a_shared_subscription_splits_the_load_and_stores_each_event_once(mosquitto, devices, collectors,
                                                                           tmp_path):
    db = str(tmp_path / "reads.db")
    a = collectors(mosquitto, db, client_id="share-a", share_group="edge")
    b = collectors(mosquitto, db, client_id="share-b", share_group="edge")
    assert a.topic == "$share/edge/alpr/+/read"
    boxes = [devices(mosquitto, f"gate-{i}") for i in range(3)]
    for box in boxes:
        box.submit(20)
    assert wait_until(lambda: a.counts["stored"] + b.counts["stored"] == 60, 20), (a.counts, b.counts)
    assert a.counts["stored"] > 0 and b.counts["stored"] > 0  # both took a share
    by = dict(sqlite3.connect(db).execute("SELECT received_by, count(*) FROM edge_reads GROUP BY received_by"))
    assert by == {"share-a": a.counts["stored"], "share-b": b.counts["stored"]}
    reports = a.store.report()
    assert [(r.device, r.received, r.missing) for r in reports] == [(f"gate-{i}", 20, ()) for i in range(3)]


def test_postgresql_stores_each_event_once_when_a_device_publishes_again(mosquitto, devices, collectors, pg_url):
    import psycopg

    c = collectors(mosquitto, pg_url, client_id="pg")
    box = devices(mosquitto, "gate-pg")
    ids = box.submit(15)
    assert wait_until(lambda: c.counts["stored"] == 15, 15)
    assert wait_until(box.delivered, 10)  # the device has marked all 15 acknowledged
    assert box.outbox.mark_unsent() == 15  # `edge outbox replay`: the same events, the same ids
    box.publisher.notify()
    assert wait_until(lambda: c.counts["duplicates"] == 15, 15), c.counts
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT id, seq, payload->'plate'->>'text' FROM edge_reads ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == ids and [r[1] for r in rows] == list(range(1, 16))
    assert rows[0][2] == "P00000"
    [r] = c.store.report()
    assert (r.received, r.duplicates, r.missing) == (15, 15, ())


def test_a_broken_payload_is_acknowledged_and_skipped(mosquitto, devices, collectors, tmp_path):
    db = str(tmp_path / "reads.db")
    c = collectors(mosquitto, db, client_id="picky")
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="vandal")
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    pub.publish("alpr/vandal/read", b"not json", qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()
    devices(mosquitto, "gate-1").submit(1)
    assert wait_until(lambda: c.counts["stored"] == 1 and c.counts["rejected"] == 1, 15), c.counts
    collectors.stop(c)
    c = collectors(mosquitto, db, client_id="picky")
    time.sleep(0.5)
    assert c.counts["received"] == 0  # acknowledged the first time: not delivered again


def test_tls_and_credentials_come_from_the_config_files_mqtt_section(mosquitto_factory, tls_certs, tmp_path):
    broker = mosquitto_factory(users={"collector": "c-pw", "edge": "e-pw"}, tls=tls_certs)
    (tmp_path / "pw").write_text("c-pw\n")
    (tmp_path / "edge.toml").write_text(
        f'[mqtt]\nhost = "localhost"\nport = {broker.port}\ntls = true\ntls_ca = "{tls_certs.ca}"\n'
        f'username = "collector"\npassword_file = "pw"\ntopic_prefix = "site9"\n')
    db = tmp_path / "reads.db"
    log = tmp_path / "collect.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(edge_cmd("collect", "--config", str(tmp_path / "edge.toml"), "--db", str(db),
                                         "--client-id", "tls-collector"), cwd=REPO, stderr=err)
    try:
        assert wait_until(lambda: "connected to mqtts://localhost" in log.read_text(), 15), log.read_text()
        time.sleep(0.5)
        from edge.delivery.event_json import EventEncoder
        from tests.helpers import make_event

        topic, body = EventEncoder("gate-9", "cam", {}, topic_prefix="site9").encode(make_event(), 1)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="edge-gate-9")
        pub.username_pw_set("edge", "e-pw")
        pub.tls_set(ca_certs=str(tls_certs.ca))
        pub.connect("localhost", broker.port)
        pub.loop_start()
        pub.publish(topic, body, qos=1).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()
        assert wait_until(lambda: db.exists() and len(stored_ids(db)) == 1, 15), log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


@pytest.mark.parametrize("args, message, code", [
    (["--share", "a/b"], "share group 'a/b' must not contain", 2),
    (["--batch", "0"], "batch must be 1..10000", 2),
    (["--db", "/no/such/folder/x.db"], "folder /no/such/folder does not exist", 1),
    (["--report", "--db", "/no/such/x.db"], "no database at /no/such/x.db", 2),
    (["--port", "0"], "mqtt.port: must be 1..65535", 2),
])
def test_bad_options_give_one_line_errors(args, message, code, tmp_path):
    base = ["collect", "--db", str(tmp_path / "r.db")]
    r = subprocess.run(edge_cmd(*base, *args), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge collect: ") and message in lines[0], r.stderr


def test_an_unknown_config_key_is_named(tmp_path):
    (tmp_path / "edge.toml").write_text("[mqtt]\nhots = 'x'\n")
    r = subprocess.run(edge_cmd("collect", "--config", str(tmp_path / "edge.toml"), "--db", str(tmp_path / "r.db")),
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip() == "edge collect: mqtt.hots: unknown key (did you mean 'host'?)"


def test_report_exits_1_and_names_the_missing_seqs(tmp_path):
    from tests.helpers import collected_read

    s = open_store(str(tmp_path / "r.db"))
    s.write([collected_read("gate-1", n) for n in (1, 2, 5, 9)], "c")
    s.close()
    r = subprocess.run(edge_cmd("collect", "--db", str(tmp_path / "r.db"), "--report"), cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "5 (3-4, 6-8)" in r.stdout and "edge outbox replay --from FIRST --to LAST" in r.stdout
    j = subprocess.run(edge_cmd("collect", "--db", str(tmp_path / "r.db"), "--report", "--json"), cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert json.loads(j.stdout)["devices"][0]["missing"] == [[3, 4], [6, 8]]


def test_a_full_disk_holds_the_batch_unacknowledged_until_there_is_room(mosquitto, devices, collectors, tiny_fs,
                                                                        caplog):
    db = tiny_fs / "reads.db"
    c = collectors(mosquitto, str(db), client_id="full-disk")
    filler = fill_disk(tiny_fs)  # every byte the 320 kB filesystem has left
    ids = devices(mosquitto, "gate-1").submit(5)
    assert wait_until(lambda: "cannot write to sqlite" in caplog.text, 15), caplog.text
    assert c.counts["stored"] == 0
    filler.unlink()
    assert wait_until(lambda: c.counts["stored"] == 5, 20), c.counts
    assert sorted(stored_ids(db)) == sorted(ids)
    assert [(r.received, r.missing) for r in c.store.report()] == [(5, ())]
