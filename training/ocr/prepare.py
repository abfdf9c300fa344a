"""Step 1: cut real plate crops and pseudo-label them with the teacher (training only).

    python -m training.ocr.prepare            # writes $OCR_SCRATCH (default /work/scratch/ocr)

* detect sets d1,d2,d3,d5,d6: every train box (and every val box, for a sanity score; d1 val
  uses val_noleak.txt) is cut with a 30% margin and stored with the box position inside the cut.
  The teacher (fast-plate-ocr CCT-XS, ../shared/teachers) reads the box with a 5% margin and a
  second, randomly jittered cut; the label is kept only when both reads agree, every slot's
  probability is >= MIN_P and the text has 4..8 characters.
* d7 (CCPD) train/val texts and d4 crops (split 80/20 by a fixed hash): exact labels, Chinese
  province character dropped.
Nothing from e2e_val is read here.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import random

import cv2
import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from training.ocr.common import (DATASETS, DETECT_SETS, SCRATCH, TEACHER, VOCAB, clean_text,
                                 crop_box, read_yolo, to_input)

PAD_FRAC = 0.30
MAX_BOX_W = 256  # stored cuts are downscaled so the box is at most this wide
MIN_BOX_W = 12


def teacher_read(sess, crops):
    x = np.stack([to_input(c) for c in crops])
    probs = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    out = []
    for p in probs:
        idx = p.argmax(-1)
        text = "".join(VOCAB[i] for i in idx).rstrip("_")
        n = len(text)
        pmin = float(p.max(-1)[: max(n + 1, 1)].min()) if n < 9 else float(p.max(-1).min())
        ok_chars = "_" not in text
        out.append((text if ok_chars else "", pmin, p))
    return out


def padded_cut(img, box):
    x, y, w, h = box
    H, W = img.shape[:2]
    x1 = max(0, int(np.floor(x - PAD_FRAC * w)))
    y1 = max(0, int(np.floor(y - PAD_FRAC * h)))
    x2 = min(W, int(np.ceil(x + w + PAD_FRAC * w)))
    y2 = min(H, int(np.ceil(y + h + PAD_FRAC * h)))
    cut = img[y1:y2, x1:x2]
    bx, by = x - x1, y - y1
    s = min(1.0, MAX_BOX_W / max(w, 1))
    if s < 1.0:
        cut = cv2.resize(cut, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(cut), (bx * s, by * s, w * s, h * s)


def detect_items(split):
    for name in DETECT_SETS:
        root = DATASETS / "detect" / name
        if split == "val" and name.startswith("d1_"):
            rels = [l.strip() for l in (root / "val_noleak.txt").read_text().splitlines() if l.strip()]
            paths = [root / r for r in rels]
        else:
            paths = sorted((root / split / "images").glob("*.jpg"))
        for p in paths:
            yield name, p, root / split / "labels" / (p.stem + ".txt")


def build_detect(sess, split, min_p, rng):
    items, stats = [], {}
    pending = []

    def flush():
        if not pending:
            return
        reads_a = teacher_read(sess, [c for c, _, _ in pending for c in [c[0]]])
        reads_b = teacher_read(sess, [c[1] for c, _, _ in pending])
        for (cs, rec, _), ra, rb in zip(pending, reads_a, reads_b):
            ta, pa, proba = ra
            tb, pb, _ = rb
            rec["teacher_text"], rec["teacher_p"] = ta, pa
            rec["teacher_probs"] = proba.astype(np.float16)
            good = ta == tb and 4 <= len(ta) <= 8 and min(pa, pb) >= min_p
            rec["text"] = ta if good else None
            st = stats.setdefault(rec["source"], [0, 0])
            st[0] += 1
            st[1] += int(good)
            items.append(rec)
        pending.clear()

    for name, ipath, lpath in tqdm(list(detect_items(split)), desc=f"cut {split}", unit="img"):
        img = cv2.imread(str(ipath))
        if img is None or not lpath.exists():
            continue
        H, W = img.shape[:2]
        for bi, box in enumerate(read_yolo(lpath, W, H)):
            if box[2] < MIN_BOX_W:
                continue
            cut, cbox = padded_cut(img, box)
            a = crop_box(cut, *cbox, 0.05, 0.05)
            mx, my = rng.uniform(-0.03, 0.15), rng.uniform(-0.05, 0.2)
            b = crop_box(cut, *cbox, mx, my)
            rec = {"source": name.split("_")[0], "file": ipath.name, "box_index": bi,
                   "cut": cut, "box": cbox, "orig_w": box[2]}
            pending.append(((a, b), rec, None))
            if len(pending) >= 64:
                flush()
    flush()
    return items, stats


def build_cn():
    train, val = [], []
    d7 = DATASETS / "detect" / "d7_ccpd_subset"
    for split, dst in (("train", train), ("val", val)):
        for line in (d7 / split / "texts.tsv").read_text(encoding="utf-8").splitlines():
            rel, x, y, w, h, text = line.split("\t")
            img = cv2.imread(str(d7 / split / rel))
            if img is None:
                continue
            cut, cbox = padded_cut(img, (float(x), float(y), float(w), float(h)))
            dst.append({"source": "d7", "file": rel, "cut": cut, "box": cbox,
                        "text": clean_text(text[1:]), "orig_w": float(w)})
    d4 = DATASETS / "ocr" / "d4_lprnet_cn"
    for line in (d4 / "labels.tsv").read_text(encoding="utf-8").splitlines():
        rel, text = line.split("\t")
        img = cv2.imread(str(d4 / rel))
        if img is None:
            continue
        h, w = img.shape[:2]
        rec = {"source": "d4", "file": rel, "cut": img, "box": (0.0, 0.0, float(w), float(h)),
               "text": clean_text(text[1:]), "orig_w": float(w), "tight": True}
        bucket = int(hashlib.sha1(text.encode()).hexdigest(), 16) % 5
        (val if bucket == 0 else train).append(rec)
    return train, val


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(SCRATCH))
    ap.add_argument("--min-p", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = __import__("pathlib").Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(TEACHER), so, providers=["CPUExecutionProvider"])
    rng = random.Random(args.seed)
    for split in ("train", "val"):
        items, stats = build_detect(sess, split, args.min_p, rng)
        with open(out / f"real_{split}.pkl", "wb") as f:
            pickle.dump(items, f, protocol=pickle.HIGHEST_PROTOCOL)
        for k, (n, g) in sorted(stats.items()):
            print(f"{split} {k}: {g}/{n} boxes kept with a confident teacher label")
    cn_train, cn_val = build_cn()
    with open(out / "cn_train.pkl", "wb") as f:
        pickle.dump(cn_train, f, protocol=pickle.HIGHEST_PROTOCOL)
    with open(out / "cn_val.pkl", "wb") as f:
        pickle.dump(cn_val, f, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"cn: {len(cn_train)} train, {len(cn_val)} val")


if __name__ == "__main__":
    main()
