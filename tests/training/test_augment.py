"""Training augmentation: reproducible from the seed, and the shared blur/JPEG step does what
its probabilities say (the trainings' only untested code would otherwise be this)."""

from __future__ import annotations

import numpy as np

from training.augment import blur_and_jpeg
from training.detector.data import photometric as detector_photometric
from training.ocr.augment import photometric as reader_photometric

IMAGE = (np.random.default_rng(1).random((64, 128, 3)) * 255).astype(np.uint8)


def test_photometric_steps_are_reproducible_from_the_seed():
    for step in (detector_photometric, reader_photometric):
        runs = [[step(IMAGE.copy(), np.random.default_rng(seed)) for seed in range(60)] for _ in range(2)]
        assert all(np.array_equal(a, b) for a, b in zip(*runs)), step.__module__
        assert not all(np.array_equal(a, IMAGE) for a in runs[0])  # it does change images


def test_blur_and_jpeg_follows_its_probabilities():
    rng = np.random.default_rng(0)
    assert np.array_equal(blur_and_jpeg(IMAGE, rng, 0.0, 0.0, 0.0, (30, 40)), IMAGE)
    blurred = blur_and_jpeg(IMAGE, rng, 1.0, 0.0, 0.0, (30, 40))
    assert blurred.shape == IMAGE.shape and blurred.std() < IMAGE.std()
    jpeg = blur_and_jpeg(IMAGE, rng, 0.0, 0.0, 1.0, (30, 40))
    assert jpeg.shape == IMAGE.shape and not np.array_equal(jpeg, IMAGE)
