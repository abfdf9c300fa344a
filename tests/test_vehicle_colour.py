"""Vehicle colour (edge.vehicle_colour): off by default, once per event, a few ms at most.

Cars of known body colour rendered by edge.synth.video go through the real pipeline (the
renderer's plate boxes replayed, tests/preview/fakes.py) into published events; an infrared
(black and white) picture gets no colour. The accuracy on real photos is measured in
docs/vehicle_attributes.md (benchmarks/vehicle_colour.py), not here: the labelled photos are
not part of the project.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest

from edge.app import make_tracker
from edge.recognition.models.loading import load_readers
from edge.sinks import MemorySink
from edge.delivery.event_json import EventEncoder
from edge.pipeline import Pipeline, PipelineOptions
from edge.records import BoundingBox
from edge.configuration.settings import build_config
from edge.sources import SourceConfig, open_source
from edge.synth.video import VehicleSpec, render_pass_video
from edge.vehicle_colour import VehicleColourSink, VehicleConfig, classify, cut_context, name_colour
from tests.preview.fakes import GroundTruthDetector, GroundTruthReader

SCHEMA = jsonschema.Draft202012Validator(json.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "edge.read-1.schema.json").read_text()))
CARS = {"red": (30, 30, 200), "blue": (170, 70, 20), "white": (235, 235, 235), "black": (25, 25, 25),
        "green": (40, 140, 40), "yellow": (30, 200, 230)}  # BGR body colours


@pytest.fixture(scope="module")
def coloured(tmp_path_factory):
    specs, t = [], 6
    for k, bgr in enumerate(CARS.values()):
        specs.append(VehicleSpec(None, ("eu_de", "us", "eu_fr")[k % 3], t, t + 30, "towards", (90.0, 220.0),
                                 0.5, body_colour=bgr))
        t += 40
    path = tmp_path_factory.mktemp("colour") / "colours.mp4"
    return render_pass_video(path, 11, 960, 540, 25, vehicles=specs, static_frames_between=8)


def events(video, config) -> list[dict]:
    detector = GroundTruthDetector(video.to_json())
    reader = GroundTruthReader(detector)
    models = load_readers(config)
    tracker = make_tracker(config, models.rules, lambda t: None, lambda: "video")
    sink = MemorySink(EventEncoder("colour-test", "cam0", {"detector": "gt", "reader": "gt"}))
    outer = VehicleColourSink(sink, config.vehicle) if config.vehicle.colour else sink
    Pipeline(open_source(SourceConfig(kind="video", path=video.path)), detector, reader, tracker, outer,
             options=PipelineOptions(keep_context=config.vehicle.colour)).run()
    for e in sink.events:
        SCHEMA.validate(e)
    return sink.events


def test_rendered_cars_of_known_colour_get_their_colour(coloured):
    got = {e["plate"]["text"]: e.get("vehicle") for e in events(coloured, build_config({"vehicle": {"colour": True}}))}
    texts = [v.text for v in coloured.vehicles]
    assert set(got) == set(texts)
    for name, text in zip(CARS, texts):
        assert got[text]["colour"] == name, (name, got[text])
        assert 0 < got[text]["colour_confidence"] <= 1


def test_off_by_default_no_colour_and_no_pixels_kept(coloured):
    out = events(coloured, build_config({}))
    assert out and all("vehicle" not in e for e in out)


def test_an_infrared_picture_has_no_colour():
    img = np.full((360, 640, 3), 90, np.uint8)
    cv2.rectangle(img, (200, 120), (440, 300), (200, 200, 200), -1)  # a pale car body, in grey
    cv2.rectangle(img, (270, 230), (370, 254), (250, 250, 250), -1)
    assert classify(cut_context(img, BoundingBox(270, 230, 100, 24))) is None
    tinted = img.copy()
    tinted[120:300, 200:440] = (40, 40, 200)  # the same picture in colour: a red car
    assert classify(cut_context(tinted, BoundingBox(270, 230, 100, 24))).name == "red"


def test_colour_names_in_cielab():
    assert name_colour(90, 0, 2)[0] == "white" and name_colour(60, 1, -3)[0] == "silver"
    assert name_colour(40, 0, 0)[0] == "grey" and name_colour(12, 1, 1)[0] == "black"
    assert name_colour(45, 60, 40)[0] == "red" and name_colour(35, 15, -50)[0] == "blue"
    assert name_colour(50, -45, 30)[0] == "green" and name_colour(85, -5, 80)[0] == "yellow"
    assert name_colour(35, 20, 35)[0] == "brown"


def test_min_confidence_is_validated():
    with pytest.raises(ValueError, match="min_confidence"):
        VehicleConfig(colour=True, min_confidence=1.5)
