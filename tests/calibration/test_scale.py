"""`edge calibrate scale`: the focal length a speed estimate needs, in the calibration file."""

from __future__ import annotations

import json

import pytest

from edge.calibration.file import CalibrationError, load_calibration
from edge.calibration.scale import from_lens, from_plate, travel_scale
from edge.cli import main


def test_scale_from_a_plate_at_a_known_distance(tmp_path, capsys):
    out = tmp_path / "camera.json"
    assert main(["calibrate", "scale", "--plate-px", "130", "--distance-m", "8", "--size", "1920x1080",
                 "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["focal_px"] == pytest.approx(130 * 8 / 0.52)
    cal = load_calibration(out)
    assert cal.image_size == (1920, 1080) and cal.scale.focal_px == pytest.approx(2000)
    assert cal.empty  # nothing to apply to frames: the transform skips it
    s = travel_scale(cal)
    assert s.focal_px == pytest.approx(2000) and s.image_width == 1920
    assert s.at(960)[0] == pytest.approx(1000)  # half the stream width, half the focal length in px
    assert 0.015 < s.uncertainty < 0.03  # 2 px in 130, 5 cm in 8 m


def test_scale_from_lens_figures_and_the_file_keeps_its_other_parts(tmp_path):
    out = tmp_path / "camera.json"
    assert main(["calibrate", "roi", "--polygon", "0,0 100,0 100,100", "--size", "4056x3040",
                 "--out", str(out)]) == 0
    assert main(["calibrate", "scale", "--sensor", "imx477", "--focal-mm", "6", "--out", str(out)]) == 0
    cal = load_calibration(out)
    assert cal.roi is not None and cal.scale.focal_px == pytest.approx(from_lens(6, 1.55, 4056, 4056).focal_px)
    assert cal.scale.uncertainty == 0.05


def test_bad_scale_requests_are_one_line(tmp_path, capsys):
    out = tmp_path / "camera.json"
    assert main(["calibrate", "scale", "--size", "640x480", "--out", str(out)]) == 1
    assert "give one of" in capsys.readouterr().err
    assert main(["calibrate", "scale", "--plate-px", "100", "--size", "640x480", "--out", str(out)]) == 1
    assert "--plate-px and --distance-m go together" in capsys.readouterr().err
    with pytest.raises(CalibrationError):
        from_plate(0, 5, 520)
    out.write_text(json.dumps({"schema": "edge.calibration/1", "image_size": [640, 480],
                               "scale": {"focal_px": 900, "lens": "x"}}))
    with pytest.raises(CalibrationError, match=r"scale\.lens: unknown key"):
        load_calibration(out)
    out.write_text(json.dumps({"schema": "edge.calibration/1", "scale": {"focal_px": 900}}))
    with pytest.raises(CalibrationError, match="image_size: required"):
        load_calibration(out)


def test_no_speed_through_a_prewarp(tmp_path):
    out = tmp_path / "camera.json"
    assert main(["calibrate", "scale", "--focal-px", "1200", "--size", "1280x720", "--out", str(out)]) == 0
    assert travel_scale(load_calibration(out)) is not None
    assert main(["calibrate", "prewarp", "--points", "500,300 700,300 700,350 500,350", "--size", "1280x720",
                 "--out", str(out)]) == 0
    assert travel_scale(load_calibration(out)) is None
