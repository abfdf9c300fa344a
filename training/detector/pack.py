"""Pack the detector's train split into one small file, for training on a machine that cannot
read ../shared (the lent GPU machine takes at most 64 MiB with the repository).

    python -m training.detector.pack --out .gpu_data/detector/train.pkl

Images come from the RAM cache that `training.detector.train` writes (longest side <= 640),
re-encoded as WebP. To fit the budget, D1 keeps at most two of the Roboflow copies of each
source photo (its 1,755 images are about 588 photos exported up to 20 times with Roboflow's own
augmentation, which our augmentation replaces) and CCPD keeps every second image. The val splits
are not packed: checkpoints are scored here, on CPU, with `training.detector.evaluate`.
"""

from __future__ import annotations

import argparse
import pickle
import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from training.detector import data

D1_COPIES = 2
WEBP_QUALITY = 60


def source_photo(name: str) -> str:
    return re.split(r"_jpg\.rf\.", name)[0]


def select(samples: list[data.Sample]) -> list[data.Sample]:
    seen: Counter[str] = Counter()
    out = []
    ccpd = 0
    for s in samples:
        if s.source == "d1_experiment_plates":
            key = source_photo(s.name)
            seen[key] += 1
            if seen[key] > D1_COPIES:
                continue
        if s.source == "d7_ccpd_subset":
            ccpd += 1
            if ccpd % 2 == 0:
                continue
        out.append(s)
    return out


def write(samples: list[data.Sample], path: Path) -> None:
    rows = []
    for s in samples:
        ok, enc = cv2.imencode(".webp", s.image, [cv2.IMWRITE_WEBP_QUALITY, WEBP_QUALITY])
        if not ok:
            raise RuntimeError(f"cannot encode {s.name}")
        rows.append((enc.tobytes(), s.boxes, s.source, s.name, s.orig_size))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(rows, f, protocol=pickle.HIGHEST_PROTOCOL)


def read(path: Path) -> list[data.Sample]:
    with path.open("rb") as f:
        rows = pickle.load(f)
    out = []
    for enc, boxes, source, name, orig_size in rows:
        img = cv2.imdecode(np.frombuffer(enc, np.uint8), cv2.IMREAD_COLOR)
        out.append(data.Sample(img, boxes, source, name, tuple(orig_size)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=data.default_data_root())
    ap.add_argument("--cache", type=Path, default=Path("/work/scratch/detector"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    train = data.load_cached(args.cache / "cache_train.pkl", args.data, "train")
    kept = select(train)
    write(kept, args.out)
    counts = Counter(s.source for s in kept)
    print(f"{len(kept)} of {len(train)} images, {args.out.stat().st_size / 2**20:.1f} MiB: {dict(counts)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
