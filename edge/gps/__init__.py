"""Where the camera is: gpsd, an NMEA serial port or log, a fixed position, or nothing.

`open_gps(GpsConfig) -> GpsSource` (edge.ports.GpsSource): `position_at(t_utc)` answers from
a history of fixes (interpolated between fixes, briefly extrapolated after the last one, with
an accuracy that grows with age; see edge/gps/history.py), `close()` stops its thread.

`accuracy_m` everywhere is a ~95 % horizontal error radius, like gpsd's `eph`: from gpsd's
eph (or epx/epy), from NMEA GST, else HDOP x `uere_m` (5 m by default).

Config (TOML section `[gps]`):

    kind = "gpsd"            # "none" | "static" | "gpsd" | "nmea"
    host = "127.0.0.1"       # gpsd
    port = 2947
    path = "/dev/ttyACM0"    # nmea: a serial device, or a log file to replay
    baud = 9600
    pacing = "fast"          # log replay: "fast" (loaded at start) | "realtime"
    lat = 52.52              # static
    lon = 13.40
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Literal

from edge.records import GeoFix

FixCallback = Callable[[GeoFix, int], None]  # (fix, monotonic ns when it was received)

# Receivers still counting GPS weeks from 1999 report dates 1024 weeks in the past since
# 2019-04-06; on a live serial receiver we move such dates forward (a log keeps its dates).
DEFAULT_ROLLOVER_FLOOR = date(2019, 4, 7)


@dataclass(frozen=True)
class GpsConfig:
    kind: Literal["none", "static", "gpsd", "nmea"] = "none"
    # static: a fixed camera
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None
    accuracy_m: float = 5.0
    heading_deg: float | None = None  # the direction the camera looks, if known
    # gpsd
    host: str = "127.0.0.1"
    port: int = 2947
    # nmea: a serial device (/dev/ttyUSB0, /dev/serial0...) or a log file
    path: str = ""
    baud: int = 9600
    pacing: Literal["fast", "realtime"] = "fast"  # log replay speed
    replay_speed: float = 1.0  # with pacing = "realtime": 2.0 = twice as fast
    replay_rebase: bool = False  # shift a replayed log so its first fix is "now"
    require_checksum: bool = False  # reject NMEA sentences without a checksum
    week_rollover_floor: str = "auto"  # ISO date; "auto" (serial only) | "off"
    uere_m: float = 5.0  # accuracy = HDOP x uere_m when the receiver gives nothing better
    # how positions are answered
    max_fix_age_s: float = 5.0  # no position further than this from a fix
    extrapolate_s: float = 1.5  # dead-reckon at most this long past a fix
    max_gap_s: float = 10.0  # interpolate only between fixes this close
    history_s: float = 600.0  # live sources keep this much history
    reconnect_max_s: float = 10.0  # gpsd / serial reconnect backoff ceiling

    def __post_init__(self) -> None:
        if self.kind == "static":
            if self.lat is None or self.lon is None:
                raise ValueError("lat: kind = 'static' needs lat and lon")
        if self.lat is not None and not -90.0 <= self.lat <= 90.0:
            raise ValueError(f"lat: must be in -90..90, got {self.lat}")
        if self.lon is not None and not -180.0 <= self.lon <= 180.0:
            raise ValueError(f"lon: must be in -180..180, got {self.lon}")
        if self.heading_deg is not None and not 0.0 <= self.heading_deg < 360.0:
            raise ValueError(f"heading_deg: must be in [0, 360), got {self.heading_deg}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port: must be 1..65535, got {self.port}")
        if self.kind == "nmea" and not self.path:
            raise ValueError("path: kind = 'nmea' needs a path (a serial device or a log file)")
        for name in ("max_fix_age_s", "extrapolate_s", "max_gap_s", "history_s", "uere_m",
                     "replay_speed", "reconnect_max_s", "accuracy_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be a positive number, got {value}")
        if self.baud <= 0:
            raise ValueError(f"baud: must be positive, got {self.baud}")
        self.rollover_floor(serial=True)  # validates the date text

    def rollover_floor(self, serial: bool) -> date | None:
        text = self.week_rollover_floor.strip().lower()
        if text == "off":
            return None
        if text == "auto":
            return DEFAULT_ROLLOVER_FLOOR if serial else None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"week_rollover_floor: {self.week_rollover_floor!r} is not "
                             "'auto', 'off' or an ISO date") from None


class GpsError(RuntimeError):
    """A GPS source cannot be opened (missing device, unreadable log): one-line message."""


class NoGps:
    """kind = "none": positions are unknown (events carry location source "none")."""

    name = "none"
    live = False

    def position_at(self, t_utc: datetime) -> GeoFix | None:
        return None

    def latest(self) -> GeoFix | None:
        return None

    def status(self) -> dict:
        return {"source": "none"}

    def close(self) -> None:
        pass


class StaticGps:
    """kind = "static": a fixed camera at a surveyed position."""

    name = "static"
    live = False

    def __init__(self, config: GpsConfig) -> None:
        assert config.lat is not None and config.lon is not None
        self._config = config

    def _fix(self, t_utc: datetime) -> GeoFix:
        c = self._config
        return GeoFix(lat=c.lat, lon=c.lon, alt=c.alt, speed_mps=0.0, heading_deg=c.heading_deg,
                      accuracy_m=c.accuracy_m, fix_utc=t_utc, source="static",
                      mode=3 if c.alt is not None else 2)

    def position_at(self, t_utc: datetime) -> GeoFix | None:
        return self._fix(t_utc)

    def latest(self) -> GeoFix | None:
        return self._fix(datetime.now(timezone.utc))

    def status(self) -> dict:
        return {"source": "static", "lat": self._config.lat, "lon": self._config.lon}

    def close(self) -> None:
        pass


def is_live(config: GpsConfig) -> bool:
    """True for a real receiver (gpsd, a serial device) whose fix times may discipline the
    clock (SystemClock.discipline_from_gps); False for a replayed log, static or none."""
    import os
    import stat

    if config.kind == "gpsd":
        return True
    if config.kind == "nmea":
        try:
            return not stat.S_ISREG(os.stat(config.path).st_mode)
        except OSError:
            return True  # a device not plugged in yet
    return False


def open_gps(config: GpsConfig, on_fix: FixCallback | None = None):
    """The GpsSource for `config`. `on_fix(fix, t_mono_ns)` is called for each new fix
    (e.g. to discipline the clock from GPS time); raises GpsError with a one-line message
    when a log file or device cannot be opened."""
    if config.kind == "none":
        return NoGps()
    if config.kind == "static":
        return StaticGps(config)
    if config.kind == "gpsd":
        from edge.gps.gpsd import GpsdSource

        return GpsdSource(config, on_fix=on_fix)
    if config.kind == "nmea":
        from edge.gps.source import open_nmea

        return open_nmea(config, on_fix=on_fix)
    raise GpsError(f"gps.kind: unknown kind {config.kind!r}")


__all__ = ["GpsConfig", "GpsError", "NoGps", "StaticGps", "open_gps", "is_live", "FixCallback"]
