"""`edge read` on a video file: the events `edge run` would make of it, in memory, in order."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

from edge.ports import EventSink
from edge.configuration.settings import AppConfig


def read_video_events(path: Path, config: AppConfig) -> Iterator[dict]:
    """All events of one video file, as published-event dicts (seq 1..N), in order."""
    from edge.app import make_tracker, make_transform
    from edge.delivery.event_json import EventEncoder
    from edge.gps import open_gps
    from edge.gps.hooks import FirstFix
    from edge.recognition.models.loading import load_readers
    from edge.pipeline import Pipeline, PipelineOptions
    from edge.sinks import MemorySink
    from edge.sources import open_source

    models = load_readers(config)
    first_fix = FirstFix()
    gps = open_gps(config.gps, on_fix=first_fix)
    try:
        source_cfg = dataclasses.replace(config.source, kind="video", path=str(path), pacing="fast", loop=False)
        if source_cfg.start_time.strip().lower() == "gps":
            source_cfg = dataclasses.replace(source_cfg, start_time=first_fix.wait_start_time(config.gps))
        source = open_source(source_cfg)
        tracker = make_tracker(config, models.rules, gps.position_at, lambda: "video")
        encoder = EventEncoder(config.device.resolved_id, config.device.camera, models.names,
                               config.mqtt.topic_prefix)
        sink = MemorySink(encoder)
        outer: EventSink = sink
        if config.vehicle.colour:
            from edge.vehicle_colour import VehicleColourSink

            outer = VehicleColourSink(sink, config.vehicle)
        pipeline = Pipeline(source, models.detector, models.reader, tracker, outer, rules=models.rules,
                            motion=config.motion, transform=make_transform(config),
                            options=PipelineOptions(queue_size=config.source.queue_size,
                                                    keep_context=config.vehicle.colour))
        pipeline.run()
    finally:
        gps.close()
    yield from sink.events
