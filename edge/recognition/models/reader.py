"""Plate OCR behind the `PlateReader` protocol: an ONNX model described by a JSON sidecar.

The sidecar (`<model>.json` beside `<model>.onnx`, or passed explicitly) says how to feed the
model and decode its output, so other models in the same families can be plugged in by
configuration alone:

* input: `layout` NHWC | NCHW, `height`, `width`, `color` RGB | BGR | GRAY, `dtype` uint8 |
  float32 (float inputs are `(pixel * scale - mean) / std`), `resize` "stretch" (no aspect
  kept, as fast-plate-ocr does).
* output: `decode` "slots" — [N, slots, alphabet] one distribution per character slot, pad
  symbol dropped (fast-plate-ocr, and our own model) — or "ctc" — [N, T, alphabet], repeats
  collapsed and `blank` dropped. `activation` "softmax" when the graph gives probabilities,
  "logits" when the reader must apply the softmax itself.

Every character comes with its probability (CharConfidence); a crop that cannot be read gives
an empty PlateText.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge.records import CharConfidence, PlateText

SIDECAR_FORMAT = "edge.plate_reader/1"


class ReaderConfigError(RuntimeError):
    """The model or its sidecar cannot be used; the message is one line."""


def _sidecar_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def load_sidecar(path: Path) -> dict:
    try:
        meta = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReaderConfigError(f"{path}: cannot read the reader sidecar ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ReaderConfigError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    for key in ("input", "output", "alphabet"):
        if key not in meta:
            raise ReaderConfigError(f"{path}: missing key '{key}'")
    return meta


class OnnxPlateReader:
    """Reads BGR plate crops with an ONNX model; batched, one session, `threads` intra-op threads."""

    def __init__(self, model_path: str | Path, threads: int = 1, sidecar: str | Path | None = None):
        import onnxruntime as ort

        model_path = Path(model_path)
        side = Path(sidecar) if sidecar is not None else _sidecar_path(model_path)
        meta = load_sidecar(side)
        if not model_path.is_file():
            raise ReaderConfigError(f"{model_path}: reader model not found")
        inp, out = meta["input"], meta["output"]
        self.height = int(inp["height"])
        self.width = int(inp["width"])
        self.layout = inp.get("layout", "NHWC").upper()
        self.color = inp.get("color", "RGB").upper()
        self.dtype = np.dtype(inp.get("dtype", "uint8"))
        self.scale = float(inp.get("scale", 1.0 / 255.0))
        self.mean = np.asarray(inp.get("mean", 0.0), np.float32)
        self.std = np.asarray(inp.get("std", 1.0), np.float32)
        self.interp = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA,
                       "cubic": cv2.INTER_CUBIC}[inp.get("interpolation", "linear")]
        self.decode_kind = out.get("decode", "slots")
        self.activation = out.get("activation", "softmax")
        self.alphabet = meta["alphabet"]
        self.pad = meta.get("pad", "_")
        self.blank = int(out.get("blank", 0))
        if self.layout not in ("NHWC", "NCHW") or self.color not in ("RGB", "BGR", "GRAY") \
                or self.decode_kind not in ("slots", "ctc"):
            raise ReaderConfigError(f"{side}: unsupported layout/color/decode "
                                    f"({self.layout}/{self.color}/{self.decode_kind})")
        self.channels = 1 if self.color == "GRAY" else 3

        so = ort.SessionOptions()
        so.intra_op_num_threads = max(0, int(threads))  # 0: onnxruntime's choice (its cores)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ReaderConfigError(f"{model_path}: cannot load reader model: {msg}") from exc
        self._input = self._sess.get_inputs()[0]
        self._output = self._sess.get_outputs()[0].name
        batch_dim = self._input.shape[0]
        self.max_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else 64
        n_out = self._sess.get_outputs()[0].shape[-1]
        if not isinstance(n_out, int):  # symbolic in the graph: one warm-up run tells
            n_out = self._run(self._batch([np.zeros((self.height, self.width, 3), np.uint8)])).shape[-1]
        if n_out != len(self.alphabet):
            raise ReaderConfigError(f"{side}: alphabet has {len(self.alphabet)} symbols, "
                                    f"the model outputs {n_out}")
        self.name = meta.get("name", model_path.stem) + (f"@{meta['version']}" if meta.get("version") else "")

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self._sess.run([self._output], {self._input.name: x})[0]

    # -- pre-processing ------------------------------------------------------------------
    def _fill(self, buf: np.ndarray, i: int, crop: np.ndarray, tmp: np.ndarray) -> None:
        """Resize crop straight into slot i of the uint8 NHWC batch buffer (`tmp`: resize scratch)."""
        size = (self.width, self.height)
        if crop.ndim == 2 or crop.shape[2] == 1:
            g = crop if crop.ndim == 2 else crop[:, :, 0]
            if self.color == "GRAY":
                cv2.resize(g, size, dst=buf[i, :, :, 0], interpolation=self.interp)
            else:
                cv2.resize(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR), size, dst=tmp,
                           interpolation=self.interp)
                buf[i] = tmp
            return
        if crop.shape[2] == 4:
            crop = cv2.cvtColor(crop, cv2.COLOR_BGRA2BGR)
        if self.color == "BGR":
            cv2.resize(crop, size, dst=buf[i], interpolation=self.interp)
        elif self.color == "RGB":
            cv2.resize(crop, size, dst=tmp, interpolation=self.interp)
            cv2.cvtColor(tmp, cv2.COLOR_BGR2RGB, dst=buf[i])
        else:
            cv2.resize(crop, size, dst=tmp, interpolation=self.interp)
            cv2.cvtColor(tmp, cv2.COLOR_BGR2GRAY, dst=buf[i, :, :, 0])

    def _batch(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        buf = np.empty((len(crops), self.height, self.width, self.channels), np.uint8)
        # scratch per call, not per reader: two cameras' pipelines share one reader
        tmp = np.empty((self.height, self.width, 3), np.uint8)
        for i, c in enumerate(crops):
            self._fill(buf, i, c, tmp)
        x = buf
        if self.dtype != np.uint8:
            x = (buf.astype(np.float32) * self.scale - self.mean) / self.std
        if self.layout == "NCHW":
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return x.astype(self.dtype, copy=False)

    # -- decoding ------------------------------------------------------------------------
    def _probs(self, out: np.ndarray) -> np.ndarray:
        if self.activation == "logits":
            e = np.exp(out - out.max(-1, keepdims=True))
            return e / e.sum(-1, keepdims=True)
        return out

    def _decode(self, probs: np.ndarray) -> list[PlateText]:
        idx = probs.argmax(-1)
        best = np.take_along_axis(probs, idx[..., None], -1)[..., 0]
        alphabet = self.alphabet
        results = []
        for row_i, row_p in zip(idx.tolist(), best.tolist()):
            chars = []
            prev = -1
            for k, p in zip(row_i, row_p):
                if self.decode_kind == "ctc":
                    if k == self.blank:
                        pass
                    elif k != prev:
                        chars.append(CharConfidence(alphabet[k], round(float(p), 4)))
                    elif p > chars[-1].p:  # same symbol held over several steps: its best
                        chars[-1] = CharConfidence(alphabet[k], round(float(p), 4))
                    prev = k
                else:
                    ch = alphabet[k]
                    if ch != self.pad:
                        chars.append(CharConfidence(ch, round(float(p), 4)))
            results.append(PlateText("".join(c.c for c in chars), tuple(chars)))
        return results

    def predict(self, crops: Sequence[np.ndarray]) -> list[PlateText]:
        """Text of each BGR plate crop, in order. Empty crops read as empty text."""
        out: list[PlateText] = [PlateText("", ())] * len(crops)
        ok = [i for i, c in enumerate(crops) if c is not None and c.size and c.shape[0] > 1 and c.shape[1] > 1]
        for s in range(0, len(ok), self.max_batch):
            part = ok[s:s + self.max_batch]
            x = self._batch([crops[i] for i in part])
            probs = self._probs(self._run(x))
            for i, r in zip(part, self._decode(probs)):
                out[i] = r
        return out
