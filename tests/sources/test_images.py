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
    with pytest.raises(SourceError, match="not found"):
        open_source(SourceConfig(kind="images", path=str(tmp_path / "nope")))
