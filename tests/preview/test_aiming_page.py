"""The aiming page in a real headless Chromium at 1280x800, driven through the DevTools protocol
as an installer would: the layout (panel beside the picture, hint visible), the aiming
figures (plate width against a US plate's minimum, focus, motion blur), and the ROI drawn
over the video, edited with the mouse and a finger, confirmed and saved to the calibration file.

Frames come from the project's fixture video through the real VideoFileSource; the detector
and reader replay its ground truth (tests/preview/fakes.py), so the page is checked
independently of how well the trained models do.

Set EDGE_TEST_SCREENSHOTS=DIR to keep the screenshots.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import cv2
import pytest

from edge.calibration.file import load_calibration
from edge.preview import PreviewConfig, PreviewServer
from edge.preview.loop import PreviewLoop
from edge.preview.setup import make_view
from edge.configuration.settings import build_config
from edge.sources import SourceConfig, open_source
from tests.preview.cdp import CHROMIUM, Browser
from tests.preview.fakes import GroundTruthDetector, GroundTruthReader

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "video" / "passes.mp4"
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian package 'chromium' is not installed"),
    pytest.mark.skipif(not FIXTURE.exists(), reason="fixture video tests/fixtures/video/passes.mp4 missing"),
]


def serve(config, truth) -> tuple[PreviewServer, PreviewLoop]:
    hub, roi = make_view(config, None, lambda t: t)
    server = PreviewServer(hub, PreviewConfig(enabled=True, bind="127.0.0.1:0"), roi=roi).start()
    detector = GroundTruthDetector(truth)
    source = open_source(SourceConfig(kind="video", path=str(FIXTURE), pacing="realtime", loop=True))
    return server, PreviewLoop(source, hub, detector, GroundTruthReader(detector)).start()


def keep(shot: Path) -> None:
    where = os.environ.get("EDGE_TEST_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(where) / shot.name)


def handle(browser: Browser, selector: str) -> tuple[float, float]:
    return tuple(browser.js(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                            ".getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()"))


def test_aiming_page_layout_figures_and_roi_editing(tmp_path):
    truth = json.loads(FIXTURE.with_suffix(".json").read_text())
    cal_path = tmp_path / "camera.json"
    config = build_config({"formats": {"regions": ["US"]}, "source": {"exposure_us": 4000},
                           "calibration": {"path": str(cal_path)}})
    server, loop = serve(config, truth)
    browser = Browser(tmp_path / "profile", 1280, 800)
    try:
        browser.open(server.url)
        browser.wait_for("document.body.dataset.seq > 5 && document.body.dataset.roi !== undefined "
                         "&& document.getElementById('live').naturalWidth > 0")
        # -- layout at 1280x800: the panel beside the picture, everything on screen
        rects = browser.js("""(() => { const r = (id) => document.getElementById(id).getBoundingClientRect();
            const v = r('view'), p = r('panel'), h = r('hint');
            return {view: [v.left, v.top, v.right, v.bottom], panel: [p.left, p.top, p.right, p.bottom],
                    hint: [h.left, h.top, h.right, h.bottom], w: innerWidth, h: innerHeight}; })()""")
        assert rects["panel"][0] >= rects["view"][2] - 1, rects  # beside, not below
        assert rects["view"][3] <= rects["h"] and rects["hint"][3] <= rects["h"], rects  # nothing cut off
        assert rects["view"][2] - rects["view"][0] > 700, rects  # the picture keeps most of the width
        # -- aiming figures: a US plate's minimum, focus and motion from the passing plates
        browser.wait_for("document.getElementById('aim-width').textContent.includes('px minimum for a 305 mm plate (US)')")
        assert browser.js("document.getElementById('hint-min').textContent") == "53"
        motion = browser.wait_for("(t => t.includes('px/frame') && t)(document.getElementById('aim-motion').textContent)")
        assert "exposure_us = 4000: blur" in motion and "keeps blur" in motion
        focus = browser.wait_for("(t => /^\\d+ /.test(t) && t)(document.getElementById('aim-focus').textContent)")
        assert "best" in focus
        # -- the ROI editor: no ROI yet, edit the default outline
        assert "No ROI" in browser.js("document.getElementById('roi-state').textContent")
        browser.click("#roi-edit")
        browser.wait_for("document.querySelectorAll('#roi .handle').length === 4")
        view = rects["view"]
        vw, vh = view[2] - view[0], view[3] - view[1]
        target = (view[0] + 0.3 * vw, view[1] + 0.4 * vh)
        browser.drag(handle(browser, "#roi .handle[data-i='0']"), target)  # the mouse moves a corner
        start = handle(browser, "#roi .add[data-add='3']")  # the bottom edge's middle, with a finger
        browser.touch_drag(start, (start[0], start[1] + 0.05 * vh))
        assert browser.wait_for("document.querySelectorAll('#roi .handle').length === 5")
        browser.click("#roi-save")
        question = browser.wait_for("!document.getElementById('roi-confirm').hidden && "
                                    "document.getElementById('roi-question').textContent")
        assert "5 corners" in question and str(cal_path) in question and "next start" in question
        assert not cal_path.exists()  # nothing is written before the confirmation
        shot = browser.screenshot(tmp_path / "aiming_1280x800.png")
        keep(shot)
        assert cv2.imread(str(shot)).shape == (800, 1280, 3)
        browser.click("#roi-yes")
        msg = browser.wait_for("(t => t.startsWith('Saved') && t)(document.getElementById('roi-msg').textContent)")
        assert "next start" in msg
        # -- what was saved: the dragged corner where the mouse left it, in frame pixels
        cal = load_calibration(cal_path)
        assert cal.image_size == (960, 540) and len(cal.roi.polygon) == 5
        x0, y0 = cal.roi.polygon[0]
        assert abs(x0 - 0.3 * 960) < 6 and abs(y0 - 0.4 * 540) < 6, cal.roi.polygon
        state = browser.wait_for("fetch('roi.json').then(r => r.json())")
        assert state["pending"] is True and state["active"] is None and len(state["saved"]) == 5
        browser.wait_for("document.getElementById('roi-state').textContent.includes('whole picture until its next start')")
        keep(browser.screenshot(tmp_path / "aiming_saved_1280x800.png"))
    finally:
        browser.close()
        loop.stop()
        server.stop()
    # -- the next start applies it: the ROI in use is the saved one
    from edge.app import make_transform

    transform = make_transform(config)
    hub, roi = make_view(config, transform, lambda t: t)
    state = roi.state((960, 540))
    assert state["pending"] is False and state["active"] == state["saved"] and len(state["active"]) == 5


def test_phone_width_puts_the_panel_below_the_picture(tmp_path):
    truth = json.loads(FIXTURE.with_suffix(".json").read_text())
    server, loop = serve(build_config({}), truth)
    browser = Browser(tmp_path / "profile", 390, 844)
    try:
        browser.open(server.url)
        browser.wait_for("document.body.dataset.seq > 3 && document.getElementById('live').naturalWidth > 0")
        time.sleep(0.5)
        r = browser.js("""(() => { const v = document.getElementById('view').getBoundingClientRect(),
            p = document.getElementById('panel').getBoundingClientRect();
            return [v.right, v.bottom, p.top, p.right, innerWidth]; })()""")
        assert r[2] >= r[1] - 1 and r[0] <= r[4] + 1 and r[3] <= r[4] + 1, r  # stacked, nothing wider than the phone
        assert "520 mm" in browser.js("document.getElementById('aim-width').textContent")  # no regions: EU assumed
        keep(browser.screenshot(tmp_path / "aiming_phone.png"))
    finally:
        browser.close()
        loop.stop()
        server.stop()
