"""The teacher's likeliest whole texts, as the distillation trains the CTC student on them."""

from __future__ import annotations

import numpy as np
import pytest

from training.ocr.common import ALPHABET, PAD_INDEX, SLOTS, encode
from training.ocr.distil import likeliest_texts, targets


def slots(*rows: dict[str, float]) -> np.ndarray:
    """[SLOTS, 37] distributions: each row's named characters, the rest of its mass on the pad."""
    probs = np.zeros((SLOTS, 37), np.float32)
    for i in range(SLOTS):
        row = rows[i] if i < len(rows) else {}
        for ch, p in row.items():
            probs[i, ALPHABET.index(ch)] = p
        probs[i, PAD_INDEX] = 1.0 - sum(row.values())
    return probs


def test_texts_come_best_first_with_the_product_of_their_slots():
    probs = slots({"A": 1.0}, {"B": 1.0}, {"O": 0.6, "D": 0.4}, {"1": 0.9, "I": 0.1})
    got = likeliest_texts(probs, k=3)
    assert [t for t, _ in got] == ["ABO1", "ABD1", "ABOI"]
    assert [p for _, p in got] == pytest.approx([0.54, 0.36, 0.06], abs=1e-6)


def test_a_pad_inside_the_text_ends_it():
    # slot 2 is most likely the end; a character after the pad would not be a text the teacher reads
    probs = slots({"A": 1.0}, {"B": 1.0}, {"C": 0.3}, {"D": 0.9})
    got = dict(likeliest_texts(probs, k=3))
    assert got["AB"] == pytest.approx(0.7 * 0.1, abs=1e-6)  # slot 3's pad is 0.1
    assert got["ABCD"] == pytest.approx(0.3 * 0.9, abs=1e-6)
    assert all("_" not in t for t in got)


def test_targets_are_padded_to_the_top_k():
    ys, ps = targets([("AB12", 0.5)])
    assert ys.shape == (3, SLOTS) and list(ps) == [0.5, 0.0, 0.0]
    assert (ys[0] == encode("AB12")).all() and (ys[1:] == PAD_INDEX).all()
