"""Step 1: cut real plate crops and pseudo-label them with the teacher (training only).

    python -m training.ocr.prepare            # writes $OCR_SCRATCH (default /work/scratch/ocr)

* detect sets d1,d2,d3,d5,d6: every train box (and every val box, for a sanity score; d1 val
  uses val_noleak.txt) is cut with a 30% margin and stored with the box position inside the cut.
  The teacher (fast-plate-ocr CCT-XS, ../shared/teachers) reads the box with a 5% margin and a
  second, randomly jittered cut (`text_strict`: kept only when both reads agree, every slot's
  probability is >= MIN_P and the text has 4..8 characters). It also reads TTA_VIEWS views of
  the box (the reader's own margin, then random margins, tilts and keystones); their slot
  distributions are averaged, and the averaged read is the label (`text`) when at least
  TTA_AGREE of the views read exactly it and it has 2..9 characters: an ensemble is surer
  than any one read, so most boxes get a label, not only the easy ones.
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

from training.ocr.common import (DATASETS, DETECT_SETS, IMG_H, IMG_W, SCRATCH, TEACHER, VOCAB,
                                 clean_text, crop_box, read_yolo, to_input)

PAD_FRAC = 0.30
TTA_VIEWS = 8
TTA_AGREE = 0.5
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


def tta_view(cut, box, rng, first: bool):
    """One view of the box as the reader might be given it: the reader's own margin first,
    then random margins, a small tilt and keystone."""
    x, y, w, h = box
    if first:
        return to_input(crop_box(cut, x, y, w, h, 0.06, 0.12))
    ml, mr = rng.uniform(-0.01, 0.12, 2)
    mt, mb = rng.uniform(-0.03, 0.22, 2)
    src = np.float32([[x - ml * w, y - mt * h], [x + w + mr * w, y - mt * h],
                      [x + w + mr * w, y + h + mb * h], [x - ml * w, y + h + mb * h]])
    src += (rng.normal(0, 0.015, (4, 2)) * np.float32([w, h])).astype(np.float32)
    a = np.deg2rad(rng.normal(0, 2.0))
    c = src.mean(0)
    rot = np.float32([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    src = ((src - c) @ rot.T + c).astype(np.float32)
    dst = np.float32([[0, 0], [IMG_W, 0], [IMG_W, IMG_H], [0, IMG_H]])
    m = cv2.getPerspectiveTransform(src, dst)
    bgr = cv2.warpPerspective(cut, m, (IMG_W, IMG_H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def tta_label(sess, views: np.ndarray) -> tuple[str, float, float, np.ndarray]:
    """(text, fraction of views reading exactly it, weakest averaged slot probability, mean
    slot distributions) of one box's views."""
    probs = sess.run(None, {sess.get_inputs()[0].name: views})[0]
    mean = probs.mean(0)
    text = "".join(VOCAB[i] for i in mean.argmax(-1)).rstrip("_")
    if "_" in text:
        return "", 0.0, 0.0, mean
    reads = ["".join(VOCAB[i] for i in p.argmax(-1)).rstrip("_") for p in probs]
    agree = sum(r == text for r in reads) / len(reads)
    n = min(len(text) + 1, mean.shape[0])
    return text, agree, float(mean.max(-1)[:n].min()), mean


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
    vrng = np.random.default_rng(rng.randrange(1 << 30))

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
            rec["text_strict"] = ta if good else None
            views = np.stack([tta_view(rec["cut"], rec["box"], vrng, k == 0) for k in range(TTA_VIEWS)])
            tt, agree, tp, mean = tta_label(sess, views)
            rec["tta_text"], rec["tta_agree"], rec["tta_p"] = tt, agree, tp
            rec["tta_probs"] = mean.astype(np.float16)
            labelled = bool(tt) and 2 <= len(tt) <= 9 and agree >= TTA_AGREE
            # val keeps the strict labels, so its scores compare with every earlier model's
            rec["text"] = (tt if labelled else None) if split == "train" else rec["text_strict"]
            st = stats.setdefault(rec["source"], [0, 0, 0])
            st[0] += 1
            st[1] += int(good)
            st[2] += int(labelled)
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
        for k, (n, g, t) in sorted(stats.items()):
            print(f"{split} {k}: {t}/{n} boxes labelled by the teacher's {TTA_VIEWS}-view read "
                  f"({g} by the strict two-read rule)")
    cn_train, cn_val = build_cn()
    with open(out / "cn_train.pkl", "wb") as f:
        pickle.dump(cn_train, f, protocol=pickle.HIGHEST_PROTOCOL)
    with open(out / "cn_val.pkl", "wb") as f:
        pickle.dump(cn_val, f, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"cn: {len(cn_train)} train, {len(cn_val)} val")


if __name__ == "__main__":
    main()
