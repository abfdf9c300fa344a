"""edge.recognition.stills: stored sizes from file headers, and reduced decoding of very big photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.recognition.stills import MAX_STILL_PIXELS, read_still, reduction, stored_size
from tests.helpers import with_exif_orientation


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


def test_stored_size_from_jpeg_and_png_headers():
    image = np.zeros((300, 500, 3), np.uint8)
    assert stored_size(_jpeg(image)) == (500, 300)
    assert stored_size(with_exif_orientation(_jpeg(image), 6)) == (500, 300)  # as stored
    ok, png = cv2.imencode(".png", image)
    assert stored_size(png.tobytes()) == (500, 300)
    assert stored_size(b"this is not an image") is None
    assert stored_size(_jpeg(image)[:20]) is None  # cut before its frame header


def test_reduction_keeps_photos_up_to_the_limit_whole():
    assert reduction(6000, 4000) == 1  # 24 MP
    assert reduction(8000, 6000) == 2  # 48 MP -> 12 MP
    assert reduction(12000, 9000) == 4  # 108 MP -> 6.75 MP
    assert reduction(16320, 12240) == 4  # 200 MP -> 12.5 MP
    assert reduction(100_000, 100_000) == 8
    assert all(reduction(w, h) == 1 for w, h in [(1, 1), (4000, 3000), (MAX_STILL_PIXELS, 1)])


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_photo_over_the_limit_is_decoded_reduced_and_scaled_back(tmp_path: Path, orientation: int):
    stored = np.zeros((4000, 6500, 3), np.uint8)  # 26 MP
    stored[:1000, :2000] = 255  # a white block at the stored top-left
    path = tmp_path / "big.jpg"
    path.write_bytes(with_exif_orientation(_jpeg(stored), orientation))
    still = read_still(path)
    assert still is not None
    h, w = still.image.shape[:2]
    if orientation == 1:
        assert (w, h) == (3250, 2000)
        assert still.image[:490, :990].min() > 200 and still.image[510:, 1010:].max() < 50
    else:  # displayed turned clockwise: the block is at the top-right
        assert (w, h) == (2000, 3250)
        assert still.image[:990, -490:].min() > 200
    assert (still.scale_x * w, still.scale_y * h) == ((6500, 4000) if orientation == 1 else (4000, 6500))


def test_small_photos_are_decoded_whole_and_bad_files_give_none(tmp_path: Path):
    path = tmp_path / "small.jpg"
    path.write_bytes(_jpeg(np.full((72, 128, 3), 90, np.uint8)))
    still = read_still(path)
    assert still.image.shape == (72, 128, 3) and (still.scale_x, still.scale_y) == (1.0, 1.0)
    assert not still.cut_short
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    assert read_still(bad) is None


def test_a_jpeg_whose_header_reads_but_whose_pixels_do_not_gives_none(tmp_path: Path):
    # the size is known from the header, so the decode goes into an array made beforehand,
    # which OpenCV hands back untouched when it fails: that must not pass for a photo
    data = _jpeg(np.full((480, 640, 3), 90, np.uint8))
    header_only = tmp_path / "header_only.jpg"
    header_only.write_bytes(data[:data.index(b"\xff\xda")])  # up to the start of the scan
    assert stored_size(header_only.read_bytes()) == (640, 480)
    assert read_still(header_only) is None


def test_a_photo_whose_first_pixel_is_the_undecoded_mark_still_reads(tmp_path: Path):
    from edge.recognition.stills import _UNDECODED

    image = np.full((48, 64, 3), 90, np.uint8)
    image[0, 0] = _UNDECODED
    path = tmp_path / "marked.png"  # lossless: the first pixel stays the mark
    assert cv2.imwrite(str(path), image)
    still = read_still(path)
    assert still is not None and np.array_equal(still.image, image)


def test_big_buffers_go_back_to_the_system_on_glibc():
    import platform

    from edge.heap import give_big_buffers_back

    assert give_big_buffers_back() == (platform.libc_ver()[0] == "glibc")
