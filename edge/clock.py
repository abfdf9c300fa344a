"""Wall time for frames: monotonic nanoseconds -> UTC through a measured offset.

A Raspberry Pi has no real-time clock, so the wall clock may be wrong (and may jump when NTP
or GPS sets it). Frames are stamped with the monotonic clock; `SystemClock` converts them to
UTC through an offset it measures and re-measures periodically, and says which source it
trusts (`state()`):

- "ntp": the kernel says the clock is synchronised (adjtimex: not TIME_ERROR, STA_UNSYNC
  clear, maxerror below `max_error_ms`; or systemd-timesyncd's
  /run/systemd/timesync/synchronized exists). The offset is the system's.
- "gps": not synchronised, but `discipline_from_gps(fix_utc, t_mono_ns)` has been fed GPS
  times recently (`gps_max_age_s`): the offset is GPS time - monotonic, taking the largest
  sample of a short window (the one delayed least by the receiver and serial line), plus
  `gps_latency_s`. Expect ~0.1-0.5 s accuracy from NMEA without PPS. Feed only live
  receivers (gpsd, a serial port), never a replayed log.
- "unsynced": neither; times are the system clock's, flagged as untrustworthy.

The offset is measured as the minimum-latency sample of paired reads
(monotonic, wall, monotonic): wall - midpoint of the two monotonic reads.

Every time function is injectable (`monotonic_ns`, `time_ns`, `kernel_synced`), so tests run
against a fake clock without patching anything.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
TIME_ERROR = 5
STA_UNSYNC = 0x0040
SYNC_FILE = "/run/systemd/timesync/synchronized"


@dataclass(frozen=True)
class ClockConfig:
    remeasure_s: float = 30.0  # re-measure the monotonic->UTC offset this often
    samples: int = 9  # paired reads per measurement; the lowest-latency one is kept
    state_check_s: float = 5.0  # how often the kernel's sync status is asked
    max_error_ms: float = 1000.0  # kernel maxerror above this counts as unsynchronised
    gps: bool = True  # trust GPS time when the kernel is not synchronised
    gps_max_age_s: float = 600.0  # a GPS discipline older than this no longer counts
    gps_window: int = 16  # GPS samples considered (the least-delayed wins)
    gps_latency_s: float = 0.0  # known receiver/serial delay added to GPS samples

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples: must be at least 1, got {self.samples}")
        if self.gps_window < 1:
            raise ValueError(f"gps_window: must be at least 1, got {self.gps_window}")
        for name in ("remeasure_s", "state_check_s", "max_error_ms", "gps_max_age_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):  # struct timex, linux/timex.h
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long),
                ("tolerance", ctypes.c_long), ("time", _Timeval), ("tick", ctypes.c_long),
                ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
                ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
                ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
                ("_pad", ctypes.c_int * 11)]


@functools.lru_cache(maxsize=1)
def _libc():
    """libc, loaded once (find_library may run ldconfig: never on the frame path)."""
    for name in ("libc.so.6", ctypes.util.find_library("c")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
    return None


def adjtimex_status() -> tuple[int, int, int] | None:
    """(return code, status bits, maxerror in microseconds) from adjtimex(2), read-only;
    None where it is unavailable (not Linux, seccomp...)."""
    libc = _libc()
    if libc is None:
        return None
    try:
        tx = _Timex()  # modes = 0: read only
        rc = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if rc < 0:
        return None
    return rc, tx.status, tx.maxerror


def kernel_synchronised(max_error_ms: float = 1000.0, sync_file: str = SYNC_FILE) -> bool:
    """Does the kernel (NTP/chrony/timesyncd) consider the wall clock synchronised?"""
    st = adjtimex_status()
    if st is not None:
        rc, status, maxerror_us = st
        if rc != TIME_ERROR and not status & STA_UNSYNC and maxerror_us <= max_error_ms * 1000:
            return True
    return os.path.exists(sync_file)


class SystemClock:
    """ports.Clock: monotonic -> UTC with a measured offset and an honest state."""

    def __init__(self, config: ClockConfig | None = None, *,
                 monotonic_ns: Callable[[], int] = time.monotonic_ns,
                 time_ns: Callable[[], int] = time.time_ns,
                 kernel_synced: Callable[[], bool] | None = None) -> None:
        self.config = config or ClockConfig()
        self._mono = monotonic_ns
        self._wall = time_ns
        self._kernel_synced = kernel_synced or (
            lambda: kernel_synchronised(self.config.max_error_ms))
        self._lock = threading.Lock()
        self._sys_offset_ns = 0
        self._sys_latency_ns = 0
        self._measured_at: int | None = None
        self._synced = False
        self._synced_checked_at: int | None = None
        self._gps_samples: deque[tuple[int, int]] = deque(maxlen=self.config.gps_window)
        self._gps_offset_ns: int | None = None
        self._gps_at: int | None = None
        self.measure()

    # -- ports.Clock ------------------------------------------------------------------------
    def monotonic_ns(self) -> int:
        return self._mono()

    def utc_from_monotonic(self, t_mono_ns: int) -> datetime:
        return EPOCH + timedelta(microseconds=(t_mono_ns + self.offset_ns()) // 1000)

    def state(self) -> str:
        now = self._mono()
        with self._lock:
            self._refresh_sync(now)
            if self._synced:
                return "ntp"
            if self._gps_valid(now):
                return "gps"
            return "unsynced"

    # -- extra API --------------------------------------------------------------------------
    def now_utc(self) -> datetime:
        return self.utc_from_monotonic(self._mono())

    def offset_ns(self) -> int:
        """UTC ns - monotonic ns, from the source `state()` names."""
        now = self._mono()
        with self._lock:
            self._refresh_sync(now)
            if not self._synced and self._gps_valid(now):
                return self._gps_offset_ns  # type: ignore[return-value]
            if self._measured_at is None or now - self._measured_at > self.config.remeasure_s * 1e9:
                self._measure_locked()
            return self._sys_offset_ns

    def measure(self) -> int:
        """Measure the system clock's monotonic->UTC offset now; returns it (ns)."""
        with self._lock:
            return self._measure_locked()

    def discipline_from_gps(self, fix_utc: datetime, t_mono_ns: int) -> None:
        """A GPS time `fix_utc` received at monotonic `t_mono_ns` (from a live receiver).

        The receiver reports a fix some time after its epoch, so every sample underestimates
        the offset by that delay: the largest offset of the window is the best estimate.
        A sample more than 1 s away from the current estimate (a time jump, a first fix after
        a cold start) restarts the window.
        """
        if not self.config.gps:
            return
        if fix_utc.tzinfo is None:
            raise ValueError("fix_utc must be timezone-aware (UTC)")
        utc_ns = (fix_utc - EPOCH) // timedelta(microseconds=1) * 1000
        sample = utc_ns + int(self.config.gps_latency_s * 1e9) - t_mono_ns
        with self._lock:
            if self._gps_offset_ns is not None and abs(sample - self._gps_offset_ns) > 1_000_000_000:
                self._gps_samples.clear()
            self._gps_samples.append((t_mono_ns, sample))
            self._gps_offset_ns = max(s for _, s in self._gps_samples)
            self._gps_at = self._mono()

    def status(self) -> dict:
        """For health reports and `edge doctor`."""
        state = self.state()
        now = self._mono()
        with self._lock:
            gps_offset = self._gps_offset_ns
            sys_offset = self._sys_offset_ns
            return {
                "state": state,
                "system_minus_gps_ms": None if gps_offset is None or not self._gps_valid(now)
                else round((sys_offset - gps_offset) / 1e6, 1),
                "gps_samples": len(self._gps_samples),
                "measure_latency_us": round(self._sys_latency_ns / 1000, 1),
            }

    # -- internals (lock held) --------------------------------------------------------------
    def _measure_locked(self) -> int:
        best: tuple[int, int] | None = None
        for _ in range(self.config.samples):
            m1 = self._mono()
            w = self._wall()
            m2 = self._mono()
            latency = m2 - m1
            if best is None or latency < best[0]:
                best = (latency, w - (m1 + (m2 - m1) // 2))
        assert best is not None
        self._sys_latency_ns, self._sys_offset_ns = best
        self._measured_at = self._mono()
        return self._sys_offset_ns

    def _refresh_sync(self, now: int) -> None:
        if (self._synced_checked_at is None
                or now - self._synced_checked_at > self.config.state_check_s * 1e9):
            try:
                synced = bool(self._kernel_synced())
            except Exception:  # never let a status probe break frame stamping
                synced = False
            if synced != self._synced and self._synced_checked_at is not None:
                log.info("system clock %s", "synchronised" if synced else "no longer synchronised")
                self._measured_at = None  # the wall clock may have been stepped: re-measure
            self._synced = synced
            self._synced_checked_at = now

    def _gps_valid(self, now: int) -> bool:
        return (self._gps_offset_ns is not None and self._gps_at is not None
                and now - self._gps_at <= self.config.gps_max_age_s * 1e9)
