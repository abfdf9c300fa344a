"""Online distillation: the teacher reads the very view the student is given (training only).

The teacher is a fixed-slot reader (9 slots x 37 classes) and the student a CTC reader, so the
teacher's per-slot distributions cannot be matched directly. Its K likeliest whole texts can:
a short beam over the slots gives them with their probabilities, and the student is trained on
each of them by CTC, weighted by its probability. A view the teacher finds unreadable (little
mass on any text) counts little.
"""

from __future__ import annotations

import numpy as np

from training.ocr.common import PAD_INDEX, SLOTS, TEACHER, VOCAB, encode

TOP_K = 3
PER_SLOT = 3


def likeliest_texts(probs: np.ndarray, k: int = TOP_K) -> list[tuple[str, float]]:
    """The k likeliest texts of one [SLOTS, 37] slot distribution (pad only after the text),
    with their probabilities, best first; texts of one character or none are left out."""
    beams: list[tuple[float, tuple[int, ...], bool]] = [(1.0, (), False)]  # (p, chars, ended)
    for slot in probs:
        top = np.argsort(slot)[::-1][:PER_SLOT]
        grown = []
        for p, chars, ended in beams:
            if ended:  # after the pad only the pad may follow
                grown.append((p * float(slot[PAD_INDEX]), chars, True))
                continue
            for c in top:
                c = int(c)
                grown.append((p * float(slot[c]), chars if c == PAD_INDEX else chars + (c,),
                              c == PAD_INDEX))
        beams = sorted(grown, key=lambda b: -b[0])[: k * PER_SLOT]
    out: dict[str, float] = {}
    for p, chars, _ in beams:
        if len(chars) >= 2:
            text = "".join(VOCAB[c] for c in chars)
            out[text] = out.get(text, 0.0) + p
    return sorted(out.items(), key=lambda t: -t[1])[:k]


class TeacherReader:
    """The teacher model on one CPU thread, made where it is used (each batch process its own)."""

    def __init__(self, path=TEACHER) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def read(self, views_rgb: np.ndarray) -> list[list[tuple[str, float]]]:
        """uint8 [N, 64, 128, 3] RGB views -> each view's likeliest texts."""
        probs = self.session.run(None, {self.input: views_rgb})[0]
        return [likeliest_texts(p) for p in probs]


def targets(reads: list[tuple[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(texts [TOP_K, SLOTS] encoded, probabilities [TOP_K]) of one view, zero-padded."""
    ys = np.full((TOP_K, SLOTS), PAD_INDEX, np.int64)
    ps = np.zeros(TOP_K, np.float32)
    for i, (text, p) in enumerate(reads[:TOP_K]):
        ys[i], ps[i] = encode(text), p
    return ys, ps
