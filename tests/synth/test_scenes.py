import re

import numpy as np

from edge.records import BoundingBox
from edge.synth.scenes import SynthScene, paint_over_plates, render_scene

TEXT = re.compile(r"^[A-Z0-9]{2,10}$")


def _check(sc: SynthScene, w: int, h: int) -> None:
    assert sc.image.shape == (h, w, 3) and sc.image.dtype == np.uint8
    for box, text in sc.plates:
        assert isinstance(box, BoundingBox)
        assert TEXT.match(text), text
        assert 0 <= box.x and 0 <= box.y and box.x2 <= w and box.y2 <= h
        assert box.w >= 8 and box.h >= 3


def test_scenes_are_valid_and_plates_do_not_overlap():
    rng = np.random.default_rng(4)
    total = 0
    for _ in range(8):
        sc = render_scene(rng, 320, 240, max_plates=3)
        _check(sc, 320, 240)
        total += len(sc.plates)
        boxes = [b for b, _ in sc.plates]
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert boxes[i].iou(boxes[j]) == 0.0
    assert total >= 8


def test_scene_is_deterministic():
    a = render_scene(np.random.default_rng(9), 320, 180)
    b = render_scene(np.random.default_rng(9), 320, 180)
    assert a.image.tobytes() == b.image.tobytes() and a.plates == b.plates


def test_clean_scene_plate_differs_from_background():
    # with effects off the plate region is a rendered plate, not the road behind it
    rng = np.random.default_rng(2)
    sc = render_scene(rng, 400, 300, max_plates=1, min_plate_w=80, max_plate_w=120, effects=0)
    while not sc.plates:
        sc = render_scene(rng, 400, 300, max_plates=1, min_plate_w=80, max_plate_w=120, effects=0)
    box, _ = sc.plates[0]
    assert 70 <= box.w <= 140
    x, y, w, h = box.as_list()
    assert sc.image[y: y + h, x: x + w].std() > 20


def test_background_photo_and_paint_over():
    rng = np.random.default_rng(1)
    photo = np.full((200, 300, 3), 90, np.uint8)
    photo[120:150, 100:190] = 220  # a "plate"
    img, plates = paint_over_plates(rng, photo, [BoundingBox(100, 120, 90, 30), (0, 0, 3, 3)])
    assert len(plates) == 1  # the 3x3 box is too small to paint
    (box, text), = plates
    assert TEXT.match(text) and box.as_list() == [100, 120, 90, 30]
    assert not np.array_equal(img[120:150, 100:190], photo[120:150, 100:190])
    assert np.array_equal(img[:100], photo[:100])  # nothing outside the box changes

    sc = render_scene(rng, 300, 200, background=photo, background_plates=[(100, 120, 90, 30)], max_plates=2)
    _check(sc, 300, 200)
    assert len(sc.plates) >= 1
