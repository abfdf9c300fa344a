"""`[mqtt]`: the broker settings, its password and TLS context (no MQTT client here, so the
settings load without importing paho; edge.delivery.mqtt connects)."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge.configuration.validation import ConfigError

CREDENTIAL_NAME = "mqtt-password"


@dataclass(frozen=True)
class MqttConfig:
    """`[mqtt]` section. Every field has a default; the password is never a config value."""

    enabled: bool = True
    host: str = "localhost"
    port: int = 1883
    client_id: str = ""  # "" -> "edge-<device id>"
    username: str = ""
    password_file: Path | None = None  # else $CREDENTIALS_DIRECTORY/mqtt-password if present
    tls: bool = False
    tls_ca: Path | None = None  # None with tls = the system's CA store
    tls_cert: Path | None = None  # client certificate (mutual TLS)
    tls_key: Path | None = None
    tls_insecure: bool = False  # skip the host-name check (the chain is still verified)
    protocol: Literal["5", "3.1.1"] = "5"
    keepalive_s: int = 30
    topic_prefix: str = "alpr"
    qos: Literal[1, 2] = 1
    max_inflight: int = 20
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    health_interval_s: float = 60.0  # 0 = no periodic health
    connect_timeout_s: float = 10.0
    # MQTT 5: a PUBACK saying "no matching subscribers" leaves the event in the outbox, sent again
    # every 2 s, so a broker restarted without its sessions cannot swallow the reads that arrive
    # before the collector has subscribed again. False: such a PUBACK counts as delivered.
    require_subscriber: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port: must be 1..65535, got {self.port}")
        if self.max_inflight < 1:
            raise ValueError(f"max_inflight: must be >= 1, got {self.max_inflight}")
        if self.keepalive_s < 5:
            raise ValueError(f"keepalive_s: must be >= 5, got {self.keepalive_s}")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise ValueError("reconnect_min_s: must be > 0 and <= reconnect_max_s")
        if self.health_interval_s < 0:
            raise ValueError(f"health_interval_s: must be >= 0, got {self.health_interval_s}")
        if any(ch in self.topic_prefix for ch in "+#"):
            raise ValueError(f"topic_prefix: must not contain '+' or '#': {self.topic_prefix!r}")
        if (self.tls_cert is None) != (self.tls_key is None):
            given, missing = ("tls_cert", "tls_key") if self.tls_key is None else ("tls_key", "tls_cert")
            raise ValueError(f"{missing}: must be given with {given}")

    @property
    def broker(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def password_path(config: MqttConfig) -> Path | None:
    if config.password_file is not None:
        return Path(config.password_file)
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / CREDENTIAL_NAME).is_file():
        return Path(creds) / CREDENTIAL_NAME
    return None


def read_password(config: MqttConfig) -> str | None:
    """The broker password from its file (first line, newline stripped), or None."""
    path = password_path(config)
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"mqtt.password_file: cannot read {path}: {exc.strerror or exc}") from None
    password = text.splitlines()[0] if text else ""
    if not password:
        raise ConfigError(f"mqtt.password_file: {path} is empty")
    if not config.username:
        raise ConfigError("mqtt.username: required when a password file is given")
    return password


def ssl_context(config: MqttConfig) -> ssl.SSLContext:
    """The TLS settings used both by the client and by the connection diagnosis."""
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                         cafile=str(config.tls_ca) if config.tls_ca else None)
        if config.tls_cert is not None:
            ctx.load_cert_chain(str(config.tls_cert), str(config.tls_key) if config.tls_key else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"mqtt.tls: cannot load the CA/certificate/key files: {exc}") from None
    if config.tls_insecure:
        ctx.check_hostname = False
    return ctx
