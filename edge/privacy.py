"""`[privacy]`: what a read may become once it leaves the tracker, and the plate key.

- `PrivacyConfig`: the section (plates clear or hashed, publish all or only watchlist matches,
  how long delivered events stay in the outbox, whether a plate-crop image is attached).
- `read_key`: the HMAC key from `key_file` or the systemd credential `plate-key`.
- `PlateHasher`: HMAC-SHA256 of the normalised plate text (upper case, A-Z and 0-9 only), as
  lowercase hex; the same plate always gives the same hex under one key, so counting,
  travel-time and parking analyses work on it, while without the key it cannot be reversed
  other than by trying every plate (docs/privacy.md: keep the key secret, rotate it).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge.configuration.validation import ConfigError

CREDENTIAL_NAME = "plate-key"
MIN_KEY_BYTES = 16  # a shorter key could itself be guessed
_NOT_PLATE = re.compile(r"[^A-Z0-9]")


@dataclass(frozen=True)
class PrivacyConfig:
    """`[privacy]` section (docs/privacy.md). The defaults publish what earlier versions did,
    except that delivered events are kept on the device for a day only."""

    plates: Literal["clear", "hashed"] = "clear"
    key_file: str = ""  # "" = $CREDENTIALS_DIRECTORY/plate-key when present
    publish: Literal["all", "matches"] = "all"
    keep_sent_h: float = 24.0
    image: bool = False
    image_width: int = 200  # the attached JPEG is scaled down to at most this width (px)
    image_quality: int = 70

    def __post_init__(self) -> None:
        if not math.isfinite(self.keep_sent_h) or self.keep_sent_h < 0:
            raise ValueError(f"keep_sent_h: must be >= 0 hours (0 = delete on delivery), got {self.keep_sent_h}")
        if not 32 <= self.image_width <= 1024:
            raise ValueError(f"image_width: must be 32-1024 px, got {self.image_width}")
        if not 10 <= self.image_quality <= 95:
            raise ValueError(f"image_quality: must be 10-95, got {self.image_quality}")
        if self.image and self.plates == "hashed":
            raise ValueError('image: a plate image shows the text that plates = "hashed" hides; '
                             "turn one of them off")

    @property
    def keep_sent_s(self) -> float:
        return self.keep_sent_h * 3600.0

    @property
    def mode(self) -> str:
        """'clear/all', 'hashed/matches', ...: the one-word summary used in health and audit."""
        return f"{self.plates}/{self.publish}"


def normalise(text: str) -> str:
    """The text the HMAC is taken over: upper case, A-Z and 0-9 only ('ab-12 cde' -> 'AB12CDE')."""
    return _NOT_PLATE.sub("", text.upper())


def key_path(config: PrivacyConfig) -> Path | None:
    if config.key_file:
        return Path(config.key_file)
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / CREDENTIAL_NAME).is_file():
        return Path(creds) / CREDENTIAL_NAME
    return None


def read_key(config: PrivacyConfig) -> bytes | None:
    """The key's bytes (one trailing newline ignored), None when no key is configured."""
    path = key_path(config)
    if path is None:
        return None
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"privacy.key_file: cannot read {path}: {exc.strerror or exc}") from None
    if key.endswith(b"\n"):
        key = key[:-1]
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"privacy.key_file: the key in {path} is {len(key)} bytes; use at least "
                          f"{MIN_KEY_BYTES} (e.g. `openssl rand -hex 32 > {path}`)")
    return key


def require_key(config: PrivacyConfig, why: str) -> bytes:
    key = read_key(config)
    if key is None:
        raise ConfigError(f"privacy.key_file: {why} needs a key: set privacy.key_file or the "
                          f"systemd credential {CREDENTIAL_NAME}")
    return key


class PlateHasher:
    """HMAC-SHA256 under one key. `key_id` names the key without revealing it (for rotation)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the plate key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self.key_id = hmac.new(key, b"edge.plate-key-id/1", hashlib.sha256).hexdigest()[:8]

    def digest(self, text: str) -> str:
        return hmac.new(self._key, normalise(text).encode("ascii"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:  # never print the key
        return f"PlateHasher(key_id={self.key_id!r})"
