import numpy as np

from edge.records import BoundingBox
from edge.synth.big_photo import compose_big_photo


def _scene(value: int) -> tuple[np.ndarray, list[tuple[BoundingBox, str]]]:
    img = np.full((100, 200, 3), value, np.uint8)
    img[40:60, 50:150] = 255 - value  # the "plate"
    return img, [(BoundingBox(50, 40, 100, 20), f"P{value}")]


def test_plates_are_placed_where_their_pixels_land():
    image, plates = compose_big_photo([_scene(10), _scene(20), _scene(30)], 300, 200, scale=0.5)
    assert image.shape == (200, 300, 3)
    assert [t for _, t in plates] == ["P10", "P20", "P30"]
    for (box, text), value in zip(plates, (10, 20, 30)):
        x, y = int(box.x), int(box.y)
        assert box.w == 50 and box.h == 10
        assert (image[y + 2:y + 8, x + 2:x + 48] == 255 - value).all(), text


def test_scenes_that_do_not_fit_are_left_out_with_their_plates():
    image, plates = compose_big_photo([_scene(i) for i in range(10)], 250, 120, scale=1.0)
    assert [t for _, t in plates] == ["P0"]
    assert image.shape == (120, 250, 3)


def test_scene_labels_are_read_per_image_with_comments_skipped(tmp_path):
    from edge.synth.big_photo import read_scene_labels

    tsv = tmp_path / "labels.tsv"
    tsv.write_text("# image\tx\ty\tw\th\ttext\na.jpg\t1.5\t2\t30\t10\tAB12\nb.jpg\t0\t0\t5\t5\tX\n"
                   "a.jpg\t40\t2\t30\t10\tCD34\n\n", encoding="utf-8")
    labels = read_scene_labels(tsv)
    assert sorted(labels) == ["a.jpg", "b.jpg"]
    assert [t for _, t in labels["a.jpg"]] == ["AB12", "CD34"]
    assert labels["a.jpg"][0][0] == BoundingBox(1.5, 2.0, 30.0, 10.0)
