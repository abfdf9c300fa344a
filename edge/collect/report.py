"""The per-device report of `edge collect --report`: received, missing seq ranges, duplicates."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from edge.collect.ranges import format_ranges


@dataclass(frozen=True)
class DeviceReport:
    device: str
    received: int  # distinct events stored (one row per event id)
    duplicates: int  # deliveries of an id already stored (at-least-once re-deliveries)
    seq_reused: int  # new ids carrying a seq already stored (a device whose outbox was reset)
    first_seq: int
    last_seq: int
    missing: tuple[tuple[int, int], ...]  # (first, last) seq ranges never received
    first_received: str
    last_received: str

    @property
    def missing_count(self) -> int:
        return sum(b - a + 1 for a, b in self.missing)


def as_json(reports: Sequence[DeviceReport]) -> str:
    rows = [{**asdict(r), "missing": [list(m) for m in r.missing], "missing_count": r.missing_count}
            for r in reports]
    return json.dumps({"devices": rows, "missing_total": sum(r.missing_count for r in reports)})


def as_table(reports: Sequence[DeviceReport], where: str) -> str:
    """A fixed-width table, one device per line, then a summary and what to do about gaps."""
    if not reports:
        return f"{where}: no events stored yet\n"
    width = max(6, *(len(r.device) for r in reports))
    lines = [f"{'device':<{width}}  {'received':>8}  {'dups':>6}  {'seq':>15}  missing"]
    for r in reports:
        seqs = f"{r.first_seq}-{r.last_seq}"
        missing = format_ranges(r.missing)
        if r.missing:
            missing = f"{r.missing_count} ({missing})"
        reused = f"  [{r.seq_reused} seq reused under new ids]" if r.seq_reused else ""
        lines.append(f"{r.device:<{width}}  {r.received:>8}  {r.duplicates:>6}  {seqs:>15}  {missing}{reused}")
    total = sum(r.received for r in reports)
    gaps = sum(r.missing_count for r in reports)
    lines.append(f"{len(reports)} device(s), {total} event(s), "
                 f"{sum(r.duplicates for r in reports)} duplicate(s) ignored, {gaps} missing ({where})")
    if gaps:
        lines.append("a device still keeping them sends them again with: "
                     "edge outbox replay --from FIRST --to LAST")
    return "\n".join(lines) + "\n"
