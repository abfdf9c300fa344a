"""Step 3: onnxruntime static int8 quantization, calibrated on real train-split crops.

    python -m training.ocr.quantize --model models/plate_reader.onnx --out /work/scratch/ocr/plate_reader.int8.onnx

Calibration data: up to --n crops from real_train.pkl (detect train splits) and cn_train.pkl,
cut as the product cuts them. QDQ format, per-channel weights, MinMax calibration.

The quantized graph is then streamlined (`streamline`; alone on an already quantized model:
`--streamline-only`), for onnxruntime's CPU kernels. It keeps every weight and computes the same
function, with less rounding:
* the row pooling runs in float: onnxruntime fuses a quantized AveragePool into its
  QLinearAveragePool, which took 9% of the reader's time for a 2x16x128 result;
* the uint8 pixels go straight into the first convolution as quantized values (scale 1/255),
  instead of Cast, a quantized Mul by 1/255 and a second quantization;
* the softmax runs in float, so confidences are no longer rounded to 1/256 steps.
Together 16% less time per crop, and the same validation score (plate_reader 2.0.1).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import pickle
import random

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

from edge.recognition.reading import crop_plate
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


def _producer(graph, tensor: str):
    return next((n for n in graph.node if tensor in n.output), None)


def _consumers(graph, tensor: str) -> list:
    return [n for n in graph.node if tensor in n.input]


def _unquantize(graph, tensor: str) -> None:
    """Drop the QuantizeLinear -> DequantizeLinear pair on `tensor`: its consumers take it in float."""
    q, = [n for n in _consumers(graph, tensor) if n.op_type == "QuantizeLinear"]
    outputs = {o.name for o in graph.output}
    for dq in _consumers(graph, q.output[0]):
        assert dq.op_type == "DequantizeLinear", dq.name
        if dq.output[0] in outputs:  # the graph's output: the float tensor takes its name
            for n in graph.node:
                n.output[:] = [dq.output[0] if x == tensor else x for x in n.output]
                n.input[:] = [dq.output[0] if x == tensor else x for x in n.input]
            tensor = dq.output[0]
        for n in _consumers(graph, dq.output[0]):
            n.input[:] = [tensor if x == dq.output[0] else x for x in n.input]
        graph.node.remove(dq)
    graph.node.remove(q)


def _uint8_input_as_quantized(graph) -> bool:
    """Transpose(uint8 input) -> Cast -> Q -> DQ -> Mul(1/255) -> Q -> DQ  becomes
    Transpose -> DQ(scale 1/255, zero point 0). False when the graph does not have that shape."""
    cast = next((n for n in graph.node if n.op_type == "Cast"), None)
    if cast is None:
        return False
    chain = [cast]
    for op in ("QuantizeLinear", "DequantizeLinear", "Mul", "QuantizeLinear", "DequantizeLinear"):
        nxt = _consumers(graph, chain[-1].output[0])
        if len(nxt) != 1 or nxt[0].op_type != op:
            return False
        chain.append(nxt[0])
    const = _producer(graph, next(x for x in chain[3].input if x != chain[2].output[0]))
    if const is None or const.op_type != "DequantizeLinear":
        return False
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    factor = float(inits[const.input[0]] * inits[const.input[1]])
    if abs(factor * 255.0 - 1.0) > 1e-3:
        return False
    graph.initializer.extend([numpy_helper.from_array(np.array(1 / 255, np.float32), "input_scale"),
                              numpy_helper.from_array(np.array(0, np.uint8), "input_zero_point")])
    dq = helper.make_node("DequantizeLinear", [cast.input[0], "input_scale", "input_zero_point"],
                          [chain[-1].output[0]], name="input_DequantizeLinear")
    for n in chain + [const]:
        graph.node.remove(n)
    source = _producer(graph, cast.input[0])  # None: the graph input itself
    graph.node.insert(0 if source is None else list(graph.node).index(source) + 1, dq)
    return True


def streamline(model: onnx.ModelProto) -> onnx.ModelProto:
    """The quantized reader with its slow or lossy steps done as described in the module doc."""
    graph = model.graph
    for pool in [n for n in graph.node if n.op_type == "AveragePool"]:
        if any(n.op_type == "QuantizeLinear" for n in _consumers(graph, pool.output[0])):
            _unquantize(graph, pool.output[0])
    _uint8_input_as_quantized(graph)
    out = _producer(graph, graph.output[0].name)
    if out is not None and out.op_type == "DequantizeLinear":
        q = _producer(graph, out.input[0])
        if q is not None and q.op_type == "QuantizeLinear":
            _unquantize(graph, q.input[0])
    used = {x for n in graph.node for x in n.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/plate_reader.onnx")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--method", choices=("minmax", "percentile", "entropy"), default="minmax")
    ap.add_argument("--exclude", nargs="*", default=[],
                    help="keep float the nodes whose name contains any of these (e.g. /net/seq/)")
    ap.add_argument("--streamline-only", action="store_true",
                    help="--model is already quantized: only streamline it (see the module doc)")
    args = ap.parse_args(argv)
    if args.streamline_only:
        onnx.save(streamline(onnx.load(args.model)), args.out)
        print(f"wrote {args.out}")
        return
    tmp = tempfile.mkdtemp()
    pre = os.path.join(tmp, "pre.onnx")
    quant_pre_process(args.model, pre, skip_symbolic_shape=True)
    excluded = [n.name for n in onnx.load(pre).graph.node if any(e in n.name for e in args.exclude)]
    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[args.method]
    quantize_static(pre, args.out, Crops(args.n), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    per_channel=True, calibrate_method=method,
                    nodes_to_exclude=excluded, extra_options={"ActivationSymmetric": False})
    onnx.save(streamline(onnx.load(args.out)), args.out)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
