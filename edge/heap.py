"""Keep the C heap from holding on to big freed buffers (glibc).

glibc serves a request from the heap, not a fresh mapping, once a freed mapping has raised its
dynamic mmap threshold (up to 32 MB). A 2048 px image or a detector blob of a big photo (4-30 MB)
then lands in the heap and, freed, stays in the process: on a folder of 24 MP photos `edge read`
climbed from 245 MB after the first photo to 263 MB (233 MB with this). A fixed threshold keeps buffers of
BIG_BUFFER bytes and more in their own mappings, which go back to the system when freed.
Elsewhere than glibc (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

BIG_BUFFER = 4 * 1024 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h
_taken: bool | None = None


def give_big_buffers_back(threshold: int = BIG_BUFFER) -> bool:
    """Map buffers of `threshold` bytes or more on their own, from now on in this process (the
    first call decides); True when the C library took it.

    Not for small frames: a fresh mapping costs its page faults every time, which made
    `edge read` 8% slower on 100 photos of up to 1280x720 and saved it 1.5 MB. So it is called
    when a big photo comes (edge.recognition.stills), where that cost is lost in the photo's 300 ms."""
    global _taken
    if _taken is None:
        try:
            mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
            mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
            _taken = bool(mallopt(_M_MMAP_THRESHOLD, threshold))
        except (OSError, AttributeError, TypeError):
            _taken = False
    return _taken


def big_buffers_given_back() -> bool:
    """Whether big buffers are mapped on their own in this process (give_big_buffers_back took)."""
    return bool(_taken)
