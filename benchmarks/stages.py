#!/usr/bin/env python3
"""Micro-benchmarks of the pipeline's own per-frame costs on 1920x1080 fixture frames
(no models): decode, motion gate, detection-input downscale. Median of --runs runs, in CPU
milliseconds (process time for decode, which FFmpeg spreads over threads; thread time for
the rest), so a busy machine does not inflate the figures.

    python3 benchmarks/stages.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.motion import MotionConfig, MotionGate  # noqa: E402
from edge.pipeline import downscale_for_detection  # noqa: E402

VIDEO = REPO / "tests" / "fixtures" / "video" / "passes_1080p.mp4"


def frames(video: Path, keep: int = 24) -> tuple[list[np.ndarray], float]:
    """Decode the whole video (timed, nothing kept) and return its first `keep` frames."""
    cap = cv2.VideoCapture(str(video))
    n = 0
    t0 = time.process_time()  # FFmpeg decodes on its own threads: count them all
    while cap.grab():
        cap.retrieve()
        n += 1
    decode_ms = (time.process_time() - t0) / max(1, n) * 1e3
    cap.release()
    cap = cv2.VideoCapture(str(video))
    out = []
    while len(out) < keep:
        ok, image = cap.read()
        if not ok:
            break
        out.append(image)
    cap.release()
    return out, decode_ms


def per_frame_ms(fn, images: list[np.ndarray]) -> float:
    """CPU time of this thread per frame (what the stage costs, not how busy the machine is)."""
    t0 = time.thread_time()
    for image in images:
        fn(image)
    return (time.thread_time() - t0) / len(images) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--video", type=Path, default=VIDEO)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results: dict[str, list[float]] = {"decode": [], "motion_gate": [], "downscale_416": [],
                                       "inter_area_416": []}
    for _ in range(args.runs):
        images, decode_ms = frames(args.video)
        results["decode"].append(decode_ms)
        gate = MotionGate(MotionConfig())
        results["motion_gate"].append(per_frame_ms(gate.should_detect, images))
        results["downscale_416"].append(per_frame_ms(lambda im: downscale_for_detection(im, 416), images))
        results["inter_area_416"].append(per_frame_ms(
            lambda im: cv2.resize(im, (416, 234), interpolation=cv2.INTER_AREA), images))
    h, w = images[0].shape[:2]
    summary = {k: round(statistics.median(v), 3) for k, v in results.items()}
    if args.json:
        print(json.dumps({"size": [w, h], "ms_per_frame_median": summary, "runs": args.runs}))
        return 0
    print(f"{args.video.name} {w}x{h}, median of {args.runs} runs, CPU ms per frame:")
    for k, v in summary.items():
        print(f"  {k:<16} {v:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
