from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from edge.config import ConfigError
from edge.settings import AppConfig, build_config, load_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "edge.toml"


def test_example_config_loads_and_documents_every_key():
    config = load_config(EXAMPLE)
    text = EXAMPLE.read_text()
    missing = []
    for section in dataclasses.fields(AppConfig):
        if section.name == "origin":
            continue
        assert re.search(rf"^\[{section.name}\]$", text, re.M), f"[{section.name}] missing"
        body = re.split(rf"^\[{section.name}\]$", text, maxsplit=1, flags=re.M)[1].split("\n[", 1)[0]
        for f in dataclasses.fields(getattr(config, section.name)):
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
