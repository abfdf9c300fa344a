"""The MQTT connection against a REAL mosquitto (issue 17, defects 3 and 7): two boxes with one
client id are told apart in the log ("client id taken over"), a fixed password file is used at
once (not after up to twice `reconnect_max_s`), and every reconnection is logged."""

from __future__ import annotations

import logging
import time

from tests.helpers import USERS, Rig, assert_all_arrived, fast_config, password_file, start_gated, wait_until


def test_two_boxes_with_one_device_id_log_client_id_taken_over(mosquitto_factory, tmp_path, caplog):
    """Two stock Pis called "raspberrypi" (each with its own outbox): mosquitto 2.0 just closes
    the older connection, without MQTT 5's reason 0x8E; each box still finds out and says so."""
    broker = mosquitto_factory()
    caplog.set_level(logging.INFO, logger="edge.mqtt")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = Rig(tmp_path / "a", fast_config(broker, reconnect_max_s=0.5), device="raspberrypi")
    second = Rig(tmp_path / "b", fast_config(broker, reconnect_max_s=0.5), device="raspberrypi")
    try:
        _two_boxes(first, second, caplog)
    finally:
        first.close()
        second.close()


def _two_boxes(first: Rig, second: Rig, caplog) -> None:
    first.publisher.start()
    assert wait_until(lambda: first.publisher.state()["connected"], 10)
    second.publisher.start()
    assert wait_until(lambda: first.publisher.state()["takeovers"] >= 1
                      and second.publisher.state()["takeovers"] >= 1, 10)
    lines = [r.getMessage() for r in caplog.records if "client id taken over" in r.getMessage()]
    assert lines and "edge-raspberrypi" in lines[0] and "same device id" in lines[0]
    assert all(r.levelno == logging.ERROR for r in caplog.records if "taken over" in r.getMessage())
    health = first.publisher.health_payload()
    assert health["mqtt"]["takeovers"] >= 1 and any("another box uses this device id" in w
                                                    for w in health["warnings"])
    time.sleep(2.0)  # they keep knocking each other off: the log does not fill with it
    assert len([r for r in caplog.records if "taken over" in r.getMessage()]) <= 3


def test_a_fixed_password_file_is_used_at_once(mosquitto_factory, collector_factory, rigs, tmp_path):
    """The file used to be re-read only after the next refusal, then used at the attempt after
    that: with reconnect_max_s = 4 the fix took about 8 s to be used."""
    broker = mosquitto_factory(users=dict(USERS))
    col = collector_factory(broker, "alpr/dev1/read", username="collector", password=USERS["collector"])
    col.wait_subscribed()
    pw = password_file(tmp_path, "WRONG-secret-123")
    rig = rigs(fast_config(broker, username="edge", password_file=pw, reconnect_min_s=1.0,
                           reconnect_max_s=4.0))
    rig.publisher.start()
    rig.submit(5)
    assert wait_until(lambda: rig.publisher.state()["state"] == "refused", 10)
    time.sleep(3.5)  # the backoff has grown to its 4 s ceiling
    t0 = time.monotonic()
    pw.write_text("edge-pw\n")
    assert wait_until(lambda: rig.publisher.state()["connected"], 10)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.5, f"the fixed password was used after {elapsed:.1f} s"
    assert_all_arrived(col, 5)


def test_every_reconnection_is_logged(mosquitto_factory, collector_factory, rigs, tmp_path, caplog):
    broker = mosquitto_factory(start=False)
    col = start_gated(broker, None, collector_factory, "alpr/dev1/read")
    rig = rigs(fast_config(broker, username="edge", password_file=password_file(tmp_path, "edge-pw")))
    caplog.set_level(logging.INFO, logger="edge.mqtt")
    rig.publisher.start()
    rig.submit(10)
    assert_all_arrived(col, 10)
    broker.kill()
    time.sleep(0.5)
    start_gated(broker, col, collector_factory, "alpr/dev1/read")
    rig.submit(10)
    assert_all_arrived(col, 20)
    assert wait_until(lambda: rig.publisher.state()["reconnects"] >= 1, 5)
    lines = [r.getMessage() for r in caplog.records if "reconnected to" in r.getMessage()]
    assert lines and "s offline" in lines[0] and "(reconnect 1)" in lines[0], lines
