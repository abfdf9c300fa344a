"""Score the product on real Brazilian plate crops (validation only, never for training).

    python -m training.eval_br [--shared ../shared] [--config TOML] [--first 400] [--show-errors]

Each crop of `datasets/val_only/br_grey_openalpr` is read as `edge read` reads a photo
(`edge.recognition.reading.read_image`: detection, then the reader, including the look at a plate that
fills the picture); the plate counts as read when the surest read's text equals the label.
Prints exact accuracy and the character confusions (label x read, for same-length misreads).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import cv2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--first", type=int, default=0, help="only the first N crops (0: all)")
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args(argv)

    from edge.recognition.models.loading import load_readers
    from edge.recognition.reading import read_image
    from edge.configuration.settings import load_config

    models = load_readers(load_config(args.config), stills=True)
    root = args.shared / "datasets" / "val_only" / "br_grey_openalpr"
    rows = [line.split("\t") for line in (root / "labels.tsv").read_text(encoding="utf-8").splitlines()]
    if args.first:
        rows = rows[: args.first]
    exact, errors, confusions = 0, [], Counter()
    for rel, text, *_ in rows:
        image = cv2.imread(str(root / rel))
        result = read_image(image, models.detector, models.reader, models.rules)
        got = max(result.reads, key=lambda r: r.confidence).text if result.reads else ""
        if got == text:
            exact += 1
            continue
        errors.append((rel, text, got))
        if len(got) == len(text):
            confusions.update((a, b) for a, b in zip(text, got) if a != b)
    n = len(rows)
    print(f"br_grey_openalpr: {exact}/{n} = {exact / max(n, 1):.3f} exact")
    print("confusions (label->read): " + ", ".join(f"{a}->{b} {k}" for (a, b), k in confusions.most_common(15)))
    if args.show_errors:
        for rel, text, got in errors:
            print(f"  {rel}\t{text}\t{got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
