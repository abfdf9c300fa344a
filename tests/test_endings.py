"""How commands end when their world goes away (issue 17, defect 7): a reader that closes the
pipe (`edge read DIR | head -1`, `edge run | head -1`) ends them without a traceback; a USB
camera that is not plugged in is named ("no /dev/videoN"), once, without OpenCV's noise."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.sources import SourceConfig, SourceError, open_source
from tests.helpers import make_clip, write_config

REPO = Path(__file__).resolve().parents[1]
SCENES = REPO / "tests" / "fixtures" / "scenes"


def _piped_to_head(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """`edge ARGS | head -1`: (edge's exit status, head's line, edge's stderr)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    edge = subprocess.Popen([sys.executable, "-m", "edge", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-1"], stdin=edge.stdout, stdout=subprocess.PIPE)
    edge.stdout.close()  # only head holds the read end now
    line, _ = head.communicate(timeout=120)
    _, err = edge.communicate(timeout=120)
    return edge.returncode, line.decode(), err.decode()


def test_edge_read_into_head_ends_without_a_traceback(tmp_path):
    code, line, err = _piped_to_head(["read", str(SCENES)], tmp_path)
    assert line.startswith('{"image"')
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert code == 141  # as a tool killed by SIGPIPE


def test_edge_run_into_head_stops_cleanly(tmp_path):
    cfg = write_config(tmp_path, make_clip(tmp_path / "clip.avi"))
    cfg.write_text(cfg.read_text().replace('pacing = "realtime"', 'pacing = "fast"\nloop = true')
                   + "\n[tracking]\nrepeat_suppress_s = 0\n")
    code, line, err = _piped_to_head(["run", "--config", str(cfg)], tmp_path)
    assert line.startswith('{"schema":"edge.read/1"')
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert "stdout was closed" in err and code == 0


def test_a_missing_usb_camera_is_named_once_without_opencv_noise(capfd, caplog):
    caplog.set_level(logging.WARNING)
    source = open_source(SourceConfig(kind="usb", device="/dev/video97", reconnect_initial_s=0.05,
                                      reconnect_max_s=0.05, max_reconnects=4))
    t0 = time.monotonic()
    with pytest.raises(SourceError) as exc:
        next(iter(source.frames()))
    assert time.monotonic() - t0 < 2.0
    assert str(exc.value).startswith("usb:/dev/video97: no /dev/video97 (is the USB camera plugged in?")
    said = [r.getMessage() for r in caplog.records if "/dev/video97" in r.getMessage()]
    assert len(said) == 1 and "waiting for it" in said[0]
    captured = capfd.readouterr()
    assert "VIDEOIO" not in captured.err and "can't open camera" not in captured.err


def test_doctor_says_no_dev_video_for_a_missing_camera(tmp_path):
    cfg = write_config(tmp_path, make_clip(tmp_path / "clip.avi"))
    cfg.write_text(cfg.read_text().replace('kind = "video"', 'kind = "usb"\ndevice = "/dev/video97"'))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "edge", "doctor", "--config", str(cfg), "--timeout", "3"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    source = [ln for ln in proc.stdout.splitlines() if ln.split()[1:2] == ["source"]]
    assert proc.returncode == 1 and source, proc.stdout
    assert source[0].startswith("FAIL") and "no /dev/video97" in source[0] and "no answer" not in source[0]
