"""Step 4: score a reader model on real validation data and time it.

    python -m training.ocr.evaluate --model models/plate_reader.onnx [--teacher] [--e2e]

* detect val splits (d1: val_noleak only) crops vs confident teacher labels, and CCPD val
  (d7) / d4 held-out fifth vs exact labels (from $OCR_SCRATCH, written by prepare).
* --e2e: ../shared/datasets/e2e_val labelled boxes, readable plates only (text != '?'),
  exact match per source; cut as `edge.recognition.reading.crop_plate` cuts detector boxes. Final
  reporting only: never used for training or model selection.
* --teacher: the same crops read by the teacher, for comparison.
* latency: median ms per plate, batch 1 and batch 8, 1 thread.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time

import cv2
import numpy as np

from edge.recognition.models.reader import OnnxPlateReader
from edge.recognition.reading import crop_plate
from edge.records import BoundingBox
from training.ocr.common import DATASETS, SCRATCH, TEACHER, clean_text

CONFUSE = str.maketrans({"O": "0", "I": "1"})


def scratch_sets():
    sets = {}
    for name in ("real_val.pkl", "cn_val.pkl"):
        with open(SCRATCH / name, "rb") as f:
            for r in pickle.load(f):
                if not r.get("text"):
                    continue
                x, y, w, h = r["box"]
                crop = r["cut"] if r.get("tight") else crop_plate(r["cut"], BoundingBox(x, y, w, h))
                sets.setdefault(r["source"], []).append((crop, r["text"]))
    return sets


def e2e_sets():
    root = DATASETS / "e2e_val"
    sets, cache = {}, {}
    for line in (root / "labels.tsv").read_text(encoding="utf-8").splitlines():
        rel, x, y, w, h, text = line.split("\t")
        if text == "?":
            continue
        if rel not in cache:
            cache[rel] = cv2.imread(str(root / rel))
        src = rel.split("/", 1)[1].split("_", 1)[0]
        crop = crop_plate(cache[rel], BoundingBox(float(x), float(y), float(w), float(h)))
        sets.setdefault(src, []).append((crop, text))
    return sets


def br_sets():
    root = DATASETS / "val_only" / "br_grey_openalpr"
    items = []
    for line in (root / "labels.tsv").read_text(encoding="utf-8").splitlines():
        rel, text = line.split("\t")[:2]
        items.append((cv2.imread(str(root / rel)), text))
    return {"br": items}


def score(reader, sets, pairs: list | None = None):
    """Exact accuracy per source; (label, read) pairs are appended to `pairs` when given."""
    res, tot = {}, [0, 0, 0]
    for src, items in sorted(sets.items()):
        preds = reader.predict([c for c, _ in items])
        if pairs is not None:
            pairs.extend((t, p.text) for p, (_, t) in zip(preds, items))
        ok = sum(p.text == t for p, (_, t) in zip(preds, items))
        ok_o0 = sum(p.text.translate(CONFUSE) == t.translate(CONFUSE) for p, (_, t) in zip(preds, items))
        res[src] = {"exact": f"{ok}/{len(items)}", "acc": round(ok / len(items), 4),
                    "acc_O0_I1": round(ok_o0 / len(items), 4)}
        tot[0] += ok
        tot[1] += ok_o0
        tot[2] += len(items)
    res["all"] = {"exact": f"{tot[0]}/{tot[2]}", "acc": round(tot[0] / max(tot[2], 1), 4),
                  "acc_O0_I1": round(tot[1] / max(tot[2], 1), 4)}
    return res


def latency(reader, crops, reps=200):
    out = {}
    for bs in (1, 8):
        batch = [crops[i % len(crops)] for i in range(bs)]
        for _ in range(10):
            reader.predict(batch)
        ts = []
        for _ in range(reps // bs * 4 if bs > 1 else reps):
            t = time.perf_counter()
            reader.predict(batch)
            ts.append((time.perf_counter() - t) / bs)
        out[f"batch{bs}_ms_per_plate"] = round(float(np.median(ts)) * 1000, 3)
    return out


def teacher_reader():
    import shutil
    import tempfile
    from pathlib import Path
    d = Path(tempfile.mkdtemp())
    shutil.copy(TEACHER, d / "teacher.onnx")
    shutil.copy(Path(__file__).with_name("fast_plate_ocr.json"), d / "teacher.json")
    return OnnxPlateReader(d / "teacher.onnx")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/plate_reader.onnx")
    ap.add_argument("--sidecar", default=None)
    ap.add_argument("--e2e", action="store_true")
    ap.add_argument("--teacher", action="store_true")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--br", action="store_true", help="also the Brazilian validation crops "
                    "(val_only/br_grey_openalpr), each read whole by the reader")
    ap.add_argument("--confusions", action="store_true", help="print markdown tables of the "
                    "commonest character confusions per set")
    args = ap.parse_args(argv)
    reader = OnnxPlateReader(args.model, threads=1, sidecar=args.sidecar)
    report = {"model": args.model, "name": reader.name}
    val = scratch_sets()
    tables: dict[str, list] = {}
    report["val_vs_teacher_labels"] = score(reader, {k: v for k, v in val.items() if k not in ("d4", "d7")},
                                            tables.setdefault("detect val splits (teacher labels)", []))
    report["cn_val_exact"] = score(reader, {k: v for k, v in val.items() if k in ("d4", "d7")})
    if args.e2e:
        e2e = e2e_sets()
        report["e2e_val"] = score(reader, e2e, tables.setdefault("e2e_val labelled boxes", []))
        if args.teacher:
            report["e2e_val_teacher_same_crops"] = score(teacher_reader(), e2e)
    if args.br:
        report["br_grey"] = score(reader, br_sets(), tables.setdefault("Brazilian crops", []))
    if not args.no_latency:
        crops = [c for items in val.values() for c, _ in items][:64]
        report["latency"] = latency(reader, crops)
    print(json.dumps(report, indent=1))
    if args.confusions:
        from training.ocr.confusion import confusions, table
        for name, pairs in tables.items():
            print(f"\n{name}: {sum(a != b for a, b in pairs)} of {len(pairs)} misread\n")
            print(table(*confusions(pairs)))


if __name__ == "__main__":
    main()
