#!/usr/bin/env python3
"""Per-stage latency for choosing Pi performance settings (threads, int8 vs float, detection size).

    python3 deploy/raspberrypi/pi_bench.py                    # in the repo (or /opt/edge/venv/bin/python)
    python3 deploy/raspberrypi/pi_bench.py --runs 30 --json out.json --markdown

Measures, each as the median of --runs calls after warm-up, single process:
  detector  every model found (plate_detector.onnx, plate_detector_int8.onnx) x intra-op
            threads x letterbox side (the detector's input resolution) on one frame
  reader    every reader model found x threads, batches of 1 and 4 plate crops
  transform calibration remap (undistort + prewarp) at 1920x1080 and 640x360
  preview   annotate + JPEG-encode one 1280x720 preview frame
`edge bench` (benchmarks/) measures the whole pipeline; this isolates the knobs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def median_ms(fn, runs: int, warmup: int = 3) -> tuple[float, float]:
    """(median wall ms, median process-CPU ms) per call. CPU time (all of this process's
    threads) is what a busy shared machine cannot inflate; wall time shows thread speed-up
    only when cores are free."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def frame_1080p():
    import cv2

    video = REPO / "tests" / "fixtures" / "video" / "passes_1080p.mp4"
    if video.exists():
        cap = cv2.VideoCapture(str(video))
        ok, img = cap.read()
        cap.release()
        if ok:
            return img
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (1080, 1920, 3), np.uint8)


def plate_crops(n: int):
    import cv2

    folder = REPO / "tests" / "fixtures" / "plates"
    crops = [cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))[:n]] if folder.exists() else []
    crops = [c for c in crops if c is not None]
    while len(crops) < n:
        crops.append(np.full((40, 180, 3), 220, np.uint8))
    return crops


def cpu_name() -> str:
    try:
        info = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip().lower(), value.strip())
        for key in ("model name", "model", "hardware"):  # x86, Raspberry Pi ("Raspberry Pi 5 ..."), others
            if info.get(key) and not info[key].isdigit():
                return info[key]
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, default=None, help="models folder (default: edge's models_dir())")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", default="1,2,4")
    ap.add_argument("--sides", default="320,416,512")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", action="store_true", help="print markdown tables")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    sides = [int(s) for s in args.sides.split(",")]

    from edge.recognition.models import models_dir

    mdir = args.models or Path(models_dir())
    frame = frame_1080p()
    results: dict = {"machine": {"cpu": cpu_name(), "arch": platform.machine(), "cores": os.cpu_count(),
                                 "python": platform.python_version()},
                     "detector": [], "reader": [], "transform": [], "preview": []}
    try:
        import onnxruntime as ort

        results["machine"]["onnxruntime"] = ort.__version__
    except ImportError:
        pass

    import cv2

    from edge.recognition.models.detector import OnnxPlateDetector

    for model in sorted(mdir.glob("plate_detector*.onnx")):
        for t in threads:
            det = OnnxPlateDetector(model, threads=t)
            model_coarse = det.coarse_side
            for side in sides:
                # The detector's input resolution: a frame already at that width (as picamera2's
                # "lores" stream or the pipeline's pre-shrink delivers it), letterboxed to side.
                det.input_side = side
                small = cv2.resize(frame, (side, round(side * frame.shape[0] / frame.shape[1])),
                                   interpolation=cv2.INTER_AREA)
                # with and without the model's coarse second pass ([detector] coarse_side = 0)
                for coarse in sorted({0, model_coarse if model_coarse < side else 0}):
                    det.coarse_side = coarse
                    ms, cpu = median_ms(lambda: det.predict(small), args.runs)
                    results["detector"].append({"model": model.name, "threads": t, "side": side,
                                                "coarse_side": coarse, "ms": round(ms, 2), "cpu_ms": round(cpu, 2)})
                    print(f"detector {model.name:28s} threads={t} side={side} coarse={coarse}: "
                          f"{ms:7.2f} ms wall, {cpu:7.2f} ms CPU", file=sys.stderr)

    from edge.recognition.models.reader import OnnxPlateReader

    for model in sorted(mdir.glob("plate_reader*.onnx")):
        sidecar = model.with_suffix(".json")
        if not sidecar.exists():
            sidecar = mdir / "plate_reader.json"
        for t in threads[:2]:
            rdr = OnnxPlateReader(model, threads=t, sidecar=sidecar)
            for batch in (1, 4):
                crops = plate_crops(batch)
                ms, cpu = median_ms(lambda: rdr.predict(crops), args.runs)
                results["reader"].append({"model": model.name, "threads": t, "batch": batch,
                                          "ms": round(ms, 2), "cpu_ms": round(cpu, 2)})
                print(f"reader   {model.name:28s} threads={t} batch={batch}: {ms:7.2f} ms wall, {cpu:7.2f} ms CPU",
                      file=sys.stderr)

    from edge.calibration.file import Calibration, Intrinsics, Roi
    from edge.calibration.prewarp import prewarp_from_points
    from edge.calibration.transform import CalibratedTransform
    from edge.calibration.intrinsics import undistorted_camera_matrix

    for w, h in ((1920, 1080), (640, 360)):
        K = np.array([[1.1 * w, 0, w / 2], [0, 1.1 * w, h / 2], [0, 0, 1]])
        D = np.array([-0.2, 0.05, 0, 0, 0])
        Kn = undistorted_camera_matrix(K, D, (w, h), 0.0)
        intr = Intrinsics(tuple(map(tuple, K)), tuple(D), tuple(map(tuple, Kn)))
        img = cv2.resize(frame, (w, h))
        quad = [(0.3 * w, 0.5 * h), (0.7 * w, 0.48 * h), (0.72 * w, 0.62 * h), (0.28 * w, 0.64 * h)]
        roi = Roi(((0, 0.4 * h), (w, 0.35 * h), (w, h), (0, h)))
        for name, cal in (("roi mask only", Calibration((w, h), roi=roi)),
                          ("undistort", Calibration((w, h), intr)),
                          ("undistort+prewarp", Calibration((w, h), intr, prewarp=prewarp_from_points(quad, (w, h))))):
            tr = CalibratedTransform(cal)
            ms, cpu = median_ms(lambda: tr(img), args.runs)
            results["transform"].append({"what": name, "size": f"{w}x{h}", "ms": round(ms, 2), "cpu_ms": round(cpu, 2)})
            print(f"transform {name} {w}x{h}: {ms:.2f} ms", file=sys.stderr)

    from edge.preview import annotate, encode_jpeg

    img = cv2.resize(frame, (1280, 720))
    ms, cpu = median_ms(lambda: encode_jpeg(annotate(img, (), (), 90.0), 75, 1280), args.runs)
    results["preview"].append({"what": "annotate+jpeg q75", "size": "1280x720", "ms": round(ms, 2), "cpu_ms": round(cpu, 2)})

    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.markdown:
        m = results["machine"]
        print(f"Machine: {m['cpu']} ({m['arch']}, {m['cores']} cores), onnxruntime {m.get('onnxruntime', '?')}\n")
        print("| detector model | threads | side | coarse pass | wall ms | CPU ms |\n|---|---|---|---|---|---|")
        for r in results["detector"]:
            print(f"| {r['model']} | {r['threads']} | {r['side']} | {r['coarse_side'] or 'off'} | {r['ms']} | {r['cpu_ms']} |")
        print("\n| reader model | threads | batch | wall ms | CPU ms |\n|---|---|---|---|---|")
        for r in results["reader"]:
            print(f"| {r['model']} | {r['threads']} | {r['batch']} | {r['ms']} | {r['cpu_ms']} |")
        print("\n| step | size | wall ms | CPU ms |\n|---|---|---|---|")
        for r in results["transform"] + results["preview"]:
            print(f"| {r['what']} | {r['size']} | {r['ms']} | {r['cpu_ms']} |")
    else:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
