"""Small drawing helpers shared by the plate, scene and video renderers (numpy + OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np

from edge.synth import fonts


def hexc(h: str) -> tuple[int, int, int]:
    """'#RRGGBB' -> BGR tuple."""
    h = h.lstrip("#")
    return (int(h[4:6], 16), int(h[2:4], 16), int(h[0:2], 16))


def jitter(rng: np.random.Generator, color, amount: float = 12.0) -> tuple[int, int, int]:
    c = np.asarray(color, np.float32) + rng.normal(0, amount, 3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def blend_mask(img: np.ndarray, mask: np.ndarray, x: int, y: int, color) -> None:
    """Alpha-blend `color` into `img` (in place) through float mask (0..1) placed at (x, y)."""
    H, W = img.shape[:2]
    h, w = mask.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return
    m = mask[y0 - y: y1 - y, x0 - x: x1 - x]
    if m.ndim == 2:
        m = m[:, :, None]
    roi = img[y0:y1, x0:x1].astype(np.float32)
    col = np.asarray(color, np.float32)
    img[y0:y1, x0:x1] = (roi + (col - roi) * m).astype(np.uint8)


def fit_text(img: np.ndarray, font: str, text: str, box: tuple[float, float, float, float], color,
             spacing: float = 0.12, squeeze: float = 1.0, align: str = "center", bold: int = 0,
             dash_w: float = 0.45) -> tuple[int, int, int, int]:
    """Draw `text` with cap height = box height, centred in box (x0, y0, x1, y1); shrink to fit.

    Returns the drawn (x0, y0, x1, y1).
    """
    x0, y0, x1, y1 = box
    cap = max(3, int(round(y1 - y0)))
    m = fonts.text_mask(font, text, cap, spacing=spacing, squeeze=squeeze, dash_w=dash_w)
    if bold:
        k = max(1, int(round(cap * 0.035 * abs(bold))))
        kernel = np.ones((k, k), np.uint8)
        m = cv2.dilate(m, kernel) if bold > 0 else cv2.erode(m, kernel)
    bw = max(1, int(round(x1 - x0)))
    if m.shape[1] > bw:
        m = cv2.resize(m, (bw, m.shape[0]), interpolation=cv2.INTER_AREA)
    w = m.shape[1]
    if align == "left":
        x = int(round(x0))
    elif align == "right":
        x = int(round(x1)) - w
    else:
        x = int(round((x0 + x1 - w) / 2))
    y = int(round(y0))
    blend_mask(img, m, x, y, color)
    return x, y, x + w, y + m.shape[0]


def rounded_rect(img: np.ndarray, p0, p1, color, thickness: int, radius: int) -> None:
    """Rounded rectangle outline (thickness > 0) or filled (thickness < 0), anti-aliased."""
    x0, y0 = int(p0[0]), int(p0[1])
    x1, y1 = int(p1[0]), int(p1[1])
    r = int(max(0, min(radius, (x1 - x0) // 2, (y1 - y0) // 2)))
    if thickness < 0:
        cv2.rectangle(img, (x0 + r, y0), (x1 - r, y1), color, -1)
        cv2.rectangle(img, (x0, y0 + r), (x1, y1 - r), color, -1)
        for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
            cv2.circle(img, (cx, cy), r, color, -1, cv2.LINE_AA)
        return
    t = thickness
    h = t // 2
    cv2.line(img, (x0 + r, y0 + h), (x1 - r, y0 + h), color, t, cv2.LINE_AA)
    cv2.line(img, (x0 + r, y1 - h), (x1 - r, y1 - h), color, t, cv2.LINE_AA)
    cv2.line(img, (x0 + h, y0 + r), (x0 + h, y1 - r), color, t, cv2.LINE_AA)
    cv2.line(img, (x1 - h, y0 + r), (x1 - h, y1 - r), color, t, cv2.LINE_AA)
    if r > 0:
        rr = max(1, r - h)
        cv2.ellipse(img, (x0 + r, y0 + r), (rr, rr), 180, 0, 90, color, t, cv2.LINE_AA)
        cv2.ellipse(img, (x1 - r, y0 + r), (rr, rr), 270, 0, 90, color, t, cv2.LINE_AA)
        cv2.ellipse(img, (x0 + r, y1 - r), (rr, rr), 90, 0, 90, color, t, cv2.LINE_AA)
        cv2.ellipse(img, (x1 - r, y1 - r), (rr, rr), 0, 0, 90, color, t, cv2.LINE_AA)


def vertical_gradient(h: int, w: int, top, bottom) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    a = np.asarray(top, np.float32)[None, None, :]
    b = np.asarray(bottom, np.float32)[None, None, :]
    col = a + (b - a) * t
    return np.ascontiguousarray(np.repeat(col.astype(np.uint8), w, axis=1))
