"""The one validated application config: `AppConfig`, built from each owner's section dataclass.

`load_config(path)` reads a TOML file (every key checked, one-line ConfigError naming the key);
`load_config(None)` gives the EMBEDDED DEFAULT: the bundled fixture video, no broker (events are
printed as JSON lines and kept in the outbox under ./state), no GPS. So `edge run` works on a
fresh machine with no camera, no broker and no config file.

Sections (see examples/edge.toml for every key):
  device, source, detector, reader, tracking, formats, motion, gps, clock, outbox, mqtt,
  health, preview, calibration, privacy, metrics, homeassistant, vehicle, and the [[watchlist]]
  and [[camera]] arrays of tables
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.calibration.file import CalibrationConfig
from edge.cameras import CameraConfig, check_cameras
from edge.clock import ClockConfig
from edge.configuration.validation import ConfigError, from_mapping, load_toml
from edge.formats import FormatsConfig
from edge.gps import GpsConfig
from edge.homeassistant import HomeAssistantConfig
from edge.metrics import MetricsConfig
from edge.motion import MotionConfig
from edge.delivery.mqtt_config import MqttConfig
from edge.delivery.outbox import OutboxConfig
from edge.preview import PreviewConfig
from edge.privacy import PrivacyConfig
from edge.sources import SourceConfig
from edge.tracking import TrackerConfig
from edge.vehicle_colour import VehicleConfig
from edge.watchlist import WatchlistConfig


@dataclass(frozen=True)
class DeviceConfig:
    """`[device]`: who this box is. `id` is in every topic and event; "" = derived from this box's
    Raspberry Pi serial or machine id (edge.device_id), unique per box."""

    id: str = ""
    camera: str = "cam0"

    def __post_init__(self) -> None:
        if self.id and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", self.id):
            raise ValueError(f"id: {self.id!r} must be 1-64 of A-Z a-z 0-9 . _ -")

    @property
    def resolved_id(self) -> str:
        if self.id:
            return self.id
        from edge.device_id import this_box

        return this_box().id

    def id_warning(self) -> str | None:
        """A loud warning when the id is one many boxes share (the host name "raspberrypi")."""
        from edge.device_id import shared_id_warning, this_box

        if self.id:
            return shared_id_warning(self.id)
        derived = this_box()
        return shared_id_warning(derived.id, derived.source)


@dataclass(frozen=True)
class DetectorConfig:
    """`[detector]`: the plate detector model ("" = the shipped models/plate_detector.onnx).

    plugin: "package.module:factory" — a Python callable returning any object with the
    PlateDetector protocol of edge/ports.py (`name`, `input_side`, `fine_side`,
    `predict(image)`), used instead of the ONNX model; it is called with this section (e.g. to
    wrap another runtime, or a test double).
    """

    model: str = ""
    threads: int = 1
    # Intra-op threads when the detector reads still images (`edge read`, `edge run` on a
    # folder): a photo's passes are the work between two decodes, and a second core shortens
    # them (side by side on the 2-core dev box, `edge read` on 100 real photos 2.89 -> 2.31 s,
    # on 10 photos of 12 MP 3.87 -> 2.56 s, same reads; benchmarks/README.md). Video keeps
    # `threads`: there the capture thread needs the other core.
    stills_threads: int = 2
    plugin: str = ""
    # None (the key left out) = the model's own, from its JSON sidecar, for the four keys below.
    # Older configs (examples/edge.toml until issue 20) said so with -1 (coarse_side, fine_side)
    # or 0 (input_side, score_threshold); those values are still read as None.
    score_threshold: float | None = None  # one plain plate threshold, without candidates
    input_side: int | None = None  # letterbox side in px
    coarse_side: int | None = None  # side of a second, cheaper pass for close plates; 0 = off
    # Largest side of a third, fine pass over big still images (`edge read`, and `edge run` on
    # a folder: source kind "images"), so that plates small in a big photo are not shrunk below
    # what the model can see; 0 = off. Video is never given one: a passing vehicle is seen at
    # many sizes, and at 1080p it would cost the pipeline about half its frame rate.
    fine_side: int | None = None

    def __post_init__(self) -> None:
        for key, legacy in (("score_threshold", 0), ("input_side", 0), ("coarse_side", -1), ("fine_side", -1)):
            if getattr(self, key) == legacy:
                object.__setattr__(self, key, None)
        for key in ("threads", "stills_threads"):
            value = getattr(self, key)
            if not 0 <= value <= 64:
                raise ValueError(f"{key}: must be between 0 (onnxruntime's choice) and 64, got {value}")
        own = "left out: the model's own"
        if self.score_threshold is not None and not 0 < self.score_threshold < 1:
            raise ValueError(f"score_threshold: must be in (0, 1) ({own}), got {self.score_threshold}")
        if self.input_side is not None and not _multiple_of_32(self.input_side, 128, 1280):
            raise ValueError(f"input_side: must be a multiple of 32 from 128 to 1280 ({own}), got {self.input_side}")
        if self.coarse_side not in (None, 0) and not _multiple_of_32(self.coarse_side, 128, 1280):
            raise ValueError(f"coarse_side: must be 0 (off) or a multiple of 32 from 128 to 1280 ({own}), "
                             f"got {self.coarse_side}")
        if self.fine_side not in (None, 0) and not _multiple_of_32(self.fine_side, 640, 4096):
            raise ValueError(f"fine_side: must be 0 (off) or a multiple of 32 from 640 to 4096 ({own}), "
                             f"got {self.fine_side}")


def _multiple_of_32(value: int, low: int, high: int) -> bool:
    return low <= value <= high and value % 32 == 0


@dataclass(frozen=True)
class ReaderConfig:
    """`[reader]`: the OCR model ("" = the shipped models/plate_reader.onnx; sidecar .json beside it).

    plugin: "package.module:factory" returning a PlateReader (`name`, `predict(crops)`).
    """

    model: str = ""
    sidecar: str = ""
    threads: int = 1
    plugin: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.threads <= 64:
            raise ValueError(f"threads: must be between 0 (onnxruntime's choice) and 64, got {self.threads}")


@dataclass(frozen=True)
class HealthConfig:
    """`[health]`: what goes into health reports and when `edge doctor`/health warn."""

    temperature_path: str = "/sys/class/thermal/thermal_zone0/temp"
    min_free_mb: float = 200.0  # warn when the state directory's disk has less free space
    print_interval_s: float = 0.0  # >0: also log a one-line health summary this often

    def __post_init__(self) -> None:
        for key in ("min_free_mb", "print_interval_s"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key}: must be >= 0, got {getattr(self, key)}")


@dataclass(frozen=True)
class AppConfig:
    device: DeviceConfig = field(default_factory=DeviceConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    tracking: TrackerConfig = field(default_factory=TrackerConfig)
    formats: FormatsConfig = field(default_factory=FormatsConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    gps: GpsConfig = field(default_factory=GpsConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    preview: PreviewConfig = field(default_factory=PreviewConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    watchlist: tuple[WatchlistConfig, ...] = ()  # [[watchlist]] tables
    camera: tuple[CameraConfig, ...] = ()  # [[camera]] tables: several cameras on one box
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    homeassistant: HomeAssistantConfig = field(default_factory=HomeAssistantConfig)
    vehicle: VehicleConfig = field(default_factory=VehicleConfig)
    # Where the config came from (None = the embedded default); relative paths in it
    # (calibration file, models) are resolved against this file's folder.
    origin: Path | None = field(default=None, compare=False)

    @property
    def embedded_default(self) -> bool:
        return self.origin is None

    @property
    def mqtt_enabled(self) -> bool:
        return self.mqtt.enabled


# The embedded default (no config file): the bundled fixture video, no broker, no GPS,
# the outbox under ./state (relative to where `edge run` is started).
EMBEDDED_DEFAULT: dict[str, Any] = {
    "source": {"kind": "video", "path": ""},
    "outbox": {"path": "state/outbox.db"},
    "mqtt": {"enabled": False},
}


def build_config(data: dict[str, Any] | None, origin: Path | None = None) -> AppConfig:
    """Validate a parsed mapping into AppConfig (one-line ConfigError on any bad key/value)."""
    data = dict(data or {})
    if "origin" in data:
        raise ConfigError("origin: unknown key")
    if isinstance(data.get("watchlist"), dict):
        raise ConfigError("watchlist: write each list as a [[watchlist]] table (double brackets)")
    if isinstance(data.get("camera"), dict):
        raise ConfigError("camera: write each camera as a [[camera]] table (double brackets)")
    config = from_mapping(AppConfig, data)
    _check_privacy(config)
    check_cameras(data, config.camera)
    return dataclasses.replace(config, origin=origin)


def _check_privacy(config: AppConfig) -> None:
    """Rules that span [privacy] and [[watchlist]] (each table checks its own keys)."""
    names = [w.name for w in config.watchlist]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"watchlist[{i}].name: {name!r} is used by another watchlist")
    if config.privacy.publish == "matches" and not config.watchlist:
        raise ConfigError('privacy.publish: "matches" needs at least one [[watchlist]] table')


# File paths in a config file are relative to that file's folder (section, key).
RELATIVE_PATH_KEYS = (
    ("source", "path"), ("outbox", "path"), ("gps", "path"), ("calibration", "path"),
    ("detector", "model"), ("reader", "model"), ("reader", "sidecar"),
    ("mqtt", "password_file"), ("mqtt", "tls_ca"), ("mqtt", "tls_cert"), ("mqtt", "tls_key"),
    ("preview", "token_file"), ("privacy", "key_file"),
)


def _anchor_paths(config: AppConfig) -> AppConfig:
    base = config.origin.parent if config.origin is not None else None
    if base is None:
        return config
    changes: dict[str, Any] = {}
    for section_name, key in RELATIVE_PATH_KEYS:
        section = changes.get(section_name, getattr(config, section_name))
        value = getattr(section, key)
        if value is None or value == "" or str(value).startswith("/dev/"):
            continue
        p = Path(value).expanduser()
        if p.is_absolute():
            continue
        anchored = base / p
        new = anchored if isinstance(value, Path) else str(anchored)
        changes[section_name] = dataclasses.replace(section, **{key: new})
    if config.watchlist:
        from edge.watchlist import anchored

        changes["watchlist"] = anchored(config.watchlist, base)
    if config.camera:
        changes["camera"] = tuple(_anchor_camera(c, base) for c in config.camera)
    return dataclasses.replace(config, **changes) if changes else config


def _anchor_camera(camera: CameraConfig, base: Path) -> CameraConfig:
    """A camera's source file and calibration file, relative to the config file's folder."""
    def anchored(value: str) -> str:
        if not value or value.startswith("/dev/") or Path(value).expanduser().is_absolute():
            return value
        return str(base / Path(value).expanduser())

    source = dataclasses.replace(camera.source, path=anchored(camera.source.path))
    return dataclasses.replace(camera, source=source, calibration=anchored(camera.calibration))


def load_config(path: str | Path | None = None) -> AppConfig:
    """The config at `path`, or the embedded default when `path` is None.

    Relative file paths in a config file are taken from the file's folder; in the embedded
    default (the fixture video, ./state/outbox.db) from the current directory.
    """
    if path is None:
        return build_config({k: dict(v) for k, v in EMBEDDED_DEFAULT.items()}, origin=None)
    path = Path(path)
    return _anchor_paths(build_config(load_toml(path), origin=path.resolve()))


def resolve_path(config: AppConfig, value: str | Path) -> Path:
    """A path from the config: absolute as is, relative to the config file's folder (or cwd)."""
    p = Path(value).expanduser()
    if p.is_absolute() or config.origin is None:
        return p
    return config.origin.parent / p
