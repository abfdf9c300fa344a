"""Camera-like degradations for synthetic plate crops.

    crop = degrade(rng, plate.image, strength=1.0)

Adds a margin of surroundings (as a detector's box would; sometimes a plate-holder frame),
then, each with a probability that grows with `strength`: perspective warp and rotation,
shadow and glare, dirt, colour cast / haze / low light / infrared-like grey, partial
occlusion at an edge, motion or focus blur, loss of resolution (down to 36 px wide and
back up, sometimes stretched), sensor noise, JPEG artefacts. The output size differs
from the input's (margin, warp); callers resize to their model input.
`strength=0` returns the image unchanged (a copy). Deterministic for a given generator state.
"""

from __future__ import annotations

import cv2
import numpy as np


def _p(rng: np.random.Generator, prob: float, strength: float) -> bool:
    return rng.random() < min(1.0, prob * strength)


def _pad(rng: np.random.Generator, img: np.ndarray, strength: float) -> np.ndarray:
    h, w = img.shape[:2]
    m = rng.uniform(0.0, 0.12 * min(strength, 1.5), 4)
    t, b = int(m[0] * h), int(m[1] * h)
    l, r = int(m[2] * h * 0.8), int(m[3] * h * 0.8)
    if t + b + l + r == 0:
        return img
    base = rng.integers(0, 256, 3).astype(np.float32)
    base = base * 0.5 + base.mean() * 0.5  # car paint and bumpers: mostly muted colours
    if rng.random() < 0.5:
        base = base * 0.35  # dark bumpers / plate holders are common
    out = np.empty((h + t + b, w + l + r, 3), np.float32)
    out[:] = base
    noise = rng.standard_normal((out.shape[0] // 4 + 1, out.shape[1] // 4 + 1), dtype=np.float32)
    noise *= np.float32(rng.uniform(2, 18))
    out += cv2.resize(noise, (out.shape[1], out.shape[0]))[:, :, None]
    if rng.random() < 0.4:  # a plate holder frame: dark band around the plate
        c = rng.uniform(0, 60)
        k = max(1, int(h * rng.uniform(0.03, 0.1)))
        cv2.rectangle(out, (l - k, t - k), (l + w + k, t + h + k), (c, c, c), -1)
    out[t: t + h, l: l + w] = img
    if rng.random() < 0.25 * strength:
        _holder_frame(rng, out, l, t, w, h)
    return np.clip(out, 0, 255).astype(np.uint8)


_DEALERS = ("AUTO CENTER", "MOTORS", "TOYOTA OF CITY", "HONDA", "FORD", "CHEVROLET", "AUTOHAUS", "CAR SALES",
            "GO TEAM", "I LOVE MY DOG", "PROUD PARENT", "AUTOMOBILE", "DEALER", "KIA", "VW ZENTRUM")


def _holder_frame(rng: np.random.Generator, out: np.ndarray, l: int, t: int, w: int, h: int) -> None:
    """A licence-plate holder frame over the plate's edges, with a dealer line at the bottom."""
    from edge.synth._draw import fit_text

    wide = w / max(h, 1) > 3.0
    tt = h * rng.uniform(0.03, 0.07 if wide else 0.12)
    tb = h * rng.uniform(0.05, 0.08 if wide else 0.2)
    ts = w * rng.uniform(0.008, 0.03)
    r = rng.random()
    col = (rng.uniform(5, 40),) * 3 if r < 0.6 else ((rng.uniform(150, 220),) * 3 if r < 0.85
                                                    else (40.0, rng.uniform(120, 160), rng.uniform(170, 210)))
    x0, y0, x1, y1 = l - 1, t - 1, l + w + 1, t + h + 1
    cv2.rectangle(out, (int(x0), int(y0)), (int(x1), int(y0 + tt)), col, -1)
    cv2.rectangle(out, (int(x0), int(y1 - tb)), (int(x1), int(y1)), col, -1)
    cv2.rectangle(out, (int(x0), int(y0)), (int(x0 + ts), int(y1)), col, -1)
    cv2.rectangle(out, (int(x1 - ts), int(y0)), (int(x1), int(y1)), col, -1)
    if tb > 5 and rng.random() < 0.7:
        tc = (235, 235, 235) if sum(col) < 300 else (20, 20, 20)
        fit_text(out, "hershey_simplex", _DEALERS[int(rng.integers(len(_DEALERS)))],
                 (x0 + w * 0.2, y1 - tb * 0.8, x1 - w * 0.2, y1 - tb * 0.25), tc)


def _warp(rng: np.random.Generator, img: np.ndarray, strength: float) -> np.ndarray:
    h, w = img.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    d = 0.07 * strength
    jit = rng.uniform(-d, d, (4, 2)).astype(np.float32) * np.float32([w, h])
    # keystone: one side shorter (viewing the plate from the side / above)
    if rng.random() < 0.5:
        k = rng.uniform(-0.12, 0.12) * strength * h
        jit[1, 1] += k
        jit[2, 1] -= k
    ang = np.deg2rad(rng.normal(0, 3.0 * strength))
    c, s = np.cos(ang), np.sin(ang)
    dst = src + jit
    ctr = dst.mean(axis=0)
    dst = (dst - ctr) @ np.float32([[c, -s], [s, c]]).T + ctr
    # keep the whole plate in view: the output grows to the warped quad's bounding box
    lo = dst.min(axis=0)
    dst = dst - lo
    ow, oh = int(np.ceil(dst[:, 0].max())), int(np.ceil(dst[:, 1].max()))
    # ... but do not drift far from the input size (bounded cost, similar scale)
    s = min(1.0, 1.3 * w / max(ow, 1), 1.3 * h / max(oh, 1))
    dst *= s
    ow, oh = max(8, int(np.ceil(ow * s))), max(4, int(np.ceil(oh * s)))
    M = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    return cv2.warpPerspective(img, M, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _light(rng: np.random.Generator, img: np.ndarray, strength: float) -> np.ndarray:
    f = img.astype(np.float32)
    h, w = img.shape[:2]
    if _p(rng, 0.3, strength):  # shadow across the plate with a soft edge
        x0 = rng.uniform(0, w)
        slope = rng.uniform(-2, 2)
        xx = np.arange(w, dtype=np.float32)[None, :] - x0 - slope * np.arange(h, dtype=np.float32)[:, None]
        edge = max(1.0, w * rng.uniform(0.01, 0.1))
        a = 1.0 / (1.0 + np.exp(np.clip(-xx / edge, -30, 30)))
        if rng.random() < 0.5:
            a = 1.0 - a
        f *= (1.0 - rng.uniform(0.3, 0.7) * a)[:, :, None]
    if _p(rng, 0.25, strength):  # glare / specular reflection
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        sx, sy = w * rng.uniform(0.08, 0.4), h * rng.uniform(0.2, 0.8)
        xx = (np.arange(w, dtype=np.float32) - cx) / sx
        yy = (np.arange(h, dtype=np.float32) - cy) / sy
        g = np.exp(-(yy[:, None] ** 2 + xx[None, :] ** 2))
        f += (rng.uniform(60, 220) * g)[:, :, None]
    if _p(rng, 0.3, strength):  # dirt: blotchy darkening and a brownish cast
        n = rng.random((max(2, h // 6), max(2, w // 6))).astype(np.float32)
        n = cv2.resize(n, (w, h), interpolation=cv2.INTER_CUBIC)
        amt = rng.uniform(0.15, 0.5)
        dirt = np.float32([40, 60, 80])
        a = np.clip((n - 0.5) * 2.0, 0, 1)[:, :, None] * amt
        f = f * (1 - a) + dirt * a
    r = rng.random()
    if r < 0.12 * strength:  # infrared-like: grey, retro-reflective plate glows
        g = cv2.cvtColor(np.clip(f, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
        g = (g - 128) * rng.uniform(1.0, 1.8) + rng.uniform(110, 170)
        f = np.repeat(g[:, :, None], 3, axis=2)
    elif r < 0.25 * strength:  # night / low light
        f = f * rng.uniform(0.15, 0.5) + rng.normal(0, 3)
        f *= np.float32(rng.uniform(0.8, 1.2, 3))
    elif r < 0.55 * strength:  # colour cast, exposure, contrast
        f = (f - 128) * rng.uniform(0.6, 1.3) + 128 + rng.normal(0, 25)
        f *= np.float32(rng.uniform(0.75, 1.25, 3))
    elif r < 0.68 * strength:  # haze / washed out: towards a flat colour
        a = rng.uniform(0.2, 0.55)
        f = f * (1 - a) + np.float32(rng.uniform(120, 235, 3)) * a
    out = np.clip(f, 0, 255).astype(np.uint8)
    if _p(rng, 0.4, strength):  # gamma
        lut = (255.0 * (np.arange(256, dtype=np.float32) / 255.0) ** rng.uniform(0.6, 1.6)).astype(np.uint8)
        out = cv2.LUT(out, lut)
    return out


def _blur(rng: np.random.Generator, img: np.ndarray, strength: float) -> np.ndarray:
    h, w = img.shape[:2]
    r = rng.random()
    if r < 0.35 * min(strength, 1.5):
        length = max(2, int(rng.uniform(0.01, 0.03) * strength * w))
        k = np.zeros((length, length), np.float32)
        ang = rng.uniform(0, np.pi)
        c = (length - 1) / 2
        cv2.line(k, (int(round(c - np.cos(ang) * c)), int(round(c - np.sin(ang) * c))),
                 (int(round(c + np.cos(ang) * c)), int(round(c + np.sin(ang) * c))), 1.0, 1)
        k /= max(k.sum(), 1e-6)
        return cv2.filter2D(img, -1, k)
    if r < 0.75 * min(strength, 1.5):
        s = rng.uniform(0.3, 0.8 + 0.012 * h * strength)
        return cv2.GaussianBlur(img, (0, 0), s)
    return img


def _rescale(rng: np.random.Generator, img: np.ndarray, strength: float) -> np.ndarray:
    """Lose resolution: most real plates are 30-150 px wide, so shrink to a log-uniform width and back."""
    h, w = img.shape[:2]
    lo = max(36.0, w * max(0.1, 1.0 - strength))
    f = float(np.exp(rng.uniform(np.log(lo), np.log(w)))) / w if w > lo else 1.0
    if f > 0.9:
        return img
    sw, sh = max(8, int(w * f)), max(4, int(h * f))
    interp = cv2.INTER_AREA if rng.random() < 0.6 else cv2.INTER_LINEAR
    small = cv2.resize(img, (sw, sh), interpolation=interp)
    up = cv2.INTER_LINEAR if (rng.random() < 0.9 or sw < 40) else cv2.INTER_NEAREST
    if rng.random() < 0.25:  # anisotropic: stretched crops (as resized datasets have)
        w = max(8, int(w * rng.uniform(0.75, 1.3)))
    return cv2.resize(small, (w, h), interpolation=up)


def _noise(rng: np.random.Generator, img: np.ndarray, strength: float) -> np.ndarray:
    h, w = img.shape[:2]
    out = img
    if _p(rng, 0.6, strength):
        sigma = rng.uniform(1, 12) * strength
        n = rng.standard_normal((h, w, 1) if rng.random() < 0.6 else (h, w, 3), dtype=np.float32)
        n *= np.float32(sigma)
        out = cv2.add(out.astype(np.float32), n if n.shape[2] == 3 else np.repeat(n, 3, axis=2))
        out = np.clip(out, 0, 255).astype(np.uint8)
    if _p(rng, 0.08, strength):  # salt and pepper
        m = rng.random((h, w))
        amt = rng.uniform(0.002, 0.03)
        out = out.copy()
        out[m < amt / 2] = 0
        out[m > 1 - amt / 2] = 255
    return out


def _occlude(rng: np.random.Generator, img: np.ndarray, strength: float) -> np.ndarray:
    """Cover a small part at an edge (tow bar, frame, bumper edge); never most of the text."""
    h, w = img.shape[:2]
    out = img.copy()
    col = tuple(int(c) for c in rng.integers(0, 200, 3))
    side = rng.integers(4)
    if side == 0:  # from the bottom
        cv2.rectangle(out, (int(rng.uniform(0, 0.6) * w), int(h * (1 - rng.uniform(0.05, 0.18)))),
                      (int(rng.uniform(0.4, 1.0) * w), h), col, -1)
    elif side == 1:  # from the top
        cv2.rectangle(out, (0, 0), (w, int(h * rng.uniform(0.03, 0.15))), col, -1)
    else:  # a corner
        x = int(w * rng.uniform(0.02, 0.08))
        y = int(h * rng.uniform(0.1, 0.4))
        if side == 2:
            cv2.rectangle(out, (0, 0), (x, y), col, -1)
        else:
            cv2.rectangle(out, (w - x, h - y), (w, h), col, -1)
    return out


def _jpeg(rng: np.random.Generator, img: np.ndarray, strength: float) -> np.ndarray:
    q = int(rng.uniform(max(10, 90 - 70 * strength), 95))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else img


def degrade(rng: np.random.Generator, image: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Return a degraded copy of a BGR uint8 plate image (with some margin of surroundings)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError("degrade expects a BGR uint8 image")
    img = np.ascontiguousarray(image)
    if strength <= 0:
        return img.copy()
    if _p(rng, 0.85, strength):
        img = _pad(rng, img, strength)
    if _p(rng, 0.8, strength):
        img = _warp(rng, img, strength)
    img = _light(rng, img, strength)
    if _p(rng, 0.1, strength):
        img = _occlude(rng, img, strength)
    img = _blur(rng, img, strength)  # optics and motion first, then the sensor's sampling
    if _p(rng, 0.75, strength):
        img = _rescale(rng, img, strength)
    img = _noise(rng, img, strength)
    if _p(rng, 0.6, strength):
        img = _jpeg(rng, img, strength)
    return img
