"""The real-world motion a rendered pass video (edge.synth.video) shows, for a pinhole camera.

The renderer works in pixels: a plate `w` px wide (before the vehicle's yaw foreshortens it)
is, through a lens of focal length f px, a plate P metres wide at distance Z = f·P / w, and its
centre (cx, cy) is (cx − W/2)·Z/f, (cy − H/2)·Z/f beside the optical axis. "towards" and "away"
passes have 1/w linear in time (constant speed along the line of sight), "across" ones a
constant w and a constant x speed. So given f and P, each pass has a known speed and
direction; `frames_for_speed` picks a pass's length for a wanted speed.

    spec = VehicleSpec("B 123 ABC", "eu_ro", 10, 10 + frames_for_speed(50, (60, 240), 25, 2000, 0.52), "towards")
    video = render_pass_video(path, 1, vehicles=[spec], fps=25)
    truth = true_motion(video, 0, focal_px=2000, plate_width_m=0.52)   # ~50 km/h, "approaching"
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.synth.video import PassVideo

LABELS = {"towards": "approaching", "away": "receding"}


@dataclass(frozen=True)
class TrueMotion:
    speed_kmh: float
    label: str  # approaching | receding | left | right
    angle_deg: float  # the plate centre's motion in the image plane, 0 = right, 90 = up


def plate_width_at(spec, u: float) -> float:
    """The plate's (unforeshortened) width in px at path position u in [0, 1], as the renderer draws it."""
    w0, w1 = spec.plate_width
    if spec.motion in ("across", "parked"):
        return w0 if spec.motion == "across" else w1
    if spec.motion == "away":
        u = 1.0 - u
    return 1.0 / (1.0 / w0 + (1.0 / w1 - 1.0 / w0) * u)


def true_motion(video: PassVideo, vehicle: int, focal_px: float, plate_width_m: float) -> TrueMotion:
    """The speed and direction of one vehicle's plate over the frames where it is fully in view."""
    spec = video.vehicles[vehicle]
    span = max(1, spec.exit_frame - spec.enter_frame)
    rows = []
    for i, plates in enumerate(video.frames):
        for p in plates:
            if p.vehicle == vehicle and p.full:
                u = (i - spec.enter_frame) / span
                z = focal_px * plate_width_m / plate_width_at(spec, u)
                cx, cy = p.box.center
                rows.append((i / video.fps, (cx - video.width / 2) * z / focal_px,
                             (cy - video.height / 2) * z / focal_px, z, cx, cy))
    if len(rows) < 2:
        raise ValueError(f"vehicle {vehicle} is fully in view in fewer than 2 frames")
    a = np.array(rows)
    slopes = [np.polyfit(a[:, 0], a[:, k], 1)[0] for k in range(1, 6)]
    vx, vy, vz, dcx, dcy = slopes
    if spec.motion in LABELS:
        label = LABELS[spec.motion]
    else:
        label = "right" if dcx > 0 else "left"
    return TrueMotion(math.sqrt(vx * vx + vy * vy + vz * vz) * 3.6, label, math.degrees(math.atan2(-dcy, dcx)))


def frames_for_speed(kmh: float, plate_width: tuple[float, float], fps: float, focal_px: float,
                     plate_width_m: float) -> int:
    """Frames a towards/away pass between these plate widths takes at about `kmh` (the small
    vertical part of the renderer's path adds a fraction of a per cent; `true_motion` is exact)."""
    w0, w1 = plate_width
    distance = focal_px * plate_width_m * abs(1.0 / w0 - 1.0 / w1)
    return max(2, round(distance / (kmh / 3.6) * fps))
