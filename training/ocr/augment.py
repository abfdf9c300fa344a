"""On-the-fly augmentation: one warp does crop + margin jitter + perspective + resize."""

from __future__ import annotations

import cv2
import numpy as np

from training.augment import blur_and_jpeg
from training.ocr.common import IMG_H, IMG_W

DST = np.float32([[0, 0], [IMG_W, 0], [IMG_W, IMG_H], [0, IMG_H]])


def warp_crop(cut: np.ndarray, box, rng: np.random.Generator, tight: bool = False,
              strength: float = 1.0, edge_cut: float = 0.0) -> np.ndarray:
    """Crop `box` (x, y, w, h) of `cut` with random margins and a small perspective jitter,
    straight to IMG_W x IMG_H (stretched, like the reader's pre-processing). With probability
    `edge_cut` one side is cut into the plate by up to 4% of its width, as a photo cropped tight
    to the plate, or a box a little short, gives it: the first or last character touches the
    edge and must still be read."""
    x, y, w, h = box
    if tight:
        ml, mr = rng.uniform(-0.01, 0.05, 2) * strength
        mt, mb = rng.uniform(-0.03, 0.08, 2) * strength
    else:
        ml, mr = rng.uniform(-0.01, 0.16, 2) * strength
        mt, mb = rng.uniform(-0.04, 0.28, 2) * strength
    if edge_cut and rng.random() < edge_cut:
        if rng.random() < 0.5:
            ml = -rng.uniform(0.0, 0.04)
        else:
            mr = -rng.uniform(0.0, 0.04)
    x1, x2 = x - ml * w, x + w + mr * w
    y1, y2 = y - mt * h, y + h + mb * h
    src = np.float32([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
    j = rng.normal(0, 0.02 * strength, (4, 2)) * np.float32([w, h])
    src = (src + j).astype(np.float32)
    # small rotation
    if rng.random() < 0.5:
        a = np.deg2rad(rng.normal(0, 3.0 * strength))
        c = src.mean(0)
        r = np.float32([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        src = ((src - c) @ r.T + c).astype(np.float32)
    # resolution loss: small plates are read from few pixels
    scale = 1.0
    if rng.random() < 0.35:
        target_w = rng.uniform(22, 90)
        if target_w < (x2 - x1):
            scale = target_w / (x2 - x1)
    if scale < 1.0:
        small_w, small_h = max(8, int(IMG_W * scale * (x2 - x1) / w) // 2 * 2), 0
        sw = max(12, int(round((x2 - x1) * scale)))
        sh = max(6, int(round((y2 - y1) * scale)))
        m = cv2.getPerspectiveTransform(src, np.float32([[0, 0], [sw, 0], [sw, sh], [0, sh]]))
        small = cv2.warpPerspective(cut, m, (sw, sh), flags=cv2.INTER_AREA,
                                    borderMode=cv2.BORDER_REPLICATE)
        out = cv2.resize(small, (IMG_W, IMG_H), interpolation=cv2.INTER_LINEAR)
    else:
        m = cv2.getPerspectiveTransform(src, DST)
        out = cv2.warpPerspective(cut, m, (IMG_W, IMG_H), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
    return out


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """BGR uint8 -> augmented BGR uint8."""
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if rng.random() < 0.2:
        g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        img = cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
    if rng.random() < 0.1:
        img = img[:, :, ::-1]
    f = img.astype(np.float32)
    if rng.random() < 0.8:
        a = rng.uniform(0.6, 1.4)
        b = rng.uniform(-50, 50)
        f = f * a + b + rng.uniform(-12, 12, 3).astype(np.float32)
    if rng.random() < 0.15:  # gamma (dark / washed out)
        f = 255.0 * (np.clip(f, 0, 255) / 255.0) ** rng.uniform(0.5, 2.0)
    if rng.random() < 0.25:
        f = f + rng.normal(0, rng.uniform(3, 14), f.shape).astype(np.float32)
    img = np.clip(f, 0, 255).astype(np.uint8)
    return blur_and_jpeg(img, rng, p_gauss=0.15, p_motion=0.07, p_jpeg=0.2, jpeg_quality=(15, 70))
