import json

import cv2
import numpy as np
import pytest

from edge.synth.video import VehicleSpec, iter_pass_frames, render_pass_video

SPECS = [
    VehicleSpec("AB-123-CD", "eu_fr", enter_frame=5, exit_frame=20, plate_width=(40, 110), lane=0.4),
    VehicleSpec("7ABC123", "us", enter_frame=28, exit_frame=40, motion="away", plate_width=(40, 90)),
]


def test_pass_video_file_and_ground_truth(tmp_path):
    path = tmp_path / "p.mp4"
    truth = render_pass_video(path, 5, width=320, height=180, fps=25, vehicles=SPECS, static_frames_between=6)
    assert truth.n_frames == 47 and len(truth.frames) == 47
    assert [v.text for v in truth.vehicles] == ["AB123CD", "7ABC123"]
    cap = cv2.VideoCapture(str(path))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (180, 320, 3)
        n += 1
    cap.release()
    assert n == 47
    for i, plates in enumerate(truth.frames):
        for p in plates:
            v = SPECS[p.vehicle]
            assert v.enter_frame <= i <= v.exit_frame
            assert 0 <= p.box.x and 0 <= p.box.y and p.box.x2 <= 320 and p.box.y2 <= 180
    # towards: the plate grows; away: it shrinks
    w0 = [p.box.w for fr in truth.frames for p in fr if p.vehicle == 0 and p.full]
    w1 = [p.box.w for fr in truth.frames for p in fr if p.vehicle == 1 and p.full]
    assert w0[-1] > 2 * w0[0] and w1[0] > 1.5 * w1[-1]
    assert not truth.frames[0] and not truth.frames[24] and not truth.frames[46]
    js = json.loads(json.dumps(truth.to_json()))
    assert js["frames"] == 47 and js["vehicles"][0]["text"] == "AB123CD"
    assert js["vehicles"][0]["first_frame"] == 5 and js["vehicles"][1]["last_frame"] <= 40


def test_pass_video_is_deterministic(tmp_path):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    ta = render_pass_video(a, 9, 256, 144, vehicles=SPECS[:1], static_frames_between=3)
    tb = render_pass_video(b, 9, 256, 144, vehicles=SPECS[:1], static_frames_between=3)
    assert a.read_bytes() == b.read_bytes()
    ja, jb = ta.to_json(), tb.to_json()
    assert ja.pop("video") == "a.mp4" and jb.pop("video") == "b.mp4"
    assert ja == jb


def test_static_stretches_are_identical_even_with_noise():
    frames = [f for f, _ in iter_pass_frames(3, 160, 90, SPECS[:1], 30, noise=2.0)]
    assert np.array_equal(frames[0], frames[4])  # before the car enters
    assert np.array_equal(frames[22], frames[29])  # after it left
    assert not np.array_equal(frames[4], frames[10])  # while it moves


def test_unknown_motion_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown motion"):
        render_pass_video(tmp_path / "x.mp4", 1, 160, 90, vehicles=[VehicleSpec(motion="flying")])
