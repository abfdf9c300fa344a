"""`edge preview`: the page, the MJPEG stream and the JSON, in a real headless Chromium.

The detector and reader here are simple fakes that satisfy edge.ports (a threshold detector
that finds the bright plate, a reader that returns a fixed text for bright crops); frames come
from a real video file through the real VideoFileSource, replayed in real time in a loop.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.cli import main
from edge.preview import PreviewConfig, PreviewError, PreviewHub, PreviewServer
from edge.preview.loop import PreviewLoop
from edge.sources import SourceConfig, open_source
from tests.preview.fakes import PLATE_H, PLATE_W, TEXT, FixedReader, GroundTruthDetector, GroundTruthReader, ThresholdDetector

W, H = 640, 360


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """A 3 s, 10 fps video of a white plate with black text crossing a grey road."""
    path = tmp_path_factory.mktemp("preview") / "pass.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    assert w.isOpened()
    for i in range(30):
        img = np.full((H, W, 3), (70, 75, 80), np.uint8)
        x, y = 40 + i * 14, 200
        cv2.rectangle(img, (x, y), (x + PLATE_W - 1, y + PLATE_H - 1), (255, 255, 255), -1)
        cv2.putText(img, TEXT, (x + 8, y + 26), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
        w.write(img)
    w.release()
    return path


def start(video: Path, **cfg) -> tuple[PreviewServer, PreviewLoop]:
    token = cfg.pop("token", None)
    config = PreviewConfig(enabled=True, bind=cfg.pop("bind", "127.0.0.1:0"), **cfg)
    hub = PreviewHub(config.jpeg_quality, config.max_width)
    server = PreviewServer(hub, config, token).start()
    source = open_source(SourceConfig(kind="video", path=str(video), pacing="realtime", loop=True))
    loop = PreviewLoop(source, hub, ThresholdDetector(), FixedReader()).start()
    deadline = time.monotonic() + 10
    while hub.seq < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hub.seq >= 3, "the loop should publish frames"
    return server, loop


@pytest.fixture
def running(video):
    server, loop = start(video)
    yield server
    loop.stop()
    server.stop()


def get(url: str, headers: dict | None = None, timeout: float = 5.0):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, dict(r.headers), r.read()


def test_page_json_frame_and_stream(running):
    status, headers, body = get(running.url)
    assert status == 200 and b'<img id="live" src="stream.mjpg"' in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]

    _, _, raw = get(running.url + "detections.json")
    d = json.loads(raw)
    assert d["frame"] == {"width": W, "height": H} and d["seq"] >= 3
    (plate,) = d["plates"]
    assert plate["text"] == TEXT and plate["confidence"] == pytest.approx(0.93)
    assert plate["width_px"] == pytest.approx(PLATE_W, abs=2) and plate["readable"] is True

    _, headers, jpg = get(running.url + "frame.jpg")
    img = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
    assert headers["Content-Type"] == "image/jpeg" and img.shape == (H, W, 3)

    # The MJPEG stream: consecutive parts are different frames.
    req = urllib.request.urlopen(running.url + "stream.mjpg", timeout=5)
    assert req.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=edgeframe"
    parts = []
    buf = b""
    while len(parts) < 3:
        buf += req.read1(65536)
        while True:
            m = re.search(rb"--edgeframe\r\nContent-Type: image/jpeg\r\nContent-Length: (\d+)\r\n\r\n", buf)
            if not m or len(buf) < m.end() + int(m.group(1)):
                break
            parts.append(buf[m.end():m.end() + int(m.group(1))])
            buf = buf[m.end() + int(m.group(1)):]
    req.close()
    frames = [cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in parts]
    assert all(f is not None and f.shape == (H, W, 3) for f in frames)
    assert np.abs(frames[0].astype(int) - frames[2].astype(int)).mean() > 0.5  # the plate moved


def test_token_required_beyond_localhost_and_enforced(video):
    with pytest.raises(PreviewError, match="beyond localhost, a token is required"):
        PreviewServer(PreviewHub(), PreviewConfig(bind="0.0.0.0:0"))
    server, loop = start(video, bind="0.0.0.0:0", token="s3cret-token")
    try:
        base = f"http://127.0.0.1:{server.address[1]}/"
        for path in ("", "detections.json", "stream.mjpg", "frame.jpg", "app.js"):
            with pytest.raises(urllib.error.HTTPError) as err:
                get(base + path)
            assert err.value.code == 401
        with pytest.raises(urllib.error.HTTPError):
            get(base + "detections.json", {"Authorization": "Bearer wrong-token"})
        assert get(base + "detections.json", {"Authorization": "Bearer s3cret-token"})[0] == 200
        status, headers, _ = get(base + "?token=s3cret-token")
        assert status == 200 and "HttpOnly" in headers["Set-Cookie"]
        cookie = headers["Set-Cookie"].split(";")[0]
        assert get(base + "frame.jpg", {"Cookie": cookie})[0] == 200
    finally:
        loop.stop()
        server.stop()


def test_cli_refuses_open_bind_without_token_and_runs_on_a_video(video, capsys):
    assert main(["preview", "--bind", "0.0.0.0:8099", "--no-detect", "--source", str(video)]) == 1
    assert "a token is required" in capsys.readouterr().err
    assert main(["preview", "--bind", "127.0.0.1:0", "--no-detect", "--source", str(video), "--seconds", "1"]) == 0
    assert re.search(r"edge preview: open http://127\.0\.0\.1:\d+/", capsys.readouterr().out)


# ---- a real browser ------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian package 'chromium' is not installed "
                                    "(listed in scripts/ci-packages.txt)")


def chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}",
             "--virtual-time-budget=3000"]
    return subprocess.run([CHROMIUM, *flags, *extra, url], capture_output=True, text=True, timeout=90)


@needs_chromium
def test_browser_page_loads_stream_updates_and_boxes_appear(video, tmp_path):
    # Token-protected, so the browser must also carry the cookie on the stream and fetches.
    server, loop = start(video, token="browser-token-1")
    try:
        streamed_before = server.hub.frames_streamed
        p = chromium(tmp_path, server.url + "?token=browser-token-1", "--dump-dom")
        assert p.returncode == 0, p.stderr[-2000:]
        dom = p.stdout
        # the script ran and rendered the latest detections: a table row and an overlay box
        row = re.search(r'<tr class="plate"><td>(\w+)</td><td>([\d.]+)</td><td class="good">(\d+)</td>', dom)
        assert row, dom[-3000:]
        assert row.group(1) == TEXT and abs(int(row.group(3)) - PLATE_W) <= 2
        assert re.search(r'<div class="box" title="AB12CDE \d+px" style="left: [\d.]+%; top: [\d.]+%; width: [\d.]+%', dom)
        assert re.search(r'<b id="size">640x360</b>', dom) and "<li>AB12CDE</li>" in dom
        seq = int(re.search(r'data-seq="(\d+)"', dom).group(1))
        assert seq > 3
        # the browser's <img> pulled several MJPEG parts (the only stream client here)
        assert server.hub.frames_streamed - streamed_before >= 3

        shot = tmp_path / "shot.png"
        p = chromium(tmp_path, server.url + "?token=browser-token-1", f"--screenshot={shot}", "--window-size=1100,600")
        assert p.returncode == 0 and shot.exists(), p.stderr[-2000:]
        img = cv2.imread(str(shot))
        # The streamed frame is on screen: its grey road, the white plate and the green box drawn
        # around the plate in the JPEG (BGR ~ (0, 220, 0)).
        view = img[40:420, 0:660]
        road = np.all(np.abs(view.astype(int) - (70, 75, 80)) < 12, axis=2).mean()
        green = (view[..., 1] > 180) & (view[..., 0] < 80) & (view[..., 2] < 80)
        white = np.all(view > 235, axis=2)
        assert road > 0.5, f"stream image not on screen (road fraction {road:.2f})"
        assert green.sum() > 200 and white.sum() > 1000
    finally:
        loop.stop()
        server.stop()


# ---- the project's fixture video ---------------------------------------------------------

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "video" / "passes.mp4"


@needs_chromium
@pytest.mark.skipif(not FIXTURE.exists(), reason="fixture video tests/fixtures/video/passes.mp4 not in this checkout")
def test_browser_shows_plates_of_the_fixture_video(tmp_path):
    truth = json.loads(FIXTURE.with_suffix(".json").read_text())
    widths: dict[str, list[float]] = {}
    for f in truth["per_frame"]:
        for p in f["plates"]:
            if p["full"]:
                widths.setdefault(p["text"], []).append(p["box"][2])
    config = PreviewConfig(enabled=True, bind="127.0.0.1:0")
    hub = PreviewHub()
    server = PreviewServer(hub, config).start()
    detector = GroundTruthDetector(truth)
    source = open_source(SourceConfig(kind="video", path=str(FIXTURE), pacing="realtime", loop=True))
    loop = PreviewLoop(source, hub, detector, GroundTruthReader(detector)).start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not hub.detections()["last_plates"]:
            time.sleep(0.1)
        p = chromium(tmp_path, server.url, "--dump-dom")
        assert p.returncode == 0, p.stderr[-2000:]
        rows = re.findall(r'<tr class="plate"><td>(\w+)</td><td>[\d.]+</td><td class="(?:good|bad)">(\d+)</td>', p.stdout)
        assert rows, p.stdout[-3000:]
        for text, width in rows:
            assert text in widths  # a real plate of the fixture...
            assert min(widths[text]) - 1 <= int(width) <= max(widths[text]) + 1  # ...with its pixel width
        assert re.search(r'<b id="size">960x540</b>', p.stdout)
        assert int(re.search(r'data-streamed="(\d+)"', p.stdout).group(1)) >= 1
    finally:
        loop.stop()
        server.stop()
