"""The ROI store (calibration file in, calibration file out), the POST that saves it, and the
aiming figures, on real files, a real HTTP server and real pixels."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from edge.calibration.file import Calibration, Intrinsics, Roi, load_calibration, save_calibration
from edge.calibration.points import raw_to_undistorted, undistorted_to_raw
from edge.plate_sizes import expected_plates, plate_size
from edge.preview import PreviewConfig, PreviewHub, PreviewServer
from edge.preview.aiming import AimingSettings, FocusMeter, MotionMeter
from edge.preview.roi import RoiError, RoiStore, parse_polygon
from edge.records import BoundingBox
from edge.sighting import sharpness

SQUARE = [[100, 100], [500, 100], [500, 300], [100, 300]]


def test_plate_sizes_per_region_and_the_readable_minimum():
    assert plate_size("us").width_mm == 305 and plate_size("GB").region == "UK"
    assert plate_size("BR").width_mm == 400 and plate_size("CN").height_mm == 140
    assert round(plate_size("US").min_readable_px) == 53 and round(plate_size("DE").min_readable_px) == 90
    assert all(plate_size(r).source for r in ("US", "DE", "BR", "CN", "IN", "UK", "CH"))
    mixed = expected_plates(["US", "DE"])
    assert mixed.reference.width_mm == 520 and not mixed.certain  # the strictest plate is the reference
    assert mixed.for_region("US").width_mm == 305 and mixed.for_region("BR") is None
    assert expected_plates(["FR", "DE"]).certain and expected_plates([]).reference.region == "EU"


def test_roi_saved_in_undistorted_pixels_and_shown_back_in_raw_ones(tmp_path):
    K = ((800.0, 0.0, 320.0), (0.0, 800.0, 180.0), (0.0, 0.0, 1.0))
    cal = Calibration(image_size=(640, 360), intrinsics=Intrinsics(K, (-0.25, 0.08, 0.0, 0.0, 0.0), K))
    path = save_calibration(cal, tmp_path / "camera.json")
    store = RoiStore(path, active=cal)
    # the page works on a 1280x720 stream of the same camera: twice the calibration's size
    saved = store.save([[200, 200], [1100, 180], [1180, 650], [150, 700]], (1280, 720), client="127.0.0.1")
    assert saved.points == 4 and 0.4 < saved.fraction < 0.8
    back = load_calibration(path)
    assert back.intrinsics == cal.intrinsics  # only the ROI changed
    und = raw_to_undistorted(back, [(200, 200)], (1280, 720))[0]
    assert back.roi.polygon[0] == pytest.approx((und[0] / 2, und[1] / 2), abs=1e-6)
    assert abs(und[0] - 200) > 1  # the lens moved it: it is not the raw point
    state = store.state((1280, 720))
    assert state["pending"] is True and state["active"] is None
    assert state["saved"][0] == pytest.approx([200, 200], abs=0.2)  # round trip through the lens
    assert undistorted_to_raw(back, [und], (1280, 720))[0] == pytest.approx((200, 200), abs=0.05)


@pytest.mark.parametrize("polygon, error", [
    ([[0, 0], [10, 0]], "3 to 64 points"),
    ([[0, 0], [600, 300], [600, 0], [0, 300]], "edges cross"),
    ([[0, 0], [700, 0], [0, 300]], "outside the 640x360 frame"),
    ([[0, 0], [5, 0], [0, 5]], "less than 1%"),
    ([[0, 0], ["a", 0], [0, 5]], "[x, y] in frame pixels"),
])
def test_bad_polygons_are_refused_with_one_line(polygon, error):
    with pytest.raises(RoiError, match=error.replace("[", r"\[")):
        parse_polygon(polygon, (640, 360))


def post(url: str, body: bytes, headers: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}") if exc.code == 400 else {}


def test_post_saves_only_confirmed_json_from_the_page_itself(tmp_path):
    path = tmp_path / "camera.json"
    hub = PreviewHub()
    hub.publish(np.zeros((360, 640, 3), np.uint8))
    server = PreviewServer(hub, PreviewConfig(enabled=True, bind="127.0.0.1:0"), "tok-12345678",
                           roi=RoiStore(path)).start()
    url = server.url + "roi.json"
    ok = {"Content-Type": "application/json", "Authorization": "Bearer tok-12345678"}
    good = json.dumps({"polygon": SQUARE, "frame": [640, 360], "confirm": True}).encode()
    try:
        assert post(url, good, {"Content-Type": "application/json"})[0] == 401  # the token is needed
        code, d = post(url, json.dumps({"polygon": SQUARE, "frame": [640, 360]}).encode(), ok)
        assert code == 400 and "confirm" in d["error"] and not path.exists()
        code, d = post(url, good, ok | {"Content-Type": "text/plain"})
        assert code == 400 and "application/json" in d["error"]
        code, d = post(url, good, ok | {"Origin": "http://evil.example"})
        assert code == 400 and "does not come from this page" in d["error"]
        code, d = post(url, good, ok | {"Origin": server.url.rstrip("/")})
        assert code == 200 and d["saved"] and d["points"] == 4 and d["applies"] == "at the next start"
        assert load_calibration(path).roi == Roi(tuple((float(x), float(y)) for x, y in SQUARE))
        state = json.loads(urllib.request.urlopen(urllib.request.Request(url, headers=ok), timeout=5).read())
        assert state["saved"] == SQUARE and state["pending"] is True and state["writable"] is True
    finally:
        server.stop()


def test_no_calibration_file_means_the_page_cannot_save(tmp_path):
    store = RoiStore(None)
    assert store.state((640, 360))["writable"] is False
    with pytest.raises(RoiError, match=r"set \[calibration\] path"):
        store.save(SQUARE, (640, 360))


def plate_picture(blur: float) -> np.ndarray:
    img = np.full((60, 240, 3), 235, np.uint8)
    cv2.putText(img, "AB12CDE", (8, 46), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (0, 0, 0), 3, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), blur) if blur > 0 else img


def test_focus_trend_follows_a_focus_ring_turned_both_ways():
    meter = FocusMeter()
    t = 0.0
    for blur in (3.0, 2.8, 2.6, 2.4, 2.2, 2.0, 1.6, 1.2, 0.8):  # turning towards sharp
        for _ in range(4):
            meter.add(t, sharpness(plate_picture(blur)))
            t += 0.25
    assert meter.figure(t).trend == "sharper"
    best = meter.figure(t).best
    for blur in (1.2, 1.6, 2.0, 2.4, 2.8, 3.2, 3.6):  # past the sharp point and back off
        for _ in range(4):
            meter.add(t, sharpness(plate_picture(blur)))
            t += 0.25
    fig = meter.figure(t)
    assert fig.trend == "softer" and fig.value < best
    for _ in range(30):
        meter.add(t, sharpness(plate_picture(3.6)))
        t += 0.25
    assert meter.figure(t).trend == "steady"


def test_motion_blur_against_the_shutter():
    meter = MotionMeter(AimingSettings(exposure_us=4000))
    for i in range(20):  # 25 fps, the plate moves 12 px right and grows 2 px a frame
        meter.add(i / 25, [BoundingBox(100 + 12 * i, 300, 100 + 2 * i, 25)])
    fig = meter.figure()
    assert fig.frame_rate == pytest.approx(25, rel=0.01)
    assert fig.px_per_frame == pytest.approx(14, rel=0.01)  # the right edge: 12 + 2 px a frame
    assert fig.max_shutter_us == pytest.approx(1e6 / (14 * 25), rel=0.01)
    assert fig.blur_px == pytest.approx(14 * 25 * 0.004, rel=0.01) and fig.ok is False  # 1.4 px > 1 px
    auto = MotionMeter(AimingSettings())
    for i in range(5):
        auto.add(i / 25, [BoundingBox(100 + i, 300, 100, 25)])
    assert auto.figure().blur_px is None and auto.figure().ok is None


def test_one_server_a_view_per_camera(tmp_path):
    north, south = PreviewHub(), PreviewHub()
    north.publish(np.zeros((360, 640, 3), np.uint8))
    south.publish(np.zeros((540, 960, 3), np.uint8))
    server = PreviewServer(north, PreviewConfig(enabled=True, bind="127.0.0.1:0"), camera="north").start()
    server.add_view("south", south, RoiStore(tmp_path / "south.json"))
    try:
        def get(path: str) -> dict:
            return json.loads(urllib.request.urlopen(server.url + path, timeout=5).read())

        assert get("cameras.json") == {"cameras": ["north", "south"]}
        assert get("detections.json")["camera"] == "north"  # the first by default
        d = get("detections.json?camera=south")
        assert d["camera"] == "south" and d["frame"] == {"width": 960, "height": 540}
        assert get("roi.json?camera=south")["path"] == str(tmp_path / "south.json")
        with pytest.raises(urllib.error.HTTPError) as err:
            get("detections.json?camera=east")
        assert err.value.code == 404
    finally:
        server.stop()
