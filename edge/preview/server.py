"""The preview's HTTP server (standard library ThreadingHTTPServer), one or more camera views.

    GET  /                 the page (live view, aiming figures, ROI editor, plate list)
    GET  /stream.mjpg      multipart/x-mixed-replace MJPEG, at most `max_fps`
    GET  /frame.jpg        the latest frame as one JPEG
    GET  /detections.json  the latest frame's plates (boxes in frame pixels), aiming figures
    GET  /roi.json         the ROI in use and the one saved in the calibration file
    POST /roi.json         save an edited ROI: {"polygon": [[x, y], ...], "frame": [w, h], "confirm": true}
    GET  /cameras.json     the camera names (a box with two cameras serves a view of each)
    GET  /app.js           the page's script (a separate file so the CSP can forbid inline code)

`?camera=NAME` picks the view (default: the first). Every visit is audited. Bound to loopback
no token is needed; beyond it the server refuses to start without one. The token is accepted as
a `Authorization: Bearer` header, a `?token=` query (which also sets an HttpOnly cookie so the
page's own requests carry it) or that cookie; compared in constant time. A POST must come from
the page itself: JSON content and, when the browser sends one, an Origin naming this server.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edge.preview.access import PreviewAccessLog
from edge.preview.hub import PreviewHub
from edge.preview.page import INDEX_HTML
from edge.preview.roi import RoiError, RoiStore
from edge.preview.script import APP_JS

log = logging.getLogger("edge.preview")

COOKIE = "edge_preview"
BOUNDARY = "edgeframe"
MAX_BODY = 64 * 1024


class PreviewError(RuntimeError):
    """The preview cannot start as configured; the message is one line."""


@dataclass(frozen=True)
class CameraView:
    name: str
    hub: PreviewHub
    roi: RoiStore


class PreviewServer:
    """The HTTP server around one hub (or several: `add_view`). `start()` runs it on a daemon
    thread; `stop()` ends it."""

    def __init__(self, hub: PreviewHub, config: Any, token: str | None = None, *,
                 roi: RoiStore | None = None, camera: str = "cam0") -> None:
        from edge.preview import is_loopback, parse_bind

        host, port = parse_bind(config.bind)
        if not is_loopback(host) and not token:
            raise PreviewError(f"preview: bound to {host}, beyond localhost, a token is required "
                               "(set preview.token_file or pass --token)")
        self.config = config
        self.token = token
        self.views: dict[str, CameraView] = {}
        self.add_view(camera, hub, roi)
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

    def add_view(self, camera: str, hub: PreviewHub, roi: RoiStore | None = None) -> None:
        self.views[camera] = CameraView(camera, hub, roi or RoiStore(None))

    @property
    def hub(self) -> PreviewHub:
        """The first camera's hub (a one-camera box has only this one)."""
        return next(iter(self.views.values())).hub

    def view(self, query: dict) -> CameraView | None:
        name = query.get("camera", [""])[0]
        return next(iter(self.views.values())) if not name else self.views.get(name)

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
        for v in self.views.values():
            v.hub.close()
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

    def _admit(self) -> tuple[str, dict, dict] | None:
        """Audit the request and check the token: (route, query, extra headers), or None once
        a 401 has been sent."""
        srv = self.server_ref
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        ok, set_cookie = srv.authorised(self, query)
        who = ("token" if srv.token else "loopback, no token") if ok else "refused: no valid token"
        route = url.path if self.command == "GET" else f"{self.command} {url.path}"
        srv.access_log.record(self.client_address[0], self.client_address[1], who, route, ok,
                              self.headers.get("User-Agent", ""))
        if not ok:
            body = (b"<!doctype html><title>edge preview</title><p>Token required: open this page as "
                    b"<code>/?token=YOUR_TOKEN</code>.</p>")
            self._send(HTTPStatus.UNAUTHORIZED, "text/html; charset=utf-8", body,
                       {"WWW-Authenticate": 'Bearer realm="edge-preview"'})
            return None
        extra = {"Set-Cookie": f"{COOKIE}={srv.token}; HttpOnly; SameSite=Strict; Path=/"} if set_cookie else {}
        return url.path, query, extra

    def do_GET(self) -> None:  # noqa: N802
        admitted = self._admit()
        if admitted is None:
            return
        route, query, extra = admitted
        srv = self.server_ref
        if route in ("/", "/index.html"):
            return self._send(HTTPStatus.OK, "text/html; charset=utf-8", INDEX_HTML.encode(), extra)
        if route == "/app.js":
            return self._send(HTTPStatus.OK, "text/javascript; charset=utf-8", APP_JS.encode(), extra)
        if route == "/cameras.json":
            return self._json({"cameras": list(srv.views)}, extra)
        view = srv.view(query)
        if view is None:
            return self._send(HTTPStatus.NOT_FOUND, "text/plain", b"no such camera\n")
        if route == "/detections.json":
            return self._json(view.hub.detections() | {"camera": view.name}, extra)
        if route == "/roi.json":
            return self._json(view.roi.state(view.hub.view_size()), extra)
        if route == "/frame.jpg":
            got = view.hub.jpeg()
            if got is None:
                return self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"no frame yet\n", {"Retry-After": "1"})
            return self._send(HTTPStatus.OK, "image/jpeg", got[1], extra)
        if route == "/stream.mjpg":
            return self._stream(view.hub, extra)
        return self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def do_POST(self) -> None:  # noqa: N802
        admitted = self._admit()
        if admitted is None:
            return
        route, query, extra = admitted
        view = self.server_ref.view(query)
        if route != "/roi.json" or view is None:
            return self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")
        try:
            body = self._json_body()
            if body.get("confirm") is not True:
                raise RoiError("not saved: confirm the ROI first")
            frame = body.get("frame")
            if not (isinstance(frame, list) and len(frame) == 2 and all(isinstance(v, int) and v > 0 for v in frame)):
                raise RoiError("frame must be [width, height] of the picture the points are on")
            saved = view.roi.save(body.get("polygon"), (frame[0], frame[1]), client=self.client_address[0])
        except RoiError as exc:
            return self._json({"saved": False, "error": str(exc)}, extra, HTTPStatus.BAD_REQUEST)
        log.info("preview: ROI of camera %s saved to %s (%d points); applied at the next start",
                 view.name, saved.path, saved.points)
        return self._json({"saved": True, "path": saved.path, "points": saved.points,
                           "fraction": saved.fraction, "applies": "at the next start"}, extra)

    def _json_body(self) -> dict:
        """The request's JSON object; cross-site forms cannot send JSON without CORS, so asking
        for it (and a matching Origin) keeps other web pages from saving an ROI."""
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise RoiError("expected Content-Type: application/json")
        origin = self.headers.get("Origin")
        host = self.headers.get("Host", "")
        if origin is not None and urlsplit(origin).netloc != host:
            raise RoiError("refused: the request does not come from this page")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            raise RoiError(f"expected a JSON body of at most {MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError):
            raise RoiError("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise RoiError("expected a JSON object")
        return body

    def _json(self, data: Any, extra: dict, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(status, "application/json", json.dumps(data).encode(), extra)

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

    def _stream(self, hub: PreviewHub, extra: dict) -> None:
        srv = self.server_ref
        if not srv._streams.acquire(blocking=False):
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain",
                              b"too many preview streams open\n", {"Retry-After": "5"})
        self.close_connection = True
        try:
            self._headers(HTTPStatus.OK, f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                          extra | {"Connection": "close", "Pragma": "no-cache"})
            self._stream_parts(hub, 1.0 / srv.config.max_fps)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the browser went away
        finally:
            srv._streams.release()

    def _stream_parts(self, hub: PreviewHub, min_gap: float) -> None:
        seq, last = 0, 0.0
        while not self.server_ref._stopping.is_set():
            latest = hub.wait_newer(seq, timeout=1.0)
            if hub.closed:
                break
            if latest == seq:
                continue
            wait = min_gap - (time.monotonic() - last)
            if wait > 0:
                time.sleep(wait)
            got = hub.jpeg()
            if got is None:
                continue
            seq, data = got
            last = time.monotonic()
            self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                             .encode() + data + b"\r\n")
            self.wfile.flush()
            hub.count_streamed()
