"""Frozen records that flow between the pipeline's stages. No I/O here.

Every stage talks to the next through these types, never through dicts or tuples,
so a model, a camera or a GPS can be swapped without touching the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """Axis-aligned box in pixels of the original image: top-left corner, width, height."""

    x: float
    y: float
    w: float
    h: float

    @property
    def x2(self) -> float:
        return self.x + self.w

    @property
    def y2(self) -> float:
        return self.y + self.h

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)

    def iou(self, other: BoundingBox) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x, other.x))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y, other.y))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def as_list(self) -> list[int]:
        return [round(self.x), round(self.y), round(self.w), round(self.h)]

    def scaled(self, sx: float, sy: float) -> BoundingBox:
        """This box in an image `sx` x `sy` times as large (e.g. back from a smaller copy)."""
        return BoundingBox(self.x * sx, self.y * sy, self.w * sx, self.h * sy)


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image. `image` is BGR uint8 (OpenCV order), never copied between stages.

    `t_mono_ns` comes from the sensor or monotonic clock; `t_utc` is the wall time derived
    from it through the clock's measured offset (or the video's start time + its PTS).
    """

    seq: int
    image: np.ndarray
    t_mono_ns: int
    t_utc: datetime
    source: str
    # Optional low-resolution copy for detection (picamera2's "lores" stream); detections on
    # it are scaled back to `image`, which stays full resolution for plate crops.
    detect_image: np.ndarray | None = None
    # How many of the photo's pixels one pixel of `image` spans along x and y, when a very big
    # photo was decoded reduced (edge.recognition.stills): reads' boxes are given back in the photo's pixels.
    photo_scale: tuple[float, float] = (1.0, 1.0)


@dataclass(frozen=True, slots=True)
class PlateDetection:
    """A plate found by the detector. `confirm`: scored below the detector's sure threshold, so
    it is kept only if the reader reads it confidently (edge.recognition.reading.read_detections)."""

    box: BoundingBox
    score: float
    confirm: bool = False


@dataclass(frozen=True, slots=True)
class CharConfidence:
    c: str
    p: float


@dataclass(frozen=True, slots=True)
class PlateText:
    """What the OCR model read from one crop."""

    text: str
    chars: tuple[CharConfidence, ...]

    @property
    def confidence(self) -> float:
        """Product-free summary: the weakest character bounds how sure we are of the whole."""
        return min((ch.p for ch in self.chars), default=0.0)


@dataclass(frozen=True, slots=True)
class PlateRead:
    """A detection plus its text, tied to the frame it came from."""

    text: str
    chars: tuple[CharConfidence, ...]
    confidence: float
    box: BoundingBox
    detection_score: float
    frame_seq: int
    region: str | None = None
    # The plate's pixels (a copy, TIGHT margin), kept only when `[privacy] image` asks for a
    # plate-crop image in the event; None otherwise.
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)
    sharpness: float = 0.0  # edge.sighting.sharpness of the crop (0 = not measured)
    clipped: bool = False  # the box reaches the picture's edge: part of the plate may be cut off
    # The region around the plate (a small copy, edge.vehicle_colour.cut_context), kept only
    # when `[vehicle] colour` is on; None otherwise.
    context: PlateContext | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class GeoFix:
    lat: float
    lon: float
    alt: float | None
    speed_mps: float | None
    heading_deg: float | None
    accuracy_m: float | None
    fix_utc: datetime
    source: str  # "gpsd" | "nmea" | "static"
    mode: int = 3  # 2 = 2D fix, 3 = 3D fix (gpsd's convention)


@dataclass(frozen=True, slots=True)
class Candidate:
    text: str
    confidence: float


@dataclass(frozen=True, slots=True)
class WatchlistMatch:
    """A read matched a watchlist entry (edge.watchlist): list name, entry, edit distance.
    `entry_hmac`: the entry is an HMAC line (hex), not a plate text."""

    list: str
    entry: str
    distance: float
    entry_hmac: bool = False


@dataclass(frozen=True, slots=True)
class Direction:
    """Which way a plate travelled during its pass (edge.travel): `label` approaching | receding |
    left | right, and `angle_deg` its motion in the image plane (0 = right, 90 = up)."""

    label: str
    angle_deg: float


@dataclass(frozen=True, slots=True)
class SpeedEstimate:
    """An estimate of the vehicle's speed from its plate's size and motion (edge.travel), with
    the uncertainty of about one standard deviation. Never a measurement fit for enforcement."""

    kmh: float
    uncertainty_kmh: float


@dataclass(frozen=True, slots=True)
class PlateContext:
    """A small copy of the region around a plate (edge.vehicle_colour), and where the plate is in it."""

    image: np.ndarray = field(repr=False, compare=False)
    plate: BoundingBox = field(default_factory=lambda: BoundingBox(0, 0, 0, 0))


@dataclass(frozen=True, slots=True)
class VehicleColour:
    """The body colour seen around the plate (edge.vehicle_colour), one of a few names."""

    name: str
    confidence: float


@dataclass(frozen=True, slots=True)
class PlateEvent:
    """One vehicle pass: the consensus of a track's reads, ready to be stored and published."""

    id: str  # UUIDv7, made once when the event is created
    text: str
    confidence: float
    chars: tuple[CharConfidence, ...]
    candidates: tuple[Candidate, ...]
    region: str | None
    first_seen: datetime
    last_seen: datetime
    best_seen: datetime
    clock: str  # "ntp" | "gps" | "unsynced" | "video"
    location: GeoFix | None
    frame_count: int
    best_frame_seq: int
    box: BoundingBox
    crop_jpeg: bytes | None = field(default=None, repr=False)
    # Set by the privacy stage (edge.privacy_stage): the watchlist entry the read matched, and,
    # when `text` is an HMAC of the plate rather than the plate, the id of the key it used.
    match: WatchlistMatch | None = None
    text_hmac_key: str | None = None
    # The best read's plate pixels (PlateRead.crop), for the privacy stage to encode or drop;
    # never stored or published as such.
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)
    direction: Direction | None = None  # None: the plate hardly moved (parked) or too few reads
    speed: SpeedEstimate | None = None  # only with a calibrated scale (edge calibrate scale)
    camera: str | None = None  # the camera that saw it, on a box with several ([[camera]])
    colour: VehicleColour | None = None  # only with [vehicle] colour = true
    # The best read's surroundings (PlateRead.context), for the colour stage; never published.
    context: PlateContext | None = field(default=None, repr=False, compare=False)
