"""edge.tilt: the angle that stands a plate crop's characters level."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.tilt import plate_tilt
from tests.inference.test_reader import _fixture_plates


def _turned_crop(plate: np.ndarray, angle: float) -> np.ndarray:
    """The plate on a grey ground turned by `angle` degrees, cut to the upright box around it
    plus the reader's context margin (as edge.reading cuts a detection)."""
    h, w = plate.shape[:2]
    canvas = np.full((4 * h, 2 * w, 3), 90, np.uint8)
    canvas[3 * h // 2:3 * h // 2 + h, w // 2:w // 2 + w] = plate
    m = cv2.getRotationMatrix2D((w, 2 * h), angle, 1.0)
    image = cv2.warpAffine(canvas, m, (2 * w, 4 * h), borderValue=(90, 90, 90))
    corners = cv2.transform(np.array([[[w // 2, 3 * h // 2], [w // 2 + w, 3 * h // 2],
                                       [w // 2 + w, 3 * h // 2 + h], [w // 2, 3 * h // 2 + h]]], np.float32), m)[0]
    (x1, y1), (x2, y2) = corners.min(0), corners.max(0)
    mx, my = 0.06 * (x2 - x1), 0.12 * (y2 - y1)
    return image[max(0, int(y1 - my)):int(y2 + my), max(0, int(x1 - mx)):int(x2 + mx)]


@pytest.mark.parametrize("angle", [-22.0, -12.0, -6.0, 0.0, 6.0, 12.0, 22.0])
def test_the_tilt_of_the_fixture_plates_is_measured_to_a_few_degrees(angle):
    plates = _fixture_plates()
    errors = [abs(plate_tilt(_turned_crop(plate, angle)) + angle) for _, plate, _ in plates]
    # the crop must be turned back by -angle; most plates to within 2.5 degrees
    assert sum(e <= 2.5 for e in errors) >= 0.8 * len(plates), sorted(errors)


def test_a_crop_too_small_to_tell_is_level():
    assert plate_tilt(np.zeros((6, 40, 3), np.uint8)) == 0.0
    assert plate_tilt(np.zeros((20, 10, 3), np.uint8)) == 0.0
    assert plate_tilt(np.full((30, 120), 128, np.uint8)) == 0.0  # grey, and nothing to line up
