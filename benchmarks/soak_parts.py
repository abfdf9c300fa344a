"""Parts of the fault soak (benchmarks/soak.py): the `edge run` process under test, the full
disk, and the final count. The broker and the subscriber are the tests' own real ones
(tests/conftest.py: a private mosquitto, a paho collector)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RunEnd:
    """How one `edge run` ended."""

    how: str  # "sigkill" | "sigterm" | "sigterm-disk-full"
    exit_status: int
    lost_reported: int  # from its last stderr line, when it exited 3


class EdgeProcess:
    """`edge run --config F` as a child process, its stderr in numbered log files."""

    def __init__(self, config: Path, logs: Path) -> None:
        self.config = config
        self.logs = logs
        self.runs = 0
        self.proc: subprocess.Popen | None = None
        self.ends: list[RunEnd] = []

    def start(self) -> None:
        self.runs += 1
        log = open(self.logs / f"edge-run-{self.runs}.log", "w")
        env = {**os.environ, "PYTHONPATH": str(REPO), "OPENCV_LOG_LEVEL": "ERROR"}
        self.proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(self.config)],
                                     cwd=self.logs, env=env, stdout=subprocess.DEVNULL, stderr=log)
        log.close()

    def stop(self, how: str) -> RunEnd:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL if how == "sigkill" else signal.SIGTERM)
        status = self.proc.wait(timeout=90)
        text = (self.logs / f"edge-run-{self.runs}.log").read_text(errors="replace")
        lost = 0
        if "event(s) LOST" in text:
            lost = int(text.rsplit("edge run: ", 1)[1].split(" event(s) LOST")[0])
        end = RunEnd(how, status, lost)
        self.ends.append(end)
        return end


def mount_small_fs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True).returncode == 0


def unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


@dataclass(frozen=True)
class SoakCount:
    created: int  # seqs given out (stored events and skipped, lost ones) + losses not yet given seqs
    delivered: int  # distinct seqs the subscriber received
    gaps: int  # seqs in 1..last_seq never received and not explained by lost/dropped/quarantined
    dups_same_id: int  # re-deliveries carrying the same id and seq (at-least-once)
    dups_different_id: int  # a seq with two ids, or an id with two seqs: must be 0
    dropped: int  # the outbox's size/age limits
    lost: int  # created but never stored (disk full at a stop, crash while waiting in memory)
    quarantined: int
    missing_seqs: list[int]


def count(events: list[dict], outbox_stats: dict) -> SoakCount:
    ids_of_seq: dict[int, set[str]] = defaultdict(set)
    seqs_of_id: dict[str, set[int]] = defaultdict(set)
    for e in events:
        ids_of_seq[e["seq"]].add(e["id"])
        seqs_of_id[e["id"]].add(e["seq"])
    last = int(outbox_stats["last_seq"])
    lost, dropped, quarantined = (int(outbox_stats[k]) for k in ("lost", "dropped", "quarantined"))
    missing = sorted(set(range(1, last + 1)) - set(ids_of_seq))
    explained = lost + dropped + quarantined
    bad = sum(1 for v in ids_of_seq.values() if len(v) > 1) + sum(1 for v in seqs_of_id.values() if len(v) > 1)
    pending_lost = int(outbox_stats.get("unstored", 0))  # ledger counts not yet given seqs
    return SoakCount(created=last + pending_lost, delivered=len(ids_of_seq),
                     gaps=max(0, len(missing) - explained), dups_same_id=len(events) - len(ids_of_seq),
                     dups_different_id=bad, dropped=dropped, lost=lost + pending_lost,
                     quarantined=quarantined, missing_seqs=missing[:50])


def table(c: SoakCount) -> str:
    rows = [("created", c.created), ("delivered", c.delivered), ("gaps (unexplained)", c.gaps),
            ("duplicates, same id", c.dups_same_id), ("duplicates, different id", c.dups_different_id),
            ("dropped (limits)", c.dropped), ("lost (reported)", c.lost), ("quarantined", c.quarantined)]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"| {k:<{width}} | {v:>7} |" for k, v in rows)


def as_json(c: SoakCount, extra: dict) -> str:
    return json.dumps({**asdict(c), **extra}, indent=2, default=str)


