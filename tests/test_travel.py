"""Direction of travel and speed estimates, checked on renderer videos of known motion.

edge.synth.video renders vehicles passing at known speeds (edge.synth.kinematics: a pinhole
camera of focal length 2000 px, 520 mm plates). Each test video goes through the real source,
pipeline, tracker and encoder:

- with the renderer's own plate boxes and texts replayed (tests/preview/fakes.py), which checks
  the estimator itself: every direction right, every speed within 10 %;
- with the shipped models, which checks it end to end: every direction right, speeds within
  their published uncertainty, the median error a few per cent.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from edge.app import make_tracker, make_transform
from edge.recognition.models.loading import load_readers
from edge.sinks import MemorySink
from edge.delivery.event_json import EventEncoder
from edge.pipeline import Pipeline, PipelineOptions
from edge.records import Direction, SpeedEstimate
from edge.configuration.settings import build_config
from edge.sources import SourceConfig, open_source
from edge.synth.kinematics import frames_for_speed, true_motion
from edge.synth.video import VehicleSpec, render_pass_video
from edge.travel import Sample, TravelEstimator, TravelScale
from edge.plate_sizes import expected_plates
from tests.preview.fakes import GroundTruthDetector, GroundTruthReader

FOCAL, PLATE_M, FPS = 2000.0, 0.52, 25
WIDTHS = (90.0, 270.0)  # px, far -> near: a camera aimed as the preview asks (>= 90 px)
SCHEMA = jsonschema.Draft202012Validator(json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "edge.read-1.schema.json").read_text()))
REGIONS = ["DE", "FR", "PL", "IT", "NL", "RO"]  # one plate size (520 mm): the ruler is certain


def passes(seed: int) -> list[VehicleSpec]:
    """Approaching and receding passes at 30-70 km/h, two across the picture, one parked."""
    rng = np.random.default_rng(seed)
    styles = ["eu_de", "eu_fr", "eu_pl", "eu_it", "eu_nl", "eu_ro"]
    specs, t = [], 8
    for k, (kmh, motion) in enumerate([(30, "towards"), (50, "towards"), (70, "towards"), (40, "away"), (60, "away")]):
        n = frames_for_speed(kmh, WIDTHS, FPS, FOCAL, PLATE_M)
        specs.append(VehicleSpec(None, styles[(k + seed) % 6], t, t + n, motion, WIDTHS, float(rng.uniform(0.4, 0.6))))
        t += n + 12
    for lane, n in ((0.35, 30), (0.65, 45)):
        specs.append(VehicleSpec(None, styles[seed % 6], t, t + n, "across", (120.0, 120.0), lane))
        t += n + 12
    specs.append(VehicleSpec(None, styles[(seed + 3) % 6], t, t + 30, "parked", (150.0, 150.0), 0.5))
    return specs


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    d = tmp_path_factory.mktemp("travel")
    video = render_pass_video(d / "travel.mp4", 5, 960, 540, FPS, vehicles=passes(5), static_frames_between=10,
                              motion_blur=0.05)
    cal = d / "camera.json"
    cal.write_text(json.dumps({"schema": "edge.calibration/1", "image_size": [960, 540],
                               "scale": {"focal_px": FOCAL, "uncertainty": 0.02, "method": "test"}}))
    config = build_config({"formats": {"regions": REGIONS}, "calibration": {"path": str(cal)},
                           "tracking": {"repeat_suppress_s": 0}})
    return video, config


def run(video, config, detector, reader) -> list[dict]:
    source = open_source(SourceConfig(kind="video", path=video.path, pacing="fast"))
    models = load_readers(config)
    tracker = make_tracker(config, models.rules, lambda t: None, lambda: "video")
    sink = MemorySink(EventEncoder("travel-test", "cam0", {"detector": detector.name, "reader": reader.name}))
    Pipeline(source, detector, reader, tracker, sink, rules=models.rules, transform=make_transform(config),
             options=PipelineOptions(queue_size=2)).run()
    for e in sink.events:
        SCHEMA.validate(e)
    return sink.events


def by_vehicle(video, events) -> dict[int, dict]:
    texts = [v.text for v in video.vehicles]
    return {texts.index(e["plate"]["text"]): e for e in events if e["plate"]["text"] in texts}


def test_direction_and_speed_of_every_pass_on_the_renderers_boxes(rendered):
    video, config = rendered
    detector = GroundTruthDetector(video.to_json())
    events = by_vehicle(video, run(video, config, detector, GroundTruthReader(detector)))
    assert len(events) == len(video.vehicles), sorted(events)
    for k, spec in enumerate(video.vehicles):
        e = events[k]
        if spec.motion == "parked":
            assert "direction" not in e and "speed" not in e  # it did not move
            continue
        truth = true_motion(video, k, FOCAL, PLATE_M)
        assert e["direction"]["label"] == truth.label, (spec.motion, e["direction"])
        assert abs(((e["direction"]["angle_deg"] - truth.angle_deg + 180) % 360) - 180) < 8
        if spec.motion == "across":
            assert "speed" not in e  # a plate seen at an angle is no ruler
            continue
        s = e["speed"]
        assert s["estimate"] is True and s["uncertainty_kmh"] > 0
        assert abs(s["kmh"] / truth.speed_kmh - 1) < 0.10, (spec.motion, truth.speed_kmh, s)


@pytest.mark.skipif(not Path(__file__).resolve().parents[1].joinpath("models", "plate_detector.onnx").exists(),
                    reason="the shipped models are not in this checkout")
def test_direction_and_speed_end_to_end_with_the_shipped_models(rendered):
    video, config = rendered
    models = load_readers(config)
    events = by_vehicle(video, run(video, config, models.detector, models.reader))
    moving = [k for k, v in enumerate(video.vehicles) if v.motion != "parked"]
    assert len([k for k in moving if k in events]) >= len(moving) - 1, sorted(events)
    errors = []
    for k, e in events.items():
        spec = video.vehicles[k]
        if spec.motion == "parked":
            assert "direction" not in e
            continue
        truth = true_motion(video, k, FOCAL, PLATE_M)
        assert e["direction"]["label"] == truth.label, (spec.motion, e["direction"])
        if spec.motion in ("towards", "away"):
            s = e["speed"]
            assert abs(s["kmh"] - truth.speed_kmh) <= 3 * s["uncertainty_kmh"], (spec.motion, truth.speed_kmh, s)
            errors.append(abs(s["kmh"] / truth.speed_kmh - 1))
    assert len(errors) >= 4 and statistics.median(errors) < 0.06, errors


def test_estimator_needs_a_scale_a_known_plate_and_motion():
    plates = expected_plates(["DE"])
    pass_ = [Sample(i / 25, 480, 300 + 4 * i, 1 / (1 / 90 + (1 / 270 - 1 / 90) * i / 20), 20) for i in range(21)]
    plain = TravelEstimator(plates)
    d = plain.direction(pass_, (960, 540))
    assert d == Direction("approaching", -90.0) and plain.speed(pass_, (960, 540), "DE", d) is None
    scaled = TravelEstimator(plates, TravelScale(2000.0, 960, 0.02))
    s = scaled.speed(pass_, (960, 540), "DE", d)
    z0, z1 = 2000 * 0.52 / 90, 2000 * 0.52 / 270
    assert isinstance(s, SpeedEstimate) and s.kmh == pytest.approx((z0 - z1) / 0.8 * 3.6, rel=0.02)
    assert scaled.speed(pass_, (960, 540), "US", d) is None or plates.certain  # one size: the region is not needed
    mixed = TravelEstimator(expected_plates(["DE", "US"]), TravelScale(2000.0, 960))
    assert mixed.speed(pass_, (960, 540), None, d) is None  # which plate? no ruler, no speed
    assert mixed.speed(pass_, (960, 540), "US", d).kmh == pytest.approx(s.kmh * 305 / 520, rel=0.02)
    still = [Sample(i / 25, 480 + 0.1 * (i % 2), 300, 150, 32) for i in range(30)]
    assert plain.direction(still, (960, 540)) is None
    assert plain.direction(pass_[:2], (960, 540)) is None


@pytest.mark.parametrize("name", ["passes", "passes_1080p"])
def test_direction_of_every_pass_of_the_committed_fixture_videos(name):
    """The fixtures' passes (tests/fixtures/video/*.json: towards, away, across) with the shipped
    models: every event names the way its vehicle went, including where two passes overlap."""
    from edge.commands.read_video import read_video_events

    fixture = Path(__file__).resolve().parent / "fixtures" / "video" / f"{name}.mp4"
    truth = json.loads(fixture.with_suffix(".json").read_text())
    expected = {v["text"]: {"towards": "approaching", "away": "receding"}.get(
        v["motion"], "right" if v["lane"] <= 0.5 else "left") for v in truth["vehicles"]}
    events = list(read_video_events(fixture, build_config({})))
    got = {e["plate"]["text"]: e["direction"]["label"] for e in events}
    assert got == expected
