"""Geometry advice against hand-computed numbers."""

import json
import math

import pytest

from edge.calibration.file import CalibrationError
from edge.calibration.geometry import Camera, advise, focal_for_plate_width, max_shutter_s, plate_width_px
from edge.cli import main

# 8 mm lens, 2 µm pixels, 4000 px sensor read out at 2000 px: f = 8 mm / 2 µm = 4000 px native,
# 2000 px in the output frames.
CAM = Camera(focal_mm=8.0, pixel_pitch_um=2.0, sensor_width_px=4000, image_width_px=2000)
V50 = 50 / 3.6  # 13.888... m/s


def test_focal_length_and_field_of_view():
    assert CAM.focal_px == pytest.approx(2000.0)
    # sensor 8 mm wide behind an 8 mm lens: HFOV = 2 atan(0.5) = 53.130 deg
    assert CAM.hfov_deg == pytest.approx(53.1301, abs=1e-3)


def test_plate_width_in_pixels():
    # 520 mm plate at 10 m: 2000 * 0.52 / 10 = 104 px
    assert plate_width_px(CAM, 10.0) == pytest.approx(104.0)
    # seen 60 deg off face-on: half as wide
    assert plate_width_px(CAM, 10.0, yaw_deg=60) == pytest.approx(52.0)
    # inverse: which lens gives 104 px at 10 m on this sensor/readout -> 8 mm
    assert focal_for_plate_width(104, 10.0, 2.0, 4000, 2000) == pytest.approx(8.0)


def test_longest_shutter_crossing_and_head_on():
    # Crossing (90 deg): 1 px budget, 10 m, 50 km/h -> t = 1 * 10 / (13.889 * 2000) = 360 µs
    assert max_shutter_s(CAM, 10.0, V50, 90.0, 1.0) == pytest.approx(10 / (V50 * 2000))
    assert max_shutter_s(CAM, 10.0, V50, 90.0, 1.0) == pytest.approx(360e-6)
    # Head-on (0 deg): only the growth of the plate blurs: edges move at (104/2) * v / Z = 72.22 px/s
    assert max_shutter_s(CAM, 10.0, V50, 0.0, 1.0) == pytest.approx(1 / 72.2222, rel=1e-4)
    # 30 deg: v/Z * (2000 sin30 + 52 cos30) = 1.38889 * 1045.033 = 1451.43 px/s
    assert max_shutter_s(CAM, 10.0, V50, 30.0, 2.0) == pytest.approx(2 / 1451.435, rel=1e-4)


def test_advice_summary_and_notes():
    adv = advise(CAM, 10.0, speed_kmh=50, angle_deg=90, blur_budget_px=1.0, height_m=3.0)
    assert adv.scene_width_m == pytest.approx(10.0)  # 2 * 10 m * tan(26.565 deg)
    assert adv.plate_ok and adv.max_shutter_fraction == "1/2778 s"
    assert adv.tilt_deg == pytest.approx(math.degrees(math.asin(0.3)))
    far = advise(CAM, 30.0)
    assert not far.plate_ok and "lens of >= 20.8 mm" in far.notes[0]  # 90 px * 30 m * 2 µm / 0.52 m / 0.5


def test_advice_cli_with_sensor_preset(capsys):
    # HQ camera (IMX477: 4056 px, 1.55 µm) with a 12 mm lens read out at 2028 px, plate at 15 m:
    # f = 12 / 0.00155 * 2028 / 4056 = 3870.97 px; plate = 3870.97 * 0.52 / 15 = 134.19 px
    rc = main(["calibrate", "advice", "--sensor", "imx477", "--focal-mm", "12", "--width-px", "2028",
               "--distance-m", "15", "--speed-kmh", "30", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["focal_px"] == pytest.approx(3870.97, abs=0.01)
    assert out["plate_width_px"] == pytest.approx(134.19, abs=0.01)
    assert out["max_shutter_s"] == pytest.approx(15 / (30 / 3.6 * 3870.97), rel=1e-5)
    # the advice names the config key that applies it, with a value the config accepts
    assert out["exposure_us"] == 465 and out["exposure_us"] <= out["max_shutter_s"] * 1e6
    assert main(["calibrate", "advice", "--sensor", "imx477", "--focal-mm", "12", "--width-px", "2028",
                 "--distance-m", "15", "--speed-kmh", "30"]) == 0
    assert "[source] exposure_us = 465 " in capsys.readouterr().out
    from edge.configuration.settings import build_config

    assert build_config({"source": {"kind": "picamera", "fps": 30, "exposure_us": 465}}).source.exposure_us == 465


def test_bad_advice_inputs_are_one_line(capsys):
    assert main(["calibrate", "advice", "--focal-mm", "8", "--distance-m", "10"]) == 1
    assert "give --sensor, or both --pixel-pitch-um and --sensor-width-px" in capsys.readouterr().err
    with pytest.raises(CalibrationError):
        Camera(focal_mm=0, pixel_pitch_um=2, sensor_width_px=100)
