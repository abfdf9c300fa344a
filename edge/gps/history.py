"""A time-ordered history of fixes answering "where were we at instant t?".

- Between two fixes no more than `max_gap_s` apart: lat/lon/alt/speed interpolated linearly
  (longitude across the antimeridian, heading along the shorter arc across 360/0); accuracy
  interpolated too; `fix_utc` of the answer is t itself (it is bracketed by real fixes).
- Beyond the last fix (or before the first, or inside a larger gap, from the nearer fix):
  dead-reckoned from speed and heading for at most `extrapolate_s`, then held; the answer's
  `fix_utc` stays the real fix's time so consumers see its age, and `accuracy_m` grows with
  that age: + 0.5 * accel_mps2 * age^2 (the vehicle may have changed speed or turned) +
  speed * (age - extrapolate_s) once the position is merely held.
- None when the nearest usable fix is more than `max_fix_age_s` away from t.

Thread-safe: one producer thread adds fixes while the pipeline asks for positions.
"""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import replace
from datetime import datetime

from edge.records import GeoFix

EARTH_RADIUS_M = 6371008.8


def _ts(t: datetime) -> float:
    return t.timestamp()


def lerp_heading(a: float, b: float, f: float) -> float:
    """Interpolate compass headings along the shorter arc (350 -> 10 passes through 0)."""
    d = ((b - a + 540.0) % 360.0) - 180.0
    return (a + f * d) % 360.0


def move(lat: float, lon: float, heading_deg: float, distance_m: float) -> tuple[float, float]:
    """Flat-earth step (fine for the few metres we ever extrapolate)."""
    h = math.radians(heading_deg)
    dlat = distance_m * math.cos(h) / EARTH_RADIUS_M
    coslat = max(math.cos(math.radians(lat)), 1e-6)
    dlon = distance_m * math.sin(h) / (EARTH_RADIUS_M * coslat)
    lon2 = lon + math.degrees(dlon)
    lon2 = ((lon2 + 180.0) % 360.0) - 180.0
    return lat + math.degrees(dlat), lon2


class FixHistory:
    def __init__(self, *, max_fix_age_s: float = 5.0, extrapolate_s: float = 1.5,
                 max_gap_s: float = 10.0, keep_s: float | None = 600.0,
                 max_fixes: int = 500_000, accel_mps2: float = 3.0) -> None:
        self.max_fix_age_s = max_fix_age_s
        self.extrapolate_s = extrapolate_s
        self.max_gap_s = max_gap_s
        self.keep_s = keep_s
        self.max_fixes = max_fixes
        self.accel_mps2 = accel_mps2
        self._times: list[float] = []
        self._fixes: list[GeoFix] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._fixes)

    def add(self, fix: GeoFix) -> None:
        ts = _ts(fix.fix_utc)
        with self._lock:
            i = bisect.bisect_left(self._times, ts)
            if i < len(self._times) and self._times[i] == ts:
                self._fixes[i] = fix  # a later report of the same epoch supersedes it
            else:
                self._times.insert(i, ts)
                self._fixes.insert(i, fix)
            drop = 0
            if self.keep_s is not None:
                # relative to the fix just added, not the newest: one far-future outlier (a
                # receiver's bad date) must not flush the real history
                drop = bisect.bisect_left(self._times, ts - self.keep_s)
            drop = max(drop, len(self._times) - self.max_fixes)
            if drop > 0:
                del self._times[:drop]
                del self._fixes[:drop]

    def latest(self) -> GeoFix | None:
        with self._lock:
            return self._fixes[-1] if self._fixes else None

    def fixes(self) -> list[GeoFix]:
        with self._lock:
            return list(self._fixes)

    def position_at(self, t_utc: datetime) -> GeoFix | None:
        ts = _ts(t_utc)
        with self._lock:
            n = len(self._times)
            if n == 0:
                return None
            i = bisect.bisect_right(self._times, ts)
            if i > 0 and self._times[i - 1] == ts:
                return self._fixes[i - 1]
            if 0 < i < n:
                ta, tb = self._times[i - 1], self._times[i]
                a, b = self._fixes[i - 1], self._fixes[i]
                if tb - ta <= self.max_gap_s:
                    return self._interpolate(a, b, (ts - ta) / (tb - ta), t_utc)
                if ts - ta <= tb - ts:
                    return self._from(a, ts - ta)
                return self._from(b, ts - tb)
            if i == n:
                return self._from(self._fixes[-1], ts - self._times[-1])
            return self._from(self._fixes[0], ts - self._times[0])

    @staticmethod
    def _interpolate(a: GeoFix, b: GeoFix, f: float, t_utc: datetime) -> GeoFix:
        def lin(x: float | None, y: float | None) -> float | None:
            if x is None:
                return y
            if y is None:
                return x
            return x + f * (y - x)

        dlon = ((b.lon - a.lon + 540.0) % 360.0) - 180.0
        lon = ((a.lon + f * dlon + 180.0) % 360.0) - 180.0
        if a.heading_deg is not None and b.heading_deg is not None:
            heading = lerp_heading(a.heading_deg, b.heading_deg, f)
        else:
            heading = a.heading_deg if a.heading_deg is not None else b.heading_deg
        alt = lin(a.alt, b.alt) if a.alt is not None and b.alt is not None else None
        return GeoFix(lat=a.lat + f * (b.lat - a.lat), lon=lon, alt=alt,
                      speed_mps=lin(a.speed_mps, b.speed_mps), heading_deg=heading,
                      accuracy_m=lin(a.accuracy_m, b.accuracy_m), fix_utc=t_utc,
                      source=a.source, mode=min(a.mode, b.mode))

    def _from(self, fix: GeoFix, dt: float) -> GeoFix | None:
        """Dead-reckon (briefly) or hold `fix` for an instant `dt` seconds away from it."""
        age = abs(dt)
        if age > self.max_fix_age_s:
            return None
        lat, lon = fix.lat, fix.lon
        speed = fix.speed_mps or 0.0
        ext = 0.0  # seconds we dead-reckon; the rest of `age` the position is merely held
        if speed > 0 and fix.heading_deg is not None:
            ext = min(age, self.extrapolate_s)
            lat, lon = move(lat, lon, fix.heading_deg, math.copysign(speed * ext, dt))
        accuracy = fix.accuracy_m
        if accuracy is not None:
            accuracy += 0.5 * self.accel_mps2 * age * age + speed * (age - ext)
        return replace(fix, lat=lat, lon=lon, accuracy_m=accuracy)
