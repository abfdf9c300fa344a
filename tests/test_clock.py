"""SystemClock against a fake clock (injected time functions, nothing patched)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from edge.clock import (EPOCH, STA_UNSYNC, TIME_ERROR, ClockConfig, SystemClock,
                        adjtimex_status, kernel_synchronised)

S = 1_000_000_000


class FakeTime:
    """A monotonic clock that advances `step_ns` per read, and a wall clock = mono + offset.
    `jitter` makes given wall reads slow (as if preempted) to test the min-latency pick."""

    def __init__(self, offset_ns: int, mono_ns: int = 1000 * S, step_ns: int = 1000) -> None:
        self.mono_ns = mono_ns
        self.offset_ns = offset_ns
        self.step_ns = step_ns
        self.delays: list[int] = []
        self.synced = False

    def monotonic(self) -> int:
        self.mono_ns += self.step_ns
        return self.mono_ns

    def wall(self) -> int:
        delay = self.delays.pop(0) if self.delays else 0
        t = self.mono_ns + self.offset_ns
        self.mono_ns += delay  # a slow read: the second monotonic read comes late
        return t

    def advance(self, seconds: float) -> None:
        self.mono_ns += int(seconds * S)


def make(fake: FakeTime, **cfg) -> SystemClock:
    return SystemClock(ClockConfig(**cfg), monotonic_ns=fake.monotonic, time_ns=fake.wall,
                       kernel_synced=lambda: fake.synced)


OFFSET = 1_750_000_000 * S  # 2025-06-15


def test_offset_is_the_minimum_latency_sample():
    fake = FakeTime(OFFSET, step_ns=1000)
    # every read but one is delayed by a different amount: only the undelayed pair is exact
    fake.delays = [400_000, 900_000, 0, 50_000, 70_000]
    clock = make(fake, samples=5)
    # exact pair: m1, wall = m1 + offset, m2 = m1 + 1000 -> offset estimate = offset - 500 ns
    assert clock.offset_ns() == OFFSET - 500
    t = clock.utc_from_monotonic(5000 * S)
    assert t == EPOCH + timedelta(microseconds=(5000 * S + OFFSET - 500) // 1000)
    assert t.tzinfo is not None


def test_remeasures_after_the_wall_clock_is_stepped():
    fake = FakeTime(OFFSET)
    clock = make(fake, remeasure_s=30.0)
    before = clock.offset_ns()
    fake.offset_ns += 3600 * S  # NTP steps the clock by an hour
    fake.advance(10)
    assert clock.offset_ns() == before  # not yet
    fake.advance(25)
    assert clock.offset_ns() - before == pytest.approx(3600 * S, abs=10_000)


def test_states_ntp_gps_unsynced_and_gps_offset():
    fake = FakeTime(OFFSET + 7 * S)  # the system clock is 7 s wrong
    clock = make(fake, state_check_s=1.0, gps_max_age_s=60.0)
    assert clock.state() == "unsynced"
    # GPS fixes arriving 0.3 s, 0.1 s and 0.5 s after their epoch: the least delayed wins
    true_utc_of = lambda mono: EPOCH + timedelta(microseconds=(mono + OFFSET) // 1000)  # noqa: E731
    for delay in (0.3, 0.1, 0.5):
        fake.advance(1)
        epoch_mono = fake.mono_ns
        clock.discipline_from_gps(true_utc_of(epoch_mono), epoch_mono + int(delay * S))
    assert clock.state() == "gps"
    assert clock.offset_ns() == pytest.approx(OFFSET - 0.1 * S, abs=1000)
    assert clock.status()["system_minus_gps_ms"] == pytest.approx(7100, abs=1)
    # NTP synchronises: the kernel's clock is trusted again
    fake.synced = True
    fake.advance(2)
    assert clock.state() == "ntp"
    assert clock.offset_ns() == pytest.approx(OFFSET + 7 * S, abs=10_000)
    # NTP lost and GPS silent for longer than gps_max_age_s: unsynced
    fake.synced = False
    fake.advance(61)
    assert clock.state() == "unsynced"


def test_gps_time_jump_restarts_the_window():
    fake = FakeTime(OFFSET)
    clock = make(fake)
    m = fake.mono_ns
    clock.discipline_from_gps(EPOCH + timedelta(seconds=(m + OFFSET) / S + 100), m)
    clock.discipline_from_gps(EPOCH + timedelta(seconds=(m + OFFSET) / S), m)
    assert clock.offset_ns() == pytest.approx(OFFSET, abs=1000)  # the bogus +100 s is gone
    with pytest.raises(ValueError):
        clock.discipline_from_gps(datetime(2025, 1, 1), m)


def test_gps_discipline_can_be_disabled():
    fake = FakeTime(OFFSET)
    clock = make(fake, gps=False)
    clock.discipline_from_gps(datetime(2030, 1, 1, tzinfo=timezone.utc), fake.mono_ns)
    assert clock.state() == "unsynced"


def test_real_clock_agrees_with_time_time():
    clock = SystemClock()
    assert clock.state() in ("ntp", "unsynced")
    diff = clock.now_utc().timestamp() - time.time()
    assert abs(diff) < 0.05
    st = adjtimex_status()
    if st is not None:
        rc, status, _ = st
        if rc == TIME_ERROR or status & STA_UNSYNC:
            assert kernel_synchronised(sync_file="/nonexistent") is False
    assert kernel_synchronised(sync_file=__file__) is True  # the systemd flag file counts
    with pytest.raises(ValueError):
        ClockConfig(samples=0)
