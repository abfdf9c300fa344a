"""Step 3: onnxruntime static int8 quantization, calibrated on real train-split crops.

    python -m training.ocr.quantize --model models/plate_reader.onnx --out /work/scratch/ocr/plate_reader.int8.onnx

Calibration data: up to --n crops from real_train.pkl (detect train splits) and cn_train.pkl,
cut as the product cuts them. QDQ format, per-channel weights, MinMax calibration.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import pickle
import random

import numpy as np
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

from edge.reading import crop_plate
from edge.records import BoundingBox
from training.ocr.common import SCRATCH, to_input


class Crops(CalibrationDataReader):
    def __init__(self, n: int, seed: int = 0):
        items = []
        for name in ("real_train.pkl", "cn_train.pkl"):
            with open(SCRATCH / name, "rb") as f:
                items += pickle.load(f)
        random.Random(seed).shuffle(items)
        xs = []
        for r in items[:n]:
            x, y, w, h = r["box"]
            crop = r["cut"] if r.get("tight") else crop_plate(r["cut"], BoundingBox(x, y, w, h))
            xs.append(to_input(crop))
        self.batches = iter([{"input": np.stack(xs[i:i + 16])} for i in range(0, len(xs), 16)])

    def get_next(self):
        return next(self.batches, None)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/plate_reader.onnx")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--method", choices=("minmax", "percentile", "entropy"), default="minmax")
    ap.add_argument("--exclude", nargs="*", default=[],
                    help="keep float the nodes whose name contains any of these (e.g. /net/seq/)")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp()
    pre = os.path.join(tmp, "pre.onnx")
    quant_pre_process(args.model, pre, skip_symbolic_shape=True)
    import onnx

    excluded = [n.name for n in onnx.load(pre).graph.node if any(e in n.name for e in args.exclude)]
    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[args.method]
    quantize_static(pre, args.out, Crops(args.n), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    per_channel=True, calibrate_method=method,
                    nodes_to_exclude=excluded, extra_options={"ActivationSymmetric": False})
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
