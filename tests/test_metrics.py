"""The Prometheus endpoint of `edge run`, scraped over HTTP while the service runs and parsed
with prometheus_client's own text parser. One run has no broker (the outbox grows, as the
"outbox growing" alert expects), one a real Mosquitto (everything acknowledged)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from edge.configuration.validation import ConfigError
from edge.configuration.settings import build_config
from tests.helpers import REPO, free_port, wait_until

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

VIDEO = REPO / "tests" / "fixtures" / "video" / "passes.mp4"
RULES = REPO / "deploy" / "prometheus" / "edge-alerts.yml"


def scrape(port: int) -> dict[str, dict[tuple, float]]:
    """{metric sample name: {sorted label items: value}} from one scrape."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def one(metrics: dict, name: str, **labels: str) -> float:
    return metrics[name][tuple(sorted(labels.items()))]


def run_with_metrics(tmp_path: Path, mqtt: str) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    (tmp_path / "temp").write_text("48500\n")
    (tmp_path / "edge.toml").write_text(
        f'[device]\nid = "metrics-box"\n[source]\nkind = "video"\npath = "{VIDEO}"\nloop = true\n'
        f'pacing = "realtime"\n[tracking]\nrepeat_suppress_s = 0.0\n[outbox]\npath = "{tmp_path}/outbox.db"\n'
        f'[health]\ntemperature_path = "{tmp_path}/temp"\n[metrics]\nenabled = true\nbind = "127.0.0.1:{port}"\n'
        f'[mqtt]\n{mqtt}reconnect_min_s = 0.1\nreconnect_max_s = 0.5\n')
    log = tmp_path / "run.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(tmp_path / "edge.toml")],
                                cwd=REPO, stderr=err, stdout=subprocess.DEVNULL)
    assert wait_until(lambda: f"metrics on http://127.0.0.1:{port}/metrics" in log.read_text(), 60), log.read_text()
    return proc, port, log


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_no_broker_the_outbox_grows_and_the_metrics_say_so(tmp_path):
    proc, port, log = run_with_metrics(tmp_path, f'host = "127.0.0.1"\nport = {free_port()}\n')
    try:
        # the outbox commits an event a moment before the pipeline counts it: wait for both
        assert wait_until(lambda: min(one(m, "edge_outbox_depth"), one(m, "edge_events_total")) >= 2
                          if (m := scrape(port)) else False, 60), log.read_text()
        m = scrape(port)
    finally:
        stop(proc)
    shipped = json.loads((REPO / "models" / "plate_reader.json").read_text())["version"]
    assert one(m, "edge_info", device="metrics-box", camera="cam0", detector="plate_detector:2",
               reader=f"plate_reader@{shipped}", version="0.1.0") == 1
    assert one(m, "edge_frames_total", state="processed") > 0
    assert one(m, "edge_frames_total", state="captured") >= one(m, "edge_frames_total", state="processed")
    assert 5 < one(m, "edge_fps") < 40  # a 25 fps video at real-time pacing
    for stage in ("motion", "detect", "track", "total"):
        assert 0 <= one(m, "edge_stage_latency_seconds", stage=stage, quantile="0.5") \
            <= one(m, "edge_stage_latency_seconds", stage=stage, quantile="0.95") < 5
    assert one(m, "edge_dropped_frames_total", reason="capture_queue") == 0  # a file waits, it never drops
    assert one(m, "edge_events_total") >= 2
    assert one(m, "edge_outbox_oldest_unsent_age_seconds") > 0
    assert one(m, "edge_outbox_sent_total") == 0 and one(m, "edge_outbox_last_seq") >= 2
    assert one(m, "edge_mqtt_connected") == 0 and one(m, "edge_mqtt_acked_total") == 0
    assert one(m, "edge_temperature_celsius") == 48.5
    assert "process_cpu_seconds_total" in m
    used = set(re.findall(r"\b(edge_[a-z_]+)", RULES.read_text()))  # what the alert rules query
    assert used and used <= set(m), used - set(m)


def test_the_documented_alert_rules_fire_when_they_should():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed: apt-get install prometheus (scripts/ci-packages.txt)")
    check = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run([promtool, "test", "rules", str(RULES.with_suffix(".test.yml"))], capture_output=True,
                          text=True)
    assert test.returncode == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr


def test_with_a_broker_everything_is_acknowledged(tmp_path, mosquitto, collector_factory):
    collector_factory(mosquitto, "alpr/metrics-box/read").wait_subscribed()  # someone receives the reads
    proc, port, log = run_with_metrics(tmp_path, f'host = "{mosquitto.host}"\nport = {mosquitto.port}\n')
    try:
        assert wait_until(lambda: one(scrape(port), "edge_outbox_sent_total") >= 1, 60), log.read_text()
        m = scrape(port)
    finally:
        stop(proc)
    assert one(m, "edge_mqtt_connected") == 1 and one(m, "edge_mqtt_reconnects_total") == 0
    assert one(m, "edge_mqtt_acked_total") == one(m, "edge_outbox_sent_total") >= 1


def test_a_port_in_use_or_a_bad_bind_is_one_line(tmp_path):
    import socket

    with pytest.raises(ConfigError, match=r"^metrics\.bind: 'nowhere' must be HOST:PORT"):
        build_config({"metrics": {"bind": "nowhere"}})
    with pytest.raises(ConfigError, match=r"^metrics\.enable: unknown key \(did you mean 'enabled'\?\)$"):
        build_config({"metrics": {"enable": True}})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        (tmp_path / "edge.toml").write_text(f'[metrics]\nenabled = true\nbind = "127.0.0.1:{busy}"\n'
                                            f'[mqtt]\nenabled = false\n[outbox]\npath = "{tmp_path}/o.db"\n')
        r = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(tmp_path / "edge.toml")],
                           cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == \
        f"edge run: metrics.bind: cannot listen on 127.0.0.1:{busy}: Address already in use"


def test_without_prometheus_client_it_says_what_to_install(tmp_path):
    (tmp_path / "edge.toml").write_text(f'[metrics]\nenabled = true\nbind = "127.0.0.1:{free_port()}"\n'
                                        f'[mqtt]\nenabled = false\n[outbox]\npath = "{tmp_path}/o.db"\n')
    # an interpreter on which the package cannot be imported, as on a box without the extra
    code = ("import sys; sys.modules['prometheus_client'] = None; from edge.cli import main; "
            f"sys.exit(main(['run', '--config', {str(tmp_path / 'edge.toml')!r}]))")
    message = ("edge run: metrics.enabled: the metrics endpoint needs prometheus_client: "
               "pip install 'edge-plate-reader[metrics]' (prometheus_client)")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == message
    check = subprocess.run([sys.executable, "-c", code.replace("'])", "', '--check-config'])")], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 2 and check.stderr.strip() == message
