"""End-to-end score on real photos: our detector's boxes, then our reader, against labelled texts.

Usage:
    python -m training.eval_e2e [--shared ../shared] [--config TOML] [--json OUT] [--mosaic N]

Reports per source (d1/d2/d3 of e2e_val): detection recall and precision at IoU >= 0.5, and exact
plate-text accuracy on readable plates (label not '?'), where a plate counts as read only if a
detection matched its box and the text read there equals the label. Validation only: nothing
here feeds training.

`--mosaic N` reads big photos instead: each source's images pasted N x N into one picture (in
name order, cells as large as the source's largest image), so the same plates are small in a
big frame, as in a phone photo or a 4K frame of a wide scene.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import cv2

from edge.records import BoundingBox


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--show-errors", action="store_true")
    ap.add_argument("--mosaic", type=int, default=1, metavar="N", help="read N x N mosaics of each source's images")
    args = ap.parse_args(argv)

    from edge.recognition.models.loading import load_readers
    from edge.recognition.reading import read_image
    from edge.configuration.settings import load_config

    models = load_readers(load_config(args.config), stills=True)
    root = args.shared / "datasets" / "e2e_val"
    labels: dict[str, list[tuple[BoundingBox, str]]] = defaultdict(list)
    for line in (root / "labels.tsv").read_text(encoding="utf-8").splitlines():
        name, x, y, w, h, text = line.split("\t")
        labels[name].append((BoundingBox(float(x), float(y), float(w), float(h)), text))

    stats = defaultdict(lambda: defaultdict(int))
    ms_detect, ms_ocr = [], []
    errors = []
    for name, source, image, truth in _pictures(root, labels, args.mosaic):
        result = read_image(image, models.detector, models.reader, models.rules)
        ms_detect.append(result.detect_ms)
        ms_ocr.append(result.ocr_ms)
        s = stats[source]
        s["boxes"] += len(truth)
        s["detections"] += len(result.reads)
        used = set()
        for box, text in truth:
            best, best_iou = None, 0.5
            for i, read in enumerate(result.reads):
                if i in used:
                    continue
                iou = box.iou(read.box)
                if iou >= best_iou:
                    best, best_iou = i, iou
            if best is not None:
                used.add(best)
                s["matched"] += 1
            if text == "?":
                continue
            s["readable"] += 1
            got = result.reads[best].text if best is not None else None
            if got == text:
                s["exact"] += 1
            else:
                errors.append((name, text, got))
        s["true_detections"] += len(used)

    report = {}
    total = defaultdict(int)
    for source, s in sorted(stats.items()):
        for k, v in s.items():
            total[k] += v
        report[source] = _summary(s)
    report["all"] = _summary(total)
    report["ms_detect_median"] = round(statistics.median(ms_detect), 2)
    report["ms_ocr_median_per_image"] = round(statistics.median(ms_ocr), 2)
    report["detector"] = models.detector.name
    report["reader"] = models.reader.name

    for source in [k for k in report if isinstance(report[k], dict)]:
        r = report[source]
        print(f"{source:<22} boxes {r['boxes']:>4}  recall {r['recall']:.3f}  precision {r['precision']:.3f}  "
              f"exact {r['exact']}/{r['readable']} = {r['accuracy']:.3f}")
    print(f"median ms per image: detect {report['ms_detect_median']}, ocr {report['ms_ocr_median_per_image']}")
    if args.show_errors:
        for name, want, got in errors:
            print(f"  {name}: want {want} got {got}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def _pictures(root: Path, labels: dict, n: int):
    """(name, source, image, truth) per labelled image, or per n x n mosaic of one source's images."""
    from edge.synth.big_photo import compose_grid

    by_source: dict[str, list[str]] = defaultdict(list)
    for name in sorted(labels):
        by_source[Path(name).name.split("_")[0]].append(name)
    for source, names in sorted(by_source.items()):
        for k in range(0, len(names), n * n):
            group = [(cv2.imread(str(root / name)), labels[name]) for name in names[k:k + n * n]]
            if n == 1:
                yield names[k], source, group[0][0], group[0][1]
                continue
            canvas, truth = compose_grid(group, n)
            yield f"{source}_mosaic_{k // (n * n)}", source, canvas, truth


def _summary(s) -> dict:
    return {
        "boxes": s["boxes"],
        "recall": s["matched"] / s["boxes"] if s["boxes"] else 0.0,
        "precision": s["true_detections"] / s["detections"] if s["detections"] else 0.0,
        "readable": s["readable"],
        "exact": s["exact"],
        "accuracy": s["exact"] / s["readable"] if s["readable"] else 0.0,
    }


if __name__ == "__main__":
    sys.exit(main())
