#!/usr/bin/env python3
"""Pipeline speed and memory: the median of several `edge bench` runs per case.

    python3 benchmarks/run.py                       # 1080p fixture, 5 runs per case
    python3 benchmarks/run.py --video clip.mp4 --runs 3 --json results.json

Cases (each run is a fresh `edge bench` process, so peak RSS is per run):
  detect-every-frame  tests/fixtures/video/passes_1080p.mp4 (1920x1080, a plate in every frame),
                      looped to --frames frames, motion gate off: detector + reader on every frame
  gated-fixture       the same with the motion gate on (plates in view: it must keep detecting)
  gated-static        a static stretch at 1920x1080: the empty road of passes.mp4 (its first
                      frame, before any vehicle) scaled to 1080p and repeated; the gate skips all
                      but the periodic check every `motion.detect_every_n` frames
Targets (issue 3, this 2-core machine): >= 30 fps detect-every-frame at 1080p, >= 100 fps gated,
peak RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO / "tests" / "fixtures" / "video" / "passes_1080p.mp4"
EMPTY_ROAD = REPO / "tests" / "fixtures" / "video" / "passes.mp4"  # frames 0-17: no vehicle


def make_static_clip(road_video: Path, size_like: Path, out: Path, frames: int) -> Path:
    import cv2

    cap = cv2.VideoCapture(str(size_like))
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    cap.release()
    cap = cv2.VideoCapture(str(road_video))
    ok, first = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"{road_video}: cannot read a frame")
    first = cv2.resize(first, (w, h), interpolation=cv2.INTER_CUBIC)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for _ in range(frames):
        writer.write(first)
    writer.release()
    return out


def bench_once(video: Path, extra: list[str], config: Path | None) -> dict:
    cmd = [sys.executable, "-m", "edge", "bench", str(video), "--json", *extra]
    if config:
        cmd += ["--config", str(config)]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(name: str, runs: list[dict]) -> dict:
    def med(path: tuple[str, ...]) -> float | None:
        values = []
        for r in runs:
            v = r
            for key in path:
                v = v.get(key, {}) if isinstance(v, dict) else {}
            if isinstance(v, (int, float)):
                values.append(float(v))
        return round(statistics.median(values), 2) if values else None

    stages = sorted({s for r in runs for s in r["latency_ms"]})
    return {
        "case": name,
        "runs": len(runs),
        "fps_median": med(("fps",)),
        "fps_all": [r["fps"] for r in runs],
        "frames": runs[0]["frames"]["processed"],
        "analysed": runs[0]["frames"]["detected_frames"],
        "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
        "latency_ms": {s: {"p50": med(("latency_ms", s, "p50")), "p95": med(("latency_ms", s, "p95"))}
                       for s in stages},
        "size": runs[0]["size"],
        "models": runs[0]["models"],
        "events": runs[0]["events"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--frames", type=int, default=400, help="frames per run (the video is looped)")
    ap.add_argument("--static-frames", type=int, default=400)
    ap.add_argument("--config", type=Path)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--cases", default="detect-every-frame,gated-fixture,gated-static")
    args = ap.parse_args()
    wanted = args.cases.split(",")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = {
            "detect-every-frame": (args.video, ["--detect-every-frame", "--loop", "--frames", str(args.frames)]),
            "gated-fixture": (args.video, ["--loop", "--frames", str(args.frames)]),
        }
        if "gated-static" in wanted:
            cases["gated-static"] = (make_static_clip(EMPTY_ROAD, args.video, Path(tmp) / "static.mp4",
                                                      args.static_frames), [])
        for name in wanted:
            video, extra = cases[name]
            runs = [bench_once(video, extra, args.config) for _ in range(args.runs)]
            results.append(summarise(name, runs))
            r = results[-1]
            print(f"{name:<20} fps median {r['fps_median']:>7.1f}  runs {r['fps_all']}  "
                  f"peak RSS {r['peak_rss_mb_max']:.0f} MB", flush=True)
    print()
    print("| case | frames (analysed) | fps (median of %d) | total p50 / p95 ms | detect p50 ms | read p50 ms | peak RSS MB |"
          % args.runs)
    print("|---|---|---|---|---|---|---|")
    for r in results:
        lat = r["latency_ms"]
        tot, det, rd = lat.get("total", {}), lat.get("detect", {}), lat.get("read", {})
        print(f"| {r['case']} | {r['frames']} ({r['analysed']}) | {r['fps_median']:.1f} | "
              f"{tot.get('p50')} / {tot.get('p95')} | {det.get('p50')} | {rd.get('p50')} | "
              f"{r['peak_rss_mb_max']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
