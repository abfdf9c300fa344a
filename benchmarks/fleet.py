#!/usr/bin/env python3
"""Fleet load test (not in CI): N simulated devices replay their outboxes into a real Mosquitto,
K `edge collect` processes share the load through an MQTT shared subscription, and at the end
every event must be in the database exactly once, with no seq gap.

    python3 benchmarks/fleet.py --devices 200 --events 5              # 2 collectors, SQLite
    python3 benchmarks/fleet.py --devices 200 --events 5 --restart-one
    python3 benchmarks/fleet.py --db postgresql://edge@127.0.0.1:5432/fleet

Each device is the real thing minus the camera: its own SQLite outbox (filled with --events
events first, as after an outage), the real MqttPublisher (QoS 1, PUBACK-driven), all started
at once. Measured: from the publishers' start until the last event is committed by the
collectors (events/s), and until every device has its PUBACKs. --restart-one SIGKILLs the
first collector when half the events are stored and starts it again 1 s later.
Everything runs on loopback and stops by itself (--timeout).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(folder: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = folder / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false",
             "max_queued_messages 100000", f"log_dest file {folder / 'mosquitto.log'}"]
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("fleet: mosquitto did not start (apt-get install mosquitto)")


class Collectors:
    """K `edge collect --share fleet` processes on one database."""

    def __init__(self, port: int, db: str, count: int, folder: Path) -> None:
        self.port, self.db, self.folder = port, db, folder
        self.procs: list[subprocess.Popen | None] = [None] * count

    def start(self, i: int) -> None:
        log = self.folder / f"collect{i}.log"
        before = log.read_text().count("connected to") if log.exists() else 0
        with open(log, "a") as err:
            self.procs[i] = subprocess.Popen(
                [sys.executable, "-m", "edge", "collect", "--host", "127.0.0.1", "--port", str(self.port),
                 "--db", self.db, "--share", "fleet", "--client-id", f"fleet-collector-{i}"],
                cwd=REPO, stderr=err, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while log.read_text().count("connected to") <= before:
            if time.monotonic() > deadline:
                raise SystemExit(f"fleet: collector {i} did not connect; see {log}")
            time.sleep(0.05)

    def kill(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait(10)

    def stop(self) -> None:
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            if p is not None:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()


def make_devices(first: int, n: int, events: int, port: int, folder: Path) -> list:
    from edge.delivery.event_json import EventEncoder
    from edge.delivery.mqtt import MqttConfig, MqttPublisher
    from edge.delivery.durable import DurableSink
    from edge.delivery.outbox import Outbox, OutboxConfig
    from tests.helpers import make_event

    cfg = MqttConfig(host="127.0.0.1", port=port, health_interval_s=0, reconnect_min_s=0.2, reconnect_max_s=2.0)
    fleet = []
    for d in range(first, first + n):
        device = f"box-{d:04d}"
        outbox = Outbox(OutboxConfig(), path=folder / f"{device}.db")
        publisher = MqttPublisher(cfg, outbox, device)
        sink = DurableSink(outbox, EventEncoder(device, "cam0", {"detector": "d", "reader": "r"}), publisher.notify)
        for e in range(events):
            sink.submit(make_event(f"F{d:04d}{e:02d}"))
        fleet.append((outbox, publisher))
    return fleet


def device_worker(first: int, n: int, events: int, port: int, folder: str, go, done, results) -> None:
    """One process of simulated devices. Several processes, because paho waits on its sockets
    with select(), which cannot watch file descriptors above 1024 (one outbox is 3 of them)."""
    fleet = make_devices(first, n, events, port, Path(folder))
    results.put(("ready", first, 0.0))
    go.wait()
    try:
        for _, publisher in fleet:
            publisher.start()
        while not done.is_set():
            if all(o.stats()["depth"] == 0 for o, _ in fleet):
                results.put(("acked", first, time.monotonic()))
                break
            time.sleep(0.1)
        done.wait()
    finally:
        for outbox, publisher in fleet:
            publisher.stop(timeout=0.5)
            outbox.close()


def start_devices(args: argparse.Namespace, port: int, folder: Path) -> tuple[list, Any, Any, Any]:
    ctx = multiprocessing.get_context("fork")
    go, done, results = ctx.Event(), ctx.Event(), ctx.Queue()
    procs = []
    for first in range(0, args.devices, args.per_process):
        n = min(args.per_process, args.devices - first)
        procs.append(ctx.Process(target=device_worker, args=(first, n, args.events, port, str(folder), go, done,
                                                             results), daemon=True))
        procs[-1].start()
    for _ in procs:  # every outbox filled before any publisher starts
        assert results.get(timeout=args.timeout)[0] == "ready"
    return procs, go, done, results


def run(args: argparse.Namespace, folder: Path) -> dict:
    from edge.collect import open_store

    broker, port = start_broker(folder)
    collectors = Collectors(port, args.db or str(folder / "fleet.db"), args.collectors, folder)
    procs: list = []
    done = None
    try:
        for i in range(args.collectors):
            collectors.start(i)
        time.sleep(0.5)  # SUBSCRIBE right after each CONNACK
        watch = open_store(collectors.db)  # the collectors made the tables; reads take no write lock
        procs, go, done, results = start_devices(args, port, folder)
        total = args.devices * args.events
        t0 = time.monotonic()
        go.set()
        restarted, acked, stored = not args.restart_one, [], 0
        deadline = t0 + args.timeout
        while time.monotonic() < deadline:
            stored = watch.count()
            while not results.empty():
                acked.append(results.get()[2])
            if not restarted and stored >= total // 2:
                collectors.kill(0)
                time.sleep(1.0)
                collectors.start(0)
                restarted = True
            if stored >= total and len(acked) == len(procs):
                break
            time.sleep(0.1)
        stored_s = time.monotonic() - t0
        watch.close()
    finally:
        if done is not None:
            done.set()
        for p in procs:
            p.join(30)
        collectors.stop()
        broker.terminate()
        broker.wait(10)
    store = open_store(collectors.db)
    try:
        reports = store.report()
        count = store.count()
        by = store.stored_by()
    finally:
        store.close()
    acked_s = round(max(acked) - t0, 2) if len(acked) == len(procs) else None
    return {"devices": args.devices, "events_per_device": args.events, "collectors": args.collectors,
            "device_processes": len(procs), "restart_one": args.restart_one, "database": store.describe(),
            "events_expected": total, "events_stored": count,
            "all_once": count == total and all(r.received == args.events for r in reports),
            "missing": sum(r.missing_count for r in reports), "duplicates_ignored": sum(r.duplicates for r in reports),
            "seconds_to_all_stored": round(stored_s, 2), "seconds_to_all_acknowledged": acked_s,
            "events_per_s": round(count / stored_s, 1), "stored_by": by}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--events", type=int, default=5, help="events per device")
    p.add_argument("--collectors", type=int, default=2)
    p.add_argument("--per-process", type=int, default=50, help="simulated devices per process")
    p.add_argument("--db", help="database for the collectors (default: an SQLite file in a temp folder)")
    p.add_argument("--restart-one", action="store_true", help="SIGKILL and restart one collector half-way")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--json", type=Path, help="also write the result here")
    p.add_argument("--keep", type=Path, help="work in this folder and keep it (logs, outboxes, database)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = run(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="edge-fleet-") as tmp:
            result = run(args, Path(tmp))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if result["all_once"] and result["missing"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
