"""Live preview for aiming and focusing: an MJPEG stream with detections drawn, aiming
figures, an ROI editor, and JSON. Served by `edge run` from the frames it analyses (`[preview]
enabled = true`), or by the stand-alone `edge preview` on a box not yet configured.

- `edge.preview.hub.PreviewHub` holds the latest frame and its reads. Producers call
  `publish(image, reads, t_utc)` (cheap: keeps a reference); JPEG encoding, drawing and the
  focus figure happen only when a client asks, once per frame however many clients watch.
- `edge.preview.server.PreviewServer` serves it (routes in that module's docstring).
- `edge.preview.aiming`: plate width against the region's minimum, focus and its trend,
  motion blur against the shutter; `edge.preview.roi`: the ROI saved to the calibration file.
- Every visit is audited (edge.preview.access: who, from where, which path).
- Off by default. Bound to loopback it needs no token; bound to any other address it refuses
  to start without one (`token_file` or `--token`).
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.preview.hub import PreviewHub
    from edge.preview.server import PreviewServer

log = logging.getLogger(__name__)

# loaded on first use, so that loading the settings (PreviewConfig) does not import the server
_LAZY = {"annotate": "edge.preview.drawing", "encode_jpeg": "edge.preview.drawing",
         "plate_json": "edge.preview.drawing", "PreviewHub": "edge.preview.hub",
         "PreviewError": "edge.preview.server", "PreviewServer": "edge.preview.server"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value

__all__ = ["PreviewConfig", "PreviewError", "PreviewHub", "PreviewServer", "annotate", "encode_jpeg",
           "is_loopback", "parse_bind", "plate_json", "read_token", "start_preview"]


@dataclass(frozen=True)
class PreviewConfig:
    """`[preview]`: the aiming page. Off by default.

    bind:        host:port to listen on; anything but loopback requires a token.
    token_file:  file holding the access token (first line); e.g. a systemd credential.
    max_fps:     stream rate cap per client; jpeg_quality 1-100; max_width: frames wider
                 than this are scaled down for the stream (boxes are still in frame pixels).
    max_clients: concurrent streams (each costs a little CPU on a Pi).
    """

    enabled: bool = False
    bind: str = "127.0.0.1:8080"
    token_file: str = ""
    max_fps: float = 10.0
    jpeg_quality: int = 75
    max_width: int = 1280
    max_clients: int = 4

    def __post_init__(self) -> None:
        parse_bind(self.bind)
        if not 0 < self.max_fps <= 60:
            raise ValueError(f"max_fps: must be in (0, 60], got {self.max_fps}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality: must be 1-100, got {self.jpeg_quality}")
        if self.max_width < 64:
            raise ValueError(f"max_width: must be >= 64, got {self.max_width}")
        if self.max_clients < 1:
            raise ValueError(f"max_clients: must be >= 1, got {self.max_clients}")


def parse_bind(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bind: {text!r} must be HOST:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(config: PreviewConfig, token: str | None = None) -> str | None:
    """The access token: explicit, else token_file's first line, else $CREDENTIALS_DIRECTORY/preview-token."""
    from edge.preview.server import PreviewError

    if token:
        return token.strip()
    path = config.token_file
    if not path and os.environ.get("CREDENTIALS_DIRECTORY"):
        cand = Path(os.environ["CREDENTIALS_DIRECTORY"]) / "preview-token"
        path = str(cand) if cand.exists() else ""
    if not path:
        return None
    try:
        value = Path(path).read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, IndexError):
        raise PreviewError(f"preview.token_file: cannot read a token from {path}") from None
    if len(value) < 8:
        raise PreviewError(f"preview.token_file: the token in {path} is too short (use 8+ characters)")
    return value


def start_preview(config: PreviewConfig, hub: PreviewHub | None = None, token: str | None = None,
                  **views) -> PreviewServer | None:
    """For `edge run`: the preview server when `[preview] enabled = true`, else None."""
    from edge.preview.hub import PreviewHub
    from edge.preview.server import PreviewServer

    if not config.enabled:
        return None
    hub = hub or PreviewHub(config.jpeg_quality, config.max_width)
    return PreviewServer(hub, config, read_token(config, token), **views).start()
