"""Live preview for aiming and focusing: an MJPEG stream with detections drawn, and JSON.

- `PreviewHub` holds the latest frame and its reads. Producers call `publish(image, reads)`
  (cheap: keeps a reference); JPEG encoding and drawing happen only when a client asks, once
  per frame however many clients watch.
- `PreviewServer` serves it with the standard library (ThreadingHTTPServer):
    GET /                 the page (live view, plate list with text, confidence, pixel width)
    GET /stream.mjpg      multipart/x-mixed-replace MJPEG, at most `max_fps`
    GET /frame.jpg        the latest frame as one JPEG
    GET /detections.json  the latest frame's plates (boxes in frame pixels) + counters
    GET /app.js           the page's script (a separate file so the CSP can forbid inline code)
- Every visit is audited (edge.preview.access: who, from where, which path).
- Off by default. Bound to loopback it needs no token; bound to any other address it refuses
  to start without one (`token_file` or `--token`). The token is accepted as a
  `Authorization: Bearer` header, a `?token=` query (which also sets an HttpOnly cookie so the
  page's own requests carry it) or that cookie; compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from edge.preview.access import PreviewAccessLog
from edge.preview.page import APP_JS, INDEX_HTML
from edge.records import PlateRead

log = logging.getLogger(__name__)

MIN_READABLE_PX = 90  # same rule of thumb as `edge calibrate advice` (EU plate)
COOKIE = "edge_preview"


class PreviewError(RuntimeError):
    """The preview cannot start as configured; the message is one line."""


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
        if self.max_width < 64 or self.max_clients < 1:
            raise ValueError("max_width must be >= 64 and max_clients >= 1")


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


# ---- the hub ---------------------------------------------------------------------------


@dataclass
class _Snapshot:
    seq: int
    image: np.ndarray
    reads: tuple[PlateRead, ...]
    t_utc: datetime | None
    t_mono: float


def _as_read(text: str) -> str:
    return text


class PreviewHub:
    """`label(text)` is what the page shows for a read's text: edge.privacy_stage's `display`
    masks it in the modes where events do not carry it."""

    def __init__(self, jpeg_quality: int = 75, max_width: int = 1280,
                 label: Callable[[str], str] = _as_read) -> None:
        self.jpeg_quality = jpeg_quality
        self.max_width = max_width
        self.label = label
        self._cond = threading.Condition()
        self._snap: _Snapshot | None = None
        self._last_plates: _Snapshot | None = None  # the latest frame that had plates
        self._jpeg: tuple[int, bytes] | None = None
        self._seq = 0
        self._times: list[float] = []
        self.closed = False
        self.frames_streamed = 0  # JPEG parts written to stream clients, all together

    def publish(self, image: np.ndarray, reads: Sequence[PlateRead] = (), t_utc: datetime | None = None) -> int:
        now = time.monotonic()
        with self._cond:
            self._seq += 1
            self._snap = _Snapshot(self._seq, image, tuple(reads), t_utc, now)
            if reads:
                self._last_plates = self._snap
            self._times = [t for t in self._times if now - t < 5.0] + [now]
            self._cond.notify_all()
            return self._seq

    def count_streamed(self) -> None:
        with self._cond:
            self.frames_streamed += 1

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    @property
    def seq(self) -> int:
        return self._seq

    def fps(self) -> float:
        with self._cond:
            t = self._times
            return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def wait_newer(self, seq: int, timeout: float) -> int:
        """Block until a frame newer than `seq` exists (or timeout/close); return the latest seq."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq or self.closed, timeout)
            return self._seq

    def jpeg(self) -> tuple[int, bytes] | None:
        """(seq, JPEG of the latest frame with its plates drawn), encoded once per frame."""
        with self._cond:
            snap, cached = self._snap, self._jpeg
        if snap is None:
            return None
        if cached is not None and cached[0] == snap.seq:
            return cached
        data = encode_jpeg(annotate(snap.image, snap.reads, self.label), self.jpeg_quality, self.max_width)
        with self._cond:
            if self._jpeg is None or self._jpeg[0] < snap.seq:
                self._jpeg = (snap.seq, data)
        return snap.seq, data

    def detections(self) -> dict[str, Any]:
        """The latest frame's plates, plus the last frame that had any (so a passing car stays
        on screen long enough to read its width)."""
        with self._cond:
            snap, last = self._snap, self._last_plates
        fps = self.fps()
        out: dict[str, Any] = {"seq": 0, "frame": None, "time": None, "fps": round(fps, 2),
                               "streamed": self.frames_streamed, "plates": [], "last_plates": None}
        if snap is None:
            return out
        h, w = snap.image.shape[:2]
        out.update(seq=snap.seq, frame={"width": w, "height": h},
                   time=snap.t_utc.isoformat(timespec="milliseconds") if snap.t_utc else None,
                   plates=[plate_json(r, self.label) for r in snap.reads])
        if last is not None:
            out["last_plates"] = {"seq": last.seq, "age_s": round(time.monotonic() - last.t_mono, 2),
                                  "plates": [plate_json(r, self.label) for r in last.reads]}
        return out


def plate_json(read: PlateRead, label: Callable[[str], str] = _as_read) -> dict[str, Any]:
    return {
        "text": label(read.text),
        "confidence": round(float(read.confidence), 4),
        "score": round(float(read.detection_score), 4),
        "box": [round(read.box.x, 1), round(read.box.y, 1), round(read.box.w, 1), round(read.box.h, 1)],
        "width_px": round(read.box.w, 1),
        "readable": read.box.w >= MIN_READABLE_PX,
        "region": read.region,
    }


def annotate(image: np.ndarray, reads: Sequence[PlateRead], label: Callable[[str], str] = _as_read) -> np.ndarray:
    """A copy of the frame with each plate's box, text, confidence and pixel width drawn."""
    import cv2

    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    scale = max(1.0, out.shape[1] / 1280.0)
    thick = max(2, int(round(2 * scale)))
    for r in reads:
        x1, y1 = int(round(r.box.x)), int(round(r.box.y))
        x2, y2 = int(round(r.box.x2)), int(round(r.box.y2))
        colour = (0, 220, 0) if r.box.w >= MIN_READABLE_PX else (0, 165, 255)  # green / orange (BGR)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        text = f"{label(r.text) or '?'} {r.confidence:.2f} {r.box.w:.0f}px"
        fs = 0.6 * scale
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, fs, thick)
        ty = y1 - 6 if y1 - th - base - 6 > 0 else y2 + th + 6
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 4, ty + base), (0, 0, 0), -1)
        cv2.putText(out, text, (x1 + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, fs, colour, thick, cv2.LINE_AA)
    return out


def encode_jpeg(image: np.ndarray, quality: int, max_width: int) -> bytes:
    import cv2

    h, w = image.shape[:2]
    if w > max_width:
        image = cv2.resize(image, (max_width, round(h * max_width / w)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


# ---- the server ------------------------------------------------------------------------

BOUNDARY = "edgeframe"


class PreviewServer:
    """The HTTP server around a hub. `start()` runs it on a daemon thread; `stop()` ends it."""

    def __init__(self, hub: PreviewHub, config: PreviewConfig, token: str | None = None) -> None:
        host, port = parse_bind(config.bind)
        if not is_loopback(host) and not token:
            raise PreviewError(f"preview: bound to {host}, beyond localhost, a token is required "
                               "(set preview.token_file or pass --token)")
        self.hub = hub
        self.config = config
        self.token = token
        self._streams = threading.BoundedSemaphore(config.max_clients)
        self.access_log = PreviewAccessLog()
        self._stopping = threading.Event()
        handler = type("Handler", (_Handler,), {"server_ref": self})
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise PreviewError(f"preview: cannot listen on {config.bind}: {exc.strerror}") from None
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.httpd.server_address[:2]

    @property
    def url(self) -> str:
        host, port = self.address
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"

    def start(self) -> PreviewServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="preview-http", daemon=True)
        self._thread.start()
        log.info("preview on %s%s", self.url, " (token required)" if self.token else "")
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.hub.close()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(2.0)

    def authorised(self, handler: BaseHTTPRequestHandler, query: dict) -> tuple[bool, bool]:
        """(allowed, set_cookie)."""
        if not self.token:
            return True, False
        expected = self.token.encode()
        auth = handler.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].strip().encode(), expected):
            return True, False
        q = query.get("token", [""])[0]
        if q and hmac.compare_digest(q.encode(), expected):
            return True, True
        for part in handler.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and hmac.compare_digest(value.encode(), expected):
                return True, False
        return False, False


class _Handler(BaseHTTPRequestHandler):
    server_ref: PreviewServer
    protocol_version = "HTTP/1.1"
    server_version = "edge-preview"
    sys_version = ""

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: debug log only
        log.debug("preview %s: " + fmt, self.address_string(), *args)

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server_ref
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        ok, set_cookie = srv.authorised(self, query)
        who = ("token" if srv.token else "loopback, no token") if ok else "refused: no valid token"
        srv.access_log.record(self.client_address[0], self.client_address[1], who, url.path, ok,
                              self.headers.get("User-Agent", ""))
        if not ok:
            body = (b"<!doctype html><title>edge preview</title><p>Token required: open this page as "
                    b"<code>/?token=YOUR_TOKEN</code>.</p>")
            return self._send(HTTPStatus.UNAUTHORIZED, "text/html; charset=utf-8", body,
                              {"WWW-Authenticate": 'Bearer realm="edge-preview"'})
        extra = {}
        if set_cookie:
            extra["Set-Cookie"] = f"{COOKIE}={srv.token}; HttpOnly; SameSite=Strict; Path=/"
        route = url.path
        if route in ("/", "/index.html"):
            return self._send(HTTPStatus.OK, "text/html; charset=utf-8", INDEX_HTML.encode(), extra)
        if route == "/app.js":
            return self._send(HTTPStatus.OK, "text/javascript; charset=utf-8", APP_JS.encode(), extra)
        if route == "/detections.json":
            body = json.dumps(srv.hub.detections()).encode()
            return self._send(HTTPStatus.OK, "application/json", body, extra)
        if route == "/frame.jpg":
            got = srv.hub.jpeg()
            if got is None:
                return self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"no frame yet\n", {"Retry-After": "1"})
            return self._send(HTTPStatus.OK, "image/jpeg", got[1], extra)
        if route == "/stream.mjpg":
            return self._stream(extra)
        return self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def _headers(self, status: HTTPStatus, ctype: str, extra: dict | None = None, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; "
                         "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def _send(self, status: HTTPStatus, ctype: str, body: bytes, extra: dict | None = None) -> None:
        self._headers(status, ctype, extra, len(body))
        self.wfile.write(body)

    def _stream(self, extra: dict) -> None:
        srv = self.server_ref
        if not srv._streams.acquire(blocking=False):
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain",
                              b"too many preview streams open\n", {"Retry-After": "5"})
        self.close_connection = True
        try:
            self._headers(HTTPStatus.OK, f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                          extra | {"Connection": "close", "Pragma": "no-cache"})
            min_gap = 1.0 / srv.config.max_fps
            seq, last = 0, 0.0
            while not srv._stopping.is_set():
                latest = srv.hub.wait_newer(seq, timeout=1.0)
                if srv.hub.closed:
                    break
                if latest == seq:
                    continue
                wait = min_gap - (time.monotonic() - last)
                if wait > 0:
                    time.sleep(wait)
                got = srv.hub.jpeg()
                if got is None:
                    continue
                seq, data = got
                last = time.monotonic()
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                                 .encode() + data + b"\r\n")
                self.wfile.flush()
                srv.hub.count_streamed()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the browser went away
        finally:
            srv._streams.release()


def start_preview(config: PreviewConfig, hub: PreviewHub | None = None, token: str | None = None) -> PreviewServer | None:
    """For `edge run`: the preview server when `[preview] enabled = true`, else None."""
    if not config.enabled:
        return None
    hub = hub or PreviewHub(config.jpeg_quality, config.max_width)
    return PreviewServer(hub, config, read_token(config, token)).start()
