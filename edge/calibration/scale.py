"""The scale a speed estimate needs: the focal length in pixels, from a calibration file.

Three ways to know it, best first: lens intrinsics from a checkerboard (`edge calibrate
intrinsics`, ~1 %), a plate of known width measured in the picture at a known distance
(`edge calibrate scale --plate-px ... --distance-m ...`, a few %), or the lens and sensor
figures (`--focal-mm` with `--sensor`, nominal focal lengths are good to ~5 %).
"""

from __future__ import annotations

import math

from edge.calibration.file import Calibration, CalibrationError, Scale
from edge.travel import TravelScale

INTRINSICS_UNCERTAINTY = 0.01
LENS_FIGURES_UNCERTAINTY = 0.05


def travel_scale(cal: Calibration | None) -> TravelScale | None:
    """The calibration's focal length for edge.travel, or None (no scale, or a prewarp: the
    warped picture is not a pinhole camera's, so no speed is estimated through it)."""
    if cal is None or cal.prewarp is not None or cal.image_size is None:
        return None
    if cal.intrinsics is not None:
        K = cal.intrinsics.K_new
        return TravelScale(float(K[0, 0]), cal.image_size[0], INTRINSICS_UNCERTAINTY,
                           (float(K[0, 2]), float(K[1, 2])))
    if cal.scale is not None:
        return TravelScale(cal.scale.focal_px, cal.image_size[0], cal.scale.uncertainty)
    return None


def from_plate(plate_px: float, distance_m: float, plate_width_mm: float,
               px_error: float = 2.0, distance_error_m: float = 0.05) -> Scale:
    """A plate `plate_width_mm` wide that measures `plate_px` at `distance_m` (line of sight):
    f = w·Z / P. The uncertainty adds a reading error of `px_error` pixels and a tape-measure
    error of `distance_error_m`."""
    if not (plate_px > 0 and distance_m > 0 and plate_width_mm > 0):
        raise CalibrationError("plate width in px, distance and plate width in mm must be positive")
    f = plate_px * distance_m / (plate_width_mm / 1000.0)
    u = math.hypot(px_error / plate_px, distance_error_m / distance_m)
    return Scale(round(f, 2), round(min(u, 0.5), 4),
                 f"a {plate_width_mm:g} mm plate {plate_px:g} px wide at {distance_m:g} m")


def from_lens(focal_mm: float, pixel_pitch_um: float, sensor_width_px: int, image_width_px: int) -> Scale:
    """Nominal lens and sensor figures (as `edge calibrate advice`)."""
    if not (focal_mm > 0 and pixel_pitch_um > 0 and sensor_width_px > 0 and image_width_px > 0):
        raise CalibrationError("focal length, pixel pitch and widths must be positive")
    f = 1000.0 * focal_mm / pixel_pitch_um * image_width_px / sensor_width_px
    return Scale(round(f, 2), LENS_FIGURES_UNCERTAINTY,
                 f"{focal_mm:g} mm lens, {pixel_pitch_um:g} um pixels, {sensor_width_px} px sensor")
