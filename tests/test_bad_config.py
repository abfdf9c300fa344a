"""Bad config input: one clear line and exit 2, for every command that reads a config
(issue 17, defect 6): a file that is not UTF-8, `nan`/`inf` for a number, and files the config
points to that are missing (which `--check-config` must report, as the installer relies on it)."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest

from edge.configuration.validation import ConfigError
from edge.configuration.settings import AppConfig, build_config
from tests.helpers import make_clip, start_edge, write_config


def _float_keys() -> list[tuple[str, str]]:
    keys = []
    for section in dataclasses.fields(AppConfig):
        if section.name == "origin":
            continue
        cls = typing.get_type_hints(AppConfig)[section.name]
        if not dataclasses.is_dataclass(cls):
            continue  # [[watchlist]]: an array of tables, its keys are checked in test_watchlist
        for f in dataclasses.fields(cls):
            hint = typing.get_type_hints(cls)[f.name]
            if hint is float or float in typing.get_args(hint):
                keys.append((section.name, f.name))
    return keys


FLOAT_KEYS = _float_keys()


def test_there_are_float_keys_to_check():
    assert len(FLOAT_KEYS) > 40 and ("mqtt", "reconnect_max_s") in FLOAT_KEYS


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_are_refused_for_every_float_key(value):
    passed = []
    for section, key in FLOAT_KEYS:
        try:
            build_config({section: {key: value}})
        except ConfigError as exc:
            assert str(exc).startswith(f"{section}.{key}: "), str(exc)
            assert "\n" not in str(exc)
        else:
            passed.append(f"{section}.{key}")
    assert passed == []


@pytest.mark.parametrize("args", [
    ["run", "--config", "{cfg}"],
    ["run", "--config", "{cfg}", "--check-config"],
    ["doctor", "--config", "{cfg}"],
    ["outbox", "stats", "--config", "{cfg}"],
    ["read", "--config", "{cfg}", "{cfg}"],
])
def test_a_config_that_is_not_utf8_is_one_line_and_exit_2(tmp_path, args):
    cfg = tmp_path / "b.toml"
    cfg.write_bytes(b"\xff[mqtt]\n")
    proc = start_edge([a.format(cfg=cfg) for a in args], {}, tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, out + err
    assert "Traceback" not in err
    lines = [ln for ln in (err + out).strip().splitlines() if "not UTF-8" in ln]
    assert len(lines) == 1 and "byte 0xff at offset 0" in lines[0], err


def test_nan_in_a_config_file_is_one_line_and_exit_2(tmp_path):
    cfg = tmp_path / "nan.toml"
    cfg.write_text("[tracking]\nmax_gap_s = nan\n")
    proc = start_edge(["run", "--config", str(cfg), "--check-config"], {}, tmp_path)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines() == ["edge run: tracking.max_gap_s: expected a finite number, got nan"]


def _check(tmp_path, text: str) -> tuple[int, str]:
    cfg = tmp_path / "check.toml"
    cfg.write_text(text)
    proc = start_edge(["run", "--config", str(cfg), "--check-config"], {}, tmp_path)
    _out, err = proc.communicate(timeout=60)
    return proc.returncode, err.strip()


def test_check_config_refuses_what_would_fail_at_start(tmp_path):
    base = write_config(tmp_path, make_clip(tmp_path / "clip.avi"))
    text = base.read_text()
    assert _check(tmp_path, text) == (0, "")
    missing = tmp_path / "gone"
    code, err = _check(tmp_path, text.replace(str(tmp_path / "clip.avi"), str(missing / "v.mp4")))
    assert (code, err) == (2, f"edge run: source.path: {missing / 'v.mp4'} does not exist")
    mqtt = text.replace("[mqtt]\nenabled = false", f'[mqtt]\nusername = "edge"\npassword_file = "{missing}/pw"')
    code, err = _check(tmp_path, mqtt)
    assert code == 2 and err.startswith("edge run: mqtt.password_file: cannot read") and "\n" not in err
    tls = text.replace("[mqtt]\nenabled = false", f'[mqtt]\ntls = true\ntls_ca = "{missing}/ca.pem"')
    assert _check(tmp_path, tls) == (2, f"edge run: mqtt.tls_ca: {missing}/ca.pem does not exist")
    public = text + '\n[preview]\nenabled = true\nbind = "0.0.0.0:8080"\n'
    code, err = _check(tmp_path, public)
    assert code == 2 and err.startswith("edge run: preview.bind: 0.0.0.0:8080 is reachable beyond") and "token" in err
    token = tmp_path / "token"
    token.write_text("a-long-enough-token\n")
    assert _check(tmp_path, public.replace('bind = "0.0.0.0:8080"',
                                           f'bind = "0.0.0.0:8080"\ntoken_file = "{token}"')) == (0, "")
