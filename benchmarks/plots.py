#!/usr/bin/env python3
"""Pictures of the benchmark results (matplotlib, the `bench` extra: pip install -e '.[bench]').

    python3 benchmarks/plots.py            # benchmarks/results.json + fleet-results.json -> plots/*.png
    edge bench tests/fixtures/video/passes_1080p.mp4 --loop --frames 400 --json --samples > bench.json
    python3 benchmarks/plots.py --samples bench.json       # ... and latency_hist.png from it

fps.png      frames per second per case of benchmarks/run.py (median of its runs)
stages.png   per-stage latency, p50 and p95, per case
fleet.png    events per second of benchmarks/fleet.py's runs (SQLite and PostgreSQL)
latency_hist.png  per-stage latency histograms of one `edge bench --json --samples` run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("plots.py needs matplotlib: pip install -e '.[bench]'") from None
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def fps(plt, results: list[dict], out: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    names = [r["case"] for r in results]
    values = [r["fps_median"] for r in results]
    bars = ax.barh(names, values, color="#3b75af")
    ax.bar_label(bars, fmt="%.0f fps", padding=3)
    ax.set_xlabel("frames per second (median of runs), 1920x1080")
    ax.set_xlim(0, max(values) * 1.2)
    ax.invert_yaxis()
    ax.set_title("Pipeline throughput (benchmarks/run.py)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def stages(plt, results: list[dict], out: Path) -> None:
    order = ["motion", "detect", "read", "track", "sink", "total"]
    fig, axes = plt.subplots(1, len(results), figsize=(3.2 * len(results), 3.4), sharey=True)
    for ax, r in zip(axes if len(results) > 1 else [axes], results):
        lat = r["latency_ms"]
        present = [s for s in order if s in lat]
        p50 = [lat[s]["p50"] for s in present]
        p95 = [lat[s]["p95"] for s in present]
        x = range(len(present))
        ax.bar([i - 0.2 for i in x], p50, width=0.4, label="p50", color="#3b75af")
        ax.bar([i + 0.2 for i in x], p95, width=0.4, label="p95", color="#ef8636")
        ax.set_xticks(list(x), present, rotation=45)
        ax.set_title(r["case"], fontsize=10)
    axes[0].set_ylabel("ms per frame")
    axes[0].legend()
    fig.suptitle("Per-stage latency (benchmarks/run.py)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def fleet(plt, runs: list[dict], out: Path) -> None:
    labels, values = [], []
    for run in runs:
        r = run["result"]
        extra = " restart one" if r["restart_one"] else ""
        labels.append(f"{r['database']}, {r['events_expected']:,} events, {r['collectors']} coll.{extra}")
        values.append(r["events_per_s"])
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    bars = ax.barh(labels, values, color=["#3b75af" if "sqlite" in lab else "#519e3e" for lab in labels])
    ax.bar_label(bars, fmt="%.0f/s", padding=3)
    ax.set_xlim(0, max(values) * 1.25)
    ax.invert_yaxis()
    ax.set_xlabel("events stored per second, 200 devices (every event once, no gap)")
    ax.set_title("edge collect under a fleet (benchmarks/fleet.py)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def histograms(plt, run: dict, out: Path) -> None:
    samples = {k: v for k, v in run["latency_samples_ms"].items() if k in ("detect", "read", "total") and v}
    fig, axes = plt.subplots(1, len(samples), figsize=(3.4 * len(samples), 3.0))
    for ax, (stage, values) in zip(axes if len(samples) > 1 else [axes], samples.items()):
        ax.hist(values, bins=40, color="#3b75af")
        ax.set_title(f"{stage} ({len(values)} frames)", fontsize=10)
        ax.set_xlabel("ms")
    axes[0].set_ylabel("frames")
    w, h = run.get("size") or (None, None)
    fig.suptitle(f"Latency per frame, {Path(run['video']).name} {w}x{h}, {run['fps']:.0f} fps (edge bench)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=HERE / "results.json")
    p.add_argument("--fleet", type=Path, default=HERE / "fleet-results.json")
    p.add_argument("--out", type=Path, default=HERE / "plots")
    p.add_argument("--samples", type=Path, help="an `edge bench --json --samples` result: latency histograms")
    args = p.parse_args()
    plt = _pyplot()
    args.out.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.results.read_text())
    fps(plt, results, args.out / "fps.png")
    stages(plt, results, args.out / "stages.png")
    if args.fleet.is_file():
        fleet(plt, json.loads(args.fleet.read_text())["runs"], args.out / "fleet.png")
    if args.samples is not None:
        histograms(plt, json.loads(args.samples.read_text()), args.out / "latency_hist.png")
    print(f"wrote {', '.join(sorted(p.name for p in args.out.glob('*.png')))} in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
