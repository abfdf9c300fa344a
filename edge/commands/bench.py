"""`edge bench VIDEO`: frames per second and per-stage latency of the real pipeline, peak memory.

Runs the same Pipeline as `edge run` (capture thread, queue, motion gate, detector, reader,
formats, tracker) on a video file as fast as possible, with events kept in memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure fps, per-stage latency and peak memory on a video")
    p.add_argument("video", type=Path, metavar="VIDEO", help="a video file or a folder of images")
    p.add_argument("--config", type=Path, help="TOML config (models, motion gate, tracking)")
    p.add_argument("--frames", type=int, default=0, help="stop after N frames (0 = whole video)")
    p.add_argument("--detect-every-frame", action="store_true",
                   help="disable the motion gate: run the detector on every frame")
    p.add_argument("--loop", action="store_true", help="loop the video until --frames are read")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--samples", action="store_true",
                   help="with --json: also every frame's per-stage latency (ms), for histograms")
    p.add_argument("--no-stages", action="store_true",
                   help="do not time the finer stages (decode, detector passes, reader batches...)")


def peak_rss_mb() -> float:
    """Peak resident memory of this process (ru_maxrss is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def bench(video: Path, config, frames: int = 0, detect_every_frame: bool = False,
          loop: bool = False, samples: bool = False, stages: bool = True) -> dict:
    from edge.app import make_tracker, make_transform
    from edge.recognition.models.loading import load_readers, warm_up
    from edge.delivery.event_json import EventEncoder
    from edge.pipeline import Pipeline, PipelineOptions
    from edge.sinks import MemorySink
    from edge.sources import open_source

    kind = "images" if Path(video).is_dir() else "video"
    # wired as `edge run` wires this source: a folder of photos is stills (see edge.app)
    config = dataclasses.replace(config, source=dataclasses.replace(
        config.source, kind=kind, path=str(video), pacing="fast", loop=loop))
    t0 = time.perf_counter()
    models = load_readers(config, stills=kind == "images")
    load_ms = (time.perf_counter() - t0) * 1e3
    source = open_source(config.source)
    warm_ms = warm_up(models, (getattr(source, "width", 0) or 1280, getattr(source, "height", 0) or 720))
    motion = config.motion
    if detect_every_frame:
        motion = dataclasses.replace(motion, enabled=False)
    tracker = make_tracker(config, models.rules, lambda t: None, lambda: "video")
    encoder = EventEncoder(config.device.resolved_id, config.device.camera, models.names)
    sink = MemorySink(encoder)
    pipeline = Pipeline(source, models.detector, models.reader, tracker, sink, rules=models.rules,
                        motion=motion, transform=make_transform(config),
                        options=PipelineOptions(queue_size=config.source.queue_size, max_frames=frames))
    from contextlib import nullcontext

    from edge.progress import CounterBar
    from edge.stage_timing import timing

    with timing(pipeline) if stages else nullcontext() as timer, \
            CounterBar(lambda: pipeline.counts["processed"], desc="bench", total=frames or None, unit="frame"):
        summary = pipeline.run()
    result = {
        "video": str(video),
        "size": [getattr(source, "width", None), getattr(source, "height", None)],
        "detect_every_frame": not motion.enabled,
        "fps": summary["fps"],
        "frames": summary["frames"],
        "motion": summary["motion"],
        "latency_ms": summary["latency_ms"],
        "events": [e["plate"]["text"] for e in sink.events],
        "models": models.names,
        "model_load_ms": round(load_ms, 1),
        "warm_up_ms": round(warm_ms, 1),
        "peak_rss_mb": peak_rss_mb(),
    }
    if timer is not None:  # the finer stages (edge.stage_timing), per frame unless per call
        result["stages_ms"] = timer.summary()
    if samples:  # every frame's latency per stage, for histograms (benchmarks/plots.py)
        result["latency_samples_ms"] = {stage: [round(v, 3) for v in pipeline.latency.values(stage)]
                                        for stage in summary["latency_ms"]}
    return result


def run(args: argparse.Namespace) -> int:
    from edge.configuration.validation import ConfigError
    from edge.configuration.settings import load_config

    try:
        config = load_config(args.config)
        result = bench(args.video, config, args.frames, args.detect_every_frame, args.loop,
                       samples=args.samples and args.json, stages=not args.no_stages)
    except ConfigError as exc:
        print(f"edge bench: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"edge bench: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
        return 0
    f = result["frames"]
    w, h = result["size"]
    print(f"video      {result['video']} ({f'{w}x{h}' if w and h else 'a folder of photos'})")
    print(f"mode       {'detect every frame' if result['detect_every_frame'] else 'motion gate'}")
    print(f"frames     {f['processed']} processed, {f['detected_frames']} analysed, "
          f"{f['gated_frames']} skipped as static, {f['dropped']} dropped")
    print(f"fps        {result['fps']:.1f}")
    print(f"events     {len(result['events'])}: {' '.join(result['events'])}")
    print(f"peak RSS   {result['peak_rss_mb']:.0f} MB")
    print(f"{'stage':<14} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for stage, v in result["latency_ms"].items():
        print(f"{stage:<14} {v['n']:>6} {v['p50']:>8.2f} {v['p95']:>8.2f} {v['mean']:>8.2f}")
    finer = dict(result.get("stages_ms", {}))
    per_frame = finer.pop("per frame", {})
    if finer:
        print("finer stages (per frame where they ran; decode, reader batch and event per call):")
        for stage, v in finer.items():
            print(f"  {stage:<15} {v['n']:>5} {v['p50']:>8.2f} {v['p95']:>8.2f} {v['mean']:>8.2f}")
    for what, v in per_frame.items():
        print(f"  {what + ' per analysed frame':<34} p50 {v['p50']:g}, p95 {v['p95']:g}, mean {v['mean']:.2f}")
    return 0
