"""Validated configuration: TOML in, frozen dataclasses out, one-line errors naming the key.

Each section's dataclass lives next to the code that uses it; this module only knows how to
build any of them from a mapping, so adding a setting never means touching two files.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration problem, with a message that names the key and what to fix."""


def from_mapping(cls: type[T], data: Mapping[str, Any] | None, path: str = "") -> T:
    """Build dataclass `cls` from `data`, rejecting unknown keys and wrong types.

    Nested dataclass fields are built recursively; missing keys take the field's default.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or 'config'}: expected a table, got {_kind(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{_join(path, key)}: unknown key{hint}")
    values: dict[str, Any] = {}
    for name in fields:
        if name in data:
            values[name] = _coerce(hints[name], data[name], _join(path, name))
    try:
        return cls(**values)
    except TypeError as exc:
        missing = [n for n, f in fields.items() if n not in values and _required(f)]
        if missing:
            raise ConfigError(f"{_join(path, missing[0])}: required key is missing") from exc
        raise ConfigError(f"{path or 'config'}: {exc}") from exc
    except ValueError as exc:  # __post_init__ range checks
        raise ConfigError(_keyed(path, fields, str(exc))) from exc


def replace_section(section: T, path: str, **changes: Any) -> T:
    """`dataclasses.replace` for a config section set outside a file (command-line options),
    with its range errors named as in a file: ConfigError('mqtt.port: must be ...')."""
    try:
        return dataclasses.replace(section, **changes)
    except ValueError as exc:
        fields = {f.name: f for f in dataclasses.fields(section)}
        raise ConfigError(_keyed(path, fields, str(exc))) from exc


def _keyed(path: str, fields: Mapping[str, Any], message: str) -> str:
    """'source' + 'exposure_us: must be ...' -> 'source.exposure_us: must be ...' (the full key)."""
    head, sep, rest = message.partition(": ")
    if sep and path and head in fields:
        return f"{_join(path, head)}: {rest}"
    return f"{path or 'config'}: {message}"


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _kind(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _coerce(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{path}: invalid value")
    if origin is typing.Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{path}: {value!r} is not one of {allowed}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {_kind(value)}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if origin is tuple and args:
            if len(args) != len(value):
                raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        inner = args[0] if args else Any
        return [_coerce(inner, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, path)
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {_kind(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {_kind(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {_kind(value)}")
        # TOML allows nan and inf; no setting means either, and nan slips through every range check.
        if not math.isfinite(value):
            raise ConfigError(f"{path}: expected a finite number, got {value}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {_kind(value)}")
        return value
    if hint is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a path string, got {_kind(value)}")
        return Path(value)
    raise ConfigError(f"{path}: unsupported setting type {hint!r}")


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning every failure into a one-line ConfigError."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except PermissionError:
        raise ConfigError(f"{path}: config file is not readable (permission denied)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start}); save the config as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {one_line_text(exc)}") from None


def one_line_text(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
