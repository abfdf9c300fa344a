"""`edge gps`: JSON lines from an NMEA log, a static position; one-line errors."""

from __future__ import annotations

import json
import socket

import pytest

from edge.cli import main
from edge.commands.gps import parse_source
from tests.gps import nmea_writer as w
from tests.helpers import write_truth_log

KEYS = {"time", "lat", "lon", "alt", "speed_mps", "heading_deg", "accuracy_m", "mode", "source"}


def test_replays_a_log_as_json_lines(tmp_path, capsys):
    truth = w.drive(w.start_time(), 10)
    log = tmp_path / "drive.nmea"
    write_truth_log(log, truth)
    assert main(["gps", "--source", f"nmea:{log}"]) == 0
    out = capsys.readouterr()
    rows = [json.loads(line) for line in out.out.splitlines()]
    assert len(rows) == 10
    assert set(rows[0]) == KEYS
    assert rows[0]["time"] == "2025-06-14T10:00:00.000Z"
    assert rows[3]["lat"] == pytest.approx(truth[3].lat, abs=1e-7)
    assert rows[3]["speed_mps"] == pytest.approx(15.0, abs=0.01)
    assert rows[3]["mode"] == 3 and rows[3]["source"] == "nmea"
    assert "10 fixes" in out.err
    assert main(["gps", "--source", f"nmea:{log}", "--count", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_static_source(capsys):
    assert main(["gps", "--source", "static:52.52,13.405,34"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["lat"], row["lon"], row["alt"], row["source"]) == (52.52, 13.405, 34.0, "static")


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["gps", "--source", f"nmea:{tmp_path / 'missing.nmea'}"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.nmea: No such file or directory" in err
    assert main(["gps", "--source", "sattelite"]) == 2
    assert "unknown source" in capsys.readouterr().err
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert main(["gps", "--source", f"gpsd:127.0.0.1:{port}", "--timeout", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"edge gps: gpsd at 127.0.0.1:{port} unreachable: Connection refused"
    empty = tmp_path / "empty.nmea"
    empty.write_bytes(b"\x00\xffnot nmea at all\n")
    assert main(["gps", "--source", f"nmea:{empty}"]) == 1
    assert "no position fix in" in capsys.readouterr().err


def test_source_syntax():
    assert (parse_source("gpsd").host, parse_source("gpsd").port) == ("127.0.0.1", 2947)
    c = parse_source("gpsd:10.1.2.3:3000")
    assert (c.kind, c.host, c.port) == ("gpsd", "10.1.2.3", 3000)
    assert parse_source("gpsd:gps.local").host == "gps.local"
    assert parse_source("gpsd:[::1]:2948").host == "::1"
    assert parse_source("nmea:/dev/ttyACM0").path == "/dev/ttyACM0"
    with pytest.raises(ValueError):
        parse_source("static:52.5")
    with pytest.raises(ValueError):
        parse_source("gpsd:host:port")


def test_gpsd_reports_of_one_epoch_print_once_and_installer_hints(capsys):
    import threading

    from tests.helpers import FakeGpsd, tpv

    truth = w.drive(w.start_time(), 3)
    server = FakeGpsd()
    partial = {k: v for k, v in tpv(truth[0]).items() if k not in ("speed", "track")}
    reports = [partial, tpv(truth[0]), tpv(truth[1]), tpv(truth[2])]
    t = threading.Thread(target=server.accept_and_send, args=(reports, False))
    t.start()
    try:
        assert main(["gps", "--source", f"gpsd:127.0.0.1:{server.port}", "--timeout", "0.8"]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [r["time"][11:19] for r in rows] == ["10:00:00", "10:00:01", "10:00:02"]
        assert rows[0]["speed_mps"] == pytest.approx(15.0)  # the complete report won
    finally:
        t.join(5)
        server.close()
    # gpsd with a receiver that has no fix, then gpsd without any receiver
    for devices, expect in (
            (["/dev/ttyFAKE"], "edge gps: no fix from gpsd within 0.6 s (devices /dev/ttyFAKE; 1 reports"),
            ([], "edge gps: gpsd at 127.0.0.1:{port} has no GPS device")):
        server = FakeGpsd(devices=devices)
        t = threading.Thread(target=server.accept_and_send, args=([{"class": "TPV", "mode": 1}], False))
        t.start()
        try:
            assert main(["gps", "--source", f"gpsd:127.0.0.1:{server.port}", "--timeout", "0.6"]) == 1
            err = capsys.readouterr().err.strip()
            assert err.startswith(expect.format(port=server.port)) and "\n" not in err
        finally:
            t.join(5)
            server.close()


def test_serial_at_the_wrong_baud_rate_says_so(capsys):
    import os

    master, slave = os.openpty()
    try:
        os.write(master, b"\x8f\xe3\x11garbage\r\n" * 20)
        assert main(["gps", "--source", f"nmea:{os.ttyname(slave)}", "--timeout", "0.7"]) == 1
        err = capsys.readouterr().err.strip()
        assert "lines but no valid NMEA sentence (wrong baud rate? tried 9600)" in err
    finally:
        os.close(master)
        os.close(slave)


def test_gps_section_of_a_config_file(tmp_path, capsys):
    cfg = tmp_path / "edge.toml"
    cfg.write_text('[gps]\nkind = "static"\nlat = 48.1\nlon = 11.5\naccuracy_m = 2.5\n')
    assert main(["gps", "--config", str(cfg)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["lat"], row["lon"], row["accuracy_m"]) == (48.1, 11.5, 2.5)
    cfg.write_text('[gps]\nkind = "static"\nlat = 48.1\nlon = 11.5\naccuracy = 2.5\n')
    assert main(["gps", "--config", str(cfg)]) == 2
    assert capsys.readouterr().err.strip() == \
        "edge gps: gps.accuracy: unknown key (did you mean 'accuracy_m'?)"
