"""position_at(): interpolation between fixes, brief extrapolation, honest accuracy, None."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from edge.gps.history import FixHistory, lerp_heading
from edge.records import GeoFix

T0 = datetime(2025, 6, 14, 10, 0, 0, tzinfo=timezone.utc)


def fix(dt: float, lat: float, lon: float, *, alt=10.0, speed=0.0, heading=None, acc=4.0,
        mode=3) -> GeoFix:
    return GeoFix(lat=lat, lon=lon, alt=alt, speed_mps=speed, heading_deg=heading, accuracy_m=acc,
                  fix_utc=T0 + timedelta(seconds=dt), source="nmea", mode=mode)


def at(dt: float) -> datetime:
    return T0 + timedelta(seconds=dt)


def metres_north(a: GeoFix, b: GeoFix) -> float:
    return math.radians(b.lat - a.lat) * 6371008.8


def test_empty_history_knows_nothing():
    assert FixHistory().position_at(T0) is None


def test_linear_interpolation_between_fixes():
    h = FixHistory()
    h.add(fix(0, 52.0, 13.0, alt=10.0, speed=10.0, heading=90.0, acc=4.0))
    h.add(fix(1, 52.001, 13.002, alt=12.0, speed=12.0, heading=90.0, acc=6.0))
    p = h.position_at(at(0.25))
    assert p.lat == pytest.approx(52.00025) and p.lon == pytest.approx(13.0005)
    assert p.alt == pytest.approx(10.5) and p.speed_mps == pytest.approx(10.5)
    assert p.accuracy_m == pytest.approx(4.5)
    assert p.fix_utc == at(0.25)
    assert h.position_at(at(1.0)) == fix(1, 52.001, 13.002, alt=12.0, speed=12.0, heading=90.0, acc=6.0)


def test_heading_interpolates_across_north():
    assert lerp_heading(350.0, 10.0, 0.5) == pytest.approx(0.0)
    assert lerp_heading(10.0, 350.0, 0.25) == pytest.approx(5.0)
    assert lerp_heading(90.0, 270.0, 0.5) in (pytest.approx(0.0), pytest.approx(180.0))
    h = FixHistory()
    h.add(fix(0, 1.0, 1.0, heading=356.0))
    h.add(fix(2, 1.0, 1.0, heading=6.0))
    assert h.position_at(at(1.5)).heading_deg == pytest.approx(3.5)


def test_longitude_interpolates_across_the_antimeridian():
    h = FixHistory()
    h.add(fix(0, -17.0, 179.9995))
    h.add(fix(1, -17.0, -179.9995))
    assert abs(h.position_at(at(0.5)).lon) == pytest.approx(180.0)


def test_brief_extrapolation_then_hold_then_none():
    h = FixHistory(max_fix_age_s=5.0, extrapolate_s=1.5, accel_mps2=3.0)
    last = fix(0, 52.0, 13.0, speed=20.0, heading=0.0, acc=4.0)
    h.add(fix(-1, 51.9998, 13.0, speed=20.0, heading=0.0, acc=4.0))
    h.add(last)
    p1 = h.position_at(at(1.0))  # 20 m north, accuracy + 0.5*3*1^2
    assert metres_north(last, p1) == pytest.approx(20.0, abs=0.01)
    assert p1.accuracy_m == pytest.approx(5.5)
    assert p1.fix_utc == last.fix_utc  # the age stays visible
    p3 = h.position_at(at(3.0))  # dead-reckoned for 1.5 s only, then held
    assert metres_north(last, p3) == pytest.approx(30.0, abs=0.01)
    assert p3.accuracy_m == pytest.approx(4.0 + 0.5 * 3 * 9 + 20.0 * 1.5)
    assert h.position_at(at(5.01)) is None
    # before the first fix, the same rule backwards
    assert metres_north(h.fixes()[0], h.position_at(at(-1.5))) == pytest.approx(-10.0, abs=0.01)
    assert h.position_at(at(-7)) is None


def test_large_gaps_are_not_interpolated():
    h = FixHistory(max_gap_s=10.0, max_fix_age_s=5.0)
    h.add(fix(0, 52.0, 13.0))
    h.add(fix(60, 53.0, 14.0))  # a tunnel: a minute without fixes
    assert h.position_at(at(2)).lat == 52.0
    assert h.position_at(at(57)).lat == 53.0
    assert h.position_at(at(30)) is None


def test_later_report_of_the_same_epoch_replaces_it_and_history_is_bounded():
    h = FixHistory(keep_s=10.0)
    h.add(fix(0, 52.0, 13.0, acc=None))
    h.add(fix(0, 52.0, 13.0, acc=3.0))
    assert len(h) == 1 and h.position_at(at(0)).accuracy_m == 3.0
    for i in range(1, 30):
        h.add(fix(i, 52.0, 13.0))
    assert len(h) == 11 and h.fixes()[0].fix_utc == at(19)
    h.add(fix(86400 * 400, 1.0, 1.0))  # a receiver's wild date must not flush the history
    h.add(fix(30, 52.0, 13.0))
    assert h.position_at(at(29.5)) is not None
