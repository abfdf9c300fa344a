from __future__ import annotations

from datetime import timedelta

import cv2
import numpy as np
import pytest

from edge.sources import VIDEO_EPOCH, SourceConfig, SourceError, open_source


def test_image_folder_in_name_order_skipping_unreadable(tmp_path):
    for i, name in enumerate(["b.png", "a.jpg", "c.png"]):
        cv2.imwrite(str(tmp_path / name), np.full((60, 80, 3), 50 * (i + 1), np.uint8))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    source = open_source(SourceConfig(kind="images", path=str(tmp_path), fps=2.0))
    frames = list(source.frames())
    assert [f.source for f in frames] == ["images:a.jpg", "images:b.png", "images:c.png"]
    assert [f.seq for f in frames] == [0, 1, 2]
    # times keep their place on the timeline: broken.jpg (index 2) leaves a gap
    assert [f.t_utc - VIDEO_EPOCH for f in frames] == [timedelta(0), timedelta(seconds=0.5),
                                                      timedelta(seconds=1.5)]
    assert source.stats() == {"frames": 3, "unreadable": 1, "loops": 0}
    assert frames[0].image.shape == (60, 80, 3)


def test_empty_or_missing_folder_is_an_error(tmp_path):
    with pytest.raises(SourceError, match="no images"):
        open_source(SourceConfig(kind="images", path=str(tmp_path)))
    with pytest.raises(SourceError, match="no such image folder or photo"):
        open_source(SourceConfig(kind="images", path=str(tmp_path / "nope")))


def test_a_photo_over_24_mp_comes_reduced_with_its_scale(tmp_path):
    from edge.recognition.stills import MAX_STILL_PIXELS

    photo = np.zeros((4000, 6400, 3), np.uint8)
    photo[1000:1200, 2000:2800] = 255  # something at a known place
    assert photo.shape[0] * photo.shape[1] > MAX_STILL_PIXELS
    cv2.imwrite(str(tmp_path / "26mp.jpg"), photo)
    cv2.imwrite(str(tmp_path / "small.jpg"), photo[:400, :640])
    big, small = open_source(SourceConfig(kind="images", path=str(tmp_path))).frames()
    assert big.image.shape == (2000, 3200, 3) and big.photo_scale == (2.0, 2.0)
    assert big.image[550, 1200].min() > 200 and big.image[450, 1200].max() < 50
    assert small.image.shape == (400, 640, 3) and small.photo_scale == (1.0, 1.0)


def test_photos_opencv_cannot_decode_are_named_not_silently_skipped(tmp_path, caplog):
    (tmp_path / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic")
    with pytest.raises(SourceError, match=r"1 photo\(s\) skipped, such as IMG_0001.HEIC: OpenCV cannot decode "
                                          r"this format; convert to JPEG first"):
        open_source(SourceConfig(kind="images", path=str(tmp_path)))
    cv2.imwrite(str(tmp_path / "a.jpg"), np.full((60, 80, 3), 50, np.uint8))
    with caplog.at_level("WARNING"):
        frames = list(open_source(SourceConfig(kind="images", path=str(tmp_path))).frames())
    assert [f.source for f in frames] == ["images:a.jpg"]
    assert "1 photo(s) skipped, such as IMG_0001.HEIC" in caplog.text


def test_one_photo_is_a_source_of_its_own(tmp_path):
    from edge.sources import source_from_uri

    photo = tmp_path / "car.jpg"
    cv2.imwrite(str(photo), np.full((60, 80, 3), 50, np.uint8))
    config = source_from_uri(str(photo))
    assert (config.kind, config.path) == ("images", str(photo))
    frames = list(open_source(config).frames())
    assert [f.source for f in frames] == ["images:car.jpg"]
    assert source_from_uri(str(tmp_path / "clip.mp4")).kind == "video"
