"""A squarish stroke font for plates, drawn from code (no font file needed).

Brazil's grey plates, and many others, use condensed lettering whose round letters are
rounded rectangles (O, 0, D, Q, C, G differ only by a flat side, a tail or a bar). No font on
a stock Debian machine looks like that, and a reader that has only seen round O's reads a
squarish O as D. Each glyph is a few polylines on a 10-unit-high grid; a vertex given as
(x, y, r) is rounded with radius r. Strokes are drawn thick with round ends, so the same
skeleton gives a light, regular and bold weight.
"""

from __future__ import annotations

import cv2
import numpy as np

R = 1.6  # default corner radius, grid units (cap height = 10)

_O = [[(0, 0, 2.2), (5.4, 0, 2.2), (5.4, 10, 2.2), (0, 10, 2.2), (0, 0, 2.2)]]

GLYPHS: dict[str, list[list[tuple]]] = {
    "0": [[(0, 0, 1.9), (4.4, 0, 1.9), (4.4, 10, 1.9), (0, 10, 1.9), (0, 0, 1.9)]],
    "1": [[(0.4, 2.4), (2.6, 0), (2.6, 10)]],
    "2": [[(0, 2.2), (0, 0, R), (5, 0, R), (5, 4.4, R), (0, 8.8), (0, 10), (5, 10)]],
    "3": [[(0, 1.8), (0, 0, R), (4.7, 0, R), (4.7, 4.6, R), (1.6, 4.6)],
          [(1.6, 4.6), (5, 4.6, R), (5, 10, R), (0, 10, R), (0, 8.2)]],
    "4": [[(3.8, 10), (3.8, 0), (0, 7), (5.2, 7)]],
    "5": [[(5, 0), (0.4, 0), (0.1, 4.4), (5, 4.4, R), (5, 10, R), (0, 10, R), (0, 8.2)]],
    "6": [[(4.8, 1.8), (4.8, 0, R), (0, 0, R), (0, 10, R), (5, 10, R), (5, 4.6, R), (0, 4.6)]],
    "7": [[(0, 1.8), (0, 0), (5, 0), (5, 1.6), (1.8, 10)]],
    "8": [[(0.3, 0, R), (4.7, 0, R), (4.7, 4.6, R), (0.3, 4.6, R), (0.3, 0, R)],
          [(0, 4.6, R), (5, 4.6, R), (5, 10, R), (0, 10, R), (0, 4.6, R)]],
    "9": [[(0.2, 8.2), (0.2, 10, R), (5, 10, R), (5, 0, R), (0, 0, R), (0, 5.4, R), (5, 5.4)]],
    "A": [[(0, 10), (0, 2.6, 2.4), (2.7, 0, 1.2), (5.4, 2.6, 2.4), (5.4, 10)], [(0, 6.2), (5.4, 6.2)]],
    "B": [[(0, 0), (4.3, 0, R), (4.3, 4.6, R), (0, 4.6)], [(0, 4.6), (5, 4.6, R), (5, 10, R), (0, 10)],
          [(0, 0), (0, 10)]],
    "C": [[(5, 2.2), (5, 0, R), (0, 0, R), (0, 10, R), (5, 10, R), (5, 7.8)]],
    "D": [[(0, 0), (5, 0, 2.6), (5, 10, 2.6), (0, 10), (0, 0)]],
    "E": [[(5, 0), (0, 0), (0, 10), (5, 10)], [(0, 4.8), (4, 4.8)]],
    "F": [[(5, 0), (0, 0), (0, 10)], [(0, 4.8), (4, 4.8)]],
    "G": [[(5, 2.2), (5, 0, R), (0, 0, R), (0, 10, R), (5, 10, R), (5, 5.2), (2.6, 5.2)]],
    "H": [[(0, 0), (0, 10)], [(5, 0), (5, 10)], [(0, 4.8), (5, 4.8)]],
    "I": [[(0, 0), (0, 10)]],
    "J": [[(5, 0), (5, 10, R), (0, 10, R), (0, 7.6)]],
    "K": [[(0, 0), (0, 10)], [(5, 0), (0, 6.2)], [(1.7, 4.3), (5.2, 10)]],
    "L": [[(0, 0), (0, 10), (5, 10)]],
    "M": [[(0, 10), (0, 0), (2.9, 6.4), (5.8, 0), (5.8, 10)]],
    "N": [[(0, 10), (0, 0), (5, 10), (5, 0)]],
    "O": _O,
    "P": [[(0, 10), (0, 0), (5, 0, R), (5, 5.4, R), (0, 5.4)]],
    "Q": _O + [[(3.3, 7.4), (5.8, 10.8)]],
    "R": [[(0, 10), (0, 0), (5, 0, R), (5, 5.1, R), (0, 5.1)], [(2.8, 5.1), (5.2, 10)]],
    "S": [[(5, 1.8), (5, 0, R), (0, 0, R), (0, 4.8, R), (5, 4.8, R), (5, 10, R), (0, 10, R), (0, 8.2)]],
    "T": [[(0, 0), (5.2, 0)], [(2.6, 0), (2.6, 10)]],
    "U": [[(0, 0), (0, 10, R), (5, 10, R), (5, 0)]],
    "V": [[(0, 0), (2.7, 10), (5.4, 0)]],
    "W": [[(0, 0), (1.6, 10), (3.2, 3.4), (4.8, 10), (6.4, 0)]],
    "X": [[(0, 0), (5.2, 10)], [(5.2, 0), (0, 10)]],
    "Y": [[(0, 0), (2.7, 5.2)], [(5.4, 0), (2.7, 5.2), (2.7, 10)]],
    "Z": [[(0, 0), (5, 0), (0, 10), (5, 10)]],
}

WEIGHTS = {"plate_square_light": 0.10, "plate_square": 0.13, "plate_square_bold": 0.17}


def _rounded(poly: list[tuple], steps: int = 6) -> np.ndarray:
    """Polyline with each (x, y, r) vertex replaced by a quadratic fillet of radius r."""
    pts = [np.float64(p[:2]) for p in poly]
    out: list[np.ndarray] = []
    closed = len(pts) > 2 and np.allclose(pts[0], pts[-1])
    n = len(pts)
    for i, p in enumerate(poly):
        r = p[2] if len(p) > 2 else 0.0
        inner = 0 < i < n - 1 or closed
        if not r or not inner:
            out.append(pts[i])
            continue
        prev = pts[i - 1] if i > 0 else pts[-2]
        nxt = pts[i + 1] if i < n - 1 else pts[1]
        a, b = prev - pts[i], nxt - pts[i]
        ra = min(r, np.linalg.norm(a) / 2) / max(np.linalg.norm(a), 1e-9)
        rb = min(r, np.linalg.norm(b) / 2) / max(np.linalg.norm(b), 1e-9)
        p0, p2 = pts[i] + a * ra, pts[i] + b * rb
        for t in np.linspace(0, 1, steps):
            out.append((1 - t) ** 2 * p0 + 2 * (1 - t) * t * pts[i] + t ** 2 * p2)
    if closed and len(poly[0]) > 2 and poly[0][2]:
        out[0] = out[-1]  # the first vertex was rounded at the end; close on the fillet
    return np.array(out)


def render(font_name: str, ch: str, cap: int) -> tuple[np.ndarray, int]:
    """(uint8 mask with the cap top at row `top`, top) of one glyph drawn `cap` px high."""
    weight = WEIGHTS[font_name]
    th = max(1, int(round(weight * cap)))
    unit = (cap - th) / 10.0
    pad = th
    strokes = GLYPHS[ch]
    width = max(max(p[0] for p in s) for s in strokes)
    bottom = max(max(p[1] for p in s) for s in strokes)
    shift = 4  # sub-pixel precision for cv2.polylines
    img = np.zeros((int(np.ceil(bottom * unit)) + th + 2 * pad, int(np.ceil(width * unit)) + th + 2 * pad),
                   np.uint8)
    for s in strokes:
        pts = (_rounded(s) * unit + pad + th / 2) * (1 << shift)
        cv2.polylines(img, [pts.astype(np.int32).reshape(-1, 1, 2)], False, 255, th, cv2.LINE_AA, shift)
    cols = np.where(img.max(axis=0) > 0)[0]
    top = pad  # the cap top (stroke's outer edge)
    return img[top:, cols[0]: cols[-1] + 1], 0
