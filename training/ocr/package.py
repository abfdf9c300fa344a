"""Step 3: quantize the trained model (static int8, calibrated on real train crops), compare it
with float32 on the validation crops (detect val splits vs teacher labels + CCPD/d4 val), and
ship the faster one that loses no accuracy as `models/plate_reader.onnx` + its JSON sidecar.

    python -m training.ocr.package --onnx /work/scratch/ocr/run1/best.onnx --out models/
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from training.ocr import evaluate, quantize
from training.ocr.common import IMG_H, IMG_W, PAD_INDEX, SLOTS, VOCAB
from training.ocr.model import PlateNetCTC

VERSION = "3.2.0"
# int8 calibrations tried, best first on ties: percentile over 256 or 512 real crops (MinMax lost
# about a point on 2.0.0), and percentile with the CTC head's two convolutions left in float.
CALIBRATIONS = (
    ["--method", "percentile", "--n", "256"],
    ["--method", "percentile", "--n", "512", "--exclude", "/net/seq/seq.0/Conv", "/net/seq/seq.4/Conv"],
    ["--method", "minmax", "--n", "512"],
)


def sidecar(precision: str, head: str = "ctc") -> dict:
    output = ({"name": "probs", "shape": ["N", PlateNetCTC.steps, len(VOCAB)], "decode": "ctc",
               "blank": PAD_INDEX, "activation": "softmax"} if head == "ctc" else
              {"name": "probs", "shape": ["N", SLOTS, len(VOCAB)], "decode": "slots",
               "activation": "softmax"})
    return {
        "format": "edge.plate_reader/1",
        "name": "plate_reader",
        "version": VERSION,
        "precision": precision,
        "input": {"name": "input", "layout": "NHWC", "height": IMG_H, "width": IMG_W, "color": "RGB",
                  "dtype": "uint8", "resize": "stretch", "interpolation": "linear",
                  "crop": "detector box plus a small margin (about 6% of the width and 12% of the "
                          "height on each side, as edge.recognition.reading.crop_plate cuts)"},
        "output": output,
        "alphabet": VOCAB,
        "pad": "_",
        "max_chars": SLOTS,
        "two_line": "top row then bottom row, each left to right",
        "head": head,
    }


def val_score(model: Path, precision: str, head: str) -> tuple[float, dict]:
    tmp = Path(tempfile.mkdtemp())
    shutil.copy(model, tmp / "m.onnx")
    (tmp / "m.json").write_text(json.dumps(sidecar(precision, head)))
    reader = evaluate.OnnxPlateReader(tmp / "m.onnx", threads=1)
    sets = evaluate.scratch_sets()
    res = evaluate.score(reader, sets)
    crops = [c for items in sets.values() for c, _ in items][:64]
    lat = evaluate.latency(reader, crops)
    shutil.rmtree(tmp, ignore_errors=True)
    return res["all"]["acc"], {"val": res, "latency": lat}


def export_checkpoint(ckpt: Path, onnx_path: Path, head: str) -> Path:
    """The float32 ONNX of a state dict, as train exports its best EMA weights."""
    import torch

    from training.ocr.model import PlateNet, PlateNetCTC
    from training.ocr.train import DEFAULT_WIDTH, export

    net = (PlateNetCTC if head == "ctc" else PlateNet)(width=DEFAULT_WIDTH)
    net.load_state_dict(torch.load(ckpt, map_location="cpu"))
    export(net.eval(), onnx_path)
    return onnx_path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--onnx", help="float32 model exported by train")
    src.add_argument("--ckpt", help="a committed *_ema.pt state dict (training/checkpoints/), exported first")
    ap.add_argument("--out", default="models")
    ap.add_argument("--head", choices=("slots", "ctc"), default="ctc")
    ap.add_argument("--tolerance", type=float, default=0.005, help="accuracy int8 may lose")
    ap.add_argument("--precision", choices=("auto", "int8", "float32"), default="auto",
                    help="auto: int8 when within --tolerance of float32 on val and faster")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp())
    if args.ckpt:
        args.onnx = str(export_checkpoint(Path(args.ckpt), work / "float32.onnx", args.head))
    acc32, rep32 = val_score(Path(args.onnx), "float32", args.head)
    tried = []
    for k, options in enumerate(CALIBRATIONS):  # the int8 that keeps the most of float32's accuracy
        path = work / f"int8_{k}.onnx"
        quantize.main(["--model", args.onnx, "--out", str(path)] + options)
        acc, rep = val_score(path, "int8", args.head)
        print(f"int8 {' '.join(options)}: val acc {acc:.4f}")
        tried.append((acc, -k, path, rep))
    acc8, _, int8, rep8 = max(tried)
    print(json.dumps({"float32": rep32, "int8": rep8}, indent=1))
    use_int8 = acc8 >= acc32 - args.tolerance and \
        rep8["latency"]["batch1_ms_per_plate"] < rep32["latency"]["batch1_ms_per_plate"]
    if args.precision != "auto":
        use_int8 = args.precision == "int8"
    chosen, precision = (int8, "int8") if use_int8 else (Path(args.onnx), "float32")
    shutil.copy(chosen, out / "plate_reader.onnx")
    (out / "plate_reader.json").write_text(json.dumps(sidecar(precision, args.head), indent=2) + "\n")
    print(f"shipped {precision}: val acc {acc8 if use_int8 else acc32:.4f} "
          f"(float32 {acc32:.4f}, int8 {acc8:.4f})")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
