"""Per-device `seq` ranges: which sequence numbers a device's stored events cover.

A device numbers its events 1, 2, 3, ... with no gaps, so the stored seqs of one device are a
few closed ranges; the holes between them (and before the first) are the events missing.
Keeping ranges instead of scanning every row makes the report cost per gap, not per event.
The SQL uses `?` placeholders; the store translates them for its database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def add_seq(cur: Any, device: str, seq: int) -> bool:
    """Merge `seq` into the device's ranges; False when a range already covered it.

    Must run inside the write transaction that stored the event, under the device's lock."""
    cur.execute("SELECT first_seq, last_seq FROM edge_seq_ranges WHERE device = ? AND first_seq <= ? "
                "ORDER BY first_seq DESC LIMIT 1", (device, seq))
    left = cur.fetchone()
    if left is not None and left[1] >= seq:
        return False
    cur.execute("SELECT last_seq FROM edge_seq_ranges WHERE device = ? AND first_seq = ?", (device, seq + 1))
    right = cur.fetchone()
    touches_left = left is not None and left[1] == seq - 1
    if touches_left and right is not None:
        cur.execute("DELETE FROM edge_seq_ranges WHERE device = ? AND first_seq = ?", (device, seq + 1))
        cur.execute("UPDATE edge_seq_ranges SET last_seq = ? WHERE device = ? AND first_seq = ?",
                    (right[0], device, left[0]))
    elif touches_left:
        cur.execute("UPDATE edge_seq_ranges SET last_seq = ? WHERE device = ? AND first_seq = ?",
                    (seq, device, left[0]))
    elif right is not None:
        cur.execute("UPDATE edge_seq_ranges SET first_seq = ? WHERE device = ? AND first_seq = ?",
                    (seq, device, seq + 1))
    else:
        cur.execute("INSERT INTO edge_seq_ranges (device, first_seq, last_seq) VALUES (?, ?, ?)",
                    (device, seq, seq))
    return True


def gaps(ranges: Iterable[Sequence[int]]) -> list[tuple[int, int]]:
    """The missing (first, last) seq ranges before and between sorted covered ranges."""
    missing: list[tuple[int, int]] = []
    covered_to = 0  # seq numbering starts at 1
    for first, last in sorted((int(a), int(b)) for a, b in ranges):
        if first > covered_to + 1:
            missing.append((covered_to + 1, first - 1))
        covered_to = max(covered_to, last)
    return missing


def format_ranges(spans: Iterable[tuple[int, int]], limit: int = 12) -> str:
    """`3-5, 9, 12-40` (at most `limit` spans, then `... (+N more)`); "none" when empty."""
    spans = list(spans)
    if not spans:
        return "none"
    text = [f"{a}" if a == b else f"{a}-{b}" for a, b in spans[:limit]]
    more = f", ... (+{len(spans) - limit} more)" if len(spans) > limit else ""
    return ", ".join(text) + more
