"""Choose the detector's two operating thresholds together with the reader, on the val splits.

    python -m training.detector.confirm [--models DIR] [--write]

A detection scored at or above `score_threshold` is kept as it is; one between
`candidate_threshold` and it is kept only when the reader reads it with confidence >=
edge.recognition.reading.DEFAULT_POLICY.confirm_min_confidence and at least `confirm_min_chars` characters
(the rule --write records in the sidecar, which the product then applies). This runs the real
product path (OnnxPlateDetector with a low threshold, then edge.recognition.reading.read_detections with the
shipped reader and format rules) on the detection *val* splits at full resolution (D1:
val_noleak.txt), then picks the pair with the highest pooled recall (IoU >= 0.5) whose pooled
precision is >= --min-precision (0.96 by default: a point of margin over the 0.95 target,
because numbers chosen on a split flatter it). --write puts the pair into plate_detector.json.
e2e_val is never read here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.detector import common, data


def collect(models_dir: Path, root: Path) -> tuple[list[tuple[str, float, float, int, int]], dict[str, int]]:
    from edge.recognition.models.loading import load_readers
    from edge.recognition.reading import read_detections
    from edge.configuration.settings import build_config

    # the product's own wiring, with one low plain threshold so that every candidate is seen
    models = load_readers(build_config({
        "detector": {"model": str(models_dir / "plate_detector.onnx"), "score_threshold": 0.15},
        "reader": {"model": str(models_dir / "plate_reader.onnx")},
    }))
    detector, reader, rules = models.detector, models.reader, models.rules
    rows, n_gt = [], {}
    for name in data.TRAIN_SETS:
        for sample in tqdm(data.load_split(root, name, "val", max_side=None), desc=name, mininterval=5):
            n_gt[name] = n_gt.get(name, 0) + len(sample.boxes)
            reads = read_detections(sample.image, detector.predict(sample.image), reader, rules)
            if not reads:
                continue
            boxes = np.array([[r.box.x, r.box.y, r.box.x2, r.box.y2] for r in reads], np.float32)
            scores = np.array([r.detection_score for r in reads], np.float32)
            for r, tp in zip(reads, common.match(boxes, scores, sample.boxes)):
                rows.append((name, r.detection_score, r.confidence, len(r.text), int(tp)))
    return rows, n_gt


def choose(rows, n_gt: dict[str, int], min_precision: float) -> dict:
    from edge.recognition.reading import DEFAULT_POLICY

    min_confidence, min_chars = DEFAULT_POLICY.confirm_min_confidence, DEFAULT_POLICY.confirm_min_chars
    score = np.array([r[1] for r in rows])
    confirmed = np.array([r[2] >= min_confidence and r[3] >= min_chars for r in rows])
    tp = np.array([r[4] for r in rows])
    total = sum(n_gt.values())
    best = None
    for sure in np.arange(0.40, 0.801, 0.01):
        for cand in np.arange(0.20, sure + 1e-9, 0.025):
            keep = (score >= sure) | ((score >= cand) & confirmed)
            k = int(keep.sum())
            recall, precision = tp[keep].sum() / total, (tp[keep].sum() / k if k else 1.0)
            if precision >= min_precision and (best is None or recall > best["recall"] + 1e-12):
                best = {"score_threshold": round(float(sure), 3), "candidate_threshold": round(float(min(cand, sure)), 3),
                        "recall": round(float(recall), 4), "precision": round(float(precision), 4)}
    plain = None
    for sure in np.arange(0.30, 0.801, 0.005):
        keep = score >= sure
        k = int(keep.sum())
        recall, precision = tp[keep].sum() / total, (tp[keep].sum() / k if k else 1.0)
        if precision >= min_precision and (plain is None or recall > plain["recall"] + 1e-12):
            plain = {"score_threshold": round(float(sure), 3), "recall": round(float(recall), 4),
                     "precision": round(float(precision), 4)}
    if best is not None:  # what the chosen pair keeps, per source
        keep = (score >= best["score_threshold"]) | ((score >= best["candidate_threshold"]) & confirmed)
        names = np.array([r[0] for r in rows])
        best["per_source"] = {}
        for name, n in sorted(n_gt.items()):
            kept = keep & (names == name)
            hits = float(tp[kept].sum())
            best["per_source"][name] = {"recall": round(hits / n, 4),
                                        "precision": round(hits / max(int(kept.sum()), 1), 4)}
    return {"with_confirmation": best, "score_only": plain,
            "confirm_rule": {"min_confidence": min_confidence, "min_chars": min_chars}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, default=Path(__file__).resolve().parents[2] / "models")
    ap.add_argument("--data", type=Path, default=data.default_data_root())
    ap.add_argument("--min-precision", type=float, default=0.96)
    ap.add_argument("--write", action="store_true", help="write the chosen pair into plate_detector.json")
    args = ap.parse_args(argv)
    rows, n_gt = collect(args.models, args.data)
    result = choose(rows, n_gt, args.min_precision)
    print(json.dumps(result, indent=1))
    if args.write and result["with_confirmation"]:
        path = args.models / "plate_detector.json"
        meta = json.loads(path.read_text())
        chosen = result["with_confirmation"]
        meta["postprocess"]["score_threshold"] = chosen["score_threshold"]
        meta["postprocess"]["candidate_threshold"] = chosen["candidate_threshold"]
        meta["postprocess"]["candidates"] = (
            "peaks between candidate_threshold and score_threshold are returned marked `confirm`; "
            "edge.recognition.reading keeps them only when the reader reads >= min_chars characters with "
            "confidence >= min_confidence")
        meta["threshold_choice"] = (f"pooled over the detection val splits, with the shipped reader: highest recall "
                                    f"with precision >= {args.min_precision} (training/detector/confirm.py)")
        meta["confirmation"] = result
        path.write_text(json.dumps(meta, indent=1) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
