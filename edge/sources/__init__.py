"""Frame sources: where frames come from (a video file, an RTSP/USB camera, a Pi camera, a folder).

`open_source(config, clock)` is the one entry point; every source yields `edge.records.Frame`s
and implements `edge.ports.FrameSource`, including what the pipeline uses besides the frames:

- `live: bool` — True for cameras (a slow consumer must not stall them: the pipeline drops
  the oldest queued frame and counts it), False for files (nothing is dropped: the capture
  thread waits for the inference thread, because a file can always be read later).
- `stills: bool` — True for a folder of photos (big ones are decoded one at a time).
- `stats() -> dict` — counters (frames, reconnects, read failures, ...) for health/bench.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from edge.ports import Clock, FrameSource

# Video files replay with deterministic times: frame.t_utc = start_time + the frame's PTS.
# Without an explicit `source.start_time`, that start is this fixed epoch, so the same file
# always gives the same event times (a file's mtime changes with every checkout).
VIDEO_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".m4v", ".webm", ".mjpeg", ".mjpg", ".h264", ".ts")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# Photos OpenCV cannot decode: phones' HEIC/HEIF and AVIF, cameras' raw files. Named in errors, so
# a folder of them is not silently empty.
UNDECODABLE_PHOTO_SUFFIXES = (".heic", ".heif", ".avif", ".dng", ".cr2", ".cr3", ".nef", ".arw",
                              ".orf", ".rw2", ".raf")
UNDECODABLE_PHOTO_HINT = "OpenCV cannot decode this format; convert to JPEG first (e.g. heif-convert, darktable-cli)"


MAX_EXPOSURE_US = 1_000_000  # 1 s: longer is a night-sky photo, not a plate reader
MIN_GAIN, MAX_GAIN = 1.0, 64.0  # libcamera's analogue gain range covers every Pi sensor's


class SourceError(RuntimeError):
    """A source that cannot be opened or read; the message is one line naming the source."""


@dataclass(frozen=True)
class SourceConfig:
    """`[source]`: where frames come from.

    kind:        "video" (a file, replayed with deterministic times), "rtsp" (an IP camera),
                 "usb" (a V4L2 device), "picamera" (Raspberry Pi camera via picamera2),
                 "images" (a folder of images, in name order).
    path:        video file or image folder ("" with kind "video" = the bundled fixture video).
    url:         rtsp:// (or http://) stream address for kind "rtsp".
    device:      V4L2 device path or index for kind "usb" (e.g. "/dev/video0" or "0").
    pacing:      "fast" = as fast as the pipeline goes (files only: no frame is ever dropped),
                 "realtime" = at the file's own frame rate.
    start_time:  RFC 3339 UTC time of a video's first frame ("" = 2026-01-01T00:00:00Z);
                 "gps" = the time of the first fix from [gps] (e.g. a replayed NMEA log
                 recorded with the video), so frames and positions share one timeline.
    loop:        restart a video/image folder at its end (times keep increasing).
    fps:         frame rate of an image folder; requested frame rate of a camera (0 = default).
    width/height: requested capture size for usb/picamera (0 = the device's default);
                 for picamera this is the full-resolution "main" stream used for plate crops.
    lores_width/lores_height: picamera's low-resolution detection stream (0 = no lores stream).
    exposure_us: fixed shutter (exposure) time in microseconds, to freeze moving plates
                 (`edge calibrate advice --speed-kmh` prints the longest one); 0 = automatic.
                 picamera: libcamera's ExposureTime (the gain stays automatic unless
                 analogue_gain is set too); usb: V4L2 manual exposure (100 µs steps);
                 not applied to rtsp (set the IP camera's shutter in its own settings).
    analogue_gain: fixed sensor analogue gain (1.0 = none), picamera only; 0 = automatic.
    reconnect_initial_s / reconnect_max_s: exponential backoff between camera reconnects.
    max_reconnects: give up after this many failed reconnects in a row (0 = never give up).
    queue_size:  frames buffered between capture and inference (1 or 2; the oldest is dropped
                 and counted when a live camera outpaces the models).
    """

    kind: Literal["video", "rtsp", "usb", "picamera", "images"] = "video"
    path: str = ""
    url: str = ""
    device: str = "/dev/video0"
    pacing: Literal["fast", "realtime"] = "fast"
    start_time: str = ""
    loop: bool = False
    fps: float = 0.0
    width: int = 0
    height: int = 0
    lores_width: int = 640
    lores_height: int = 360
    exposure_us: int = 0
    analogue_gain: float = 0.0
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    max_reconnects: int = 0
    queue_size: int = 2

    def __post_init__(self) -> None:
        if self.start_time and self.start_time.strip().lower() != "gps":
            parse_start_time(self.start_time)  # raises ValueError with a clear message
        if not 1 <= self.queue_size <= 8:
            raise ValueError(f"queue_size: must be between 1 and 8, got {self.queue_size}")
        if self.fps < 0:
            raise ValueError(f"fps: must be >= 0, got {self.fps}")
        if self.reconnect_initial_s <= 0 or self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_initial_s: must be > 0 and <= reconnect_max_s")
        if not 0 <= self.exposure_us <= MAX_EXPOSURE_US:
            raise ValueError(f"exposure_us: must be 0 (automatic) or 1-{MAX_EXPOSURE_US} microseconds, "
                             f"got {self.exposure_us}")
        if self.exposure_us and self.fps and self.exposure_us > 1e6 / self.fps:
            raise ValueError(f"exposure_us: {self.exposure_us} µs is longer than one frame at fps "
                             f"{self.fps:g} ({1e6 / self.fps:.0f} µs); lower it or the frame rate")
        if not (self.analogue_gain == 0 or MIN_GAIN <= self.analogue_gain <= MAX_GAIN):
            raise ValueError(f"analogue_gain: must be 0 (automatic) or {MIN_GAIN:g}-{MAX_GAIN:g}, "
                             f"got {self.analogue_gain:g}")


def parse_start_time(text: str) -> datetime:
    """RFC 3339 time -> aware UTC datetime (a naive time is refused: it would be ambiguous)."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"start_time: {text!r} is not an RFC 3339 time "
                         "(e.g. 2026-01-01T08:00:00Z)") from None
    if t.tzinfo is None:
        raise ValueError(f"start_time: {text!r} has no time zone (add Z or +00:00)")
    return t.astimezone(timezone.utc)


def start_of(config: SourceConfig) -> datetime:
    """A file's timeline start: start_time, or the documented epoch. "gps" is resolved by the
    app (first GPS fix) before the source opens; a tool without GPS (bench) uses the epoch."""
    text = config.start_time.strip()
    if not text or text.lower() == "gps":
        return VIDEO_EPOCH
    return parse_start_time(text)


def source_from_uri(uri: str, base: SourceConfig | None = None) -> SourceConfig:
    """`--source` shorthand: rtsp://..., usb:N or /dev/videoN, picamera, a folder of photos or one
    photo, or a video file."""
    import dataclasses

    base = base or SourceConfig()
    low = uri.lower()
    if low.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        return dataclasses.replace(base, kind="rtsp", url=uri)
    if low.startswith("usb:"):
        return dataclasses.replace(base, kind="usb", device=uri[4:] or "0")
    if low.startswith("/dev/video"):
        return dataclasses.replace(base, kind="usb", device=uri)
    if low in ("picamera", "picamera:", "picamera2"):
        return dataclasses.replace(base, kind="picamera")
    for prefix, kind in (("video:", "video"), ("images:", "images"), ("file:", "video")):
        if low.startswith(prefix):
            return dataclasses.replace(base, kind=kind, path=uri[len(prefix):])
    if Path(uri).is_dir() or Path(uri).suffix.lower() in IMAGE_SUFFIXES + UNDECODABLE_PHOTO_SUFFIXES:
        return dataclasses.replace(base, kind="images", path=uri)  # a folder of photos, or one photo
    return dataclasses.replace(base, kind="video", path=uri)


def default_video_path() -> Path:
    """The bundled fixture video: next to the source tree, or installed under share/edge."""
    import sys

    here = Path(__file__).resolve().parents[2]
    candidates = [
        here / "tests" / "fixtures" / "video" / "passes.mp4",
        Path(sys.prefix) / "share" / "edge" / "fixtures" / "passes.mp4",
        Path(sys.prefix) / "share" / "edge" / "video" / "passes.mp4",
    ]
    for c in candidates:
        if c.is_file():
            return c
    return candidates[0]


def open_source(config: SourceConfig, clock: Clock | None = None) -> FrameSource:
    """Open the configured source; raises SourceError (one line) if it cannot be opened.

    Cameras (rtsp/usb) open lazily inside `frames()` with reconnect/backoff, so a camera that
    is down at start is retried rather than fatal.
    """
    if config.kind == "video":
        from edge.sources.video import VideoFileSource

        path = Path(config.path) if config.path else default_video_path()
        return VideoFileSource(path, config)
    if config.kind == "images":
        from edge.sources.images import ImageFolderSource

        if not config.path:
            raise SourceError("source.path: an image folder is required for kind 'images'")
        return ImageFolderSource(Path(config.path), config)
    if clock is None:
        from edge.clock import SystemClock

        clock = SystemClock()
    if config.kind in ("rtsp", "usb"):
        from edge.sources.stream import StreamSource

        return StreamSource(config, clock)
    if config.kind == "picamera":
        from edge.sources.picamera import PiCameraSource

        return PiCameraSource(config, clock)
    raise SourceError(f"source.kind: unknown kind {config.kind!r}")


__all__ = [
    "IMAGE_SUFFIXES", "VIDEO_EPOCH", "SourceConfig", "SourceError", "default_video_path",
    "open_source", "parse_start_time", "source_from_uri", "start_of",
]
