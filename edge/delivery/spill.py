"""Spill: events the outbox could not store at a stop (its disk full) are written to a second
folder (`[outbox] spill_path`, on another disk, e.g. /run/edge/spill), and stored from there at
the next start, before anything else. Each event is kept as its published payload; the seq is
given when it is finally stored.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

from edge.delivery.outbox import Outbox, OutboxError

log = logging.getLogger("edge.spill")  # the name the logs have always carried


def write_spill(folder: Path, items: Iterable[tuple[str, str, dict]]) -> int:
    """Write (id, topic, payload dict) items to a new file in `folder`, fsynced; returns how many.
    Raises OSError when the folder cannot take them (the caller then counts them lost)."""
    items = list(items)
    if not items:
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    name = f"spill-{time.time_ns()}-{os.getpid()}.jsonl"
    tmp = folder / (name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for event_id, topic, payload in items:
            fh.write(json.dumps({"id": event_id, "topic": topic, "payload": payload},
                                ensure_ascii=False, separators=(",", ":")) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.rename(folder / name)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(items)


def _reseq(payload: dict, seq: int) -> bytes:
    body = dict(payload, seq=seq)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def import_spill(folder: Path | None, outbox: Outbox) -> int:
    """Store every spilled event in the outbox (oldest file first), then delete its file. An
    event already stored (an import cut short) keeps its seq. Returns how many were stored."""
    if folder is None or not folder.is_dir():
        return 0
    stored = 0
    for path in sorted(folder.glob("spill-*.jsonl")):
        try:
            with open(path, encoding="utf-8") as fh:
                items = [json.loads(line) for line in fh if line.strip()]
        except (OSError, ValueError) as exc:  # kept aside for a person to look at, never deleted
            log.error("outbox: cannot read the spill file %s (%s): renamed to .bad", path, exc)
            path.rename(path.with_suffix(".bad"))
            continue
        try:
            for item in items:
                payload = item["payload"]
                outbox.append_with(item["id"], lambda seq, t=item["topic"], p=payload: (t, _reseq(p, seq)))
                stored += 1
        except OutboxError as exc:  # still no room: the file stays for the next start
            log.error("%s; spilled events stay in %s", exc, path)
            break
        path.unlink()
    if stored:
        log.warning("outbox: stored %d event(s) spilled to %s by the last run", stored, folder)
    return stored
