"""The preview served by `edge run` itself, while it reads and publishes to a real Mosquitto.

`edge run` (a real process, the shipped models, the fixture video replayed in real time)
serves the aiming page from the frames it analyses; a real headless Chromium shows its plates
while events arrive at a real subscriber. An ROI saved through the running page is applied at
the next start: the pass it leaves out is no longer read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from edge.calibration.file import load_calibration
from tests.helpers import REPO, free_port, wait_until
from tests.preview.cdp import CHROMIUM, Browser

FIXTURE = REPO / "tests" / "fixtures" / "video" / "passes.mp4"
TOKEN = "run-preview-token-42"
# The lower part of the 960x540 fixture: the passes towards and away from the camera end there;
# the one across the picture (AB12CDE, plate at y 214-261) stays above it.
LOWER = [[0, 300], [960, 300], [960, 540], [0, 540]]


def write_config(tmp: Path, broker, *, port: int | None, outbox: str, pacing: str) -> Path:
    (tmp / "token").write_text(TOKEN + "\n")
    preview = (f'[preview]\nenabled = true\nbind = "127.0.0.1:{port}"\ntoken_file = "token"\n'
               if port else "")
    cfg = tmp / f"edge-{outbox}.toml"
    cfg.write_text(f"""
[device]
id = "run-preview"
camera = "gate"
[source]
kind = "video"
path = "{FIXTURE}"
pacing = "{pacing}"
[outbox]
path = "{outbox}.db"
[mqtt]
host = "{broker.host}"
port = {broker.port}
[calibration]
path = "camera.json"
{preview}""")
    return cfg


def edge_run(cfg: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(cfg)], cwd=cfg.parent,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def get_json(url: str, data: bytes | None = None) -> dict:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=5) as r:
        return json.loads(r.read())


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package 'chromium' is not installed")
def test_page_open_while_edge_run_publishes_and_the_roi_applies_next_start(tmp_path, mosquitto, collector_factory):
    (tmp_path / "camera.json").write_text('{"schema": "edge.calibration/1"}\n')  # as install.sh leaves it
    collector = collector_factory(mosquitto, "alpr/run-preview/read")
    collector.wait_subscribed()
    port = free_port()
    proc = edge_run(write_config(tmp_path, mosquitto, port=port, outbox="first", pacing="realtime"))
    base = f"http://127.0.0.1:{port}/"
    browser = None
    try:
        assert wait_until(lambda: _up(base), 60, 0.2), "the preview did not come up"
        browser = Browser(tmp_path / "profile", 1280, 800)
        browser.open(base + f"?token={TOKEN}")
        # the page shows a plate the shipped models read on the frames edge run analyses (one
        # frame's read: a far plate may read short before it reads whole) ...
        row = browser.wait_for("(r => r && /B123ABC|7ABC123|BRA2E19|AB12CDE/.test(r.textContent) && r.textContent)"
                               "(document.querySelector('tr.plate'))", 60)
        assert any(t in row for t in ("B123ABC", "7ABC123", "BRA2E19", "AB12CDE")), row
        # ... while edge run publishes: events arrive with the page open
        assert wait_until(lambda: collector.events(), 60, 0.2), "no event published"
        assert proc.poll() is None, "edge run should still be running (the video plays in real time)"
        assert browser.js("document.getElementById('status').textContent") == "live"
        shot = os.environ.get("EDGE_TEST_SCREENSHOTS")
        if shot:  # what an installer sees while the reader runs
            Path(shot).mkdir(parents=True, exist_ok=True)
            browser.screenshot(Path(shot) / "edge_run_preview_1280x800.png")
        d = get_json(base + "detections.json")
        assert d["camera"] == "gate" and d["frame"] == {"width": 960, "height": 540}
        # save an ROI through the running page (the browser editing is tests/preview/test_aiming_page.py)
        saved = get_json(base + "roi.json", json.dumps({"polygon": LOWER, "frame": [960, 540], "confirm": True}).encode())
        assert saved["saved"] and saved["applies"] == "at the next start"
        assert get_json(base + "roi.json")["pending"] is True  # this run keeps reading the whole picture
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
    finally:
        if browser is not None:
            browser.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert wait_until(lambda: len(collector.events()) >= 4, 20), collector.events()
    first = {e["plate"]["text"] for e in collector.events()}
    assert {"B123ABC", "7ABC123", "BRA2E19", "AB12CDE"} <= first
    assert all(e["device"]["camera"] == "gate" for e in collector.events())
    assert load_calibration(tmp_path / "camera.json").roi is not None

    # the next start applies the saved ROI: the pass across the top of the picture is left out
    before = len(collector.events())
    second = edge_run(write_config(tmp_path, mosquitto, port=None, outbox="second", pacing="fast"))
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err[-3000:]
    assert wait_until(lambda: len(collector.events()) >= before + 3, 20)
    time.sleep(1.0)  # nothing more is coming
    texts = {e["plate"]["text"] for e in collector.events()[before:]}
    assert {"B123ABC", "7ABC123", "BRA2E19"} <= texts and "AB12CDE" not in texts, texts


def _up(base: str) -> bool:
    try:
        return bool(get_json(base + "detections.json")["seq"])
    except OSError:
        return False
