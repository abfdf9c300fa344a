"""`edge` subcommands: each module exposes add_parser(subparsers) and run(args) -> int.

Helpers the commands share: `one_line` (an error as the line a user sees), `apply_overrides`
(`--source`, `--no-mqtt`) and `silence_stdout` (after the reader of stdout went away).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.configuration.settings import AppConfig


def one_line(exc: BaseException) -> str:
    """An exception as the single line a user sees (the first line of its message)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def apply_overrides(config: AppConfig, *, source: str | None = None, no_mqtt: bool = False) -> AppConfig:
    """The config with the command line's `--source URI` and `--no-mqtt` applied."""
    from edge.sources import source_from_uri

    if source:
        if config.camera:
            from edge.configuration.validation import ConfigError

            raise ConfigError("--source: the config has [[camera]] tables; set each camera's source there")
        config = dataclasses.replace(config, source=source_from_uri(source, config.source))
    if no_mqtt:
        config = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, enabled=False))
    return config


def silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null, so Python's own flush at exit does not
    print a BrokenPipeError traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
