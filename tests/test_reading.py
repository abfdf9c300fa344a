"""edge.reading: each plate read from READ_CROPS (the rest only when the first FIRST_CROPS
disagree), the crops voting on the text, and detector candidates kept only when the reader
confirms them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.reading import (CONFIRM_MIN_CHARS, CONFIRM_MIN_CONFIDENCE, CONTEXT, FIRST_CROPS, READ_CROPS, TIGHT, WIDE,
                          crop_bounds, read_detections)
from edge.records import BoundingBox, CharConfidence, PlateDetection, PlateText


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


def test_the_first_crops_of_every_plate_go_in_one_batch_and_the_rest_only_where_they_disagree():
    assert READ_CROPS[:FIRST_CROPS] == (CONTEXT, TIGHT) and READ_CROPS[FIRST_CROPS:] == (WIDE,)
    second = BoundingBox(350, 250, 120, 30)
    plates = [PlateDetection(BOX, 0.9), PlateDetection(second, 0.8)]
    reader = ScriptedReader({size(CONTEXT): text("AB12CDE", 0.6), size(TIGHT): text("AB12CDE", 0.9)})
    assert read_detections(IMAGE, plates, reader, None)[0].text == "AB12CDE"
    assert [len(b) for b in reader.batches] == [2 * FIRST_CROPS]  # both plates' crops agreed
    reader = ScriptedReader({size(CONTEXT): text("AB12CDE", 0.6), size(TIGHT): text("AB12CDF", 0.9)})
    reads = read_detections(IMAGE, plates, reader, None)
    assert reader.batches == [reader.batches[0], [size(WIDE)]]  # only the first plate disagreed
    assert reads[0].text == "AB12CDF" and reads[0].confidence == 0.9
    assert reads[1].text == "" and reads[1].box == second  # unread but sure: kept for the tracker

    reader = ScriptedReader({size(CONTEXT): text("AB12CDE", 0.95), size(TIGHT): text("AB12CDF", 0.9)})
    assert read_detections(IMAGE, [PlateDetection(BOX, 0.9)], reader, None)[0].text == "AB12CDE"


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
    sure = text("AB12CDE", CONFIRM_MIN_CONFIDENCE + 0.1)
    unsure = text("AB12CDE", CONFIRM_MIN_CONFIDENCE - 0.1)
    short = text("AB12CDE"[: CONFIRM_MIN_CHARS - 1], 0.99)
    for answer, kept in ((sure, True), (unsure, False), (short, False), (PlateText("", ()), False)):
        reader = ScriptedReader({size(CONTEXT): answer})
        reads = read_detections(IMAGE, [PlateDetection(BOX, 0.4, confirm=True)], reader, None)
        assert bool(reads) is kept, answer
        # the same read of a detection the detector is sure of is always kept
        assert len(read_detections(IMAGE, [PlateDetection(BOX, 0.9)], reader, None)) == 1
