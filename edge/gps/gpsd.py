"""gpsd client: JSON protocol on TCP 2947 (https://gpsd.io/gpsd_json.html).

A background thread connects, sends `?WATCH={"enable":true,"json":true}`, reads TPV reports
and keeps a fix history; when gpsd goes away it reconnects with exponential backoff (0.5 s up
to `reconnect_max_s`). Only TPVs with mode >= 2, a time and a position become fixes.

TPV fields used: time, lat, lon, altMSL (else alt, else altHAE), speed (m/s), track (deg
true), mode, and for accuracy eph (95 %), else sqrt(epx^2 + epy^2), else None.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from datetime import datetime

from edge.gps import FixCallback, GpsConfig
from edge.gps.source import history_for
from edge.records import GeoFix

log = logging.getLogger(__name__)

WATCH = b'?WATCH={"enable":true,"json":true};\n'


def _num(obj: dict, key: str) -> float | None:
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def parse_time(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError, TypeError):
        return None
    return t if t.tzinfo is not None else None


def tpv_to_fix(obj: dict) -> GeoFix | None:
    """A gpsd TPV report as a GeoFix, or None if it carries no usable fix."""
    if obj.get("class") != "TPV":
        return None
    mode = obj.get("mode")
    lat, lon = _num(obj, "lat"), _num(obj, "lon")
    t = parse_time(obj.get("time")) if isinstance(obj.get("time"), str) else None
    if mode not in (2, 3) or lat is None or lon is None or t is None:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    alt = None
    if mode == 3:
        for key in ("altMSL", "alt", "altHAE"):
            alt = _num(obj, key)
            if alt is not None:
                break
    accuracy = _num(obj, "eph")
    if accuracy is None:
        epx, epy = _num(obj, "epx"), _num(obj, "epy")
        if epx is not None and epy is not None:
            accuracy = math.hypot(epx, epy)
    track = _num(obj, "track")
    return GeoFix(lat=lat, lon=lon, alt=alt, speed_mps=_num(obj, "speed"),
                  heading_deg=None if track is None else track % 360.0, accuracy_m=accuracy,
                  fix_utc=t, source="gpsd", mode=mode)


class GpsdSource:
    name = "gpsd"
    live = True

    def __init__(self, config: GpsConfig, on_fix: FixCallback | None = None,
                 connect_timeout_s: float = 3.0) -> None:
        self.config = config
        self.history = history_for(config)
        self._on_fix = on_fix
        self._timeout = connect_timeout_s
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.error: str | None = None
        self.reports = 0
        self.bad_lines = 0
        self.devices: list[str] = []
        self._thread = threading.Thread(target=self._run, name="gps-gpsd", daemon=True)
        self._thread.start()

    # -- GpsSource -------------------------------------------------------------------------
    def position_at(self, t_utc: datetime) -> GeoFix | None:
        return self.history.position_at(t_utc)

    def latest(self) -> GeoFix | None:
        return self.history.latest()

    def status(self) -> dict:
        latest = self.history.latest()
        return {"source": "gpsd", "server": f"{self.config.host}:{self.config.port}",
                "connected": self.connected.is_set(), "devices": list(self.devices),
                "fixes": len(self.history), "reports": self.reports,
                "last_fix": latest.fix_utc.isoformat() if latest else None, "error": self.error}

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(timeout=2.0)

    # -- thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.config.host, self.config.port),
                                                timeout=self._timeout)
            except OSError as exc:
                self._fail(f"gpsd at {self.config.host}:{self.config.port} unreachable: "
                           f"{exc.strerror or exc}")
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, self.config.reconnect_max_s)
                continue
            with self._lock:
                self._sock = sock
            try:
                sock.settimeout(1.0)
                sock.sendall(WATCH)
                self.connected.set()
                if self.error:
                    log.info("gpsd at %s:%s connected", self.config.host, self.config.port)
                self.error = None
                backoff = 0.5
                self._read(sock)
                if not self._stop.is_set():
                    self._fail(f"gpsd at {self.config.host}:{self.config.port} closed the connection")
            except OSError as exc:
                if not self._stop.is_set():
                    self._fail(f"gpsd at {self.config.host}:{self.config.port}: {exc.strerror or exc}")
            finally:
                self.connected.clear()
                with self._lock:
                    self._sock = None
                try:
                    sock.close()
                except OSError:
                    pass
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, self.config.reconnect_max_s)

    def _fail(self, msg: str) -> None:
        if msg != self.error:
            log.warning("%s (retrying)", msg)
        self.error = msg

    def _read(self, sock: socket.socket) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                return
            buf += chunk
            *lines, buf = buf.split(b"\n")
            if len(buf) > 1 << 20:  # a runaway line: drop it
                buf = b""
                self.bad_lines += 1
            for line in lines:
                self._handle(line)

    def _handle(self, line: bytes) -> None:
        line = line.strip()
        if not line:
            return
        try:
            obj = json.loads(line)
        except ValueError:
            self.bad_lines += 1
            return
        if not isinstance(obj, dict):
            return
        cls = obj.get("class")
        if cls == "DEVICES":
            self.devices = [d.get("path", "?") for d in obj.get("devices", []) if isinstance(d, dict)]
            return
        if cls != "TPV":
            return
        self.reports += 1
        fix = tpv_to_fix(obj)
        if fix is None:
            return
        self.history.add(fix)
        if self._on_fix is not None:
            try:
                self._on_fix(fix, time.monotonic_ns())
            except Exception:
                log.exception("gps on_fix callback failed")
