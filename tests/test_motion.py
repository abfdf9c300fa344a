"""edge.motion's gate on its own: static frames are skipped cheaply, motion outside the ROI is
ignored. (Through the whole pipeline, with a small detection frame: tests/test_pipeline.py.)"""

from __future__ import annotations


import cv2
import numpy as np

from edge.motion import MotionConfig, MotionGate


def test_motion_gate_skips_static_frames_and_is_cheap():
    gate = MotionGate(MotionConfig(detect_every_n=10, hold_frames=0))
    rng = np.random.default_rng(1)
    road = rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    noisy = [np.clip(road.astype(np.int16) + rng.integers(-4, 5, road.shape), 0, 255).astype(np.uint8)
             for _ in range(3)]
    decisions = [gate.should_detect(noisy[i % 3]) for i in range(40)]
    assert decisions[0] is True  # first frame: nothing to compare with
    assert sum(decisions[1:]) == 3  # only the periodic checks (frames 10, 20, 30... of 39)
    moving = noisy[0].copy()
    cv2.rectangle(moving, (800, 500), (1100, 700), (0, 0, 0), -1)
    assert gate.should_detect(moving) is True


def test_motion_outside_the_roi_is_ignored():
    roi = ((0, 0), (960, 0), (960, 1080), (0, 1080))  # left half only
    gate = MotionGate(MotionConfig(roi=roi, detect_every_n=0, hold_frames=0))
    still = np.full((1080, 1920, 3), 90, np.uint8)
    gate.should_detect(still)
    right = still.copy()
    cv2.rectangle(right, (1300, 300), (1700, 700), (255, 255, 255), -1)
    left = still.copy()
    cv2.rectangle(left, (200, 300), (600, 700), (255, 255, 255), -1)
    assert gate.should_detect(right) is False
    assert gate.should_detect(left) is True

