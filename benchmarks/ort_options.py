#!/usr/bin/env python3
"""onnxruntime session options, side by side in one process: each variant's sessions are made
once and the variants take turns, round after round, on the same inputs (medians of rounds).

    python3 benchmarks/ort_options.py [--rounds 9] [--threads 1,2]

Variants per thread count: the shipped options (ORT_ENABLE_ALL, arena on, spinning on),
spinning off (`session.intra_op.allow_spinning = 0`: idle pool threads sleep instead of
spinning, which matters on a core shared with other work), arena off, and memory patterns off.
Inputs: the detector on 1280x720 frames (the fixture scenes resized, as benchmarks/models.py)
and on 300x300 photos, the reader on batches of 3 fixture plate crops. Also the time to create
each session: as shipped (graph optimised at load) and from a copy saved already optimised
(`optimized_model_filepath`, then ORT_DISABLE_ALL at load).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures"


def options(threads: int, spin: bool = True, arena: bool = True, pattern: bool = True, level=None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = level if level is not None else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_cpu_mem_arena = arena
    so.enable_mem_pattern = pattern
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


def variants(threads: int) -> dict:
    return {f"t{threads} shipped": options(threads),
            f"t{threads} no-spin": options(threads, spin=False),
            f"t{threads} no-arena": options(threads, arena=False),
            f"t{threads} no-pattern": options(threads, pattern=False)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    import os

    import onnxruntime as ort

    from edge.recognition.models.detector import OnnxPlateDetector
    from edge.recognition.models.reader import OnnxPlateReader

    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    det_path = ROOT / "models" / "plate_detector.onnx"
    rdr_path = ROOT / "models" / "plate_reader.onnx"
    frames = [cv2.resize(cv2.imread(str(p)), (1280, 720)) for p in sorted((FIXTURES / "scenes").glob("*.jpg"))]
    small = [cv2.resize(f, (300, 300)) for f in frames]
    plates = [cv2.imread(str(p)) for p in sorted((FIXTURES / "plates").glob("*.png"))]
    batches = [plates[i:i + 3] for i in range(0, len(plates) - 2, 3)]

    cases = {}
    for t in (int(v) for v in args.threads.split(",")):
        for name, so in variants(t).items():
            det = OnnxPlateDetector(det_path, threads=t, fine_side=0)
            det._session = ort.InferenceSession(str(det_path), so, providers=["CPUExecutionProvider"])
            rdr = OnnxPlateReader(rdr_path, threads=t)
            rdr._sess = ort.InferenceSession(str(rdr_path), so, providers=["CPUExecutionProvider"])
            det.predict(frames[0])
            rdr.predict(plates[:3])
            cases[name] = (det, rdr)
    times: dict[str, dict[str, list[float]]] = {n: {"720p": [], "300px": [], "reader3": []} for n in cases}
    for _ in range(args.rounds):
        for name, (det, rdr) in cases.items():
            for key, fn, items in (("720p", det.predict, frames * 3), ("300px", det.predict, small * 3),
                                   ("reader3", rdr.predict, batches * 3)):
                t0 = time.perf_counter()
                for item in items:
                    fn(item)
                times[name][key].append((time.perf_counter() - t0) * 1e3 / len(items))
    print(f"{'variant':<16} {'det 1280x720 ms':>16} {'det 300x300 ms':>15} {'reader 3 crops ms':>18}")
    for name, t in times.items():
        print(f"{name:<16} " + " ".join(f"{statistics.median(t[k]):>{w}.2f}"
                                         for k, w in (("720p", 16), ("300px", 15), ("reader3", 18))))

    # session creation: optimised at load vs saved optimised
    with tempfile.TemporaryDirectory() as tmp:
        load: dict[str, list[float]] = {}
        saved = {}
        for label, path in (("detector", det_path), ("reader", rdr_path)):
            so = options(1)
            so.optimized_model_filepath = str(Path(tmp) / f"{label}.opt.onnx")
            ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            saved[label] = (path, Path(tmp) / f"{label}.opt.onnx")
        for _ in range(args.rounds):
            for label, (path, opt) in saved.items():
                for how, p, level in (("optimised at load", path, None),
                                      ("saved optimised", opt, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)):
                    t0 = time.perf_counter()
                    ort.InferenceSession(str(p), options(1, level=level), providers=["CPUExecutionProvider"])
                    load.setdefault(f"{label} {how}", []).append((time.perf_counter() - t0) * 1e3)
        for k, v in load.items():
            print(f"session creation, {k:<28} {statistics.median(v):7.1f} ms")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
