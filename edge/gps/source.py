"""NMEA GPS sources: a serial receiver (read in a thread, reopened with backoff when it is
unplugged) or a log file replayed as fast as possible (loaded before `open_nmea` returns,
so positions are deterministic) or at the log's own pace."""

from __future__ import annotations

import logging
import os
import select
import stat
import threading
import time
from datetime import datetime, timedelta, timezone

from edge.gps import FixCallback, GpsConfig, GpsError
from edge.gps.history import FixHistory
from edge.gps.nmea import NmeaFix, NmeaParser
from edge.records import GeoFix

log = logging.getLogger(__name__)


def to_geofix(fix: NmeaFix, source: str = "nmea") -> GeoFix:
    return GeoFix(lat=fix.lat, lon=fix.lon, alt=fix.alt, speed_mps=fix.speed_mps,
                  heading_deg=fix.heading_deg, accuracy_m=fix.accuracy_m, fix_utc=fix.time,
                  source=source, mode=fix.mode)


def history_for(config: GpsConfig, keep_all: bool = False) -> FixHistory:
    return FixHistory(max_fix_age_s=config.max_fix_age_s, extrapolate_s=config.extrapolate_s,
                      max_gap_s=config.max_gap_s, keep_s=None if keep_all else config.history_s)


class _NmeaBase:
    name = "nmea"
    live = False  # a real receiver (its times may discipline the clock), not a replayed log

    def __init__(self, config: GpsConfig, history: FixHistory, parser: NmeaParser,
                 on_fix: FixCallback | None) -> None:
        self.config = config
        self.history = history
        self.parser = parser
        self._on_fix = on_fix
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.done = threading.Event()  # replay finished / reader thread ended

    def _publish(self, fix: GeoFix, received_ns: int | None = None) -> None:
        self.history.add(fix)
        if self._on_fix is not None:
            try:
                self._on_fix(fix, received_ns or time.monotonic_ns())
            except Exception:  # a consumer's bug must not kill the reader
                log.exception("gps on_fix callback failed")

    def position_at(self, t_utc: datetime) -> GeoFix | None:
        return self.history.position_at(t_utc)

    def latest(self) -> GeoFix | None:
        return self.history.latest()

    def status(self) -> dict:
        latest = self.history.latest()
        return {"source": "nmea", "path": self.config.path, "fixes": len(self.history),
                "last_fix": latest.fix_utc.isoformat() if latest else None,
                "error": self.error, **{f"nmea_{k}": v for k, v in self.parser.stats.as_dict().items()}}

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)


class NmeaReplay(_NmeaBase):
    """A log file. pacing "fast": every fix is in the history when the constructor returns.
    pacing "realtime": fixes are released at the log's pace (x replay_speed) by a thread."""

    def __init__(self, config: GpsConfig, on_fix: FixCallback | None = None) -> None:
        parser = NmeaParser(uere_m=config.uere_m, require_checksum=config.require_checksum,
                            min_date=config.rollover_floor(serial=False))
        super().__init__(config, history_for(config, keep_all=True), parser, on_fix)
        try:
            with open(config.path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise GpsError(f"gps: cannot read NMEA log {config.path}: {exc.strerror or exc}") from None
        fixes = parser.feed(data) + parser.flush()
        geo = [to_geofix(f) for f in fixes]
        if config.replay_rebase and geo:
            shift = datetime.now(timezone.utc) - geo[0].fix_utc
            geo = [_shift(g, shift) for g in geo]
        self.fixes = geo
        if config.pacing == "fast":
            for g in geo:
                self._publish(g)
            self.done.set()
        else:
            self._thread = threading.Thread(target=self._pace, name="gps-nmea-replay", daemon=True)
            self._thread.start()

    def _pace(self) -> None:
        try:
            if not self.fixes:
                return
            t0 = self.fixes[0].fix_utc
            start = time.monotonic()
            for g in self.fixes:
                due = start + (g.fix_utc - t0).total_seconds() / self.config.replay_speed
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                self._publish(g)
        finally:
            self.done.set()


def _shift(g: GeoFix, delta: timedelta) -> GeoFix:
    from dataclasses import replace

    return replace(g, fix_utc=g.fix_utc + delta)


_BAUDS = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}


class NmeaSerial(_NmeaBase):
    """A receiver on a serial/USB/pty device, read by a thread; reopened with backoff."""

    live = True

    def __init__(self, config: GpsConfig, on_fix: FixCallback | None = None) -> None:
        parser = NmeaParser(uere_m=config.uere_m, require_checksum=config.require_checksum,
                            min_date=config.rollover_floor(serial=True),
                            date_hint=lambda: datetime.now(timezone.utc))
        super().__init__(config, history_for(config), parser, on_fix)
        if config.baud not in _BAUDS:
            raise GpsError(f"gps.baud: {config.baud} is not a standard rate ({sorted(_BAUDS)})")
        fd = self._open()  # fail fast at start with a clear message
        self._thread = threading.Thread(target=self._run, args=(fd,), name="gps-nmea-serial",
                                        daemon=True)
        self._thread.start()

    def _open(self) -> int:
        try:
            fd = os.open(self.config.path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            raise GpsError(f"gps: cannot open {self.config.path}: {exc.strerror or exc}") from None
        try:
            import termios

            attrs = termios.tcgetattr(fd)
            speed = getattr(termios, f"B{self.config.baud}")
            attrs[0] = termios.IGNPAR  # iflag
            attrs[1] = 0  # oflag
            attrs[2] = termios.CS8 | termios.CLOCAL | termios.CREAD  # cflag
            attrs[3] = 0  # lflag: raw, no echo
            attrs[4] = attrs[5] = speed
            attrs[6][termios.VMIN] = 1
            attrs[6][termios.VTIME] = 0
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except (ImportError, OSError, AttributeError):
            pass  # not a tty (a FIFO, a pty without termios support): read it as it is
        except Exception:  # termios.error
            pass
        return fd

    def _run(self, fd: int | None) -> None:
        backoff = 0.5
        try:
            while not self._stop.is_set():
                if fd is None:
                    try:
                        fd = self._open()
                        self.error = None
                        backoff = 0.5
                    except GpsError as exc:
                        if self.error != str(exc):
                            log.warning("%s (retrying)", exc)
                        self.error = str(exc)
                        if self._stop.wait(backoff):
                            return
                        backoff = min(backoff * 2, self.config.reconnect_max_s)
                        continue
                try:
                    ready, _, _ = select.select([fd], [], [], 0.2)
                    if not ready:  # the line is quiet: the receiver's burst is complete
                        for fix in self.parser.close_epoch():
                            self._publish(to_geofix(fix), fix.received_ns)
                        continue
                    data = os.read(fd, 4096)
                    now = time.monotonic_ns()
                    if not data:  # EOF: device gone (or the writer closed a FIFO/pty)
                        raise OSError("end of data")
                except OSError as exc:
                    msg = f"gps: {self.config.path}: {exc.strerror or exc}"
                    if self.error != msg:
                        log.warning("%s (reopening)", msg)
                    self.error = msg
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                    fd = None
                    if self._stop.wait(backoff):
                        return
                    backoff = min(backoff * 2, self.config.reconnect_max_s)
                    continue
                for fix in self.parser.feed(data, now):
                    self._publish(to_geofix(fix), fix.received_ns)
        finally:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.done.set()


def open_nmea(config: GpsConfig, on_fix: FixCallback | None = None):
    path = config.path
    try:
        st = os.stat(path)
    except OSError as exc:
        raise GpsError(f"gps: {path}: {exc.strerror or exc}") from None
    if stat.S_ISREG(st.st_mode):
        return NmeaReplay(config, on_fix=on_fix)
    return NmeaSerial(config, on_fix=on_fix)
