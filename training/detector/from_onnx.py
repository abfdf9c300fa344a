"""Rebuild a training checkpoint from a shipped detector ONNX, to fine-tune it without its .pt.

    python -m training.detector.from_onnx --onnx models/plate_detector.onnx --out v2.pt
    python -m training.detector.train --init v2.pt --freeze-bn ...

The export folds each BatchNorm into the convolution before it, so the ONNX holds one weight and
one bias per convolution. Here every convolution gets its ONNX weight, and its BatchNorm becomes
an identity (mean 0, variance 1 - eps, scale 1) whose shift is the folded bias. Such a network
computes exactly what the ONNX does in eval mode, but not in train mode, where a BatchNorm
normalises with the batch's statistics instead: hence `--freeze-bn` when training from it.

ONNX convolutions are matched to the network's in the order a forward pass runs them (the order
the exporter wrote them), each pair's shape is checked, and the rebuilt network's outputs are
compared with onnxruntime's on a random input before the checkpoint is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from training.detector.model import ExportWrapper, PlateNet  # noqa: E402

MAX_SCORE_DIFF = 1e-4


def convs_in_run_order(net: torch.nn.Module) -> list[torch.nn.Conv2d]:
    order: list[torch.nn.Conv2d] = []
    hooks = [m.register_forward_hook(lambda mod, _i, _o: order.append(mod))
             for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        net(torch.zeros(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    return order


def batchnorm_after(net: torch.nn.Module) -> dict[torch.nn.Conv2d, torch.nn.BatchNorm2d]:
    pairs = {}
    for seq in net.modules():
        if isinstance(seq, torch.nn.Sequential):
            kids = list(seq.children())
            for a, b in zip(kids, kids[1:]):
                if isinstance(a, torch.nn.Conv2d) and isinstance(b, torch.nn.BatchNorm2d):
                    pairs[a] = b
    return pairs


def rebuild(onnx_path: Path, width: float) -> PlateNet:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    nodes = [n for n in graph.node if n.op_type == "Conv"]
    net = PlateNet(width).eval()
    convs = convs_in_run_order(net)
    if len(convs) != len(nodes):
        raise SystemExit(f"{onnx_path}: {len(nodes)} convolutions, PlateNet(width={width}) has {len(convs)}")
    bns = batchnorm_after(net)
    with torch.no_grad():
        for conv, node in zip(convs, nodes):
            w = consts[node.input[1]]
            b = consts[node.input[2]] if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
            if tuple(conv.weight.shape) != w.shape:
                raise SystemExit(f"{node.name}: weight {w.shape} does not fit {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(np.array(w)))
            bn = bns.get(conv)
            if bn is None:
                conv.bias.copy_(torch.from_numpy(b))
                continue
            bn.weight.fill_(1.0)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            bn.bias.copy_(torch.from_numpy(b))
    return net


def largest_difference(net: PlateNet, onnx_path: Path) -> float:
    import onnxruntime as ort

    x = np.random.default_rng(0).random((1, 3, 288, 512), dtype=np.float32)
    want = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"images": x})
    with torch.no_grad():
        got = ExportWrapper(net)(torch.from_numpy(x))
    return float(np.abs(want[0] - got[0].numpy()).max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", type=Path, default=Path("models/plate_detector.onnx"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    sidecar = json.loads(args.onnx.with_suffix(".json").read_text())
    width = float(sidecar.get("width", 1.0))
    net = rebuild(args.onnx, width)
    diff = largest_difference(net, args.onnx)
    if diff > MAX_SCORE_DIFF:
        raise SystemExit(f"rebuilt network differs from {args.onnx} by {diff:.2g} in its scores")
    state = net.state_dict()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "ema": state, "step": sidecar.get("train_step") or 0, "width": width}, args.out)
    print(f"{args.out}: PlateNet(width={width}) from {args.onnx}, scores within {diff:.1g} of onnxruntime's")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
