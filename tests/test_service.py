"""`edge run` as a real subprocess: systemd notify on a real unix datagram socket, and SIGTERM
mid-video closing the open track and committing its event before exit."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from edge.service import NullNotifier, SystemdNotifier, notifier_from_env, watchdog_interval_s
from tests.helpers import REPO, NotifyListener, make_clip, start_edge, write_config


def test_sigterm_mid_video_commits_the_open_track_and_notifies_systemd(tmp_path):
    clip = make_clip(tmp_path / "passes.avi")
    cfg = write_config(tmp_path, clip)
    listener = NotifyListener(tmp_path / "notify.sock")
    proc = start_edge(["run", "--config", str(cfg)],
                      {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "400000"},
                      tmp_path)
    try:
        t_ready = listener.wait_for("READY=1", timeout=60)
        # ABC123 is in view from 0.2 s to 1.6 s of the (real-time paced) video
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t_ready)))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
    assert proc.returncode == 0, err
    messages = [m for _, m in listener.messages]
    assert any(m.startswith("READY=1") for m in messages)
    assert any(m == "WATCHDOG=1" for m in messages)
    assert any(m == "STOPPING=1" for m in messages)
    assert any(m.startswith("STATUS=running") for m in messages)
    # the vehicle still in view was closed, committed to the outbox and printed
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        rows = db.execute("SELECT seq, payload FROM events ORDER BY seq").fetchall()
    events = [json.loads(p) for _, p in rows]
    assert [e["plate"]["text"] for e in events] == ["ABC123"]
    assert [s for s, _ in rows] == [1]
    assert events[0]["time"]["first_seen"] == "2026-05-04T07:30:00.200Z"
    assert events[0]["time"]["last_seen"] < "2026-05-04T07:30:01.600Z"  # cut short by the stop
    printed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [e["id"] for e in printed] == [events[0]["id"]]
    assert "SIGTERM" in err


def test_check_config_names_a_bad_key_in_one_line(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[source]\nknd = "video"\n')
    proc = start_edge(["run", "--config", str(cfg), "--check-config"], {}, tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines() == ["edge run: source.knd: unknown key (did you mean 'kind'?)"]


def test_unreadable_video_is_a_one_line_error(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing else")
    cfg = write_config(tmp_path, bad)
    proc = start_edge(["run", "--config", str(cfg)], {}, tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("edge run:")]
    assert lines == [f"edge run: {bad}: cannot open as a video (corrupt, truncated or unsupported format)"]


def test_notifier_speaks_sd_notify_on_abstract_and_path_sockets(tmp_path):
    assert isinstance(notifier_from_env({}), NullNotifier)
    name = f"edge-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        n = notifier_from_env({"NOTIFY_SOCKET": "@" + name})
        assert isinstance(n, SystemdNotifier)
        n.status("warming up\nmodels")
        n.watchdog()
        assert sock.recv(100) == b"STATUS=warming up models"
        assert sock.recv(100) == b"WATCHDOG=1"
    finally:
        sock.close()


@pytest.mark.parametrize("env,expected", [
    ({"WATCHDOG_USEC": "10000000"}, 5.0),
    ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}, None),
    ({}, None),
])
def test_watchdog_interval_is_half_of_systemds(env, expected):
    assert watchdog_interval_s(env) == expected


def _outbox_events(db_path: Path) -> list[tuple[int, dict]]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT seq, payload FROM events ORDER BY seq").fetchall()
    return [(seq, json.loads(p)) for seq, p in rows]


def test_sigkill_mid_video_then_restart_records_each_vehicle_once(tmp_path):
    """A crash loses nothing and, because a replayed file gives the same event ids, the restart
    does not store the vehicles already recorded a second time: seq stays 1..N, one per vehicle."""
    clip = make_clip(tmp_path / "passes.avi")
    cfg = write_config(tmp_path, clip)
    listener = NotifyListener(tmp_path / "notify.sock")
    proc = start_edge(["run", "--config", str(cfg)], {"NOTIFY_SOCKET": str(tmp_path / "notify.sock")},
                      tmp_path)
    try:
        t_ready = listener.wait_for("READY=1", timeout=60)
        # ABC123 ends at 1.6 s and is emitted ~1 s later; XYZ789 is in view from 4.0 s
        deadline = t_ready + 20
        while time.monotonic() < deadline and not (tmp_path / "outbox.db").exists():
            time.sleep(0.05)
        while time.monotonic() < deadline and not _outbox_events(tmp_path / "outbox.db"):
            time.sleep(0.05)
        time.sleep(max(0.0, 4.5 - (time.monotonic() - t_ready)))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
    before = _outbox_events(tmp_path / "outbox.db")
    assert [e["plate"]["text"] for _, e in before] == ["ABC123"]

    fast = tmp_path / "fast.toml"
    fast.write_text(cfg.read_text().replace('pacing = "realtime"', 'pacing = "fast"'))
    proc = start_edge(["run", "--config", str(fast)], {}, tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    after = _outbox_events(tmp_path / "outbox.db")
    assert [s for s, _ in after] == [1, 2, 3]
    assert sorted(e["plate"]["text"] for _, e in after) == ["ABC123", "KLM456", "XYZ789"]
    assert after[0][1]["id"] == before[0][1]["id"]
    # the restart printed every event of the file, the one recorded before the crash included
    printed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert sorted(e["seq"] for e in printed) == [1, 2, 3]


def test_edge_run_publishes_one_valid_event_per_vehicle_to_a_real_broker(tmp_path, mosquitto):
    import jsonschema

    from tests.helpers import Collector, wait_until

    clip = make_clip(tmp_path / "passes.avi")
    cfg = tmp_path / "broker.toml"
    cfg.write_text(write_config(tmp_path, clip).read_text()
                   .replace('pacing = "realtime"', 'pacing = "fast"')
                   .replace("[mqtt]\nenabled = false",
                            f'[mqtt]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\n'
                            'topic_prefix = "pipeline-test"'))
    collector = Collector(mosquitto, "pipeline-test/svc-test/#")
    try:
        collector.wait_subscribed()
        proc = start_edge(["run", "--config", str(cfg)], {}, tmp_path)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert wait_until(lambda: len(collector.events()) >= 3, 10)
        events = collector.events()
    finally:
        collector.close()
    assert out.strip() == ""  # with a broker, events are published, not printed (no --print)
    schema = json.loads((REPO / "schemas" / "edge.read-1.schema.json").read_text())
    for e in events:
        jsonschema.validate(e, schema)
    assert sorted(e["seq"] for e in events) == [1, 2, 3]
    assert sorted(e["plate"]["text"] for e in events) == ["ABC123", "KLM456", "XYZ789"]
    first = {e["plate"]["text"]: e["time"]["first_seen"] for e in events}
    assert first == {"ABC123": "2026-05-04T07:30:00.200Z", "XYZ789": "2026-05-04T07:30:04.000Z",
                     "KLM456": "2026-05-04T07:30:05.600Z"}


def test_doctor_prints_one_line_per_check_and_fails_on_a_broken_part(tmp_path):
    clip = make_clip(tmp_path / "passes.avi")
    good = write_config(tmp_path, clip)
    proc = start_edge(["doctor", "--config", str(good), "--timeout", "5"], {}, tmp_path)
    out, err = proc.communicate(timeout=120)
    lines = out.strip().splitlines()
    levels = {line.split()[1]: line.split()[0] for line in lines}
    assert proc.returncode == 0, out + err
    assert levels["config"] == levels["source"] == levels["models"] == levels["state-dir"] == "OK"
    assert levels["gps"] == "WARN" and levels["broker"] == "WARN"  # none configured / disabled

    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace(str(clip), str(tmp_path / "missing.mp4"))
                   .replace(str(tmp_path / "outbox.db"), "/proc/edge-test/outbox.db"))
    proc = start_edge(["doctor", "--config", str(bad), "--timeout", "5"], {}, tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert any("source" in f and "not found" in f for f in fails)
    assert any("state-dir" in f and "not writable" in f for f in fails)


def test_bench_reports_fps_latency_and_memory(tmp_path):
    clip = make_clip(tmp_path / "passes.avi")
    cfg = write_config(tmp_path, clip)
    proc = start_edge(["bench", str(clip), "--config", str(cfg), "--json", "--detect-every-frame"], {}, tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["frames"]["processed"] == result["frames"]["detected_frames"] == 150
    assert result["fps"] > 0 and 20 < result["peak_rss_mb"] < 1000
    assert sorted(result["events"]) == ["ABC123", "KLM456", "XYZ789"]
    assert {"motion", "detect", "read", "track", "total"} <= set(result["latency_ms"])


def test_second_signal_exits_at_once(tmp_path):
    clip = make_clip(tmp_path / "passes.avi")
    cfg = tmp_path / "slow.toml"
    cfg.write_text(write_config(tmp_path, clip).read_text().replace(
        "tests.helpers:detector_plugin", "tests.helpers:slow_detector_plugin"))
    listener = NotifyListener(tmp_path / "notify.sock")
    proc = start_edge(["run", "--config", str(cfg)], {"NOTIFY_SOCKET": str(tmp_path / "notify.sock")},
                      tmp_path)
    try:
        listener.wait_for("READY=1", timeout=60)
        time.sleep(0.5)  # inside the 2 s predict of the first frame
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
    assert proc.returncode == 128 + signal.SIGTERM
    assert elapsed < 1.5  # did not wait for the wedged model
    assert "exiting now" in err
