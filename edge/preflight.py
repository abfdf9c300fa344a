"""`edge run --check-config`: the files and settings a config points to, checked before start.

The installer runs `--check-config` and trusts its answer, so a config that would fail at
start (a missing video, password file or TLS file, a preview page open to the LAN without a
token) must fail here, with the same one-line ConfigError naming the key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.commands import one_line
from edge.configuration.validation import ConfigError
from edge.configuration.settings import AppConfig, resolve_path


def check_config_files(config: AppConfig) -> None:
    """Raise ConfigError (one line, naming the key) for the first file or setting that is wrong."""
    for check in (_source, _mqtt, _preview, _calibration, _gps, _cameras):
        check(config)


def _must_exist(config: AppConfig, key: str, value: Any, *, folder: bool = False) -> Path:
    path = resolve_path(config, str(value))
    if not path.exists():
        raise ConfigError(f"{key}: {path} does not exist")
    if folder and not path.is_dir():
        raise ConfigError(f"{key}: {path} is not a folder")
    if not folder and path.is_dir():
        raise ConfigError(f"{key}: {path} is a folder, not a file")
    return path


def _source(config: AppConfig) -> None:
    src = config.source
    if src.kind == "video" and src.path:
        _must_exist(config, "source.path", src.path)
    elif src.kind == "images":
        if not src.path:
            raise ConfigError("source.path: an image folder is required for kind 'images'")
        path = resolve_path(config, src.path)
        if not path.exists():
            raise ConfigError(f"source.path: {path} does not exist")


def _mqtt(config: AppConfig) -> None:
    if not config.mqtt_enabled:
        return
    from edge.delivery.mqtt_config import read_password, ssl_context

    cfg = config.mqtt
    for key in ("tls_ca", "tls_cert", "tls_key"):
        value = getattr(cfg, key, None)
        if value is not None and (cfg.tls or key != "tls_ca"):
            _must_exist(config, f"mqtt.{key}", value)
    read_password(cfg)  # ConfigError naming mqtt.password_file when it cannot be read
    if cfg.tls:
        ssl_context(cfg)


def _preview(config: AppConfig) -> None:
    pc = config.preview
    if not pc.enabled:
        return
    from edge.preview import PreviewError, is_loopback, parse_bind, read_token

    host, _port = parse_bind(pc.bind)
    try:
        token = read_token(pc)
    except PreviewError as exc:
        raise ConfigError(one_line(exc)) from None
    if not is_loopback(host) and not token:
        raise ConfigError(f"preview.bind: {pc.bind} is reachable beyond this machine and needs a token "
                          "(set preview.token_file, or the systemd credential preview-token)")


def _calibration(config: AppConfig) -> None:
    cal = config.calibration.path
    if not cal:
        return
    from edge.calibration.file import CalibrationError, load_calibration

    _guard("calibration.path", lambda: load_calibration(resolve_path(config, cal)),
           (CalibrationError, OSError))


def _cameras(config: AppConfig) -> None:
    """Each [[camera]]'s source and calibration, as the one camera's are checked."""
    import dataclasses

    from edge.calibration.file import CalibrationConfig

    for i, cam in enumerate(config.camera):
        one = dataclasses.replace(config, source=cam.source, calibration=CalibrationConfig(cam.calibration),
                                  camera=())
        try:
            _source(one)
            _calibration(one)
        except ConfigError as exc:
            raise ConfigError(f"camera[{i}].{exc}") from None


def _gps(config: AppConfig) -> None:
    # A serial receiver may be plugged in after the install; an NMEA log must be there now.
    path = config.gps.path
    if config.gps.kind == "nmea" and path and not str(path).startswith("/dev/"):
        _must_exist(config, "gps.path", path)


def _guard(key: str, fn: Callable[[], Any], errors: tuple[type[BaseException], ...]) -> None:
    try:
        fn()
    except errors as exc:
        raise ConfigError(f"{key}: {one_line(exc)}") from None
