"""Score an ONNX plate detector on real data, through the runtime class (edge.recognition.models.detector).

    python -m training.detector.evaluate [--model models/plate_detector.onnx] [--json out.json]

Reports, per source, recall and precision at IoU >= 0.5 at the model's own score threshold
(from its .json sidecar), the best recall reachable with precision >= 0.95, and AP50, on:
  * the val splits of ../shared/datasets/detect/<set> (D1: val_noleak.txt only),
  * ../shared/datasets/e2e_val boxes (report only: never used for training or selection),
and the detector's latency on 1280x720 frames (median of repeated runs, pre/post-processing
included, one thread).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edge.recognition.models.detector import OnnxPlateDetector, default_model_path  # noqa: E402
from training.detector import common, data  # noqa: E402

VAL_SETS = data.TRAIN_SETS


def _dets(det: OnnxPlateDetector, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = det.predict(img)
    boxes = np.array([[d.box.x, d.box.y, d.box.x2, d.box.y2] for d in out], np.float32).reshape(-1, 4)
    return boxes, np.array([d.score for d in out], np.float32)


def score_items(det: OnnxPlateDetector, items, thr: float) -> dict:
    """items: iterable of (source, image path, gt boxes x1y1x2y2)."""
    per = defaultdict(lambda: [[], [], 0, 0])
    for src, path, gt in items:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            continue
        boxes, scores = _dets(det, img)
        tp = common.match(boxes, scores, gt)
        e = per[src]
        e[0].append(scores)
        e[1].append(tp)
        e[2] += len(gt)
        e[3] += 1
    res = {}
    tot = [[], [], 0, 0]
    for src in sorted(per):
        s, t, n, k = per[src]
        r = common.pr_summary(np.concatenate(s), np.concatenate(t), n, fixed_thr=thr)
        r["images"] = k
        res[src] = r
        tot[0] += s
        tot[1] += t
        tot[2] += n
        tot[3] += k
    r = common.pr_summary(np.concatenate(tot[0]), np.concatenate(tot[1]), tot[2], fixed_thr=thr)
    r["images"] = tot[3]
    res["all"] = r
    return res


def val_items(root: Path):
    for s in VAL_SETS:
        for p in data.list_split(root, s, "val"):
            img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            if img is None:
                continue
            h, w = img.shape[:2]
            yield s, p, data.read_yolo(p.parent.parent / "labels" / (p.stem + ".txt"), w, h)


def e2e_items(e2e: Path):
    rows = defaultdict(list)
    for line in (e2e / "labels.tsv").read_text(encoding="utf-8").splitlines():
        p = line.split("\t")
        if len(p) < 5:
            continue
        x, y, w, h = (float(v) for v in p[1:5])
        rows[p[0]].append([x, y, x + w, y + h])
    for name, boxes in sorted(rows.items()):
        src = Path(name).name.split("_")[0]  # d1 / d2 / d3
        yield src, e2e / name, np.array(boxes, np.float32)


def latency(det: OnnxPlateDetector, frames: list[np.ndarray], repeats: int = 5) -> dict:
    for f in frames[:3]:
        det.predict(f)
    times = []
    for _ in range(repeats):
        for f in frames:
            t0 = time.perf_counter()
            det.predict(f)
            times.append((time.perf_counter() - t0) * 1000)
    t = np.array(times)
    return {"frames": len(frames), "runs": len(t), "median_ms": round(float(np.median(t)), 2),
            "p90_ms": round(float(np.percentile(t, 90)), 2)}


def fmt(res: dict) -> str:
    lines = ["| source | images | boxes | recall | precision | recall@P>=0.95 | AP50 |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k, v in res.items():
        lines.append(f"| {k} | {v['images']} | {v['n_gt']} | {v['recall']:.3f} | {v['precision']:.3f} | "
                     f"{v['recall_at_p']:.3f} | {v['ap50']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=data.default_data_root())
    ap.add_argument("--e2e", type=Path, default=None, help="e2e_val folder (default: beside detect/)")
    ap.add_argument("--threshold", type=float, default=None, help="score threshold (default: the sidecar's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip", choices=["val", "e2e", "latency"], action="append", default=[])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    model = args.model or default_model_path()
    # collect every candidate (low threshold) so the PR curve is complete; R/P are reported at
    # the operating threshold
    det = OnnxPlateDetector(model, threads=args.threads, score_threshold=0.05)
    thr = args.threshold if args.threshold is not None else OnnxPlateDetector(model).score_threshold
    out = {"model": str(model), "name": det.name, "size_bytes": Path(model).stat().st_size, "threshold": thr}
    if "val" not in args.skip:
        out["val"] = score_items(det, val_items(args.data), thr)
        print(f"## detect val splits (D1: val_noleak), IoU>=0.5, threshold {thr}\n{fmt(out['val'])}\n")
    e2e = args.e2e or args.data.parent / "e2e_val"
    if "e2e" not in args.skip and (e2e / "labels.tsv").exists():
        out["e2e_val"] = score_items(det, e2e_items(e2e), thr)
        print(f"## e2e_val boxes, IoU>=0.5, threshold {thr}\n{fmt(out['e2e_val'])}\n")
    if "latency" not in args.skip:
        frames = [cv2.imread(str(p)) for p in data.list_split(args.data, "d3_romania_dashcam", "val")[:20]]
        frames = [f for f in frames if f is not None]
        if frames:
            run = OnnxPlateDetector(model, threads=args.threads)
            out["latency_1280x720"] = latency(run, frames)
            print(f"latency per 1280x720 frame ({args.threads} thread): {out['latency_1280x720']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
