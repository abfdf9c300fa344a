"""Synthetic plates for training: the team renderer (edge.synth) when present, else a simple
built-in OpenCV renderer (Hershey fonts, one/two rows, random colours) as a stand-in."""

from __future__ import annotations

import importlib

import cv2
import numpy as np

from training.ocr.common import ALPHABET, SLOTS, clean_text

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
FONTS = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_PLAIN,
         cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX]


def random_text(rng: np.random.Generator) -> str:
    n = int(rng.integers(4, 9))
    kind = rng.random()
    if kind < 0.4:  # format-like: blocks of letters and digits
        out = []
        while len(out) < n:
            pool = LETTERS if rng.random() < 0.5 else DIGITS
            out.extend(rng.choice(list(pool), size=int(rng.integers(1, 4))))
        return "".join(out[:n])
    return "".join(rng.choice(list(ALPHABET), size=n))


def _fallback_plate(rng: np.random.Generator):
    text = random_text(rng)
    two = rng.random() < 0.25
    bg = rng.integers(150, 256, 3) if rng.random() < 0.75 else rng.integers(0, 110, 3)
    fg = rng.integers(0, 70, 3) if bg.mean() > 128 else rng.integers(190, 256, 3)
    if two:
        k = int(rng.integers(2, max(3, len(text) - 1)))
        rows = [text[:k], text[k:]]
        W, H = 240, int(rng.integers(130, 190))
    else:
        rows = [text]
        W, H = 320, int(rng.integers(60, 110))
    img = np.empty((H, W, 3), np.uint8)
    img[:] = bg
    font = int(rng.choice(FONTS))
    thick = int(rng.integers(2, 6))
    row_h = H / len(rows) * rng.uniform(0.55, 0.75)
    top = (H - row_h * len(rows)) / (len(rows) + 1)
    for i, row in enumerate(rows):
        (tw, th), _ = cv2.getTextSize(row, font, 1.0, thick)
        s = row_h / th
        if tw * s > W * 0.92:
            s = W * 0.92 / tw
        (tw, th), _ = cv2.getTextSize(row, font, s, thick)
        x = int((W - tw) / 2 + rng.uniform(-0.04, 0.04) * W)
        y = int(top * (i + 1) + row_h * (i + 1) + (row_h - th) / 2 * 0)
        cv2.putText(img, row, (x, y), font, s, tuple(int(v) for v in fg), thick, cv2.LINE_AA)
    if rng.random() < 0.6:
        cv2.rectangle(img, (2, 2), (W - 3, H - 3), tuple(int(v) for v in fg), int(rng.integers(1, 5)))
    if rng.random() < 0.3:  # small header text (state name) that is not part of the label
        junk = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=int(rng.integers(5, 11))))
        cv2.putText(img, junk, (int(W * 0.3), int(top * 0.8 + 6)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.5, tuple(int(v) for v in fg), 1, cv2.LINE_AA)
    return img, text


class SynthSource:
    """Yields (BGR plate image, text). Uses edge.synth when importable."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.renderer = None
        self.degrade = None
        self.errors = 0
        self.try_load()

    def try_load(self) -> bool:
        if self.renderer is not None:
            return True
        try:
            plates = importlib.import_module("edge.synth.plates")
            self.renderer = plates.render_plate
            try:
                self.degrade = importlib.import_module("edge.synth.degrade").degrade
            except Exception:
                self.degrade = None
            return True
        except Exception:
            return False

    @property
    def kind(self) -> str:
        return "edge.synth" if self.renderer is not None else "fallback"

    def sample(self):
        if self.renderer is not None and self.errors < 50:
            try:
                p = self.renderer(self.rng)
                text = clean_text(p.text)
                img = p.image
                if self.degrade is not None and self.rng.random() < 0.5:
                    img = self.degrade(self.rng, img)
                if 1 <= len(text) <= SLOTS and img is not None and img.size:
                    return img, text
            except Exception:
                self.errors += 1
        return _fallback_plate(self.rng)
