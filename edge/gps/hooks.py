"""What the service does with each GPS fix (`open_gps(..., on_fix=...)`): discipline the clock
from a live receiver's times, and remember the first fix for `source.start_time = "gps"`."""

from __future__ import annotations

import threading
from collections.abc import Callable

from edge.clock import SystemClock
from edge.gps import FixCallback, GpsConfig, GpsError, is_live
from edge.records import GeoFix


def gps_clock_hook(config: GpsConfig, clock: SystemClock) -> FixCallback | None:
    """GPS time disciplines the clock only from a live receiver (gpsd, a serial device),
    never from a replayed log, whose times are in the past."""
    if not is_live(config):
        return None

    def on_fix(fix: GeoFix, t_mono_ns: int) -> None:
        clock.discipline_from_gps(fix.fix_utc, t_mono_ns)

    return on_fix


class FirstFix:
    """on_fix hook that remembers the first fix (for `source.start_time = "gps"`) and passes
    every fix on to `then` (the clock discipline, for live receivers)."""

    def __init__(self, then: Callable[[GeoFix, int], None] | None = None) -> None:
        self.then = then
        self.first: GeoFix | None = None
        self._event = threading.Event()

    def __call__(self, fix: GeoFix, t_mono_ns: int) -> None:
        if self.first is None:
            self.first = fix
            self._event.set()
        if self.then is not None:
            self.then(fix, t_mono_ns)

    def wait_start_time(self, config: GpsConfig, timeout: float = 30.0) -> str:
        """The first fix's time (RFC 3339), for a file source's `start_time = "gps"`."""
        from edge.configuration.validation import ConfigError
        from edge.delivery.event_json import rfc3339_ms

        if config.kind in ("none", "static"):
            raise ConfigError("source.start_time: 'gps' needs a GPS with times ([gps] kind 'nmea' or 'gpsd')")
        if not self._event.wait(timeout) or self.first is None:
            raise GpsError(f"source.start_time 'gps': no GPS fix within {timeout:g} s")
        return rfc3339_ms(self.first.fix_utc)
