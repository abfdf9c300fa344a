#!/usr/bin/env python3
"""Accuracy and cost of the vehicle colour heuristic (edge.vehicle_colour) on labelled photos.

    python benchmarks/vehicle_colour.py LABELS.tsv --images DIR [--split dev|test|all]

LABELS.tsv: `image<TAB>x<TAB>y<TAB>w<TAB>h<TAB>colour` per line (the plate box in the image's
pixels, the body colour as a person names it, or `skip`; `#` comments). The labels and photos
are not part of the project (docs/vehicle_attributes.md says which set was used). `dev` is the
even rows (the thresholds were chosen on them), `test` the odd rows. Prints the accuracy, the
confusion matrix (rows: label, columns: answer), accuracy by confidence and the time per call.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def load(labels: Path) -> list[tuple[str, tuple[float, float, float, float], str]]:
    rows = []
    for line in labels.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, x, y, w, h, colour = line.split("\t")
        if colour != "skip":
            rows.append((name, (float(x), float(y), float(w), float(h)), colour))
    return rows


def main() -> int:
    import cv2

    from edge.records import BoundingBox
    from edge.vehicle_colour import COLOURS, classify, cut_context

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labels", type=Path)
    ap.add_argument("--images", type=Path, required=True, help="folder the label paths are relative to")
    ap.add_argument("--split", choices=("dev", "test", "all"), default="all")
    args = ap.parse_args()
    rows = load(args.labels)
    rows = [r for i, r in enumerate(rows) if args.split == "all" or (i % 2 == 0) == (args.split == "dev")]
    confusion: Counter = Counter()
    by_conf: dict[str, list[int]] = {"< 0.5": [0, 0], "0.5-0.7": [0, 0], ">= 0.7": [0, 0]}
    times, none = [], 0
    for name, (x, y, w, h), label in rows:
        image = cv2.imread(str(args.images / name))
        box = BoundingBox(x, y, w, h)
        t0 = time.perf_counter()
        got = classify(cut_context(image, box))
        times.append((time.perf_counter() - t0) * 1e3)
        if got is None:
            none += 1
            confusion[(label, "none")] += 1
            continue
        confusion[(label, got.name)] += 1
        key = "< 0.5" if got.confidence < 0.5 else "0.5-0.7" if got.confidence < 0.7 else ">= 0.7"
        by_conf[key][0] += got.name == label
        by_conf[key][1] += 1
    n = len(rows)
    right = sum(v for (a, b), v in confusion.items() if a == b)
    print(f"{args.split}: {n} vehicles, {right} right ({right / n:.1%}), {none} without an answer")
    groups = {"white": "light", "silver": "light", "grey": "dark", "black": "dark"}
    coarse = sum(v for (a, b), v in confusion.items() if groups.get(a, a) == groups.get(b, b))
    print(f"light (white, silver) / dark (grey, black) / hue families: {coarse} right ({coarse / n:.1%})")
    cols = [c for c in COLOURS if any(k[1] == c for k in confusion)] + (["none"] if none else [])
    print("| label \\ answer | " + " | ".join(cols) + " | n | right |")
    print("|---" * (len(cols) + 3) + "|")
    for label in COLOURS:
        total = sum(v for (a, _), v in confusion.items() if a == label)
        if total:
            cells = [str(confusion[(label, c)] or "") for c in cols]
            print(f"| {label} | " + " | ".join(cells) + f" | {total} | {confusion[(label, label)] / total:.0%} |")
    for key, (ok, total) in by_conf.items():
        if total:
            print(f"confidence {key}: {ok}/{total} right ({ok / total:.0%})")
    first, rest = times[0], sorted(times[1:])
    print(f"time per call: median {rest[len(rest) // 2]:.2f} ms, 95th percentile "
          f"{rest[int(0.95 * (len(rest) - 1))]:.2f} ms, max {rest[-1]:.2f} ms; the first call "
          f"{first:.1f} ms (OpenCV sets up) (cut_context + classify, on this machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
