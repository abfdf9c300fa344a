from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from edge.configuration.validation import ConfigError, from_mapping, load_toml


@dataclass(frozen=True)
class Broker:
    host: str = "localhost"
    port: int = 1883
    tls: bool = False


@dataclass(frozen=True)
class App:
    name: str = "cam"
    mode: Literal["fast", "slow"] = "fast"
    ratio: float = 0.5
    roi: tuple[tuple[int, int], ...] = ()
    state: Path | None = None
    broker: Broker = field(default_factory=Broker)


def test_defaults_and_nested_values():
    cfg = from_mapping(App, {"broker": {"port": 8883, "tls": True}, "ratio": 1, "roi": [[0, 1], [2, 3]]})
    assert cfg.broker == Broker(port=8883, tls=True)
    assert cfg.ratio == 1.0 and isinstance(cfg.ratio, float)
    assert cfg.roi == ((0, 1), (2, 3))
    assert cfg.name == "cam"


def test_unknown_key_is_named_with_suggestion():
    with pytest.raises(ConfigError, match=r"^broker\.hots: unknown key \(did you mean 'host'\?\)$"):
        from_mapping(App, {"broker": {"hots": "x"}})


@pytest.mark.parametrize(
    "data, message",
    [
        ({"broker": {"port": "1883"}}, r"^broker\.port: expected an integer, got a string$"),
        ({"broker": {"tls": 1}}, r"^broker\.tls: expected true or false, got an integer$"),
        ({"mode": "medium"}, r"^mode: 'medium' is not one of 'fast', 'slow'$"),
        ({"roi": [[0, 1, 2]]}, r"^roi\[0\]: expected 2 items, got 3$"),
        ({"broker": 5}, r"^broker: expected a table, got an integer$"),
    ],
)
def test_wrong_types_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_mapping(App, data)


def test_optional_path(tmp_path):
    assert from_mapping(App, {"state": str(tmp_path)}).state == tmp_path


def test_load_toml_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("a = [")
    with pytest.raises(ConfigError) as err:
        load_toml(bad)
    assert "not valid TOML" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="config file not found"):
        load_toml(tmp_path / "missing.toml")
