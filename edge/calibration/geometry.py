"""Geometry advice for choosing a lens, a distance and a shutter time.

Pinhole model. A lens of focal length f (mm) on a sensor with pixel pitch p (µm) has a focal
length in native sensor pixels of f_px = 1000 f / p; when the stream is scaled or binned from
the sensor's native width to the output width, f_px scales by output/native.

- Plate width in pixels at line-of-sight distance Z (m), plate width W (m), seen at a yaw angle
  a away from face-on:  w_px = f_px * W * cos(a) / Z.
- Motion blur during an exposure t (s) for a vehicle at speed v (m/s) whose direction of travel
  makes angle θ with the line of sight (0° = coming straight at the camera, 90° = crossing):
  the lateral component v·sinθ moves the plate across the image at f_px·v·sinθ / Z px/s, and
  the axial component v·cosθ grows the plate, moving its edges at (w_px/2)·v·cosθ / Z px/s.
  blur(t) = t·v/Z · (f_px·sinθ + w_px/2·cosθ); the longest shutter keeping blur ≤ B pixels is
  t_max = B·Z / (v·(f_px·sinθ + w_px/2·cosθ)).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from edge.calibration.file import CalibrationError

EU_PLATE_WIDTH_M = 0.520
US_PLATE_WIDTH_M = 0.305


@dataclass(frozen=True)
class Camera:
    focal_mm: float
    pixel_pitch_um: float
    sensor_width_px: int  # native sensor width (full resolution)
    image_width_px: int | None = None  # width of the frames used for detection (default: native)
    image_height_px: int | None = None

    def __post_init__(self):
        for name in ("focal_mm", "pixel_pitch_um", "sensor_width_px"):
            if not getattr(self, name) > 0:
                raise CalibrationError(f"{name.replace('_', '-')} must be positive")
        if self.image_width_px is not None and self.image_width_px <= 0:
            raise CalibrationError("image width must be positive")

    @property
    def width_px(self) -> int:
        return self.image_width_px or self.sensor_width_px

    @property
    def focal_px(self) -> float:
        """Focal length in pixels of the output frames."""
        return 1000.0 * self.focal_mm / self.pixel_pitch_um * self.width_px / self.sensor_width_px

    @property
    def sensor_width_mm(self) -> float:
        return self.sensor_width_px * self.pixel_pitch_um / 1000.0

    @property
    def hfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan(self.sensor_width_mm / (2.0 * self.focal_mm)))


def plate_width_px(camera: Camera, distance_m: float, plate_width_m: float = EU_PLATE_WIDTH_M,
                   yaw_deg: float = 0.0) -> float:
    if distance_m <= 0 or plate_width_m <= 0:
        raise CalibrationError("distance and plate width must be positive")
    return camera.focal_px * plate_width_m * math.cos(math.radians(yaw_deg)) / distance_m


def blur_px_per_s(camera: Camera, distance_m: float, speed_mps: float, angle_deg: float,
                  plate_width_m: float = EU_PLATE_WIDTH_M) -> float:
    theta = math.radians(angle_deg)
    w_px = plate_width_px(camera, distance_m, plate_width_m)
    return speed_mps / distance_m * (camera.focal_px * abs(math.sin(theta)) + w_px / 2.0 * abs(math.cos(theta)))


def max_shutter_s(camera: Camera, distance_m: float, speed_mps: float, angle_deg: float = 90.0,
                  blur_budget_px: float = 1.0, plate_width_m: float = EU_PLATE_WIDTH_M) -> float:
    if speed_mps <= 0:
        raise CalibrationError("speed must be positive")
    if blur_budget_px <= 0:
        raise CalibrationError("blur budget must be positive")
    return blur_budget_px / blur_px_per_s(camera, distance_m, speed_mps, angle_deg, plate_width_m)


def focal_for_plate_width(target_px: float, distance_m: float, pixel_pitch_um: float, sensor_width_px: int,
                          image_width_px: int | None = None, plate_width_m: float = EU_PLATE_WIDTH_M) -> float:
    """Focal length (mm) that makes a plate `target_px` wide at `distance_m`."""
    scale = (image_width_px or sensor_width_px) / sensor_width_px
    return target_px * distance_m * pixel_pitch_um / (1000.0 * plate_width_m * scale)


@dataclass(frozen=True)
class Advice:
    focal_px: float
    hfov_deg: float
    scene_width_m: float  # width covered at the given distance
    plate_width_px: float
    pixels_per_m: float
    plate_ok: bool  # readable-width rule of thumb
    speed_mps: float | None = None
    angle_deg: float | None = None
    blur_budget_px: float | None = None
    blur_px_per_ms: float | None = None
    max_shutter_s: float | None = None
    max_shutter_fraction: str | None = None  # "1/2778 s"
    exposure_us: int | None = None  # the value for `[source] exposure_us` (max shutter, rounded down)
    tilt_deg: float | None = None  # downward tilt to the plate from a mounting height
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        d = asdict(self)
        d["notes"] = list(self.notes)
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in d.items() if v is not None}


MIN_READABLE_PX = 90  # below ~90 px for a 520 mm EU plate (~11 px per character) reads degrade
MAX_USEFUL_PX = 400


def advise(camera: Camera, distance_m: float, *, plate_width_m: float = EU_PLATE_WIDTH_M,
           speed_kmh: float | None = None, angle_deg: float = 90.0, blur_budget_px: float = 1.0,
           height_m: float | None = None) -> Advice:
    w_px = plate_width_px(camera, distance_m, plate_width_m)
    scene = 2.0 * distance_m * math.tan(math.radians(camera.hfov_deg) / 2.0)
    notes = []
    scaled_min = MIN_READABLE_PX * plate_width_m / EU_PLATE_WIDTH_M
    ok = w_px >= scaled_min
    if not ok:
        need = focal_for_plate_width(scaled_min, distance_m, camera.pixel_pitch_um, camera.sensor_width_px,
                                     camera.image_width_px, plate_width_m)
        notes.append(f"plate is only {w_px:.0f} px wide; aim for >= {scaled_min:.0f} px: use a lens of "
                     f">= {need:.1f} mm, a closer spot or a higher detection resolution")
    elif w_px > MAX_USEFUL_PX:
        notes.append(f"plate is {w_px:.0f} px wide, more than needed; a wider lens would cover more lanes")
    tilt = None
    if height_m is not None:
        if not 0 <= height_m < distance_m:
            raise CalibrationError("mounting height must be below the line-of-sight distance")
        tilt = math.degrees(math.asin(height_m / distance_m))
        if tilt > 30:
            notes.append(f"camera looks {tilt:.0f} deg down at the plate; above ~30 deg characters "
                         "foreshorten badly: mount lower or aim further away")
    adv = dict(focal_px=camera.focal_px, hfov_deg=camera.hfov_deg, scene_width_m=scene,
               plate_width_px=w_px, pixels_per_m=w_px / plate_width_m, plate_ok=ok, tilt_deg=tilt)
    if speed_kmh is not None:
        v = speed_kmh / 3.6
        t = max_shutter_s(camera, distance_m, v, angle_deg, blur_budget_px, plate_width_m)
        adv.update(speed_mps=v, angle_deg=angle_deg, blur_budget_px=blur_budget_px,
                   blur_px_per_ms=blur_px_per_s(camera, distance_m, v, angle_deg, plate_width_m) / 1000.0,
                   max_shutter_s=t, max_shutter_fraction=f"1/{round(1.0 / t)} s",
                   exposure_us=max(1, math.floor(t * 1e6 + 1e-6)))
        if t < 1 / 4000:
            notes.append("shutter shorter than 1/4000 s needs strong light or IR illumination")
    return Advice(**adv, notes=tuple(notes))
