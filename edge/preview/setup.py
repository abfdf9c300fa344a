"""Build one camera's preview view (hub + ROI store) from the application config, the same way
for `edge run` and the stand-alone `edge preview`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.preview.aiming import AimingSettings
from edge.preview.geometry import ViewGeometry
from edge.preview.hub import PreviewHub
from edge.preview.roi import RoiStore


def aiming_settings(formats: Any, source: Any) -> AimingSettings:
    """The plate size the camera expects (`[formats] regions`) and its shutter (`[source]`)."""
    from edge.plate_sizes import expected_plates

    expected = expected_plates(tuple(formats.regions))
    plate = expected.reference
    if not expected.configured:
        note = f"no [formats] regions configured: measured against a {plate.width_mm:.0f} mm EU plate"
    elif expected.certain:
        note = f"[formats] regions: {plate.width_mm:.0f} x {plate.height_mm:.0f} mm plates ({plate.source})"
    else:
        note = (f"[formats] regions have plates of several sizes: measured against the widest, "
                f"{plate.width_mm:.0f} mm ({plate.region})")
    return AimingSettings(plate=plate, plate_note=note, exposure_us=int(source.exposure_us or 0))


def calibration_file(config: Any, override: str | Path | None = None) -> Path | None:
    """The calibration file the ROI editor saves to: `override`, else `[calibration] path`."""
    from edge.configuration.settings import resolve_path

    value = override or config.calibration.path
    return resolve_path(config, value) if value else None


def make_view(config: Any, transform: Any, label: Callable[[str], str], *,
              calibration: str | Path | None = None, source: Any = None) -> tuple[PreviewHub, RoiStore]:
    """(hub, ROI store) for one camera. `source`: that camera's `[source]` (default config.source)."""
    from edge.calibration.file import CalibrationError, load_or_new

    pc = config.preview
    hub = PreviewHub(pc.jpeg_quality, pc.max_width, label, geometry=ViewGeometry(transform),
                     aiming=aiming_settings(config.formats, source or config.source))
    path = calibration_file(config, calibration)
    active = getattr(transform, "calibration", None)
    if active is None and path is not None:
        try:
            active = load_or_new(path)
        except CalibrationError:
            active = None
    return hub, RoiStore(path, active)
