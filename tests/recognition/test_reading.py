"""edge.recognition.reading: each plate read from `read_crops` (the tight crop only when the context crop's
read is less sure than `sure_alone`, the wide one only when those two disagree), the crops voting
on the text, and detector candidates kept only when the reader confirms them."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge.recognition.reading import CONTEXT, DEFAULT_POLICY, TIGHT, WIDE, crop_bounds, crop_plate, read_detections
from edge.records import BoundingBox, CharConfidence, PlateDetection, PlateText

POLICY = DEFAULT_POLICY


class ScriptedReader:
    """Answers each crop by its size (width, height) from a table; records every batch."""

    name = "scripted"

    def __init__(self, answers: dict[tuple[int, int], PlateText]):
        self.answers = answers
        self.batches: list[list[tuple[int, int]]] = []

    def predict(self, crops: Sequence[np.ndarray]) -> list[PlateText]:
        sizes = [(c.shape[1], c.shape[0]) for c in crops]
        self.batches.append(sizes)
        return [self.answers.get(s, PlateText("", ())) for s in sizes]


def text(t: str, p: float) -> PlateText:
    return PlateText(t, tuple(CharConfidence(c, p) for c in t))


IMAGE = np.zeros((400, 600, 3), np.uint8)
BOX = BoundingBox(100, 100, 200, 50)


def size(margin) -> tuple[int, int]:
    x1, y1, x2, y2 = crop_bounds(BOX, 600, 400, margin)
    return x2 - x1, y2 - y1


def test_each_plate_is_read_from_more_crops_only_while_they_leave_it_unsure():
    assert POLICY.read_crops == (CONTEXT, TIGHT, WIDE)
    second = BoundingBox(350, 250, 120, 30)
    plates = [PlateDetection(BOX, 0.9), PlateDetection(second, 0.8)]
    second_context, second_tight = ((x2 - x1, y2 - y1) for x1, y1, x2, y2 in
                                    (crop_bounds(second, 600, 400, m) for m in (CONTEXT, TIGHT)))
    sure_second = {second_context: text("XY99ZZ", POLICY.sure_alone), second_tight: text("XY99ZZ", 0.6)}
    # the first plate's context read is unsure: its tight crop is read too, and agrees
    reader = ScriptedReader({size(CONTEXT): text("AB12CDE", 0.6), size(TIGHT): text("AB12CDE", 0.9), **sure_second})
    reads = read_detections(IMAGE, plates, reader, None)
    assert [r.text for r in reads] == ["AB12CDE", "XY99ZZ"] and reads[1].confidence == POLICY.sure_alone
    # one batch of both context crops, then only the unsure plate's tight crop
    assert reader.batches == [[size(CONTEXT), second_context], [size(TIGHT)]]

    reader = ScriptedReader({size(CONTEXT): text("AB12CDE", 0.6), size(TIGHT): text("AB12CDF", 0.9),
                             second_context: text("XY99ZZ", 0.9), second_tight: text("XY99ZZ", 0.8)})
    reads = read_detections(IMAGE, plates, reader, None)
    # both unsure: both tight crops; only the first plate's two disagreed: its WIDE crop. On a
    # blank image no plate has a tilt to be turned level by (edge.recognition.tilt), so none is read turned
    assert reader.batches == [[size(CONTEXT), second_context], [size(TIGHT), second_tight], [size(WIDE)]]
    assert reads[0].text == "AB12CDF" and reads[0].confidence == 0.9
    assert reads[1].text == "XY99ZZ" and reads[1].confidence == 0.9

    reader = ScriptedReader({size(CONTEXT): text("AB12CDE", 0.95), size(TIGHT): text("AB12CDF", 0.9)})
    assert read_detections(IMAGE, [PlateDetection(BOX, 0.9)], reader, None)[0].text == "AB12CDE"
    reader = ScriptedReader({})  # nothing read: the tight crop is tried, and agrees
    assert read_detections(IMAGE, [PlateDetection(BOX, 0.9)], reader, None)[0].text == ""
    assert reader.batches == [[size(CONTEXT)], [size(TIGHT)]]


def test_crops_that_read_the_same_text_outvote_a_surer_single_read():
    assert len({size(CONTEXT), size(TIGHT), size(WIDE)}) == 3
    reader = ScriptedReader({size(CONTEXT): text("AB12CDE", 0.6), size(TIGHT): text("AB12CDF", 0.9),
                             size(WIDE): text("AB12CDE", 0.5)})
    read = read_detections(IMAGE, [PlateDetection(BOX, 0.9)], reader, None)[0]
    # 0.6 + 0.5 for AB12CDE against 0.9: the text's most confident read is the one kept
    assert read.text == "AB12CDE" and read.confidence == 0.6
    reader = ScriptedReader({size(CONTEXT): text("AB12CDE", 0.4), size(TIGHT): text("AB12CDF", 0.9),
                             size(WIDE): text("AB12CDE", 0.45)})
    assert read_detections(IMAGE, [PlateDetection(BOX, 0.9)], reader, None)[0].text == "AB12CDF"


def test_a_candidate_is_kept_only_when_the_reader_confirms_it():
    sure = text("AB12CDE", POLICY.confirm_min_confidence + 0.1)
    unsure = text("AB12CDE", POLICY.confirm_min_confidence - 0.1)
    short = text("AB12CDE"[: POLICY.confirm_min_chars - 1], 0.99)
    for answer, kept in ((sure, True), (unsure, False), (short, False), (PlateText("", ()), False)):
        reader = ScriptedReader({size(CONTEXT): answer})
        reads = read_detections(IMAGE, [PlateDetection(BOX, 0.4, confirm=True)], reader, None)
        assert bool(reads) is kept, answer
        # the same read of a detection the detector is sure of is always kept
        assert len(read_detections(IMAGE, [PlateDetection(BOX, 0.9)], reader, None)) == 1


class BatchReader:
    """Answers the n-th batch from the n-th list of answers; keeps the crops."""

    name = "batches"

    def __init__(self, *answers: list[PlateText]):
        self.answers = list(answers)
        self.crops: list[list[np.ndarray]] = []

    def predict(self, crops: Sequence[np.ndarray]) -> list[PlateText]:
        self.crops.append(list(crops))
        return self.answers[len(self.crops) - 1]


def test_margins_clipped_to_the_same_crop_give_it_one_vote():
    # a plate that fills the picture: the CONTEXT and WIDE margins are both clipped to the whole
    # image, the one crop that would outvote the TIGHT crop twice
    image = np.random.default_rng(1).integers(0, 255, (60, 200, 3), np.uint8)
    box = BoundingBox(4, 3, 192, 54)
    whole = (200, 60)
    assert {size_of(box, m) for m in (CONTEXT, WIDE)} == {whole} and size_of(box, TIGHT) != whole
    reader = ScriptedReader({whole: text("PII4K811", 0.52), size_of(box, TIGHT): text("PII4K81", 0.57)})
    reads = read_detections(image, [PlateDetection(box, 0.9)], reader, None)
    assert reads[0].text == "PII4K81"
    # the WIDE crop, the same pixels as the CONTEXT one, was not read
    assert [size for batch in reader.batches for size in batch].count(whole) == 1


def size_of(box: BoundingBox, margin) -> tuple[int, int]:
    x1, y1, x2, y2 = crop_bounds(box, 200, 60, margin)
    return x2 - x1, y2 - y1


def _tilted_plate(angle: float) -> tuple[np.ndarray, BoundingBox]:
    """A grey picture holding the first fixture plate turned by `angle` degrees, and the upright
    box around it."""
    from tests.helpers import fixture_plates, turned_on_grey

    return turned_on_grey(fixture_plates()[0][1], angle)


def test_an_unsure_tilted_plate_is_also_read_turned_level_and_a_sure_enough_turned_read_wins():
    from edge.recognition.tilt import plate_tilt

    image, box = _tilted_plate(12.0)
    unsure = text("AB12CDE", POLICY.tilt_below - 0.2)
    reader = BatchReader([unsure], [unsure], [text("AB12CD", 0.95)])  # context, tight, turned
    reads = read_detections(image, [PlateDetection(box, 0.9)], reader, None)
    assert reads[0].text == "AB12CD" and reads[0].confidence == 0.95
    context = crop_plate(image, box, CONTEXT)
    angle = plate_tilt(context)
    assert abs(angle + 12.0) <= 2.5  # turned back the way it was turned
    (turned,) = reader.crops[2]
    h, w = context.shape[:2]
    band = round(h * POLICY.tilt_band)
    assert turned.shape == (band, w, 3)
    # the middle rows of the whole crop turned about its centre (the plate lies across them)
    whole = cv2.warpAffine(context, cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0), (w, h),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    top = (h - band) // 2
    assert np.abs(turned.astype(int) - whole[top:top + band].astype(int)).max() <= 1
    # a level plate read unsure is not turned: there is nothing to turn it by
    level, level_box = _tilted_plate(0.0)
    assert abs(plate_tilt(crop_plate(level, level_box, CONTEXT))) < POLICY.tilt_from
    reader = BatchReader([unsure], [unsure])
    assert read_detections(level, [PlateDetection(level_box, 0.9)], reader, None)[0].text == "AB12CDE"
    assert len(reader.crops) == 2
    # a turned read clearly less sure than the crops' vote changes nothing; one nearly as sure
    # (`turned_wins_above` of it) wins
    just_under = unsure.confidence * POLICY.turned_wins_above
    reader = BatchReader([unsure], [unsure], [text("AB12CDF", just_under - 0.01)])
    assert read_detections(image, [PlateDetection(box, 0.9)], reader, None)[0].text == "AB12CDE"
    reader = BatchReader([unsure], [unsure], [text("AB12CDF", just_under + 0.01)])
    assert read_detections(image, [PlateDetection(box, 0.9)], reader, None)[0].text == "AB12CDF"
    # a sure read is not turned
    assert POLICY.tilt_below + 0.02 < POLICY.sure_alone
    reader = BatchReader([text("AB12CDE", POLICY.tilt_below + 0.02)], [text("AB12CDE", POLICY.tilt_below + 0.01)])
    assert read_detections(image, [PlateDetection(box, 0.9)], reader, None)[0].text == "AB12CDE"
    assert len(reader.crops) == 2
    # nor is a plate too small to read turned
    tiny = BoundingBox(100, 100, 40, POLICY.tilt_min_h - 1)
    reader = BatchReader([unsure], [unsure])
    assert read_detections(image, [PlateDetection(tiny, 0.9)], reader, None)[0].text == "AB12CDE"
    assert len(reader.crops) == 2


def test_the_shipped_reader_reads_tilted_fixture_plates_through_the_turned_crops():
    from edge.recognition.models import models_dir
    from edge.recognition.models.reader import OnnxPlateReader
    from tests.helpers import fixture_plates, turned_on_grey

    reader = OnnxPlateReader(models_dir() / "plate_reader.onnx")
    product = context_only = 0
    for _, plate, want in fixture_plates():
        for angle in (20, -20):
            image, box = turned_on_grey(plate, angle)
            product += read_detections(image, [PlateDetection(box, 0.9)], reader, None)[0].text == want
            context_only += reader.predict([crop_plate(image, box, CONTEXT)])[0].text == want
    # 2026-12-06: 25 of 40 plates tilted by 20 degrees read with the -15 / +15 degree turns (16
    # before they were cut to `tilt_band`), 29 turned by the measured tilt, 6 from the context crop
    # alone
    assert product >= 25 and product >= context_only + 16, (product, context_only)


def test_a_policy_passed_in_sets_how_hard_a_plate_is_looked_at():
    from dataclasses import replace

    import pytest

    from edge.recognition.reading import ReadingPolicy

    # a surer first read is needed before the tight crop is left unread
    reader = ScriptedReader({size(CONTEXT): text("AB12CDE", 0.9), size(TIGHT): text("AB12CDE", 0.9)})
    read_detections(IMAGE, [PlateDetection(BOX, 0.9)], reader, None, policy=replace(POLICY, sure_alone=0.85))
    assert reader.batches == [[size(CONTEXT)]]
    read_detections(IMAGE, [PlateDetection(BOX, 0.9)], reader, None)
    assert reader.batches[1:] == [[size(CONTEXT)], [size(TIGHT)]]
    # only the crops it names are read
    reader = ScriptedReader({size(TIGHT): text("AB12CDE", 0.6)})
    reads = read_detections(IMAGE, [PlateDetection(BOX, 0.9)], reader, None, policy=replace(POLICY, read_crops=(TIGHT,)))
    assert reads[0].text == "AB12CDE" and reader.batches == [[size(TIGHT)]]
    with pytest.raises(ValueError):
        ReadingPolicy(read_crops=())


def test_the_confirm_rule_comes_from_the_detector_when_it_has_one():
    from edge.recognition.models.detector import ConfirmRule
    from edge.recognition.reading import read_image

    class Detector:
        name = "scripted"
        confirm_rule = ConfirmRule(min_confidence=0.9, min_chars=4)

        def predict(self, image):
            return [PlateDetection(BOX, 0.4, confirm=True)]

    assert POLICY.for_detector(object()) is POLICY
    assert POLICY.for_detector(Detector()).confirm_min_confidence == 0.9
    reader = ScriptedReader({size(CONTEXT): text("AB12CDE", 0.8)})
    assert read_detections(IMAGE, Detector().predict(IMAGE), reader, None)  # the default rule keeps it
    assert not read_image(IMAGE, Detector(), reader, None).reads  # the detector's does not
