"""The capture thread shrinks frames for the detector ahead (edge.shrink_ahead): the detector
must get exactly the images it got when the inference thread shrank them itself."""

from __future__ import annotations

import hashlib

import numpy as np

from edge.motion import MotionConfig
from edge.shrink_ahead import ShrinkAhead
from tests.helpers import ColourPlateDetector
from tests.test_pipeline import build


class RecordingDetector(ColourPlateDetector):
    input_side = 240

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def predict(self, image):
        self.seen.append(hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest())
        return super().predict(image)


def _run(tmp_path, clip, motion, ahead: bool):
    detector = RecordingDetector()
    pipeline, outbox, _ = build(tmp_path, clip, motion, detector=detector)
    if not ahead:
        pipeline.shrink_ahead = None
    taken = []
    if ahead:
        take = pipeline.shrink_ahead.take
        pipeline.shrink_ahead.take = lambda image: taken.append(r := take(image)) or r
    pipeline.run()
    events = [(r.payload) for r in outbox.rows(limit=20)]
    return detector.seen, events, sum(t is not None for t in taken)


def test_frames_shrunk_ahead_give_the_detector_the_same_pixels(tmp_path, clip):
    for motion in (MotionConfig(enabled=False), MotionConfig()):
        before = _run(tmp_path / f"a{motion.enabled}", clip, motion, ahead=False)
        after = _run(tmp_path / f"b{motion.enabled}", clip, motion, ahead=True)
        assert after[0] == before[0] and len(before[0]) > 0
        assert [e.split(b'"id"')[0] for e in after[1]] == [e.split(b'"id"')[0] for e in before[1]]
        assert after[2] > 0  # some frames did come shrunk from the capture thread


def test_only_frames_after_two_detected_ones_are_shrunk_and_none_is_held():
    calls = []
    ahead = ShrinkAhead(100, lambda image, side: calls.append(image) or image[::2, ::2], keep=2)
    frames = [np.zeros((200, 200, 3), np.uint8) for _ in range(6)]
    ahead.prepare(frames[0])
    assert ahead.take(frames[0]) is not None and len(calls) == 1
    ahead.decided(frames[1], False)  # the gate skipped a frame: the next are not shrunk
    ahead.prepare(frames[2])
    assert ahead.take(frames[2]) is None and len(calls) == 1
    ahead.decided(frames[2], True)  # one detected frame is not yet a run of them
    ahead.prepare(frames[3])
    assert len(calls) == 1
    ahead.decided(frames[3], True)
    for f in frames[3:]:
        ahead.prepare(f)  # never taken (dropped frames): only `keep` of them are held
    assert len(ahead._ready) == 2 and ahead.take(frames[3]) is None
