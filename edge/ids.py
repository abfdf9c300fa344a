"""UUIDv7 identifiers (RFC 9562), made once per event so consumers can de-duplicate on them.

Layout (128 bits): 48-bit Unix time in milliseconds | version 7 (4 bits) | 12 bits | variant
0b10 (2 bits) | 62 bits.  The 74 bits after the timestamp are random for the first id of a
millisecond; further ids in the same millisecond add a random positive increment to them
(RFC 9562 section 6.2, method 2, "monotonic random"), so ids made by one process sort in the
order they were made.  If the wall clock steps backwards the last timestamp is kept, and if
the 74-bit field would overflow the timestamp advances by one millisecond: ordering never
breaks inside a process.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable

__all__ = ["UUID7Generator", "pack_uuid7", "uuid7", "uuid7_time_ms"]

_RAND_BITS = 74
_RAND_MAX = (1 << _RAND_BITS) - 1
_INCREMENT_BITS = 32  # a random step in [1, 2**32]: ~2**42 ids per ms before overflow


def pack_uuid7(ms: int, rand: int) -> uuid.UUID:
    """The UUIDv7 of a 48-bit millisecond timestamp and 74 bits that follow it (the layout above)."""
    rand_a = (rand >> 62) & 0x0FFF
    rand_b = rand & ((1 << 62) - 1)
    return uuid.UUID(int=(ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)


class UUID7Generator:
    """Thread-safe monotonic UUIDv7 source; `time_ns` and `randbits` are injectable for tests."""

    def __init__(
        self,
        time_ns: Callable[[], int] = time.time_ns,
        randbits: Callable[[int], int] = secrets.randbits,
    ) -> None:
        self._time_ns = time_ns
        self._randbits = randbits
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0

    def __call__(self) -> str:
        return str(self.new())

    def new(self) -> uuid.UUID:
        ms = self._time_ns() // 1_000_000
        with self._lock:
            if ms > self._last_ms:
                rand = self._randbits(_RAND_BITS)
            else:  # same millisecond, or the clock stepped back: keep ordering
                ms = self._last_ms
                rand = self._last_rand + 1 + self._randbits(_INCREMENT_BITS)
                if rand > _RAND_MAX:
                    ms += 1
                    rand = self._randbits(_RAND_BITS)
            if ms >= 1 << 48:
                raise OverflowError("UUIDv7 timestamp does not fit in 48 bits")
            self._last_ms = ms
            self._last_rand = rand
        return pack_uuid7(ms, rand)


_default = UUID7Generator()


def uuid7() -> str:
    """A new UUIDv7 as its canonical 36-character string, e.g. '0192f0c1-...'."""
    return _default()


def uuid7_time_ms(value: str | uuid.UUID) -> int:
    """The Unix time in milliseconds embedded in a UUIDv7."""
    u = value if isinstance(value, uuid.UUID) else uuid.UUID(value)
    if u.version != 7:
        raise ValueError(f"{u}: not a UUIDv7")
    return u.int >> 80
