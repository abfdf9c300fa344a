"""edge.recognition.tilt: the angle that stands a plate crop's characters level."""

from __future__ import annotations

import numpy as np
import pytest

from edge.recognition.reading import CONTEXT, crop_plate
from edge.recognition.tilt import plate_tilt
from tests.helpers import fixture_plates, turned_on_grey


def _turned_crop(plate: np.ndarray, angle: float) -> np.ndarray:
    """The plate turned by `angle` degrees on a grey ground, cut as edge.recognition.reading cuts a detection."""
    image, box = turned_on_grey(plate, angle)
    return crop_plate(image, box, CONTEXT)


@pytest.mark.parametrize("angle", [-22.0, -12.0, -6.0, 0.0, 6.0, 12.0, 22.0])
def test_the_tilt_of_the_fixture_plates_is_measured_to_a_few_degrees(angle):
    plates = fixture_plates()
    errors = [abs(plate_tilt(_turned_crop(plate, angle)) + angle) for _, plate, _ in plates]
    # the crop must be turned back by -angle; most plates to within 2.5 degrees
    assert sum(e <= 2.5 for e in errors) >= 0.8 * len(plates), sorted(errors)


def test_a_crop_too_small_to_tell_is_level():
    assert plate_tilt(np.zeros((6, 40, 3), np.uint8)) == 0.0
    assert plate_tilt(np.zeros((20, 10, 3), np.uint8)) == 0.0
    assert plate_tilt(np.full((30, 120), 128, np.uint8)) == 0.0  # grey, and nothing to line up
