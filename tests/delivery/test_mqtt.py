"""The publisher against a REAL mosquitto: delivery, outages (broker absent, killed with SIGKILL
and restarted), refused credentials, TLS failures, ACL rejection and a SIGKILLed publisher.

Where a broker restarts, a test "gates" the publisher (the broker's password file lets only the
collector in until the collector has re-subscribed, then SIGHUP adds the device's account), so
nothing is published before a subscriber is there to see it. Every assertion is on what the
collector actually received.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
import pytest

from edge.delivery.event_json import EventEncoder
from edge.delivery.mqtt import MqttConfig, MqttPublisher, check_broker
from edge.delivery.durable import DurableSink
from edge.delivery.outbox import Outbox
from tests.helpers import (COLLECTOR_ONLY, HEALTH_SCHEMA, READ_SCHEMA, REPO, USERS, Rig,
                           assert_all_arrived, fast_config, make_event, password_file, start_gated, wait_until)


def test_delivers_everything_marks_on_puback_status_and_health(mosquitto, rigs, collector_factory, tmp_path):
    col = collector_factory(mosquitto, "alpr/dev-a/#")
    col.wait_subscribed()
    rig = rigs(fast_config(mosquitto), device="dev-a")
    rig.submit(50)  # committed before the publisher even starts
    t0 = time.monotonic()
    rig.publisher.start()
    seqs = rig.submit(250)
    assert seqs == list(range(51, 301))
    counts = assert_all_arrived(col, 300)
    assert wait_until(lambda: rig.outbox.stats()["depth"] == 0, 5)
    elapsed = time.monotonic() - t0
    for e in col.events():
        READ_SCHEMA.validate(e)
    st = rig.outbox.stats()
    assert st["sent"] == 300 and st["dropped"] == 0
    assert wait_until(lambda: col.payloads("/health"), 3)
    health = json.loads(col.payloads("/health")[-1])
    HEALTH_SCHEMA.validate(health)
    assert health["device"] == "dev-a" and health["fps"] == 25.0 and health["mqtt"]["connected"] is True
    assert col.payloads("/status")[0] == b"online"
    rig.publisher.stop(timeout=2)
    assert wait_until(lambda: col.payloads("/status")[-1:] == [b"offline"], 3)
    # the retained status is what a late subscriber sees first
    late = collector_factory(mosquitto, "alpr/dev-a/status")
    assert wait_until(lambda: late.messages, 3) and late.messages[0][1:] == (b"offline", True)
    print(f"\ndelivered 300 events in {elapsed:.2f} s ({300 / elapsed:.0f}/s), {counts}")


def test_broker_absent_at_start_then_appears(mosquitto_factory, collector_factory, rigs, tmp_path):
    broker = mosquitto_factory(start=False, users=dict(COLLECTOR_ONLY))
    rig = rigs(fast_config(broker, username="edge", password_file=password_file(tmp_path, "edge-pw")))
    rig.publisher.start()
    rig.submit(30)
    assert wait_until(lambda: rig.publisher.state()["state"] == "unreachable", 5)
    assert "cannot reach broker" in rig.publisher.state()["last_error"]
    time.sleep(0.5)  # several failed attempts
    assert rig.outbox.stats()["depth"] == 30
    col = start_gated(broker, None, collector_factory, "alpr/dev1/read")
    rig.submit(20)
    counts = assert_all_arrived(col, 50)
    assert wait_until(lambda: rig.outbox.stats()["depth"] == 0, 5)
    print(f"\nbroker absent at start: {counts}")


def test_broker_killed_and_restarted_mid_stream(mosquitto_factory, collector_factory, rigs, tmp_path):
    broker = mosquitto_factory(start=False)
    col = start_gated(broker, None, collector_factory, "alpr/dev1/read")
    rig = rigs(fast_config(broker, username="edge", password_file=password_file(tmp_path, "edge-pw")))
    rig.publisher.start()
    total = 600
    producer = threading.Thread(target=rig.submit, args=(total, 0.004))
    producer.start()
    kills = 0
    for _ in range(4):
        time.sleep(0.5)
        broker.kill()  # SIGKILL mid-stream
        kills += 1
        time.sleep(0.2)
        start_gated(broker, col, collector_factory, "alpr/dev1/read")
    producer.join()
    counts = assert_all_arrived(col, total, timeout=30)
    assert wait_until(lambda: rig.outbox.stats()["depth"] == 0, 10)
    assert rig.outbox.stats()["sent"] == total and rig.outbox.stats()["dropped"] == 0
    # The outages really cut live connections (a kill that lands while the publisher is still
    # backing off from the previous one cuts nothing, so not every kill counts).
    assert rig.publisher.state()["reconnects"] >= 2
    print(f"\n{kills} broker kills: {counts}, publisher {rig.publisher.state()}")


def test_wrong_credentials_clear_error_nothing_lost_then_fixed(mosquitto_factory, collector_factory, rigs,
                                                               tmp_path, caplog):
    broker = mosquitto_factory(users=dict(USERS))
    col = collector_factory(broker, "alpr/dev1/read", username="collector", password=USERS["collector"])
    col.wait_subscribed()
    pw = password_file(tmp_path, "WRONG-secret-123")
    rig = rigs(fast_config(broker, username="edge", password_file=pw))
    caplog.set_level(logging.INFO, logger="edge.mqtt")
    rig.publisher.start()
    rig.submit(25)
    assert wait_until(lambda: rig.publisher.state()["state"] == "refused", 5)
    time.sleep(1.0)  # several refused attempts with backoff
    state = rig.publisher.state()
    assert "refused the connection" in state["last_error"] and "password" in state["last_error"]
    refusals = [r for r in caplog.records if "refused the connection" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelno == logging.ERROR  # one line, not one per retry
    assert all("WRONG-secret-123" not in r.getMessage() for r in caplog.records)  # never logged
    assert not col.events() and rig.outbox.stats()["depth"] == 25
    pw.write_text("edge-pw\n")  # the operator fixes the credential file; no restart needed
    counts = assert_all_arrived(col, 25)
    assert wait_until(lambda: rig.outbox.stats()["depth"] == 0, 5)
    assert rig.publisher.state()["state"] == "connected"
    print(f"\nwrong credentials then fixed: {counts}")


def test_tls_certificate_rejected_then_correct_ca(mosquitto_factory, collector_factory, rigs, tmp_path, tls_certs,
                                                  caplog):
    broker = mosquitto_factory(tls=tls_certs)
    col = collector_factory(broker, "alpr/#", ca=tls_certs.ca)
    col.wait_subscribed()
    caplog.set_level(logging.INFO, logger="edge.mqtt")
    bad = rigs(fast_config(broker, tls=True, tls_ca=tls_certs.other_ca), device="dev-tls")
    bad.publisher.start()
    bad.submit(10)
    assert wait_until(lambda: bad.publisher.state()["state"] == "tls_error", 5)
    time.sleep(0.6)
    err = bad.publisher.state()["last_error"]
    assert "TLS certificate of broker" in err and "rejected" in err and "mqtt.tls_ca" in err
    assert len([r for r in caplog.records if "TLS certificate" in r.getMessage()]) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and "TLS" not in r.getMessage()]
    assert bad.outbox.stats()["depth"] == 10 and not col.events()
    ok, msg = check_broker(fast_config(broker, tls=True, tls_ca=tls_certs.other_ca))
    assert not ok and "TLS certificate" in msg
    bad.close()
    # the operator fixes mqtt.tls_ca and restarts: same outbox, everything arrives
    good = Rig(tmp_path, fast_config(broker, tls=True, tls_ca=tls_certs.ca), device="dev-tls")
    try:
        good.publisher.start()
        good.submit(5)
        assert_all_arrived(col, 15)
        assert check_broker(fast_config(broker, tls=True, tls_ca=tls_certs.ca))[0]
    finally:
        good.close()


def test_acl_rejected_publish_is_kept_not_marked(mosquitto_factory, collector_factory, rigs, tmp_path):
    acl = "user collector\ntopic read #\n\nuser edge\ntopic write elsewhere/#\ntopic write alpr/+/status\n"
    broker = mosquitto_factory(users=dict(USERS), acl=acl)
    col = collector_factory(broker, "#", username="collector", password=USERS["collector"])
    col.wait_subscribed()
    rig = rigs(fast_config(broker, username="edge", password_file=password_file(tmp_path, "edge-pw")))
    rig.publisher.start()
    rig.submit(5)
    assert wait_until(lambda: rig.publisher.state()["rejected"] >= 5, 5)
    assert "rejected" in rig.publisher.state()["last_error"]
    assert rig.outbox.stats()["depth"] == 5 and rig.outbox.stats()["sent"] == 0 and not col.events()


def test_bad_credentials_reported_by_check_broker(mosquitto_factory, tmp_path):
    broker = mosquitto_factory(users=dict(USERS))
    ok, msg = check_broker(fast_config(broker, username="edge", password_file=password_file(tmp_path, "nope")))
    assert not ok and "refused" in msg and "\n" not in msg
    assert check_broker(fast_config(broker, username="edge", password_file=password_file(tmp_path, "edge-pw")))[0]
    ok, msg = check_broker(fast_config(broker, port=1))
    assert not ok and "cannot reach broker" in msg


def test_systemd_credential_is_used(mosquitto_factory, collector_factory, tmp_path, monkeypatch):
    broker = mosquitto_factory(users=dict(USERS))
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt-password").write_text("edge-pw")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert check_broker(fast_config(broker, username="edge"))[0]


PUBLISHER_CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[3])
from edge.delivery.event_json import EventEncoder
from edge.delivery.mqtt import MqttConfig, MqttPublisher
from edge.delivery.durable import DurableSink
from edge.delivery.outbox import Outbox
from tests.helpers import make_event
ob = Outbox(path=sys.argv[1])
pub = MqttPublisher(MqttConfig(host="127.0.0.1", port=int(sys.argv[2]), reconnect_min_s=0.05,
                               reconnect_max_s=0.3, health_interval_s=0), ob, "dev-k")
sink = DurableSink(ob, EventEncoder("dev-k", "cam", {}), pub.notify)
pub.start()
while True:
    s = sink.submit(make_event())
    print(s.seq, flush=True)
    time.sleep(0.003)
"""


def test_publisher_process_sigkilled_and_restarted(mosquitto, collector_factory, tmp_path):
    """`edge run` killed with SIGKILL mid-run and restarted: the will says offline, then every
    seq arrives, gap-free, duplicates (if any) with the same id."""
    col = collector_factory(mosquitto, "alpr/dev-k/#")
    col.wait_subscribed()
    db = tmp_path / "k.db"
    committed = 0
    for round_ in range(2):
        proc = subprocess.Popen([sys.executable, "-c", PUBLISHER_CHILD, str(db), str(mosquitto.port), str(REPO)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        for _ in range(150):
            committed = max(committed, int(proc.stdout.readline()))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        committed = max([committed, *(int(x) for x in proc.stdout.read().split())])
        assert wait_until(lambda: col.payloads("/status")[-1:] == [b"offline"], 5), "will not published"
    # a last clean run drains what the killed ones left
    with Outbox(path=db) as ob:
        last = ob.stats()["last_seq"]
        assert last >= committed
        pub = MqttPublisher(fast_config(mosquitto), ob, "dev-k")
        pub.start()
        try:
            counts = assert_all_arrived(col, last)
            assert wait_until(lambda: ob.stats()["depth"] == 0, 5)
        finally:
            pub.stop(timeout=1)
    print(f"\npublisher SIGKILLed twice: {counts}")


def test_config_never_holds_the_password_and_rejects_bad_values(tmp_path):
    from edge.configuration.validation import ConfigError, from_mapping

    with pytest.raises(ConfigError, match="mqtt.password: unknown key"):
        from_mapping(MqttConfig, {"password": "x"}, "mqtt")
    with pytest.raises(ConfigError, match="max_inflight"):
        from_mapping(MqttConfig, {"max_inflight": 0}, "mqtt")
    pub = MqttPublisher(MqttConfig(username="edge", password_file=tmp_path / "missing"),
                        Outbox(path=tmp_path / "o.db"), "dev1")
    with pytest.raises(ConfigError, match="mqtt.password_file: cannot read"):
        pub.start()


def test_disk_full_while_running_warns_in_health_and_loses_nothing(mosquitto, collector_factory, tiny_fs):
    """A real full disk (tmpfs) under a running publisher: events already stored keep flowing,
    new ones wait in memory, health says why; once space returns everything arrives, seq gap-free."""
    col = collector_factory(mosquitto, "alpr/dev-full/read")
    col.wait_subscribed()
    rig = Rig(tiny_fs, fast_config(mosquitto), device="dev-full")
    try:
        rig.publisher.start()
        big = b"\xff\xd8" + bytes(range(256)) * 24 + b"\xff\xd9"
        waiting = 0
        for i in range(300):
            if rig.sink.submit(make_event(f"F{i:04d}", crop_jpeg=big)) is None:
                waiting += 1
                if waiting == 4:
                    break
        assert waiting == 4, "the small volume never filled up"
        health = rig.publisher.health_payload()
        HEALTH_SCHEMA.validate(health)
        assert health["outbox"]["unstored"] == 4 and "disk full" in health["outbox"]["error"]
        assert any("disk full" in w for w in health["warnings"])
        subprocess.run(["mount", "-o", "remount,size=8m", str(tiny_fs)], check=True)
        assert rig.sink.retry()
        last = rig.outbox.stats()["last_seq"]
        counts = assert_all_arrived(col, last)
        texts = {e["seq"]: e["plate"]["text"] for e in col.events()}
        assert [texts[s] for s in range(1, last + 1)] == [f"F{i:04d}" for i in range(last)]
        assert wait_until(lambda: rig.outbox.stats()["depth"] == 0, 5)
        print(f"\ndisk full while running: {last} events, {counts}")
    finally:
        rig.close()


def test_stop_without_broker_is_prompt_and_keeps_rows(rigs, mosquitto_factory):
    broker = mosquitto_factory(start=False)  # nothing listens on its port
    rig = rigs(fast_config(broker))
    rig.publisher.start()
    rig.submit(3)
    t0 = time.monotonic()
    rig.publisher.stop(timeout=0.5)
    assert time.monotonic() - t0 < 3.0
    assert rig.publisher.state()["state"] == "stopped"
    assert [r.seq for r in rig.outbox.pending(10)] == [1, 2, 3]  # kept for the next start
