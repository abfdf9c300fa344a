"""The recorded sighting of a pass is its best view (issue 17, defect 9): `box`, `frames.best`
and `time.best` come from the sharpest, largest, most confident read, not the first one, and
never from a view cut by the picture's edge when a whole one exists."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge.records import BoundingBox
from tests.helpers import FrameClock, drain, new_tracker, plate_read

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "video" / "passes.mp4"


def test_an_approaching_plate_is_recorded_at_its_largest_not_its_first_read():
    clock, tracker = FrameClock(), new_tracker()
    widths = [59 + 10 * i for i in range(20)]  # 59 px far away ... 249 px close up
    events = []
    for w in widths:
        f = clock.frame()
        events += tracker.update(f, [plate_read("B123ABC", 400 - w / 2, 300, f, p=0.97, w=w, h=w / 4.5)])
    events += drain(tracker, clock)
    assert len(events) == 1
    assert events[0].box.w == 249 and events[0].best_frame_seq == 19
    assert events[0].best_seen == clock.t(19)


def test_a_view_cut_by_the_frame_edge_is_not_the_best_one():
    clock, tracker = FrameClock(), new_tracker()
    events = []
    for i in range(12):
        f = clock.frame()
        r = plate_read("AB12CDE", 10 + 40 * i, 300, f, p=0.95, w=170 if i < 10 else 200, h=40)
        events += tracker.update(f, [replace(r, clipped=i >= 10)])  # the last two leave the picture
    events += drain(tracker, clock)
    assert len(events) == 1 and events[0].best_frame_seq < 10 and events[0].box.w == 170


def test_view_score_prefers_sharp_large_confident_whole_views():
    from edge.sighting import view_score

    clock = FrameClock()
    f = clock.frame()
    base = plate_read("AB12CDE", 100, 100, f, p=0.9, w=150, h=35)
    assert view_score(replace(base, box=BoundingBox(100, 100, 200, 45))) > view_score(base)
    assert view_score(replace(base, sharpness=400.0)) > view_score(replace(base, sharpness=40.0))
    assert view_score(replace(base, clipped=True)) < view_score(replace(base, box=BoundingBox(0, 0, 60, 15)))
    assert view_score(plate_read("AB12CDE", 100, 100, f, p=0.95, w=150)) > view_score(base)


def test_sharpness_falls_with_blur_and_edges_are_found():
    import cv2

    from edge.sighting import sharpness, touches_edge

    rng = np.random.default_rng(0)
    crop = (rng.random((40, 160, 3)) > 0.5).astype(np.uint8) * 255
    assert sharpness(crop) > 4 * sharpness(cv2.GaussianBlur(crop, (9, 9), 3))
    assert sharpness(None) == 0.0
    assert touches_edge(BoundingBox(0, 10, 50, 20), (640, 480))
    assert touches_edge(BoundingBox(600, 10, 40, 20), (640, 480))
    assert not touches_edge(BoundingBox(10, 10, 50, 20), (640, 480))


def test_fixture_video_events_show_each_plate_at_a_large_whole_view():
    """The real models on the bundled video: each event's best frame shows its plate whole and
    at least 80% as wide as it ever gets (B123ABC's was the first, 59 px view of 249 px;
    AB12CDE's was cut by the frame edge)."""
    from edge.commands.read_video import read_video_events
    from edge.configuration.settings import load_config

    truth = json.loads(FIXTURE.with_suffix(".json").read_text())
    per_frame = {p["frame"]: p["plates"] for p in truth["per_frame"]}
    vehicles = {v["text"]: v for v in truth["vehicles"]}
    events = list(read_video_events(FIXTURE, load_config(None)))
    assert sorted(e["plate"]["text"] for e in events) == sorted(vehicles)
    for e in events:
        text = e["plate"]["text"]
        plates = [p for p in per_frame.get(e["frames"]["best"], []) if p["text"] == text]
        assert plates, f"{text}: not in view in its best frame {e['frames']['best']}"
        assert plates[0]["full"], f"{text}: its best view {e['box']} is cut by the frame edge"
        assert e["box"][2] >= 0.8 * vehicles[text]["max_plate_w"], (text, e["box"], vehicles[text]["max_plate_w"])
