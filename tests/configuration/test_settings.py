from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from edge.configuration.validation import ConfigError
from edge.configuration.settings import AppConfig, build_config, load_config
from edge.cameras import CameraConfig
from edge.watchlist import WatchlistConfig

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "edge.toml"


def test_example_config_loads_and_documents_every_key():
    config = load_config(EXAMPLE)
    text = EXAMPLE.read_text()
    missing = []
    for section in dataclasses.fields(AppConfig):
        if section.name == "origin":
            continue
        if section.name == "watchlist":  # an array of tables, shown commented out (its file must exist)
            header = r"^# \[\[watchlist\]\]$"
            cls = WatchlistConfig
        elif section.name == "camera":  # an array of tables, commented out (it replaces [source])
            header = r"^# \[\[camera\]\]$"
            cls = CameraConfig
        else:
            header = rf"^\[{section.name}\]$"
            cls = type(getattr(config, section.name))
        assert re.search(header, text, re.M), f"[{section.name}] missing"
        body = re.split(header, text, maxsplit=1, flags=re.M)[1].split("\n[", 1)[0]
        for f in dataclasses.fields(cls):
            if not re.search(rf"^#?\s*{f.name}\s*=", body, re.M):
                missing.append(f"{section.name}.{f.name}")
    assert missing == []


def test_example_values_are_the_defaults():
    example = load_config(EXAMPLE)
    default = AppConfig()
    for section in ("source", "motion", "detector", "reader", "tracking", "formats", "health"):
        assert getattr(example, section) == getattr(default, section), section


def test_embedded_default_needs_no_camera_no_broker():
    config = load_config(None)
    assert config.embedded_default
    assert config.source.kind == "video" and config.source.path == ""
    assert config.mqtt_enabled is False
    assert config.gps.kind == "none"
    assert str(config.outbox.path) == "state/outbox.db"


def test_empty_config_is_valid_and_unknown_keys_are_named():
    assert build_config({}) == AppConfig()
    with pytest.raises(ConfigError, match=r"^motion\.treshold: unknown key \(did you mean 'threshold'\?\)$"):
        build_config({"motion": {"treshold": 3}})
    with pytest.raises(ConfigError, match="^source.queue_size: expected an integer"):
        build_config({"source": {"queue_size": "two"}})


@pytest.mark.parametrize("source, message", [
    ({"exposure_us": -1}, r"^source\.exposure_us: must be 0 \(automatic\) or 1-1000000 microseconds, got -1$"),
    ({"exposure_us": 2_000_000}, r"^source\.exposure_us: must be 0 \(automatic\) or 1-1000000"),
    ({"exposure_us": 40_000, "fps": 30}, r"^source\.exposure_us: 40000 µs is longer than one frame at fps 30 "),
    ({"exposure_us": 0.5}, r"^source\.exposure_us: expected an integer, got a number$"),
    ({"analogue_gain": 0.5}, r"^source\.analogue_gain: must be 0 \(automatic\) or 1-64, got 0.5$"),
    ({"analogue_gain": 100}, r"^source\.analogue_gain: must be 0 \(automatic\) or 1-64, got 100$"),
    ({"analogue_gain": float("nan")}, r"^source\.analogue_gain: expected a finite number, got nan$"),
    ({"analogue_gain": "high"}, r"^source\.analogue_gain: expected a number, got a string$"),
])
def test_exposure_keys_are_validated_in_one_line_naming_the_key(source, message):
    with pytest.raises(ConfigError, match=message) as err:
        build_config({"source": source})
    assert "\n" not in str(err.value)


def test_exposure_keys_default_to_automatic_and_accept_a_fixed_shutter_and_gain():
    assert (AppConfig().source.exposure_us, AppConfig().source.analogue_gain) == (0, 0.0)
    src = build_config({"source": {"kind": "picamera", "fps": 30, "exposure_us": 1000, "analogue_gain": 4}}).source
    assert (src.exposure_us, src.analogue_gain) == (1000, 4.0)


def test_relative_paths_are_taken_from_the_config_files_folder(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir()
    cfg = folder / "edge.toml"
    cfg.write_text('[source]\npath = "clips/a.mp4"\n[outbox]\npath = "state/outbox.db"\n'
                   '[gps]\nkind = "nmea"\npath = "/dev/ttyUSB0"\n[reader]\nmodel = "/opt/m.onnx"\n')
    config = load_config(cfg)
    assert config.source.path == str(folder / "clips" / "a.mp4")
    assert config.outbox.path == folder / "state" / "outbox.db"
    assert config.gps.path == "/dev/ttyUSB0"
    assert config.reader.model == "/opt/m.onnx"


@pytest.mark.parametrize("side", [100, 500, 2048])
def test_detector_input_side_must_be_a_multiple_of_32_in_range(side):
    with pytest.raises(ConfigError, match=rf"^detector\.input_side: must be a multiple of 32 from 128 to 1280 "
                                          rf"\(left out: the model's own\), got {side}$"):
        build_config({"detector": {"input_side": side}})
    assert build_config({"detector": {"input_side": 416}}).detector.input_side == 416


@pytest.mark.parametrize("side", [-2, 100, 330, 2048])
def test_detector_coarse_side_must_be_off_default_or_a_multiple_of_32(side):
    with pytest.raises(ConfigError, match=r"^detector\.coarse_side: must be 0 \(off\) or a multiple of 32 "):
        build_config({"detector": {"coarse_side": side}})
    assert build_config({"detector": {"coarse_side": 256}}).detector.coarse_side == 256
    assert build_config({}).detector.coarse_side is None  # the model's own


@pytest.mark.parametrize("side", [-2, 100, 600, 1000, 8192])
def test_detector_fine_side_must_be_off_default_or_a_multiple_of_32(side):
    with pytest.raises(ConfigError, match=r"^detector\.fine_side: must be 0 \(off\) or a multiple of 32 "):
        build_config({"detector": {"fine_side": side}})
    assert build_config({"detector": {"fine_side": 1536}}).detector.fine_side == 1536
    assert build_config({"detector": {"fine_side": 0}}).detector.fine_side == 0
    assert build_config({}).detector.fine_side is None  # the model's own


def test_detector_keys_left_out_are_the_models_own_and_so_are_the_old_spellings():
    """None = the model's own; configs written before said so with -1 or 0, still read as None."""
    old = {"score_threshold": 0.0, "input_side": 0, "coarse_side": -1, "fine_side": -1}
    detector = build_config({"detector": old}).detector
    assert [getattr(detector, key) for key in old] == [None] * 4
    assert detector == build_config({}).detector


@pytest.mark.parametrize("key", ["threads", "stills_threads"])
def test_detector_threads_are_validated_in_one_line_naming_the_key(key):
    with pytest.raises(ConfigError, match=rf"^detector\.{key}: must be between 0 \(onnxruntime's choice\) and 64, got -1$"):
        build_config({"detector": {key: -1}})
    assert getattr(build_config({"detector": {key: 0}}).detector, key) == 0
