#!/usr/bin/env python3
"""Frames per second of one `edge run` with one camera and with two, on this machine.

    python benchmarks/cameras.py --seconds 30
    python benchmarks/cameras.py --video tests/fixtures/video/passes.mp4 --seconds 30

Each camera replays the fixture video in a loop as fast as the pipeline goes (pacing "fast":
a file never drops a frame, so fps is what the models keep up with), with the shipped models,
the motion gate on, no broker (events stay in a scratch outbox). The default video,
passes_1080p.mp4, has a plate in every frame: the worst case. Prints each camera's fps and the
total, for one camera and then for two sharing the models.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def run(names: list[str], video: Path, seconds: float, tmp: Path) -> dict:
    from edge.app import Application
    from edge.configuration.settings import build_config

    outbox = tmp / f"outbox-{len(names)}.db"
    config = build_config({
        "device": {"id": "bench"}, "mqtt": {"enabled": False}, "outbox": {"path": str(outbox)},
        "camera": [{"name": n, "source": {"kind": "video", "path": str(video), "loop": True}} for n in names],
    })
    app = Application(config, print_events=False)
    app.open()
    timer = threading.Timer(seconds, app.stop)
    timer.start()
    try:
        summary = app.run()
    finally:
        timer.cancel()
        app.close()
    per = summary.get("cameras", {names[0]: summary})
    return {n: per[n]["fps"] for n in names} | {"total": summary["fps"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=REPO / "tests" / "fixtures" / "video" / "passes_1080p.mp4")
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    results = {"machine": {"cpus": os.cpu_count(), "nice": os.nice(0)}, "video": args.video.name}
    with tempfile.TemporaryDirectory() as tmp:
        results["one camera"] = run(["cam0"], args.video, args.seconds, Path(tmp))
        results["two cameras"] = run(["north", "south"], args.video, args.seconds, Path(tmp))
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
