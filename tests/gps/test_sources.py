"""open_gps(): none, static, NMEA log replay, NMEA serial (a real pty), gpsd (a TCP server
speaking gpsd's JSON, then the real gpsd through gpsfake in test_gpsfake.py), config errors."""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import timedelta

import pytest

from edge.configuration.validation import ConfigError, from_mapping
from edge.gps import GpsConfig, GpsError, open_gps
from edge.gps.gpsd import GpsdSource, tpv_to_fix
from tests.gps import nmea_writer as w
from tests.helpers import FakeGpsd, dist_m, tpv, wait_until, write_truth_log


def test_none_and_static():
    assert open_gps(GpsConfig()).position_at(w.start_time()) is None
    src = open_gps(GpsConfig(kind="static", lat=52.52, lon=13.405, alt=34.0, accuracy_m=3.0,
                             heading_deg=270.0))
    p = src.position_at(w.start_time())
    assert (p.lat, p.lon, p.alt, p.accuracy_m, p.heading_deg, p.source) == \
        (52.52, 13.405, 34.0, 3.0, 270.0, "static")
    assert p.fix_utc == w.start_time()


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"gps\.knd: unknown key \(did you mean 'kind'\?\)"):
        from_mapping(GpsConfig, {"knd": "gpsd"}, "gps")
    with pytest.raises(ConfigError, match=r"gps\.kind: 'gps' is not one of"):
        from_mapping(GpsConfig, {"kind": "gps"}, "gps")
    with pytest.raises(ConfigError, match="needs lat and lon"):
        from_mapping(GpsConfig, {"kind": "static", "lat": 1.0}, "gps")
    with pytest.raises(ConfigError, match=r"^gps\.lat: must be in -90\.\.90, got 95\.0$"):
        from_mapping(GpsConfig, {"kind": "static", "lat": 95, "lon": 0}, "gps")
    with pytest.raises(ConfigError, match="week_rollover_floor"):
        from_mapping(GpsConfig, {"week_rollover_floor": "soon"}, "gps")
    cfg = from_mapping(GpsConfig, {"kind": "gpsd", "host": "10.0.0.5", "port": 2948}, "gps")
    assert (cfg.host, cfg.port) == ("10.0.0.5", 2948)


def test_nmea_log_replay_fast_is_loaded_when_opened(tmp_path):
    truth = w.drive(w.start_time(), 20, dt=0.2, speed=25.0)  # 5 Hz receiver
    log = tmp_path / "drive.nmea"
    write_truth_log(log, truth)
    src = open_gps(GpsConfig(kind="nmea", path=str(log)))
    try:
        assert src.done.is_set() and len(src.history) == 20
        for a, b in zip(truth, truth[1:]):  # halfway between fixes: halfway along the track
            p = src.position_at(a.t + (b.t - a.t) / 2)
            assert dist_m(p.lat, p.lon, (a.lat + b.lat) / 2, (a.lon + b.lon) / 2) < 0.01
            assert p.source == "nmea" and p.mode == 3
        assert src.position_at(truth[-1].t + timedelta(seconds=6)) is None
    finally:
        src.close()


def test_nmea_log_replay_realtime_paces_fixes(tmp_path):
    truth = w.drive(w.start_time(), 6, dt=0.1)
    log = tmp_path / "drive.nmea"
    write_truth_log(log, truth)
    got = []
    t0 = time.monotonic()
    src = open_gps(GpsConfig(kind="nmea", path=str(log), pacing="realtime"),
                   on_fix=lambda fix, mono: got.append(fix))
    try:
        assert src.done.wait(5.0)
        assert time.monotonic() - t0 >= 0.45  # 5 intervals of 0.1 s
        assert [f.fix_utc for f in got] == [p.t for p in truth]
    finally:
        src.close()


def test_missing_log_or_device_is_a_one_line_error(tmp_path):
    with pytest.raises(GpsError, match=r"^gps: .*nope\.nmea: No such file or directory$"):
        open_gps(GpsConfig(kind="nmea", path=str(tmp_path / "nope.nmea")))


def test_nmea_serial_device_through_a_pty():
    truth = w.drive(w.start_time(), 8, dt=1.0)
    master, slave = os.openpty()
    path = os.ttyname(slave)
    got = []
    src = open_gps(GpsConfig(kind="nmea", path=path, baud=4800),
                   on_fix=lambda fix, mono: got.append((fix, mono)))
    try:
        for i, p in enumerate(truth):
            os.write(master, ("\r\n".join(w.epoch_lines(p, i)) + "\r\n").encode())
        # the last epoch is emitted once the line goes quiet, not a cycle later
        assert wait_until(lambda: len(src.history) == 8)
        for (fix, mono), p in zip(got, truth):
            assert fix.fix_utc == p.t and dist_m(fix.lat, fix.lon, p.lat, p.lon) < 0.01
            assert 0 < mono <= time.monotonic_ns()
        assert src.status()["nmea_fixes"] == 8
        assert src.live
    finally:
        src.close()
        os.close(master)
        os.close(slave)


def test_tpv_parsing():
    p = w.drive(w.start_time(), 1)[0]
    f = tpv_to_fix(tpv(p))
    assert (f.lat, f.lon, f.alt, f.speed_mps, f.heading_deg, f.accuracy_m, f.mode) == \
        (p.lat, p.lon, p.alt, p.speed, p.heading, 6.5, 3)
    assert f.fix_utc == p.t and f.source == "gpsd"
    g = tpv_to_fix({**tpv(p), "eph": None, "epx": 3.0, "epy": 4.0})
    assert g.accuracy_m == pytest.approx(5.0)
    assert tpv_to_fix({**tpv(p), "mode": 1}) is None
    assert tpv_to_fix({"class": "TPV", "mode": 3, "lat": 1.0, "lon": 2.0}) is None  # no time
    assert tpv_to_fix({**tpv(p), "time": "yesterday"}) is None
    assert tpv_to_fix({**tpv(p), "lat": "52"}) is None
    assert tpv_to_fix({**tpv(p), "mode": 2}).alt is None


def test_gpsd_client_reads_tpvs_and_reconnects_with_backoff():
    truth = w.drive(w.start_time(), 6)
    server = FakeGpsd()
    src = GpsdSource(GpsConfig(kind="gpsd", port=server.port, reconnect_max_s=0.5))
    try:
        server.accept_and_send([tpv(p) for p in truth[:3]] + [{"class": "SKY"}])
        assert wait_until(lambda: len(src.history) == 3)
        assert src.devices == ["/dev/ttyFAKE"]
        # gpsd restarts: the client comes back by itself
        t = threading.Thread(target=server.accept_and_send, args=([tpv(p) for p in truth[3:]],))
        t.start()
        t.join(10)
        assert wait_until(lambda: len(src.history) == 6)
        assert server.watches == 2
        p = src.position_at(truth[4].t + timedelta(seconds=0.5))
        mid = truth[4].lat + (truth[5].lat - truth[4].lat) / 2
        assert p.lat == pytest.approx(mid)
        assert src.status()["reports"] == 6
    finally:
        src.close()
        server.close()


def test_gpsd_unreachable_is_reported_not_raised():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    src = open_gps(GpsConfig(kind="gpsd", port=port))
    try:
        assert wait_until(lambda: src.error is not None, 3.0)
        assert "unreachable" in src.error and "\n" not in src.error
        assert src.position_at(w.start_time()) is None
    finally:
        t0 = time.monotonic()
        src.close()
        assert time.monotonic() - t0 < 2.5
