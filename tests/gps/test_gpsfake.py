"""The real gpsd, fed our own NMEA log through gpsfake (Debian gpsd + gpsd-clients, listed in
scripts/ci-packages.txt): our gpsd client must see the log's positions and times, and agree
with our own NMEA reader on the same log."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from edge.gps import GpsConfig, open_gps
from edge.gps.nmea import parse_bytes
from tests.gps import nmea_writer as w
from tests.helpers import dist_m, wait_until, write_truth_log

GPSFAKE = shutil.which("gpsfake")
GPSD = shutil.which("gpsd") or next(
    (p for p in ("/usr/sbin/gpsd", "/sbin/gpsd") if os.access(p, os.X_OK)), None)

pytestmark = pytest.mark.skipif(
    GPSFAKE is None or GPSD is None,
    reason="gpsfake/gpsd not installed (Debian packages gpsd and gpsd-clients; "
           "scripts/test.sh installs them from scripts/ci-packages.txt)")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def gpsfake(tmp_path):
    procs = []
    outputs = []

    def start(log) -> int:
        port = free_port()
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([env.get("PATH", ""), os.path.dirname(GPSD)])
        out = open(tmp_path / "gpsfake.out", "wb")
        outputs.append(out)
        proc = subprocess.Popen(
            [GPSFAKE, "-q", "-P", str(port), "-c", "0.01", str(log)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        procs.append(proc)
        return port

    yield start
    for out in outputs:
        out.close()
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def test_real_gpsd_via_gpsfake_gives_the_logs_positions(tmp_path, gpsfake):
    truth = w.drive(w.start_time(), 15, dt=1.0, speed=13.9, heading0=350.0)
    log = tmp_path / "drive.nmea"
    write_truth_log(log, truth)
    port = gpsfake(log)
    src = open_gps(GpsConfig(kind="gpsd", port=port, reconnect_max_s=0.5))
    try:
        times = {p.t for p in truth[:-1]}  # the last epoch closes only when the log loops
        ok = wait_until(lambda: times <= {f.fix_utc for f in src.history.fixes()}, timeout=15.0)
        out = (tmp_path / "gpsfake.out").read_text(errors="replace")[-500:]
        assert ok, f"gpsd gave {len(src.history)} fixes; status {src.status()}; gpsfake: {out}"
        by_time = {f.fix_utc: f for f in src.history.fixes()}
        ours = {f.time: f for f in parse_bytes(log.read_bytes())[0]}
        for p in truth[:-1]:
            g = by_time[p.t]
            assert dist_m(g.lat, g.lon, p.lat, p.lon) < 0.01
            assert g.alt == pytest.approx(round(p.alt, 1), abs=0.01)
            assert g.speed_mps == pytest.approx(p.speed, abs=0.01)
            assert g.mode == 3 and g.source == "gpsd"
            assert g.accuracy_m is not None and g.accuracy_m > 0
            n = ours[p.t]  # our NMEA reader agrees with gpsd on the same sentences
            assert dist_m(g.lat, g.lon, n.lat, n.lon) < 0.01
        mid = truth[5].t + (truth[6].t - truth[5].t) / 2
        p = src.position_at(mid)
        assert dist_m(p.lat, p.lon, (truth[5].lat + truth[6].lat) / 2,
                      (truth[5].lon + truth[6].lon) / 2) < 0.05
    finally:
        src.close()
