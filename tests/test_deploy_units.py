"""The Raspberry Pi units: aiming no longer stops reading.

edge-preview.service used to `Conflicts=` with edge.service, so starting the preview stopped
the reader. Now the reader serves the page itself; the stand-alone preview is for a box not
set up yet, skipped while the reader runs, and the reader ends it before taking the camera.
Both may write only the calibration folder under /etc (the ROI editor saves there). Checked
with systemd-analyze where it is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "raspberrypi"


def directives(unit: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_the_preview_unit_does_not_stop_the_reader():
    preview = directives(DEPLOY / "edge-preview.service")
    reader = directives(DEPLOY / "edge.service")
    assert "Conflicts" not in preview and "Conflicts" not in reader
    assert any("is-active edge.service" in v for v in preview["ExecCondition"])  # skipped while it reads
    assert any("stop edge-preview.service" in v for v in reader["ExecStartPre"])  # it ends a stand-alone one
    assert "preview-token:/etc/edge/credentials/preview-token" in reader["LoadCredential"]
    for unit in (preview, reader):
        assert "-/etc/edge/calibration" in unit["ReadWritePaths"] and unit["ProtectSystem"] == ["strict"]
    assert "--calibration /etc/edge/calibration/camera.json" in preview["ExecStart"][0]


def test_the_install_makes_the_calibration_file_the_config_names():
    install = (DEPLOY / "install.sh").read_text()
    assert 'install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$ETC/calibration"' in install
    assert '{"schema": "edge.calibration/1"}' in install
    assert 'path = "/etc/edge/calibration/camera.json"' in (DEPLOY / "edge.toml").read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", ["edge.service", "edge-preview.service"])
def test_units_parse(unit, tmp_path):
    # Only syntax: the paths (/opt/edge/venv/bin/edge) do not exist on a development machine.
    p = subprocess.run(["systemd-analyze", "verify", str(DEPLOY / unit)], capture_output=True, text=True,
                       cwd=tmp_path, timeout=60)
    problems = [line for line in (p.stderr + p.stdout).splitlines()
                if line.strip() and "is not executable" not in line and "No such file" not in line]
    assert not [line for line in problems if "Unknown" in line or "Invalid" in line or "Failed to parse" in line], problems
