"""Several cameras on one box: `[[camera]]` tables, each with its name, source and calibration.

    [[camera]]
    name = "north"
    calibration = "/etc/edge/calibration/north.json"   # its ROI, lens and scale
    source = { kind = "picamera", width = 1920, height = 1080 }

    [[camera]]
    name = "south"
    calibration = "/etc/edge/calibration/south.json"
    source = { kind = "usb", device = "/dev/video2" }

One `edge run` reads them all: one pipeline (capture + inference thread) per camera, sharing
the models, the format rules, the GPS, the clock, one outbox and one MQTT connection. Events
carry their camera's name in `device.camera`. Without `[[camera]]` tables the box has one
camera: `[device] camera`, `[source]`, `[calibration]` and `[motion] roi`, as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from edge.configuration.validation import ConfigError
from edge.sources import SourceConfig

MAX_CAMERAS = 4


@dataclass(frozen=True)
class CameraConfig:
    """One `[[camera]]` table.

    name:        in every event of this camera (`device.camera`); A-Z a-z 0-9 . _ -, unique.
    source:      its frames, the keys of `[source]`.
    calibration: its calibration file (ROI, lens, prewarp, scale); "" = none.
    roi:         a polygon [[x, y], ...] in frame pixels, as `[motion] roi`, for this camera.
    """

    name: str
    source: SourceConfig = field(default_factory=SourceConfig)
    calibration: str = ""
    roi: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", self.name):
            raise ValueError(f"name: {self.name!r} must be 1-64 of A-Z a-z 0-9 . _ -")
        if self.roi and len(self.roi) < 3:
            raise ValueError("roi: a polygon needs at least 3 points")


@dataclass(frozen=True)
class Camera:
    """What one camera's pipeline is built from, with or without `[[camera]]` tables."""

    name: str
    source: SourceConfig
    calibration: str  # path ("" = none)
    motion: Any  # edge.motion.MotionConfig with this camera's ROI


def check_cameras(data: dict[str, Any], cameras: tuple[CameraConfig, ...]) -> None:
    """Rules across sections: with `[[camera]]` tables, the one-camera keys must not be set too
    (which source would they mean?), and names must be unique. `data` is the parsed TOML."""
    if not cameras:
        return
    if len(cameras) > MAX_CAMERAS:
        raise ConfigError(f"camera: at most {MAX_CAMERAS} [[camera]] tables, got {len(cameras)}")
    for key, where in (("source", "camera[i].source"), ("calibration", "camera[i].calibration")):
        if key in data:
            raise ConfigError(f"{key}: with [[camera]] tables each camera has its own ({where}); "
                              f"remove the [{key}] section")
    if "camera" in data.get("device", {}):
        raise ConfigError("device.camera: with [[camera]] tables each camera has its own name (camera[i].name)")
    if data.get("motion", {}).get("roi"):
        raise ConfigError("motion.roi: with [[camera]] tables each camera has its own roi (camera[i].roi)")
    names = [c.name for c in cameras]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"camera[{i}].name: {name!r} is used by another camera")


def cameras_of(config: Any) -> tuple[Camera, ...]:
    """The box's cameras: its `[[camera]]` tables, or the one camera of the classic sections."""
    import dataclasses

    if not config.camera:
        return (Camera(config.device.camera, config.source, config.calibration.path,
                       config.motion),)
    return tuple(Camera(c.name, c.source, c.calibration, dataclasses.replace(config.motion, roi=c.roi))
                 for c in config.camera)


def combine_health(per_camera: dict[str, dict]) -> dict:
    """One health report for several pipelines: fps and drops added up, the slowest stage
    latencies, every warning with its camera's name, and each camera's own under `cameras`."""
    if len(per_camera) == 1:
        return dict(next(iter(per_camera.values())))
    out: dict[str, Any] = {"fps": 0.0, "latency_ms": {}, "drops": {}, "warnings": [], "cameras": {}}
    for name, h in per_camera.items():
        out["fps"] = round(out["fps"] + h.get("fps", 0.0), 2)
        for stage, ms in h.get("latency_ms", {}).items():
            out["latency_ms"][stage] = max(out["latency_ms"].get(stage, 0.0), ms)
        for key, n in h.get("drops", {}).items():
            out["drops"][key] = out["drops"].get(key, 0) + n
        out["warnings"] += [f"camera {name}: {w}" for w in h.get("warnings", [])]
        out["cameras"][name] = {"fps": h.get("fps", 0.0), "drops": h.get("drops", {})}
    return out


def combine_summaries(per_camera: dict[str, dict]) -> dict:
    """One run summary for several pipelines: frame counts added up, each camera's own kept."""
    if len(per_camera) == 1:
        return dict(next(iter(per_camera.values())))
    frames: dict[str, int] = {}
    for s in per_camera.values():
        for key, n in s.get("frames", {}).items():
            frames[key] = frames.get(key, 0) + int(n)
    return {"fps": round(sum(s.get("fps", 0.0) for s in per_camera.values()), 2), "frames": frames,
            "unsubmitted": sum(s.get("unsubmitted", 0) for s in per_camera.values()),
            "cameras": per_camera}
