"""Pack the prepared OCR data into one small file for a machine without /work/scratch.

    python -m training.ocr.pack --out .gpu_data/ocr

Reads real_train / real_val / cn_train / cn_val pickles from $OCR_SCRATCH (written by
`python -m training.ocr.prepare`) and writes `DIR/ocr_pack.pkl`: the same item dicts, but each
'cut' stored as JPEG bytes (quality 95; PNG when that is smaller), `teacher_probs` dropped and
only items with a confident text kept (the CTC head never uses the text-less 'soft' items).
Training cuts whose plate box is wider than 192 px are downscaled to that (box scaled too).
Validation cuts are cropped to a little more than the region `train.val_inputs` reads (even
offsets, box shifted), so validation sees the same pixels apart from JPEG loss.
`load_pack(DIR)` decodes it back to {name: [item dict with 'cut' BGR uint8]}.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import cv2
import numpy as np

from training.ocr.common import SCRATCH

NAMES = ("real_train", "real_val", "cn_train", "cn_val")
PACK_FILE = "ocr_pack.pkl"
DROP = ("cut", "teacher_probs")
MAX_BOX_W = 192  # training cuts whose plate is wider are downscaled (the reader input is 128 wide)


def _encode(img: np.ndarray, quality: int) -> tuple[str, bytes]:
    ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    ok2, png = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if ok2 and (not ok or len(png) <= len(jpg)):
        return "png", png.tobytes()
    return "jpg", jpg.tobytes()


def _val_crop(r: dict) -> tuple[np.ndarray, tuple]:
    """Crop the cut around what val_inputs reads (box + 6%/12% margin, +2 px), even offsets so
    int()/round() of the shifted coordinates give the same pixels."""
    cut = r["cut"]
    x, y, w, h = (float(v) for v in r["box"])
    mx, my = (0.0, 0.0) if r.get("tight") else (0.06, 0.12)
    H, W = cut.shape[:2]
    x1 = max(0, int(x - mx * w) - 2) // 2 * 2
    y1 = max(0, int(y - my * h) - 2) // 2 * 2
    x2 = min(W, int(round(x + w + mx * w)) + 2)
    y2 = min(H, int(round(y + h + my * h)) + 2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return cut, (x, y, w, h)
    return cut[y1:y2, x1:x2], (x - x1, y - y1, w, h)


def _train_cut(r: dict) -> tuple[np.ndarray, tuple]:
    cut = r["cut"]
    x, y, w, h = (float(v) for v in r["box"])
    if w <= MAX_BOX_W:
        return cut, (x, y, w, h)
    s = MAX_BOX_W / w
    H, W = cut.shape[:2]
    nw, nh = max(2, int(round(W * s))), max(2, int(round(H * s)))
    small = cv2.resize(cut, (nw, nh), interpolation=cv2.INTER_AREA)
    sx, sy = nw / W, nh / H
    return small, (x * sx, y * sy, w * sx, h * sy)


def pack(src: Path, out: Path, quality: int = 95) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    sets = {}
    for name in NAMES:
        with open(src / f"{name}.pkl", "rb") as f:
            items = pickle.load(f)
        kept = []
        for r in items:
            if not r.get("text"):
                continue
            cut, box = (_val_crop(r) if name.endswith("_val") else _train_cut(r))
            fmt, data = _encode(np.ascontiguousarray(cut), quality)
            d = {k: v for k, v in r.items() if k not in DROP}
            d["box"] = box
            d["img_fmt"], d["img"] = fmt, data
            kept.append(d)
        sets[name] = kept
        print(f"{name}: {len(kept)}/{len(items)} items, {sum(len(d['img']) for d in kept) / 2**20:.2f} MiB")
    path = out / PACK_FILE
    with open(path, "wb") as f:
        pickle.dump({"version": 1, "quality": quality, "sets": sets}, f, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"wrote {path}: {path.stat().st_size / 2**20:.2f} MiB")
    return path


def load_pack(folder) -> dict[str, list[dict]]:
    with open(Path(folder) / PACK_FILE, "rb") as f:
        blob = pickle.load(f)
    out = {}
    for name, items in blob["sets"].items():
        dec = []
        for d in items:
            r = {k: v for k, v in d.items() if k not in ("img", "img_fmt")}
            r["cut"] = cv2.imdecode(np.frombuffer(d["img"], np.uint8), cv2.IMREAD_COLOR)
            dec.append(r)
        out[name] = dec
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--src", default=str(SCRATCH))
    ap.add_argument("--quality", type=int, default=95)
    args = ap.parse_args(argv)
    pack(Path(args.src), Path(args.out), args.quality)


if __name__ == "__main__":
    main()
