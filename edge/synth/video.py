"""Synthetic "vehicle pass" videos with per-frame ground truth, for pipeline tests and benchmarks.

    truth = render_pass_video("passes.mp4", rng_seed=7, vehicles=[
        VehicleSpec("AB-123-CD", "eu_fr", enter_frame=25, exit_frame=85),
        VehicleSpec("7ABC123", "us", enter_frame=125, exit_frame=185, motion="away"),
    ])
    truth.frames[i]          # plates visible in frame i: (FramePlate(text, box, vehicle, full), ...)
    json.dump(truth.to_json(), f)

A static procedural street; car-like bodies carrying plates drive towards the camera
(plate grows, car leaves at the bottom), away from it, across it, or stand parked. Between
passes the frames are identical (nothing moves), so a motion gate can skip them. Frame i
is at i / fps seconds. Same seed and arguments -> same frames and ground truth.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Iterator, Sequence

import cv2
import numpy as np

from edge.records import BoundingBox
from edge.synth.plates import STYLES, _clean, render_plate
from edge.synth.scenes import draw_vehicle, procedural_background, vehicle_homography

MOTIONS = ("towards", "away", "across", "parked")


@dataclass(frozen=True)
class VehicleSpec:
    """One vehicle in a pass video. `text` as shown on the plate (separators allowed), None = random."""

    text: str | None = None
    style: str | None = None
    enter_frame: int = 0
    exit_frame: int = 50  # last frame in which the vehicle is drawn
    motion: str = "towards"  # "towards" | "away" | "across" | "parked"
    plate_width: tuple[float, float] = (70.0, 240.0)  # plate width in px, far end -> near end of the path
    lane: float = 0.5  # horizontal position of the path, 0 (left) .. 1 (right)
    front: bool | None = None  # show the car's front (default: front when coming towards the camera)
    body_colour: tuple[int, int, int] | None = None  # BGR


@dataclass(frozen=True, slots=True)
class FramePlate:
    text: str
    box: BoundingBox  # clipped to the image
    vehicle: int  # index into PassVideo.vehicles
    full: bool  # the whole plate is inside the image


@dataclass(frozen=True)
class PassVideo:
    path: str
    width: int
    height: int
    fps: float
    n_frames: int
    seed: int
    vehicles: tuple[VehicleSpec, ...]  # with the texts actually rendered (no separators)
    frames: tuple[tuple[FramePlate, ...], ...] = field(repr=False)

    def vehicle_frames(self, vehicle: int) -> list[int]:
        return [i for i, fr in enumerate(self.frames) if any(p.vehicle == vehicle for p in fr)]

    def to_json(self) -> dict:
        vehicles = []
        for k, v in enumerate(self.vehicles):
            seen = [(i, p) for i, fr in enumerate(self.frames) for p in fr if p.vehicle == k]
            full = [i for i, p in seen if p.full]
            best = max(([ip for ip in seen if ip[1].full] or seen), key=lambda ip: ip[1].box.w)[0] if seen else None
            d = asdict(v)
            d["plate_width"] = list(v.plate_width)
            d.update(id=k, first_frame=seen[0][0] if seen else None, last_frame=seen[-1][0] if seen else None,
                     first_full_frame=full[0] if full else None, last_full_frame=full[-1] if full else None,
                     best_frame=best, max_plate_w=round(max((p.box.w for _, p in seen), default=0.0), 1))
            vehicles.append(d)
        return {
            "schema": "edge.synth.pass_video/1",
            "video": os.path.basename(self.path),
            "width": self.width, "height": self.height, "fps": self.fps, "frames": self.n_frames,
            "seed": self.seed,
            "vehicles": vehicles,
            "per_frame": [
                {"frame": i, "plates": [{"vehicle": p.vehicle, "text": p.text, "box": [round(p.box.x, 1),
                                        round(p.box.y, 1), round(p.box.w, 1), round(p.box.h, 1)],
                                         "full": p.full} for p in fr]}
                for i, fr in enumerate(self.frames) if fr
            ],
        }


@dataclass
class _Actor:
    spec: VehicleSpec
    image: np.ndarray
    alpha: np.ndarray
    quad: np.ndarray
    plate_w: float  # plate width in the actor image
    yaw: float
    pitch: float


def default_vehicles(rng: np.random.Generator, n: int, pass_frames: int, gap: int,
                     styles: Sequence[str] | None = None) -> list[VehicleSpec]:
    """`n` vehicles one after another, each in view `pass_frames` frames, `gap` static frames between."""
    out = []
    t = gap
    motions = ("towards", "away", "towards", "across")
    for k in range(n):
        style = (styles[k % len(styles)] if styles else STYLES[int(rng.integers(len(STYLES)))])
        out.append(VehicleSpec(None, style, t, t + pass_frames - 1, motions[k % len(motions)],
                               lane=float(rng.uniform(0.35, 0.65))))
        t += pass_frames + gap
    return out


def _pose(a: _Actor, u: float, W: int, H: int) -> tuple[float, float, float, float]:
    """(x, y_bottom, scale, yaw) of the actor at path position u in [0, 1]."""
    s = a.spec
    w0, w1 = s.plate_width
    horizon = H * 0.36
    vp_x = W * 0.5
    if s.motion == "parked":
        w = w1
        sc = w / a.plate_w
        return W * s.lane, H * 0.55 + H * 0.4 * (w / max(w1, 1.0)), sc, a.yaw
    if s.motion == "across":
        sc = w0 / a.plate_w
        vw = a.image.shape[1] * sc
        x = -vw * 0.3 + (W + vw * 0.6) * u
        if s.lane > 0.5:
            x = W - x
        return x, H * (0.62 + 0.25 * s.lane), sc, a.yaw
    if s.motion == "away":
        u = 1.0 - u
    inv = 1.0 / w0 + (1.0 / w1 - 1.0 / w0) * u  # constant speed: 1/size is linear in time
    w = 1.0 / inv
    sc = w / a.plate_w
    g = w / w1  # 0..1 perspective factor
    # at the near end of the path the plate's centre is at 80 % of the frame height
    below = (a.image.shape[0] - float(a.quad[:, 1].mean())) * (w1 / a.plate_w)
    x = vp_x + (W * s.lane - vp_x) * g
    yb = horizon + (H * 0.8 + below - horizon) * g
    return x, yb, sc, a.yaw


def _actor(rng: np.random.Generator, spec: VehicleSpec) -> tuple[_Actor, str]:
    w_max = max(spec.plate_width)
    plate = render_plate(rng, spec.style, width=int(np.clip(w_max * 1.25, 60, 480)), text=spec.text)
    front = spec.front if spec.front is not None else spec.motion in ("towards", "parked")
    veh = draw_vehicle(rng, plate, w_max, front=front, body_colour=spec.body_colour)
    yaw = (spec.lane - 0.5) * -24.0 if spec.motion != "across" else (18.0 if spec.lane <= 0.5 else -18.0)
    return _Actor(spec, veh.image, veh.alpha, veh.plate_quad, w_max, yaw, 6.0), plate.text


def _draw_actor(frame: np.ndarray, a: _Actor, M: np.ndarray, blur: tuple[float, float]) -> None:
    H, W = frame.shape[:2]
    h, w = a.image.shape[:2]
    corners = cv2.perspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]])[None], M)[0]
    x0 = max(0, int(np.floor(corners[:, 0].min())))
    y0 = max(0, int(np.floor(corners[:, 1].min())))
    x1 = min(W, int(np.ceil(corners[:, 0].max())) + 1)
    y1 = min(H, int(np.ceil(corners[:, 1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    T = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ M
    size = (x1 - x0, y1 - y0)
    img = cv2.warpPerspective(a.image, T, size, flags=cv2.INTER_AREA)
    al = cv2.warpPerspective(a.alpha, T, size, flags=cv2.INTER_LINEAR)
    n = int(round(np.hypot(*blur)))
    if n >= 2:  # motion blur along the per-frame displacement (half-open shutter)
        k = np.zeros((2 * n + 1, 2 * n + 1), np.float32)
        d = np.float32(blur) / max(np.hypot(*blur), 1e-6)
        cv2.line(k, (int(round(n - d[0] * n / 2)), int(round(n - d[1] * n / 2))),
                 (int(round(n + d[0] * n / 2)), int(round(n + d[1] * n / 2))), 1.0, 1)
        k /= k.sum()
        img = cv2.filter2D(img, -1, k)
        al = cv2.filter2D(al, -1, k)
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = (roi + (img.astype(np.float32) - roi) * al[:, :, None]).astype(np.uint8)


def iter_pass_frames(rng_seed: int, width: int, height: int, vehicles: Sequence[VehicleSpec], n_frames: int,
                     noise: float = 0.0, motion_blur: float = 0.15
                     ) -> Iterator[tuple[np.ndarray, tuple[FramePlate, ...]]]:
    """Yield (frame, plates) for frames 0..n_frames-1 (the video writer's source; usable without a file)."""
    rng = np.random.default_rng(rng_seed)
    W, H = int(width), int(height)
    bg = cv2.GaussianBlur(procedural_background(rng, W, H, texture=0.25), (0, 0), 0.8)
    actors, texts = [], []
    for spec in vehicles:
        if spec.motion not in MOTIONS:
            raise ValueError(f"unknown motion {spec.motion!r}; known: {', '.join(MOTIONS)}")
        a, t = _actor(rng, spec)
        actors.append(a)
        texts.append(t)
    noise_rng = np.random.default_rng(rng_seed + 1)
    static_noise = None
    for i in range(n_frames):
        frame = bg.copy()
        plates: list[FramePlate] = []
        active = [(k, a) for k, a in enumerate(actors) if a.spec.enter_frame <= i <= a.spec.exit_frame]
        poses = []
        for k, a in active:
            span = max(1, a.spec.exit_frame - a.spec.enter_frame)
            u = (i - a.spec.enter_frame) / span
            u_prev = max(0.0, (i - 1 - a.spec.enter_frame) / span)
            x, yb, sc, yaw = _pose(a, u, W, H)
            xp, ybp, _, _ = _pose(a, u_prev, W, H)
            poses.append((sc, k, a, x, yb, yaw, (x - xp, yb - ybp)))
        poses.sort(key=lambda p: p[0])  # smaller (farther) first
        drawn: list[tuple[_Actor, np.ndarray]] = []
        boxes: list[tuple[int, BoundingBox, bool, int]] = []
        for sc, k, a, x, yb, yaw, d in poses:
            h, w = a.image.shape[:2]
            M = vehicle_homography(rng, w, h, x, yb, sc, yaw=yaw, pitch=a.pitch)
            _draw_actor(frame, a, M, (d[0] * motion_blur, d[1] * motion_blur))
            q = cv2.perspectiveTransform(a.quad[None], M)[0]
            bx0, by0 = float(q[:, 0].min()), float(q[:, 1].min())
            bx1, by1 = float(q[:, 0].max()), float(q[:, 1].max())
            full = bx0 >= 0 and by0 >= 0 and bx1 <= W and by1 <= H
            cx0, cy0, cx1, cy1 = max(bx0, 0.0), max(by0, 0.0), min(bx1, float(W)), min(by1, float(H))
            if cx1 - cx0 >= 2 and cy1 - cy0 >= 2:
                boxes.append((k, BoundingBox(cx0, cy0, cx1 - cx0, cy1 - cy0), full, len(drawn)))
            drawn.append((a, M))
        for k, box, full, order in boxes:
            # nearer cars drawn later may hide part of this plate
            hidden = _hidden_fraction(box, drawn[order + 1:])
            if hidden < 0.5:
                plates.append(FramePlate(texts[k], box, k, full and hidden < 0.02))
        if noise > 0:
            if not active:
                # static stretch: the same noise pattern every frame, so static frames stay identical
                if static_noise is None:
                    static_noise = noise_rng.standard_normal((H, W, 1), dtype=np.float32) * np.float32(noise)
                n = static_noise
            else:
                n = noise_rng.standard_normal((H, W, 1), dtype=np.float32) * np.float32(noise)
            frame = np.clip(frame.astype(np.float32) + n, 0, 255).astype(np.uint8)
        yield frame, tuple(sorted(plates, key=lambda p: p.vehicle))


def _hidden_fraction(box: BoundingBox, later: list[tuple[_Actor, np.ndarray]]) -> float:
    """Fraction of `box` covered by the bodies of the actors drawn after it."""
    if not later:
        return 0.0
    x0, y0 = int(np.floor(box.x)), int(np.floor(box.y))
    size = (max(1, int(np.ceil(box.x2)) - x0), max(1, int(np.ceil(box.y2)) - y0))
    cover = np.zeros((size[1], size[0]), np.float32)
    for a, M in later:
        T = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ M
        cover = np.maximum(cover, cv2.warpPerspective(a.alpha, T, size, flags=cv2.INTER_LINEAR))
    return float(cover.mean())


def render_pass_video(path: str | os.PathLike, rng_seed: int, width: int = 1280, height: int = 720, fps: float = 25,
                      vehicles: Sequence[VehicleSpec] | None = None, static_frames_between: int = 40,
                      n_vehicles: int = 3, pass_frames: int = 60, n_frames: int | None = None,
                      noise: float = 0.0, motion_blur: float = 0.15, fourcc: str = "mp4v") -> PassVideo:
    """Write an mp4 of vehicles passing a static camera; return the per-frame ground truth.

    `vehicles` None: `n_vehicles` random ones, `pass_frames` frames each, separated (and
    preceded) by `static_frames_between` static frames. `n_frames` defaults to the last
    exit frame + 1 + `static_frames_between`. `noise` adds sensor noise (sigma, grey
    levels) that is frozen during static stretches.
    """
    if vehicles is None:
        vehicles = default_vehicles(np.random.default_rng(rng_seed + 7), n_vehicles, pass_frames,
                                    static_frames_between)
    vehicles = list(vehicles)
    if n_frames is None:
        n_frames = max([v.exit_frame for v in vehicles], default=-1) + 1 + static_frames_between
    path = os.fspath(path)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), float(fps), (int(width), int(height)))
    if not writer.isOpened():
        raise OSError(f"cannot open a {fourcc!r} video writer for {path}")
    frames: list[tuple[FramePlate, ...]] = []
    try:
        for frame, plates in iter_pass_frames(rng_seed, width, height, vehicles, n_frames, noise, motion_blur):
            writer.write(frame)
            frames.append(plates)
    finally:
        writer.release()
    texts: dict[int, str] = {}
    for fr in frames:
        for p in fr:
            texts.setdefault(p.vehicle, p.text)
    resolved = tuple(replace(v, text=texts.get(k, _clean(v.text) if v.text else None)) for k, v in enumerate(vehicles))
    return PassVideo(path, int(width), int(height), float(fps), n_frames, int(rng_seed), resolved, tuple(frames))
