"""Two cameras on one box: `[[camera]]` tables, one `edge run`, one outbox, one broker.

Two fixture videos go through one real `edge run` process (the shipped models, shared) to a
real Mosquitto; each camera's events carry its name, and one outbox numbers them all gap-free.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from edge.cli import main
from edge.watchdog import WatchdogGroup
from tests.helpers import REPO, wait_until

VIDEOS = REPO / "tests" / "fixtures" / "video"


def two_cameras(tmp, broker=None, extra: str = "") -> str:
    mqtt = (f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n' if broker else "[mqtt]\nenabled = false\n")
    return f"""
[device]
id = "two-cams"
[outbox]
path = "{tmp / 'outbox.db'}"
{mqtt}
[[camera]]
name = "north"
source = {{ kind = "video", path = "{VIDEOS / 'passes.mp4'}" }}

[[camera]]
name = "south"
source = {{ kind = "video", path = "{VIDEOS / 'passes_1080p.mp4'}" }}
{extra}"""


def test_two_fixture_videos_through_one_process_give_both_cameras_events(tmp_path, mosquitto, collector_factory):
    cfg = tmp_path / "edge.toml"
    cfg.write_text(two_cameras(tmp_path, mosquitto))
    collector = collector_factory(mosquitto, "alpr/two-cams/read")
    collector.wait_subscribed()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(cfg)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    truth = {name: {v["text"] for v in json.loads((VIDEOS / f"{stem}.json").read_text())["vehicles"]}
             for name, stem in (("north", "passes"), ("south", "passes_1080p"))}
    assert wait_until(lambda: len(collector.events()) >= 6, 30), collector.events()
    events = collector.events()
    seen = {name: {e["plate"]["text"] for e in events if e["device"]["camera"] == name} for name in truth}
    assert {e["device"]["camera"] for e in events} == {"north", "south"}
    assert seen["north"] == truth["north"], seen  # every pass of each video, under its camera's name
    assert len(seen["south"] & truth["south"]) >= 2, seen
    seqs = sorted(e["seq"] for e in events)
    assert seqs == list(range(1, len(seqs) + 1))  # one outbox: one gap-free sequence for both
    assert all(e["device"]["id"] == "two-cams" for e in events)


@pytest.mark.parametrize("extra, message", [
    ('[source]\nkind = "video"\n', "source: with [[camera]] tables each camera has its own"),
    ('[device]\ncamera = "x"\n', None),  # a second [device] table is a TOML error, named as such
    ('[[camera]]\nname = "north"\n', "camera[2].name: 'north' is used by another camera"),
    ('[[camera]]\nname = "east"\nsorce = { kind = "video" }\n', "camera[2].sorce: unknown key (did you mean 'source'?)"),
    ('[[camera]]\nname = "a b"\n', "camera[2].name: 'a b' must be 1-64 of A-Z a-z 0-9 . _ -"),
    ('[motion]\nroi = [[0, 0], [10, 0], [10, 10]]\n', "motion.roi: with [[camera]] tables each camera has its own roi"),
])
def test_camera_config_errors_are_one_line_and_name_the_key(tmp_path, capsys, extra, message):
    cfg = tmp_path / "edge.toml"
    cfg.write_text(two_cameras(tmp_path, extra=extra))
    assert main(["run", "--config", str(cfg), "--check-config"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    if message:
        assert message in err, err


def test_check_config_checks_each_cameras_files(tmp_path, capsys):
    cfg = tmp_path / "edge.toml"
    cfg.write_text(two_cameras(tmp_path).replace("passes_1080p.mp4", "missing.mp4"))
    assert main(["run", "--config", str(cfg), "--check-config"]) == 2
    assert "camera[1].source.path:" in capsys.readouterr().err
    cfg.write_text(two_cameras(tmp_path).replace('name = "south"', 'name = "south"\ncalibration = "nope.json"'))
    assert main(["run", "--config", str(cfg), "--check-config"]) == 2
    assert "camera[1].calibration.path:" in capsys.readouterr().err
    cfg.write_text(two_cameras(tmp_path))
    assert main(["run", "--config", str(cfg), "--source", "x.mp4"]) == 2
    assert "--source: the config has [[camera]] tables" in capsys.readouterr().err


class Pings:
    def __init__(self) -> None:
        self.n = 0

    def watchdog(self) -> None:
        self.n += 1


def test_the_watchdog_waits_for_every_running_camera():
    pings = Pings()
    group = WatchdogGroup(pings, ["north", "south"])
    north, south = group.member("north"), group.member("south")
    for _ in range(5):
        north.watchdog()  # south hangs: systemd hears nothing
    assert pings.n == 0
    south.watchdog()
    assert pings.n == 1
    group.retire("south")  # south's video ended: north alone feeds it now
    north.watchdog()
    north.watchdog()
    assert pings.n == 3
    threads = [threading.Thread(target=north.watchdog) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pings.n == 23
