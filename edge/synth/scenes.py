"""Synthetic scenes: plates on car-like bodies over a real or procedurally drawn background.

    sc = render_scene(rng, 640, 360)                   # procedural street
    sc = render_scene(rng, 640, 360, background=photo) # a real photo behind the cars
    sc.image, sc.plates                                # BGR uint8, ((BoundingBox, text), ...)

    img, plates = paint_over_plates(rng, photo, boxes) # synthetic plates over labelled plates

Boxes are axis-aligned, in image pixels, tight around each plate's warped outline (its
border included) and always inside the image. Deterministic for a given generator state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.records import BoundingBox
from edge.synth import fonts
from edge.synth._draw import fit_text, jitter, rounded_rect, vertical_gradient
from edge.synth.plates import STYLES, SynthPlate, render_plate

_SIGN_WORDS = ("PHARMACY", "CAFE", "HOTEL", "BANK", "PARKING", "OPEN", "SALE", "PIZZA", "TAXI", "STOP", "EXIT",
               "MARKET", "BAR", "SHOP", "GARAGE", "TIRES", "AUTO PARTS", "BAKERY", "DENTIST", "NO PARKING",
               "ONE WAY", "24H", "FARMACIA", "APOTHEKE", "BOULANGERIE", "PADARIA")
_BADGES = ("COROLLA", "CIVIC", "GOLF", "FOCUS", "CAMRY", "ACCORD", "ASTRA", "CLIO", "DUSTER", "LOGAN", "OCTAVIA",
           "TDI", "4MATIC", "HYBRID", "SPORT", "GT", "LX", "2.0", "ELANTRA", "SENTRA", "POLO", "GOL", "ONIX")

# Body colours (BGR) of real car fleets: white, black, greys, silver, blue, red, ...
_CAR_COLOURS = ((235, 235, 235), (30, 30, 30), (128, 128, 128), (190, 190, 190), (150, 90, 30), (40, 40, 170),
                (60, 60, 60), (90, 120, 150), (40, 110, 40), (30, 160, 220), (100, 50, 50), (210, 220, 225))


@dataclass(frozen=True)
class SynthScene:
    image: np.ndarray = field(repr=False)  # BGR uint8
    plates: tuple[tuple[BoundingBox, str], ...]


# --------------------------------------------------------------------------- backgrounds

def procedural_background(rng: np.random.Generator, width: int, height: int, texture: float = 1.0) -> np.ndarray:
    """A street-like backdrop: sky, buildings with windows, trees, road with markings."""
    W, H = int(width), int(height)
    horizon = int(H * rng.uniform(0.25, 0.55))
    sky_top = jitter(rng, (235, 200, 150) if rng.random() < 0.7 else (200, 200, 200), 25)
    img = vertical_gradient(H, W, sky_top, jitter(rng, (245, 235, 225), 15))
    # buildings
    x = int(-rng.uniform(0, 0.1) * W)
    while x < W:
        bw = int(W * rng.uniform(0.08, 0.3))
        top = int(horizon * rng.uniform(0.0, 0.8))
        col = jitter(rng, _pick_col(rng, ((170, 180, 190), (120, 130, 150), (90, 100, 110), (200, 205, 210),
                                          (110, 140, 170), (80, 90, 140))), 20)
        cv2.rectangle(img, (x, top), (x + bw, horizon + 5), col, -1)
        win = jitter(rng, (90, 80, 70) if rng.random() < 0.6 else (200, 220, 230), 20)
        step = max(6, int(bw * rng.uniform(0.12, 0.25)))
        for wy in range(top + step // 2, horizon - step // 2, step):
            for wx in range(x + step // 3, x + bw - step // 2, step):
                cv2.rectangle(img, (wx, wy), (wx + step // 2, wy + step // 2), win, -1)
        x += bw + int(W * rng.uniform(0.0, 0.05))
    # trees and poles
    for _ in range(int(rng.integers(0, 6))):
        cx = int(rng.uniform(0, W))
        r = int(H * rng.uniform(0.04, 0.12))
        cv2.line(img, (cx, horizon - r), (cx, horizon + 4), (40, 60, 80), max(1, r // 6))
        cv2.circle(img, (cx, horizon - r), r, jitter(rng, (50, 110, 60), 25), -1, cv2.LINE_AA)
    # road
    road = jitter(rng, (95, 95, 95), 20)
    cv2.rectangle(img, (0, horizon), (W, H), road, -1)
    vp = (int(W * rng.uniform(0.3, 0.7)), horizon)
    for k in (-0.6, 0.0, 0.6):
        x_bottom = int(vp[0] + k * W)
        for t0 in np.arange(0.05, 1.0, 0.12):
            t1 = t0 + 0.06
            p0 = (int(vp[0] + (x_bottom - vp[0]) * t0), int(horizon + (H - horizon) * t0))
            p1 = (int(vp[0] + (x_bottom - vp[0]) * t1), int(horizon + (H - horizon) * t1))
            cv2.line(img, p0, p1, (210, 210, 210), max(1, int(3 * t1 * H / 300)), cv2.LINE_AA)
    # signs with text (hard negatives: text that is not a plate)
    for _ in range(int(rng.integers(0, 4))):
        sw = int(W * rng.uniform(0.05, 0.18))
        sh = max(6, int(sw * rng.uniform(0.18, 0.6)))
        sx = int(rng.uniform(0, W - sw))
        sy = int(rng.uniform(0.05, 1.0) * max(1, horizon - sh))
        col = jitter(rng, _pick_col(rng, ((40, 40, 180), (140, 60, 20), (30, 120, 30), (240, 240, 240),
                                          (20, 200, 240), (30, 30, 30))), 20)
        cv2.rectangle(img, (sx, sy), (sx + sw, sy + sh), col, -1)
        tc = (20, 20, 20) if sum(col) > 400 else (245, 245, 245)
        word = _pick_col(rng, _SIGN_WORDS)
        if rng.random() < 0.3:
            word += " " + str(int(rng.integers(1, 999)))
        fit_text(img, _pick_col(rng, fonts.family("small")), word, (sx + sw * 0.06, sy + sh * 0.2, sx + sw * 0.94,
                                                                  sy + sh * 0.8), tc)
    if rng.random() < 0.3:  # a speed-limit style road sign on a pole
        px = int(rng.uniform(0.02, 0.98) * W)
        sw = int(W * rng.uniform(0.025, 0.06))
        top = int(horizon * rng.uniform(0.4, 0.9))
        cv2.line(img, (px, top), (px, horizon + int(H * 0.05)), (110, 110, 110), max(1, sw // 8))
        cv2.rectangle(img, (px - sw // 2, top - int(sw * 1.2)), (px + sw // 2, top), (245, 245, 245), -1)
        fit_text(img, "hershey_simplex_bold", str(int(rng.integers(2, 13)) * 10),
                 (px - sw * 0.4, top - sw * 0.7, px + sw * 0.4, top - sw * 0.15), (20, 20, 20))
    # kerb / pavement
    if rng.random() < 0.6:
        cv2.rectangle(img, (0, horizon), (W, horizon + int(H * 0.04)), jitter(rng, (150, 150, 150), 20), -1)
    n = rng.standard_normal((H // 4 + 1, W // 4 + 1), dtype=np.float32) * np.float32(rng.uniform(3, 9) * texture)
    img = np.clip(img.astype(np.float32) + cv2.resize(n, (W, H))[:, :, None], 0, 255).astype(np.uint8)
    return img


def _pick_col(rng, cols):
    return cols[int(rng.integers(len(cols)))]


def _fit_background(rng: np.random.Generator, bg: np.ndarray, width: int, height: int) -> np.ndarray:
    """Random crop of a real photo, scaled to cover (width, height)."""
    if bg.ndim == 2:
        bg = cv2.cvtColor(bg, cv2.COLOR_GRAY2BGR)
    h, w = bg.shape[:2]
    s = max(width / w, height / h) * rng.uniform(1.0, 1.3)
    nw, nh = max(width, int(np.ceil(w * s))), max(height, int(np.ceil(h * s)))
    big = cv2.resize(bg, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x = int(rng.integers(0, nw - width + 1))
    y = int(rng.integers(0, nh - height + 1))
    out = big[y: y + height, x: x + width]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------- vehicles

@dataclass(frozen=True)
class _Vehicle:
    image: np.ndarray  # BGR
    alpha: np.ndarray  # float32 0..1
    plate_quad: np.ndarray  # 4x2 float32, plate corners in vehicle image coordinates


def draw_vehicle(rng: np.random.Generator, plate: SynthPlate, plate_w: float, front: bool | None = None,
                 body_colour=None) -> _Vehicle:
    """A car rear (or front) seen roughly head-on, carrying `plate` scaled to `plate_w` pixels wide."""
    ph_ratio = plate.image.shape[0] / plate.image.shape[1]
    pw = max(4.0, float(plate_w))
    ph = pw * ph_ratio
    # real plates are 0.3-0.52 m wide on 1.7-2.0 m wide cars; two-line plates are smaller
    car_w = pw * (rng.uniform(3.3, 4.2) if plate.image.shape[1] / plate.image.shape[0] > 3.5 else rng.uniform(5.0, 6.5))
    car_w = max(car_w, pw * 2.5)
    car_h = car_w * rng.uniform(0.62, 0.85)
    W, H = int(np.ceil(car_w)), int(np.ceil(car_h))
    body = jitter(rng, body_colour if body_colour is not None else _pick_col(rng, _CAR_COLOURS), 12)
    dark = tuple(int(c * 0.45) for c in body)
    if front is None:
        front = rng.random() < 0.3
    img, alpha, belt, bottom = _car_body(rng, W, H, body)
    by = _lights_and_bumper(rng, img, body, dark, belt, bottom, front)
    # wheels
    for wx in (W * 0.08, W * 0.78):
        cv2.rectangle(img, (int(wx), int(bottom - 2)), (int(wx + W * 0.14), H - 1), (20, 20, 20), -1)
        cv2.rectangle(alpha, (int(wx), int(bottom - 2)), (int(wx + W * 0.14), H - 1), 1.0, -1)
    quad = _mount_plate(rng, img, plate, pw, ph, body, belt, bottom, by, front)
    return _Vehicle(img, alpha, quad)


def _car_body(rng: np.random.Generator, W: int, H: int, body) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(image, alpha, belt line y, bottom y) of a W x H car's silhouette: the roof/cabin
    trapezoid with its window on top of the lower body, shaded darker towards the bottom."""
    img = np.zeros((H, W, 3), np.uint8)
    alpha = np.zeros((H, W), np.float32)
    # silhouette: roof/cabin trapezoid on top of the lower body
    cabin_top = H * rng.uniform(0.0, 0.08)
    belt = H * rng.uniform(0.38, 0.48)
    inset = W * rng.uniform(0.12, 0.2)
    cabin = np.array([[inset, cabin_top], [W - inset, cabin_top], [W - W * 0.04, belt], [W * 0.04, belt]], np.int32)
    cv2.fillPoly(img, [cabin], body, cv2.LINE_AA)
    cv2.fillPoly(alpha, [cabin], 1.0, cv2.LINE_AA)
    # window
    wi = inset + W * 0.04
    win = np.array([[wi, cabin_top + H * 0.04], [W - wi, cabin_top + H * 0.04], [W - W * 0.1, belt - H * 0.03],
                    [W * 0.1, belt - H * 0.03]], np.int32)
    glass = jitter(rng, (70, 60, 50) if rng.random() < 0.7 else (140, 130, 120), 20)
    cv2.fillPoly(img, [win], glass, cv2.LINE_AA)
    # lower body
    r = int(W * 0.05)
    bottom = H * rng.uniform(0.86, 0.92)
    lower = np.zeros((H, W), np.float32)
    rounded_rect(lower, (0, belt - H * 0.02), (W - 1, bottom), 1.0, -1, r)
    img[lower > 0] = body
    alpha = np.maximum(alpha, lower)
    # shading: darker towards the bottom, a highlight line at the belt
    shade = np.linspace(1.05, 0.8, H, dtype=np.float32)[:, None, None]
    img = np.clip(img.astype(np.float32) * shade, 0, 255).astype(np.uint8)
    cv2.line(img, (int(W * 0.04), int(belt)), (int(W * 0.96), int(belt)), tuple(min(255, c + 40) for c in body),
             max(1, int(H * 0.01)), cv2.LINE_AA)
    return img, alpha, belt, bottom


def _lights_and_bumper(rng: np.random.Generator, img: np.ndarray, body, dark, belt: float, bottom: float,
                       front: bool) -> float:
    """Draw the lights (and a front's grille) below the belt line and the bumper above the
    bottom, in place; returns the bumper's top y."""
    H, W = img.shape[:2]
    # lights
    lw, lh = W * rng.uniform(0.12, 0.2), H * rng.uniform(0.08, 0.14)
    ly = belt + H * rng.uniform(0.02, 0.08)
    lc = jitter(rng, (220, 230, 240) if front else (30, 30, 200), 20)
    for lx in (W * 0.05, W * 0.95 - lw):
        rounded_rect(img, (lx, ly), (lx + lw, ly + lh), lc, -1, int(lh * 0.3))
        rounded_rect(img, (lx, ly), (lx + lw, ly + lh), dark, max(1, int(lh * 0.08)), int(lh * 0.3))
    if front:  # grille
        gx0, gx1 = W * 0.3, W * 0.7
        rounded_rect(img, (gx0, ly), (gx1, ly + lh * 1.1), (30, 30, 30), -1, int(lh * 0.2))
    # bumper
    by = bottom - H * rng.uniform(0.1, 0.16)
    bump_col = dark if rng.random() < 0.5 else tuple(int(c * 0.8) for c in body)
    rounded_rect(img, (W * 0.01, by), (W * 0.99, bottom), bump_col, -1, int(H * 0.03))
    return by


def _mount_plate(rng: np.random.Generator, img: np.ndarray, plate: SynthPlate, pw: float, ph: float, body,
                 belt: float, bottom: float, by: float, front: bool) -> np.ndarray:
    """Paste the plate, pw x ph, in place: centred (sometimes a little off) on the boot lid (rear)
    or the bumper (front), maybe in a recess and next to a model badge; returns its corners."""
    H, W = img.shape[:2]
    wh = H - bottom
    cx = W / 2 + W * rng.normal(0, 0.03)
    py = (by - ph * rng.uniform(0.3, 1.1)) if not front else (by + (bottom - by - ph) / 2)
    py = float(np.clip(py, belt + H * 0.02, H - ph - wh - 1))
    px = cx - pw / 2
    # recess / holder around the plate
    if rng.random() < 0.6:
        m = ph * 0.12
        rounded_rect(img, (px - m, py - m), (px + pw + m, py + ph + m), tuple(int(c * 0.6) for c in body), -1,
                     int(m))
    if rng.random() < 0.45 and not front:  # model badge in chrome letters, near the plate
        bh_ = max(3.0, ph * rng.uniform(0.15, 0.3))
        bx = W * rng.uniform(0.55, 0.75)
        byy = float(np.clip(py - bh_ * rng.uniform(1.5, 3.0), belt + H * 0.01, H - bh_ - 1))
        fit_text(img, _pick_col(rng, fonts.family("small")), _pick_col(rng, _BADGES),
                 (bx, byy, bx + W * 0.2, byy + bh_), (215, 215, 215) if sum(body) < 450 else (90, 90, 90))
    pimg = cv2.resize(plate.image, (max(1, int(round(pw))), max(1, int(round(ph)))),
                      interpolation=cv2.INTER_AREA if pw < plate.image.shape[1] else cv2.INTER_LINEAR)
    x0, y0 = int(round(px)), int(round(py))
    h_, w_ = pimg.shape[:2]
    img[y0: y0 + h_, x0: x0 + w_] = pimg[: H - y0, : W - x0]
    return np.float32([[x0, y0], [x0 + w_, y0], [x0 + w_, y0 + h_], [x0, y0 + h_]])


def _place(scene: np.ndarray, veh: _Vehicle, M: np.ndarray) -> np.ndarray:
    """Warp the vehicle by homography M into the scene (in place); returns the plate quad in scene coords."""
    H, W = scene.shape[:2]
    h, w = veh.image.shape[:2]
    corners = cv2.perspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]])[None], M)[0]
    x0 = max(0, int(np.floor(corners[:, 0].min())))
    y0 = max(0, int(np.floor(corners[:, 1].min())))
    x1 = min(W, int(np.ceil(corners[:, 0].max())) + 1)
    y1 = min(H, int(np.ceil(corners[:, 1].max())) + 1)
    if x1 > x0 and y1 > y0:
        T = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ M
        size = (x1 - x0, y1 - y0)
        img = cv2.warpPerspective(veh.image, T, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        a = cv2.warpPerspective(veh.alpha, T, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        roi = scene[y0:y1, x0:x1].astype(np.float32)
        a3 = a[:, :, None]
        scene[y0:y1, x0:x1] = (roi + (img.astype(np.float32) - roi) * a3).astype(np.uint8)
    return cv2.perspectiveTransform(veh.plate_quad[None], M)[0]


def vehicle_homography(rng: np.random.Generator, w: int, h: int, x: float, y_bottom: float, scale: float,
                       yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Homography placing a w x h vehicle image with its bottom centre at (x, y_bottom), scaled by `scale`,
    viewed with a yaw (side keystone), pitch (from above) and roll (degrees)."""
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    sw, sh = w * scale, h * scale
    ky = np.tan(np.deg2rad(yaw)) * 0.5  # one side nearer: taller
    kp = np.tan(np.deg2rad(pitch)) * 0.4  # seen from above: top narrower
    dst = np.float32([
        [-sw / 2 * (1 - kp), -sh * (1 - ky)],
        [sw / 2 * (1 - kp), -sh * (1 + ky)],
        [sw / 2, 0 + sh * ky * 0.3],
        [-sw / 2, 0 - sh * ky * 0.3],
    ])
    dst[:, 0] *= np.cos(np.deg2rad(yaw))
    c, s = np.cos(np.deg2rad(roll)), np.sin(np.deg2rad(roll))
    dst = dst @ np.float32([[c, -s], [s, c]]).T
    dst += np.float32([x, y_bottom])
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32))


def _quad_box(quad: np.ndarray, W: int, H: int) -> BoundingBox | None:
    x0, y0 = float(quad[:, 0].min()), float(quad[:, 1].min())
    x1, y1 = float(quad[:, 0].max()), float(quad[:, 1].max())
    if x0 < 0 or y0 < 0 or x1 > W or y1 > H:
        return None
    return BoundingBox(x0, y0, x1 - x0, y1 - y0)


# --------------------------------------------------------------------------- whole-image effects

def camera_effects(rng: np.random.Generator, img: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Night / IR / glare / blur / noise / JPEG on a whole frame."""
    H, W = img.shape[:2]
    f = img.astype(np.float32)
    r = rng.random()
    if r < 0.15 * strength:  # night with lit plates and headlight glare
        f *= rng.uniform(0.15, 0.4)
        for _ in range(int(rng.integers(0, 4))):
            cx, cy = rng.uniform(0, W), rng.uniform(0.3 * H, H)
            s = rng.uniform(0.02, 0.08) * W
            xx = (np.arange(W, dtype=np.float32) - cx) / s
            yy = (np.arange(H, dtype=np.float32) - cy) / s
            f += (rng.uniform(100, 255) * np.exp(-(yy[:, None] ** 2 + xx[None, :] ** 2)))[:, :, None]
    elif r < 0.25 * strength:  # infrared-like grey
        g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        g = (g - 128) * rng.uniform(1.0, 1.5) + rng.uniform(90, 150)
        f = np.repeat(g[:, :, None], 3, axis=2)
    elif r < 0.6 * strength:  # exposure / colour cast
        f = (f - 128) * rng.uniform(0.7, 1.25) + 128 + rng.normal(0, 20)
        f *= np.float32(rng.uniform(0.85, 1.15, 3))
    img = np.clip(f, 0, 255).astype(np.uint8)
    rb = rng.random()
    if rb < 0.25 * strength:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.6))
    elif rb < 0.4 * strength:
        n = max(2, int(rng.uniform(2, 9)))
        k = np.zeros((n, n), np.float32)
        k[n // 2, :] = 1.0 / n
        if rng.random() < 0.5:
            k = k.T
        img = cv2.filter2D(img, -1, k)
    if rng.random() < 0.6 * strength:
        n = rng.standard_normal((H, W, 1), dtype=np.float32) * np.float32(rng.uniform(1, 8))
        img = np.clip(img.astype(np.float32) + n, 0, 255).astype(np.uint8)
    if rng.random() < 0.6 * strength:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.uniform(35, 95))])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img


# --------------------------------------------------------------------------- scenes

def render_scene(rng: np.random.Generator, width: int, height: int, background: np.ndarray | None = None,
                 max_plates: int = 3, *, min_plate_w: float = 30.0, max_plate_w: float = 300.0,
                 effects: float = 1.0, styles: tuple[str, ...] | None = None,
                 background_plates=None) -> SynthScene:
    """A width x height scene with 0..max_plates cars carrying plates (plate widths in
    [min_plate_w, max_plate_w] px, capped by the image size). `effects` scales the
    whole-frame degradations (0 = clean).

    A real `background` must not show unlabelled plates (they would become false
    negatives): pass its plate boxes (pixels of `background`) as `background_plates` and
    they are painted over with synthetic plates and labelled too (the photo is then used
    at its own size, resized to width x height, without cropping)."""
    W, H = int(width), int(height)
    plates: list[tuple[BoundingBox, str]] = []
    if background is not None and background_plates is not None:
        bh, bw = background.shape[:2]
        bg = cv2.resize(background, (W, H), interpolation=cv2.INTER_AREA)
        sx, sy = W / bw, H / bh
        scaled = [BoundingBox(b.x * sx, b.y * sy, b.w * sx, b.h * sy) if isinstance(b, BoundingBox)
                  else BoundingBox(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for b in background_plates]
        img, painted = paint_over_plates(rng, bg, scaled)
        plates.extend(painted)
    elif background is not None:
        img = _fit_background(rng, background, W, H).copy()
    else:
        img = procedural_background(rng, W, H)
    n = 0 if (max_plates <= 0 or rng.random() < 0.04) else int(rng.integers(1, max_plates + 1))
    lo = float(min(min_plate_w, W * 0.3))
    hi = float(max(lo + 1, min(max_plate_w, W * 0.45, H * 0.9)))
    specs = []
    for _ in range(n):
        pw = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        specs.append(pw)
    specs.sort()  # small (far) first, so nearer cars are drawn over farther ones
    occupied: list[tuple[float, float, float, float]] = []
    for pw in specs:
        style = None if styles is None else styles[int(rng.integers(len(styles)))]
        plate = render_plate(rng, style, width=int(np.clip(pw * rng.uniform(1.0, 1.6), 40, 420)))
        veh = draw_vehicle(rng, plate, pw)
        vh, vw = veh.image.shape[:2]
        for _try in range(12):
            # bigger plates sit lower in the frame (nearer the camera)
            t = (pw - lo) / max(hi - lo, 1.0)
            x = rng.uniform(0.05, 0.95) * W
            yb = max(H * 0.45, H * (0.5 + 0.45 * t) + t * 0.35 * vh + rng.normal(0, H * 0.06))
            M = vehicle_homography(rng, vw, vh, x, yb, 1.0, yaw=rng.normal(0, 12), pitch=rng.uniform(-5, 20),
                                   roll=rng.normal(0, 2.5))
            corners = cv2.perspectiveTransform(np.float32([[0, 0], [vw, 0], [vw, vh], [0, vh]])[None], M)[0]
            pq = cv2.perspectiveTransform(veh.plate_quad[None], M)[0]
            box = _quad_box(pq, W, H)
            if box is None:
                continue
            car = (corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max())
            # the new (nearer) car must not hide an earlier plate; plates must not overlap
            if any(car[0] < b.x2 and b.x < car[2] and car[1] < b.y2 and b.y < car[3] for b, _ in plates):
                continue
            _place(img, veh, M)
            plates.append((box, plate.text))
            occupied.append(car)
            break
    img = camera_effects(rng, img, effects) if effects > 0 else img
    return SynthScene(image=np.ascontiguousarray(img), plates=tuple(plates))


# --------------------------------------------------------------------------- paint-over

def _style_for_aspect(rng: np.random.Generator, aspect: float) -> str:
    # labelled boxes of tilted plates are squarer than the plate: a low aspect is mostly a
    # tilted US/BR plate, only sometimes a two-line one
    if aspect < 1.6:
        pool = ("us", "us", "us", "us_vanity", "br_mercosur", "eu_2line", "br_2line", "in_2line")
    elif aspect < 2.6:
        pool = ("us", "us", "us", "us", "us_vanity", "us_vanity", "br_mercosur", "in_2line")
    elif aspect < 3.6:
        pool = ("br_mercosur", "br_old", "cn_blue", "us", "eu_de", "uk_rear", "eu_ro")
    else:
        pool = ("eu_de", "eu_fr", "eu_it", "eu_es", "eu_nl", "eu_pl", "eu_ro", "eu_ro", "eu_other", "uk_rear",
                "uk_front", "in")
    return pool[int(rng.integers(len(pool)))]


def _sharpness(g: np.ndarray) -> float:
    """Edge energy relative to contrast: lower for blurrier patches, about scale-free."""
    lap = cv2.Laplacian(g, cv2.CV_32F)
    return float(np.abs(lap).mean() / (g.std() + 1.0))


def match_look(rng: np.random.Generator, plate: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Give a rendered plate (same size as `target`) the target patch's colour, contrast and blur."""
    p = plate.astype(np.float32)
    t = target.astype(np.float32)
    pm, ps = p.mean(axis=(0, 1)), p.std(axis=(0, 1)) + 1.0
    tm, ts = t.mean(axis=(0, 1)), t.std(axis=(0, 1)) + 1.0
    k = rng.uniform(0.6, 1.0)  # how fully to follow the target's statistics
    gain = np.clip((ts / ps) ** k, 0.3, 1.3)
    p = (p - pm) * gain + pm * (1 - k) + tm * k
    tg = cv2.cvtColor(target, cv2.COLOR_BGR2GRAY).astype(np.float32)
    goal = _sharpness(tg) * rng.uniform(0.9, 1.2)
    for sigma in (0.0, 0.5, 0.8, 1.2, 1.7, 2.4, 3.2):
        q = cv2.GaussianBlur(p, (0, 0), sigma) if sigma else p
        if _sharpness(cv2.cvtColor(np.clip(q, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)) <= goal:
            break
    q = q + rng.standard_normal(q.shape[:2], dtype=np.float32)[:, :, None] * np.float32(rng.uniform(0.5, 4))
    return np.clip(q, 0, 255).astype(np.uint8)


def paint_over_plates(rng: np.random.Generator, image: np.ndarray, boxes,
                      styles: tuple[str, ...] | None = None) -> tuple[np.ndarray, tuple[tuple[BoundingBox, str], ...]]:
    """Paint a synthetic plate over each labelled plate box of a real photo.

    `boxes`: BoundingBox objects or (x, y, w, h) tuples in pixels. The new plate fills the
    box (its aspect picks a likely style unless `styles` is given), takes on the colour,
    contrast and blur of the real plate it covers, and is blended with a soft edge. Returns
    the new image and ((box, text), ...) for every box of at least 6x4 px; smaller boxes
    are left as they are and dropped from the result (their text is unknown)."""
    out = np.ascontiguousarray(image).copy()
    H, W = out.shape[:2]
    res: list[tuple[BoundingBox, str]] = []
    for b in boxes:
        if not isinstance(b, BoundingBox):
            b = BoundingBox(*map(float, b))
        x0, y0 = max(0, int(round(b.x))), max(0, int(round(b.y)))
        x1, y1 = min(W, int(round(b.x2))), min(H, int(round(b.y2)))
        bw, bh = x1 - x0, y1 - y0
        if bw < 6 or bh < 4:
            continue
        style = _style_for_aspect(rng, bw / bh) if styles is None else styles[int(rng.integers(len(styles)))]
        plate = render_plate(rng, style, width=int(np.clip(bw * 1.5, 60, 400)))
        pimg = cv2.resize(plate.image, (bw, bh), interpolation=cv2.INTER_AREA)
        orig = out[y0:y1, x0:x1]
        p = match_look(rng, pimg, orig).astype(np.float32)
        a = np.ones((bh, bw), np.float32)
        e = max(1, min(bw, bh) // 12)
        a = cv2.blur(np.pad(a, e, constant_values=0), (2 * e + 1, 2 * e + 1))[e:-e, e:-e]
        o = orig.astype(np.float32)
        out[y0:y1, x0:x1] = np.clip(o + (p - o) * a[:, :, None], 0, 255).astype(np.uint8)
        res.append((BoundingBox(float(x0), float(y0), float(bw), float(bh)), plate.text))
    return out, tuple(res)


__all__ = ["SynthScene", "render_scene", "paint_over_plates", "match_look", "procedural_background", "draw_vehicle",
           "vehicle_homography", "camera_effects", "STYLES"]
