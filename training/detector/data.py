"""Real detection data: loading, caching in RAM, augmentation and training targets.

Reads the YOLO-format sets in ../shared/datasets/detect/<set>/{train,val}. Images are stored
in RAM with their longest side capped (MAX_SIDE) so that 1-core training never decodes JPEGs.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.augment import blur_and_jpeg

INPUT_SIDE = 416  # inference letterbox: longest side -> 416
MAX_SIDE = 640  # cached images never exceed this (>= 416 * max train zoom / a bit)
PAD_VALUE = 114

TRAIN_SETS = (
    "d1_experiment_plates",
    "d2_openimages_plates",
    "d3_romania_dashcam",
    "d5_us_lhqow",
    "d6_openimages_gplates",
    "d7_ccpd_subset",
)
# Relative sampling weight per image of each set (small, varied sets up; near-duplicate D1 and
# homogeneous CCPD down).
SET_WEIGHTS = {
    "d1_experiment_plates": 0.6,
    "d2_openimages_plates": 1.6,
    "d3_romania_dashcam": 1.0,
    "d5_us_lhqow": 1.6,
    "d6_openimages_gplates": 1.6,
    "d7_ccpd_subset": 0.4,
    "synth": 0.5,
    "synth_paint": 0.8,
}


def default_data_root() -> Path:
    env = os.environ.get("EDGE_DETECT_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "datasets" / "detect"


@dataclass
class Sample:
    image: np.ndarray  # BGR uint8, longest side <= MAX_SIDE
    boxes: np.ndarray  # [K,4] float32 x1,y1,x2,y2 in pixels of `image`
    source: str
    name: str
    orig_size: tuple[int, int]  # (w, h) of the file on disk


def read_yolo(label_path: Path, w: int, h: int) -> np.ndarray:
    rows = []
    if label_path.exists():
        for line in label_path.read_text().splitlines():
            p = line.split()
            if len(p) != 5:
                continue
            cx, cy, bw, bh = (float(v) for v in p[1:])
            rows.append([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])
    return np.array(rows, np.float32).reshape(-1, 4)


def list_split(root: Path, set_name: str, split: str) -> list[Path]:
    d = root / set_name
    if split == "val" and set_name == "d1_experiment_plates" and (d / "val_noleak.txt").exists():
        return [d / line.strip() for line in (d / "val_noleak.txt").read_text().splitlines() if line.strip()]
    return sorted((d / split / "images").glob("*.jpg"))


def load_split(root: Path, set_name: str, split: str, max_side: int | None = MAX_SIDE) -> list[Sample]:
    out = []
    for img_path in list_split(root, set_name, split):
        img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if img is None:
            continue
        h, w = img.shape[:2]
        lab = img_path.parent.parent / "labels" / (img_path.stem + ".txt")
        boxes = read_yolo(lab, w, h)
        if max_side and max(h, w) > max_side:
            s = max_side / max(h, w)
            img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            boxes = boxes * s
        out.append(Sample(img, boxes, set_name, img_path.name, (w, h)))
    return out


def load_cached(cache: Path, root: Path, split: str, sets=TRAIN_SETS) -> list[Sample]:
    if cache.exists():
        with cache.open("rb") as f:
            return [Sample(*t) for t in pickle.load(f)]
    samples: list[Sample] = []
    for s in sets:
        samples += load_split(root, s, split)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("wb") as f:
        pickle.dump([(s.image, s.boxes, s.source, s.name, s.orig_size) for s in samples], f,
                    protocol=pickle.HIGHEST_PROTOCOL)
    return samples


# ----------------------------------------------------------------------------------------
# augmentation


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Contrast/brightness/colour cast, grey, low light, noise, blur, JPEG, salt and pepper.

    The tone changes are one per-channel lookup table (cv2.LUT) rather than float arithmetic
    over the image: same result, about 5x cheaper, which matters when 16 cores feed a GPU."""
    x = np.arange(256, dtype=np.float32)
    lut = np.repeat(x[:, None], 3, axis=1)
    if rng.random() < 0.8:  # contrast / brightness / per-channel colour cast
        a = rng.uniform(0.6, 1.4)
        b = rng.uniform(-40, 40)
        gains = rng.uniform(0.8, 1.2, size=3).astype(np.float32)
        mean = float(np.mean(cv2.mean(img)[:3]))
        lut = ((lut - mean) * a + mean + b) * gains[None, :]
    grey = rng.random() < 0.1  # grey / infrared-like
    if rng.random() < 0.15:  # low light
        lut = lut * rng.uniform(0.25, 0.6)
    lut = np.clip(lut, 0, 255).astype(np.uint8)
    out = cv2.LUT(img, lut.reshape(256, 1, 3))
    if grey:
        out = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if rng.random() < 0.2:  # sensor noise
        noise = np.empty(out.shape, np.int16)
        cv2.setRNGSeed(int(rng.integers(2**31)))  # OpenCV's own generator: seed it from ours
        cv2.randn(noise, 0, float(rng.uniform(3, 15)))
        out = cv2.add(out, noise, dtype=cv2.CV_8U)
    out = blur_and_jpeg(out, rng, p_gauss=0.12, p_motion=0.08, p_jpeg=0.15, jpeg_quality=(25, 80))
    if rng.random() < 0.05:  # salt and pepper (D1/D5 have it)
        m = rng.random(out.shape[:2])
        out[m < 0.02] = 0
        out[m > 0.98] = 255
    return out


def random_view(sample: Sample, rng: np.random.Generator, crop: int,
                zoom=(0.5, 1.7)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A crop x crop view of `sample` at (inference scale x random zoom).

    Returns image, boxes [K,4] (kept), ignore boxes [M,4] (mostly cut off by the crop edge).
    """
    img = sample.image
    h, w = img.shape[:2]
    ow, oh = sample.orig_size
    base = INPUT_SIDE / max(ow, oh) * (ow / w)  # pixels of `img` -> inference pixels
    s = base * float(np.exp(rng.uniform(np.log(zoom[0]), np.log(zoom[1]))))
    sx = s * float(np.exp(rng.uniform(-0.15, 0.15)))
    sy = s
    ang = float(rng.uniform(-6, 6)) if rng.random() < 0.3 else 0.0
    flip = rng.random() < 0.5

    boxes = sample.boxes
    # choose the point of the source image that lands at the crop centre
    if len(boxes) and rng.random() < 0.75:
        b = boxes[rng.integers(len(boxes))]
        bx, by = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        jitter = crop * 0.42 / s
        px = bx + rng.uniform(-jitter, jitter)
        py = by + rng.uniform(-jitter, jitter)
    else:
        px = rng.uniform(0, w)
        py = rng.uniform(0, h)

    ca, sa = np.cos(np.deg2rad(ang)), np.sin(np.deg2rad(ang))
    A = np.array([[sx * ca, -sy * sa], [sx * sa, sy * ca]], np.float64)
    if flip:
        A[0] *= -1
    t = np.array([crop / 2, crop / 2]) - A @ np.array([px, py])
    M = np.hstack([A, t[:, None]])
    out = cv2.warpAffine(img, M, (crop, crop), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3)
    # transform boxes: envelope of the 4 corners
    keep, ignore = [], []
    for b in boxes:
        pts = np.array([[b[0], b[1]], [b[2], b[1]], [b[0], b[3]], [b[2], b[3]]], np.float64)
        q = pts @ A.T + t
        x1, y1 = q.min(0)
        x2, y2 = q.max(0)
        if ang != 0.0:  # rotated envelope is loose: shrink it back a little
            cx, cy, bw, bh = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
            rw = abs(b[2] - b[0]) * sx
            rh = abs(b[3] - b[1]) * sy
            bw, bh = (bw + rw) / 2, (bh + rh) / 2
            x1, x2, y1, y2 = cx - bw / 2, cx + bw / 2, cy - bh / 2, cy + bh / 2
        area = (x2 - x1) * (y2 - y1)
        cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, crop), min(y2, crop)
        if cx2 <= cx1 or cy2 <= cy1:
            continue
        vis = (cx2 - cx1) * (cy2 - cy1) / max(area, 1e-6)
        clipped = [cx1, cy1, cx2, cy2]
        if vis >= 0.6 and (cx2 - cx1) >= 2 and (cy2 - cy1) >= 1.5:
            keep.append(clipped)
        else:
            ignore.append(clipped)
    return (out, np.array(keep, np.float32).reshape(-1, 4), np.array(ignore, np.float32).reshape(-1, 4))


def make_targets(boxes: np.ndarray, ignore: np.ndarray, size: int, stride: int):
    """CenterNet/TTFNet-style targets on a (size/stride)^2 grid.

    heat [1,G,G]: elliptical gaussian peaks at box centres; hweight [1,G,G]: 0 inside ignore
    boxes; reg_box [4,G,G] box x1y1x2y2 (input px) for regression cells, reg_w [1,G,G] weight.
    """
    g = size // stride
    heat = np.zeros((g, g), np.float32)
    hweight = np.ones((g, g), np.float32)
    reg_box = np.zeros((4, g, g), np.float32)
    reg_w = np.zeros((g, g), np.float32)
    for b in ignore:
        x1, y1 = int(b[0] // stride), int(b[1] // stride)
        x2, y2 = int(np.ceil(b[2] / stride)), int(np.ceil(b[3] / stride))
        hweight[max(y1, 0):min(y2, g), max(x1, 0):min(x2, g)] = 0.0
    # larger boxes first so small ones win the regression target where they overlap
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])) if len(boxes) else []
    for i in order:
        x1, y1, x2, y2 = boxes[i]
        cx, cy = (x1 + x2) / 2 / stride, (y1 + y2) / 2 / stride
        bw, bh = (x2 - x1) / stride, (y2 - y1) / stride
        ix, iy = min(int(cx), g - 1), min(int(cy), g - 1)
        sx = max(0.54 * bw / 6, 0.35)
        sy = max(0.54 * bh / 6, 0.35)
        rx, ry = int(np.ceil(3 * sx)), int(np.ceil(3 * sy))
        xs = np.arange(max(ix - rx, 0), min(ix + rx + 1, g))
        ys = np.arange(max(iy - ry, 0), min(iy + ry + 1, g))
        gx = np.exp(-((xs - ix) ** 2) / (2 * sx * sx))
        gy = np.exp(-((ys - iy) ** 2) / (2 * sy * sy))
        gauss = gy[:, None] * gx[None, :]
        sl = (slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1))
        heat[sl] = np.maximum(heat[sl], gauss)
        hweight[iy, ix] = 1.0
        # regression on cells whose gaussian > 0.3 and whose centre is inside the box
        ccx = (xs + 0.5) * stride
        ccy = (ys + 0.5) * stride
        inside = ((ccy[:, None] > y1) & (ccy[:, None] < y2)) & ((ccx[None, :] > x1) & (ccx[None, :] < x2))
        m = (gauss > 0.3) & inside
        m[iy - ys[0], ix - xs[0]] = True
        wgt = gauss * m * np.log(max(bw * bh, 1.0) + 1.5)
        wgt = wgt / max(wgt.sum(), 1e-6)
        upd = m & (wgt >= 0)
        sub = reg_w[sl]
        sub[upd] = wgt[upd]
        for k, v in enumerate((x1, y1, x2, y2)):
            rs = reg_box[k][sl]
            rs[upd] = v
    return heat[None], hweight[None], reg_box, reg_w[None]
