#!/usr/bin/env python3
"""Fault soak: `edge run` on a looped video publishing to a real mosquitto while the broker is
SIGKILLed N times, `edge run` itself SIGKILLed M times, and the outbox's disk filled up, then
stopped with SIGTERM while full, given its space back and restarted. At the end, what a
consumer can prove: events created, delivered, unexplained seq gaps, duplicates (same id, and
the forbidden kind: a seq with two ids or an id with two seqs), dropped and lost (as the device
reports them). Printed as a table and written as JSON.

    sudo nice -n 15 python3 benchmarks/soak.py --seconds 240 --broker-kills 20 --edge-kills 5
    python3 benchmarks/soak.py --fake-models --seconds 90 --broker-kills 4 --edge-kills 2

Needs mosquitto (scripts/test.sh installs it) and the test extra. The full-disk phase needs a
small tmpfs, so root; without it the phase is skipped and the report says so. The broker's
restarts are gated as in the tests: only the subscriber may connect until it has subscribed
again, so a message the broker acknowledged is not lost on the subscriber's side. Not a CI test.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.soak_parts import EdgeProcess, as_json, count, mount_small_fs, table, unmount  # noqa: E402
from tests.helpers import Collector, Mosquitto, fill_disk, wait_until  # noqa: E402

USERS = {"collector": "collector-pw", "edge": "edge-pw"}
COLLECTOR_ONLY = {"collector": "collector-pw"}
FIXTURE = REPO / "tests" / "fixtures" / "video" / "passes.mp4"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=240.0, help="length of the fault schedule")
    p.add_argument("--broker-kills", type=int, default=20)
    p.add_argument("--edge-kills", type=int, default=5)
    p.add_argument("--no-full-disk", action="store_true", help="skip the full-disk phase")
    p.add_argument("--disk", default="2m", help="size of the outbox's tmpfs (full-disk phase)")
    p.add_argument("--reserve-mb", type=float, default=0.25, help="[outbox] reserve_mb for the run")
    p.add_argument("--full-for", type=float, default=20.0, help="seconds the disk stays full before SIGTERM")
    p.add_argument("--fake-models", action="store_true",
                   help="the tests' colour-plate models on a synthetic clip (cheaper than the real models)")
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "soak-results.json")
    p.add_argument("--seed", type=int, default=17)
    return p.parse_args(argv)


def video_and_models(args: argparse.Namespace, work: Path) -> tuple[Path, str]:
    if not args.fake_models:
        return FIXTURE, ""
    from tests.helpers import make_clip

    plugins = ('[detector]\nplugin = "tests.helpers:detector_plugin"\n\n'
               '[reader]\nplugin = "tests.helpers:reader_plugin"\n')
    return make_clip(work / "clip.avi"), plugins


def write_config(path: Path, video: Path, models: str, state: Path, broker: Mosquitto, args) -> None:
    """A fresh start_time each run: a restart makes new events, not replays of old ones."""
    start = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    (state.parent / "mqtt-password").write_text(USERS["edge"] + "\n")
    path.write_text(f"""
[device]
id = "soak-box"

[source]
kind = "video"
path = "{video}"
loop = true
pacing = "realtime"
start_time = "{start}"

{models}
[tracking]
repeat_suppress_s = 0   # the looped video shows the same plates again and again

[outbox]
path = "{state / 'outbox.db'}"
reserve_mb = {args.reserve_mb}

[mqtt]
host = "{broker.host}"
port = {broker.port}
username = "edge"
password_file = "{state.parent / 'mqtt-password'}"
reconnect_min_s = 0.2
reconnect_max_s = 2.0
health_interval_s = 5.0
""")


def start_gated(broker: Mosquitto, col: Collector | None) -> Collector:
    """(Re)start the broker letting only the subscriber in until it has subscribed again."""
    broker.users = dict(COLLECTOR_ONLY)
    seen = col.subscriptions if col is not None else 0
    broker.start()
    if col is None:
        col = Collector(broker, "alpr/soak-box/#", username="collector", password=USERS["collector"])
    col.wait_subscribed(seen + 1, timeout=30)
    broker.set_users(USERS)
    return col


def schedule(args: argparse.Namespace, disk: bool) -> list[tuple[float, str]]:
    rnd = random.Random(args.seed)
    span = args.seconds
    steps = [(span * (0.05 + 0.9 * (i + rnd.random() * 0.5) / max(1, args.broker_kills)), "broker-kill")
             for i in range(args.broker_kills)]
    steps += [(span * (0.1 + 0.8 * (i + 0.5) / max(1, args.edge_kills)), "edge-kill") for i in range(args.edge_kills)]
    if disk:
        steps.append((span * 0.55, "full-disk"))
    return sorted(steps)


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.state = work / "state"
        self.disk = not args.no_full_disk and mount_small_fs(self.state, args.disk)
        self.state.mkdir(parents=True, exist_ok=True)
        self.broker = Mosquitto(work / "broker", users=dict(COLLECTOR_ONLY))
        self.col = start_gated(self.broker, None)
        self.video, self.models = video_and_models(args, work)
        self.config = work / "soak.toml"
        self.edge = EdgeProcess(self.config, work)
        self.notes: list[str] = []
        self.health_lost_max = 0

    def start_edge(self) -> None:
        write_config(self.config, self.video, self.models, self.state, self.broker, self.args)
        self.edge.start()

    def broker_kill(self) -> None:
        self.broker.kill()
        time.sleep(random.uniform(0.3, 2.5))
        start_gated(self.broker, self.col)

    def edge_kill(self) -> None:
        self.edge.stop("sigkill")
        time.sleep(0.5)
        self.start_edge()

    def full_disk(self) -> None:
        filler = fill_disk(self.state)
        time.sleep(self.args.full_for)
        end = self.edge.stop("sigterm-disk-full")
        self.notes.append(f"full disk then SIGTERM: exit {end.exit_status}, {end.lost_reported} event(s) "
                          "reported lost on stderr")
        filler.unlink()
        self.start_edge()

    def run(self) -> None:
        self.start_edge()
        t0 = time.monotonic()
        for at, action in schedule(self.args, self.disk):
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            getattr(self, action.replace("-", "_"))()
            self._watch_health()
        time.sleep(max(0.0, t0 + self.args.seconds - time.monotonic()))
        self.finish()

    def _watch_health(self) -> None:
        for body in self.col.payloads("/health")[-5:]:
            self.health_lost_max = max(self.health_lost_max, int(json.loads(body)["outbox"].get("lost", 0)))

    def finish(self) -> None:
        from edge.delivery.outbox import Outbox, OutboxConfig

        def delivered() -> bool:
            with Outbox(OutboxConfig(), self.state / "outbox.db", maintain=False) as ob:
                return ob.stats()["depth"] == 0

        if not wait_until(delivered, 60, interval=0.2):
            self.notes.append("the outbox was not empty 60 s after the schedule ended")
        self.edge.stop("sigterm")
        time.sleep(1.0)
        self._watch_health()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from edge.delivery.outbox import Outbox, OutboxConfig

    work = Path(tempfile.mkdtemp(prefix="edge-soak-"))
    soak = Soak(args, work)
    t0 = time.monotonic()
    try:
        soak.run()
        with Outbox(OutboxConfig(), soak.state / "outbox.db", maintain=False) as ob:
            stats = ob.stats()
        result = count(soak.col.events(), stats)
    finally:
        soak.col.close()
        soak.broker.stop()
        if soak.disk:
            unmount(soak.state)
    if not soak.disk and not args.no_full_disk:
        soak.notes.append("full-disk phase skipped: a small tmpfs could not be mounted (not root?)")
    extra = {"seconds": round(time.monotonic() - t0, 1), "broker_kills": args.broker_kills,
             "edge_sigkills": args.edge_kills, "full_disk": soak.disk, "reserve_mb": args.reserve_mb,
             "models": "fake" if args.fake_models else "real", "edge_runs": soak.edge.runs,
             "run_ends": [e.__dict__ for e in soak.edge.ends], "health_lost_max": soak.health_lost_max,
             "notes": soak.notes, "workdir": str(work)}
    print(table(result))
    for note in soak.notes:
        print(f"- {note}")
    args.json.write_text(as_json(result, extra) + "\n")
    print(f"JSON: {args.json}")
    ok = result.gaps == 0 and result.dups_different_id == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
