#!/usr/bin/env python3
"""Per-frame cost of the calibration transform in the pipeline, before and after the
detection-frame path, on 1920x1080 fixture frames (no models).

"full frame" is what the pipeline did before (and still does for a plain callable transform
or while the live preview is on): remap the whole 1920x1080 frame, shrink it to the detector's
416 px, cut the plate crops from it. "detection frame" is the pipeline's path with a
CalibratedTransform: shrink the raw frame to 416 px, remap that (maps at that size), and
remap only the plate regions of the full-resolution frame (the full-res maps, sliced).
Both run through the real `Pipeline.prepare` + `_detect`'s downscale + the crops, interleaved
frame by frame in one process; the figure is the median of the per-frame wall times
(time.perf_counter) and of the per-frame CPU times of this thread.

    python3 benchmarks/calibration.py [--frames 300] [--plates 2] [--json]
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

from edge.calibration.file import Calibration, Intrinsics, Roi  # noqa: E402
from edge.calibration.intrinsics import undistorted_camera_matrix  # noqa: E402
from edge.calibration.prewarp import prewarp_from_points  # noqa: E402
from edge.calibration.transform import CalibratedTransform  # noqa: E402
from edge.pipeline import Pipeline, PipelineOptions, downscale_for_detection  # noqa: E402
from edge.recognition.reading import crop_plate  # noqa: E402
from edge.records import BoundingBox, Frame  # noqa: E402
from tests.helpers import NoFrames  # noqa: E402

VIDEO = REPO / "tests" / "fixtures" / "video" / "passes_1080p.mp4"
SIDE = 416


def calibrations(w: int, h: int) -> dict[str, Calibration]:
    K = np.array([[1.1 * w, 0, w / 2], [0, 1.1 * w, h / 2], [0, 0, 1]])
    D = np.array([-0.2, 0.05, 0, 0, 0])
    Kn = undistorted_camera_matrix(K, D, (w, h), 0.0)
    intr = Intrinsics(tuple(map(tuple, K)), tuple(D), tuple(map(tuple, Kn)))
    quad = [(0.3 * w, 0.5 * h), (0.7 * w, 0.48 * h), (0.72 * w, 0.62 * h), (0.28 * w, 0.64 * h)]
    roi = Roi(((0, 0.4 * h), (w, 0.35 * h), (w, h), (0, h)))
    return {"undistort": Calibration((w, h), intr),
            "undistort+roi+prewarp": Calibration((w, h), intr, roi=roi,
                                                 prewarp=prewarp_from_points(quad, (w, h)))}


def pipeline(transform) -> Pipeline:
    return Pipeline(NoFrames(), object(), object(), object(), object(), transform=transform,
                    options=PipelineOptions(detect_side=SIDE))


def one_frame(p: Pipeline, frame: Frame, boxes: list[BoundingBox]) -> tuple[float, float]:
    """What the pipeline does with the calibration for one frame: prepare, the detector's
    input, the plate crops (materialised, as the reader's preprocessing reads them)."""
    t0, c0 = time.perf_counter(), time.thread_time()
    prepared = p.prepare(frame)
    small = downscale_for_detection(prepared.detect_image if prepared.detect_image is not None
                                    else prepared.image, SIDE)
    assert max(small.shape[:2]) == SIDE
    for box in boxes:
        crop = prepared.crop(box) if prepared.crop is not None else crop_plate(prepared.image, box)
        np.ascontiguousarray(crop)
    return (time.perf_counter() - t0) * 1e3, (time.thread_time() - c0) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=VIDEO)
    ap.add_argument("--frames", type=int, default=300, help="timed frames per path and calibration")
    ap.add_argument("--plates", type=int, default=2, help="plate crops per frame (200x50 px boxes)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    cap = cv2.VideoCapture(str(args.video))
    images = []
    while len(images) < 24:
        ok, image = cap.read()
        if not ok:
            break
        images.append(image)
    cap.release()
    if not images:
        print(f"cannot read {args.video}", file=sys.stderr)
        return 1
    h, w = images[0].shape[:2]
    frames = [Frame(i, im, i, None, "bench") for i, im in enumerate(images)]
    boxes = [BoundingBox(300 + 600 * i, 600, 200, 50) for i in range(args.plates)]

    out: dict = {"size": [w, h], "detect_side": SIDE, "plates": args.plates, "frames": args.frames,
                 "ms_per_frame_median": {}}
    for name, cal in calibrations(w, h).items():
        transform = CalibratedTransform(cal)
        paths = {"full frame": pipeline(lambda im, t=transform: t(im)),  # plain callable: old path
                 "detection frame": pipeline(transform)}
        for p in paths.values():  # maps built once, outside the timing (as on the first frame)
            for _ in range(3):
                one_frame(p, frames[0], boxes)
        wall: dict[str, list[float]] = {k: [] for k in paths}
        cpu: dict[str, list[float]] = {k: [] for k in paths}
        for i in range(args.frames):
            for k, p in paths.items():  # interleaved: the machine's load hits both alike
                ms, cpu_ms = one_frame(p, frames[i % len(frames)], boxes)
                wall[k].append(ms)
                cpu[k].append(cpu_ms)
        out["ms_per_frame_median"][name] = {
            k: {"wall": round(statistics.median(wall[k]), 3), "cpu": round(statistics.median(cpu[k]), 3)}
            for k in paths}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{args.video.name} {w}x{h}, detector side {SIDE}, {args.plates} plate crops/frame, "
          f"median of {args.frames} frames each (interleaved), ms per frame:")
    for name, r in out["ms_per_frame_median"].items():
        full, det = r["full frame"], r["detection frame"]
        print(f"  {name:<22} full frame {full['wall']:7.2f} wall {full['cpu']:7.2f} CPU | "
              f"detection frame {det['wall']:6.2f} wall {det['cpu']:6.2f} CPU | "
              f"x{full['wall'] / max(det['wall'], 1e-6):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
