"""The NMEA reader against logs written here (checksums computed by the test's own writer)."""

from __future__ import annotations

import math
import random

import pytest
from datetime import date, datetime, timedelta, timezone

from edge.gps.nmea import (GPS_WEEK_ROLLOVER, NmeaParser, NmeaStats, checksum, parse_bytes,
                           parse_sentence, parse_tod, with_checksum)
from tests.gps import nmea_writer as w
from tests.helpers import dist_m


def test_checksum_of_the_textbook_sentence():
    # The GGA example of the NMEA literature, with its published checksum 47.
    s = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
    assert checksum(s[1:-3]) == 0x47
    assert with_checksum(s[1:-3]) == s
    sentence = parse_sentence(s)
    assert sentence is not None and sentence.talker == "GP" and sentence.kind == "GGA"
    assert w.cs(s[1:-3]) == s  # the test's writer agrees


def test_bad_checksum_is_skipped_and_counted_never_raised():
    stats = NmeaStats()
    bad = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*48"
    assert parse_sentence(bad, stats) is None
    assert stats.bad_checksum == 1
    for junk in ["$GPGGA,1*ZZ", "$GP\x01GGA,1*00", "$*", "$", "", "*47", "$GPGGA,,*4",
                 "$GPRMC,\xff\xfe*00", "!AIVDM,1,1,,A,13aG?P0P00PD;88MD5MTDww@2<0L,0*XX"]:
        assert parse_sentence(junk, stats) is None
    assert stats.bad_checksum == 1 and stats.malformed >= 8


def test_sentences_without_checksum_need_all_their_fields():
    stats = NmeaStats()
    full = "$GPGGA,222449,3349.0337,S,01843.9282,E,1,07,02.31,000115.4,M,0033.3,M,,"
    truncated = "$GPGGA,012530.562,4131.7353,N,09336.8150,W,0,00,50."
    assert parse_sentence(full, stats) is not None
    assert parse_sentence(truncated, stats) is None
    assert parse_sentence(full, stats, require_checksum=True) is None
    assert stats.no_checksum == 1


def test_time_and_coordinate_fields():
    assert parse_tod("235959.99") == (86399, 990000)
    assert parse_tod("000000") == (0, 0)
    assert parse_tod("123519.5") == (45319, 500000)
    for bad in ("", "12", "246000", "12a519", "123519.x", "126100"):
        assert parse_tod(bad) is None
    p = NmeaParser()
    # minutes >= 60, a latitude hemisphere on a longitude, and an empty field are rejected
    for body in ("GPGGA,120000,4860.000,N,01131.000,E,1,08,0.9,5.0,M,0,M,,",
                 "GPGGA,120000,4807.038,E,01131.000,N,1,08,0.9,5.0,M,0,M,,",
                 "GPGGA,120000,,N,01131.000,E,1,08,0.9,5.0,M,0,M,,"):
        p.feed_line(with_checksum(body))
        p.feed_line(with_checksum("GPRMC,120000,V,,,,,,,140625,,,N"))
    assert p.flush() == [] and p.stats.fixes == 0


def test_moving_vehicle_track_with_noise_bad_sentences_and_mixed_talkers():
    truth = w.drive(w.start_time(), 30, dt=1.0, heading0=340.0, turn_dps=2.0)  # crosses 360/0
    lines: list[bytes] = []
    rng = random.Random(7)
    for i, p in enumerate(truth):
        for line in w.epoch_lines(p, i):
            lines.append(line.encode() + b"\r\n")
        if i == 5:
            lines.append(b"garbage that is not nmea\r\n")
            lines.append(b"\xb5\x62\x01\x07\x5c\x00" + bytes(rng.randrange(256) for _ in range(90)))
        if i == 9:  # a corrupted GGA far away, with a wrong checksum: must not be used
            wrong = w.gga(w.Truth(p.t, 10.0, 10.0, 0, 0, 0))
            lines.append((wrong[:-2] + "00").encode() + b"\r\n")
        if i == 12:  # glued sentences and noise before a '$'
            lines.append(b"\x00\x00xx" + w.gsv().encode() + w.gsv().encode() + b"\r\n")
    data = b"".join(lines)
    parser = NmeaParser()
    fixes = []
    pos = 0
    while pos < len(data):  # arbitrary read sizes, as from a serial port
        n = rng.randint(1, 200)
        fixes.extend(parser.feed(data[pos:pos + n]))
        pos += n
    fixes.extend(parser.flush())

    assert len(fixes) == len(truth)
    assert parser.stats.bad_checksum == 1
    assert parser.stats.malformed >= 1
    for fix, p in zip(fixes, truth):
        assert fix.time == p.t
        assert dist_m(fix.lat, fix.lon, p.lat, p.lon) < 0.01
        assert fix.alt == round(p.alt, 1)
        assert abs(fix.speed_mps - p.speed) < 0.001
        assert abs(((fix.heading_deg - p.heading + 180) % 360) - 180) < 0.01
        assert fix.mode == 3
    # accuracy: GST on even epochs (95 % radius from sigmas), HDOP x 5 m otherwise
    assert math.isclose(fixes[0].accuracy_m, 2.4477 * math.sqrt((1.2**2 + 0.8**2) / 2), rel_tol=1e-3)
    assert math.isclose(fixes[1].accuracy_m, 0.9 * 5.0)
    assert {"RMC", "GGA", "GLL"} <= set(fixes[0].sentences)


def test_missing_fields_degrade_gracefully():
    p = w.Truth(w.start_time(), -33.9, 18.4, 0.0, 0.0, 0.0)
    text = "\n".join([
        w.cs(f"GPRMC,{w.hms(p.t)},A,3354.000000,S,01824.000000,E,,,140625,,,A"),
        w.cs(f"GPGGA,{w.hms(p.t)},3354.000000,S,01824.000000,E,1,05,,,M,,M,,"),
    ])
    fixes, stats = parse_bytes(text.encode())
    assert len(fixes) == 1
    f = fixes[0]
    assert (f.lat, f.lon) == (-33.9, 18.4)
    assert f.alt is None and f.mode == 2 and f.speed_mps is None and f.heading_deg is None
    assert f.accuracy_m is None  # nothing to base it on: unknown, not invented


def test_no_fix_epochs_give_no_fix():
    p = w.drive(w.start_time(), 3)
    text = "\n".join([
        w.rmc(p[0], status="V"), w.gga(p[0], quality=0),  # receiver says no fix
        w.rmc(p[1]), w.gga(p[1], quality=8),  # simulator mode: not a measurement
        w.rmc(p[2]), w.gga(p[2]),
    ])
    fixes, stats = parse_bytes(text.encode())
    assert [f.time for f in fixes] == [p[2].t]
    assert stats.no_fix_epochs == 2


def test_midnight_rollover_for_gga_only_epochs():
    t0 = datetime(2025, 12, 31, 23, 59, 58, tzinfo=timezone.utc)
    pts = w.drive(t0, 5)
    lines = [w.rmc(pts[0]), w.gga(pts[0])] + [w.gga(p) for p in pts[1:]]  # date only once
    fixes, _ = parse_bytes("\n".join(lines).encode())
    assert [f.time for f in fixes] == [p.t for p in pts]
    assert fixes[-1].time.date() == date(2026, 1, 1)


def test_epochs_before_the_first_date_are_dated_when_it_arrives():
    pts = w.drive(w.start_time(), 4)
    lines = [w.gga(pts[0]), w.gga(pts[1]), w.gga(pts[2]), w.zda(pts[2].t), w.gga(pts[3])]
    fixes, stats = parse_bytes("\n".join(lines).encode())
    assert [f.time for f in fixes] == [p.t for p in pts]
    # a capture that never says the date gives no fixes rather than invented dates
    fixes, stats = parse_bytes("\n".join(w.gga(p) for p in pts).encode())
    assert fixes == [] and stats.undated_dropped == 4


def test_zda_time_does_not_split_epochs():
    pts = w.drive(w.start_time(), 3)
    lines = []
    for p in pts:  # ZDA stamped two seconds late, as some receivers do
        lines += [w.gga(p), w.rmc(p), w.zda(p.t + timedelta(seconds=2))]
    fixes, _ = parse_bytes("\n".join(lines).encode())
    assert [f.time for f in fixes] == [p.t for p in pts]


def test_gps_week_rollover_floor():
    p = w.drive(datetime(1999, 8, 30, 12, 0, 0, tzinfo=timezone.utc), 1)[0]
    data = "\n".join([w.rmc(p), w.gga(p)]).encode()
    fixes, _ = parse_bytes(data)
    assert fixes[0].time == p.t  # a log keeps its dates
    fixes, stats = parse_bytes(data, min_date=date(2019, 4, 7))
    assert fixes[0].time == p.t + GPS_WEEK_ROLLOVER and stats.week_rollover_fixed == 1


def test_random_bytes_and_mutated_sentences_never_raise():
    rng = random.Random(1234)
    pts = w.drive(w.start_time(), 20)
    good = "\r\n".join(line for i, p in enumerate(pts) for line in w.epoch_lines(p, i)).encode()
    parser = NmeaParser()
    for _ in range(40):
        blob = bytearray(good)
        for _ in range(rng.randint(1, 60)):  # flip, drop and insert bytes
            k = rng.randrange(len(blob))
            op = rng.random()
            if op < 0.4:
                blob[k] = rng.randrange(256)
            elif op < 0.7:
                del blob[k]
            else:
                blob.insert(k, rng.choice(b"$*,\r\n\x00\xff0123456789.NSEW"))
        parser.feed(bytes(blob))
        parser.feed(bytes(rng.randrange(256) for _ in range(500)))
    parser.flush()
    assert parser.stats.bad_checksum > 0 and parser.stats.fixes > 0
    # whatever survived the checksums is still a plausible position
    fixes, _ = parse_bytes(good)
    assert len(fixes) == 20


def test_quiet_line_closes_the_epoch_and_late_sentences_complete_it():
    p = w.drive(w.start_time(), 2)
    parser = NmeaParser()
    assert parser.feed((w.zda(p[0].t) + "\r\n" + w.gga(p[0]) + "\r\n").encode(), t_mono_ns=111) == []
    first = parser.close_epoch()  # the receiver went quiet after its GGA
    assert len(first) == 1 and first[0].speed_mps is None and first[0].received_ns == 111
    late = parser.feed((w.vtg(p[0]) + "\r\n" + w.gga(p[1]) + "\r\n").encode(), t_mono_ns=222)
    assert [f.time for f in late] == [p[0].t]  # re-emitted, completed by the late VTG
    assert late[0].speed_mps == pytest.approx(15.0, abs=1e-3) and late[0].received_ns == 111
    last = parser.flush()
    assert [f.time for f in last] == [p[1].t] and last[0].received_ns == 222
    assert parser.stats.fixes == 2
