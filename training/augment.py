"""Augmentation steps shared by the detector and reader trainings."""

from __future__ import annotations

import cv2
import numpy as np


def blur_and_jpeg(img: np.ndarray, rng: np.random.Generator, p_gauss: float, p_motion: float,
                  p_jpeg: float, jpeg_quality: tuple[int, int]) -> np.ndarray:
    """Gaussian blur (p_gauss) or horizontal motion blur (p_motion), then JPEG re-encoding
    (p_jpeg, quality drawn from [jpeg_quality[0], jpeg_quality[1]))."""
    r = rng.random()
    if r < p_gauss:
        k = int(rng.choice([3, 5]))
        img = cv2.GaussianBlur(img, (k, k), 0)
    elif r < p_gauss + p_motion:
        k = int(rng.integers(3, 8))
        ker = np.zeros((k, k), np.float32)
        ker[k // 2, :] = 1.0 / k
        img = cv2.filter2D(img, -1, ker)
    if rng.random() < p_jpeg:
        q = int(rng.integers(*jpeg_quality))
        ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            img = cv2.imdecode(enc, cv2.IMREAD_COLOR)
    return img
