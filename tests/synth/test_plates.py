import re

import numpy as np
import pytest

from edge.synth.degrade import degrade
from edge.synth.plates import STYLES, SynthPlate, render_plate

TEXT = re.compile(r"^[A-Z0-9]{2,10}$")


@pytest.mark.parametrize("style", STYLES)
def test_every_style_renders_a_valid_plate(style):
    rng = np.random.default_rng(11)
    for _ in range(5):
        p = render_plate(rng, style)
        assert isinstance(p, SynthPlate)
        assert p.style == style
        assert TEXT.match(p.text), p.text
        assert p.lines in (1, 2)
        img = p.image
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        h, w = img.shape[:2]
        assert (1.1 if p.lines == 2 else 1.8) <= w / h <= 5.0
        assert img.std() > 10  # not a blank image


def test_same_seed_gives_identical_plates():
    a = [render_plate(np.random.default_rng(5)) for _ in range(2)]
    rng1, rng2 = np.random.default_rng(123), np.random.default_rng(123)
    for _ in range(30):
        p, q = render_plate(rng1), render_plate(rng2)
        assert p.text == q.text and p.style == q.style
        assert p.image.tobytes() == q.image.tobytes()
    assert a[0].image.tobytes() == a[1].image.tobytes()


def test_different_seeds_differ_and_random_style_covers_many():
    rng = np.random.default_rng(0)
    plates = [render_plate(rng) for _ in range(300)]
    assert len({p.style for p in plates}) >= len(STYLES) - 3
    assert len({p.text for p in plates}) >= 290


def test_width_is_respected():
    p = render_plate(np.random.default_rng(1), "eu_de", width=320)
    assert p.image.shape[1] == 320


def test_unknown_style_is_rejected():
    with pytest.raises(ValueError, match="unknown plate style"):
        render_plate(np.random.default_rng(0), "atlantis")


def test_degrade_is_deterministic_and_keeps_a_valid_image():
    img = render_plate(np.random.default_rng(3), "us").image
    for seed in range(40):
        a = degrade(np.random.default_rng(seed), img, strength=1.0)
        b = degrade(np.random.default_rng(seed), img, strength=1.0)
        assert a.tobytes() == b.tobytes()
        assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
        assert a.shape[0] >= 4 and a.shape[1] >= 8
    assert degrade(np.random.default_rng(0), img, strength=0).tobytes() == img.tobytes()
    # strong degradation actually changes the image
    assert not np.array_equal(degrade(np.random.default_rng(1), img, strength=1.5), img)


def test_degrade_rejects_non_bgr():
    with pytest.raises(ValueError):
        degrade(np.random.default_rng(0), np.zeros((10, 20), np.uint8))


def test_works_without_truetype_fonts():
    """Without Pillow/fonts (EDGE_SYNTH_NO_TTF=1) every style still renders, with Hershey fonts
    and the built-in squarish stroke font."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import numpy as np\n"
            "from edge.synth import fonts\n"
            "from edge.synth.plates import STYLES, render_plate\n"
            "assert set(fonts.available_fonts().values()) == {'hershey', 'stroke'}\n"
            "rng = np.random.default_rng(0)\n"
            "print(sorted({render_plate(rng, s).style for s in STYLES for _ in range(2)}) == sorted(STYLES))\n")
    env = dict(os.environ, EDGE_SYNTH_NO_TTF="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_square_font_tells_round_letters_apart():
    """The squarish plate font draws O, 0, D, Q, C and G as different shapes, every glyph fits its
    cap height, and O is wider than 0 (as on Brazil's grey plates)."""
    from edge.synth import fonts, stroke_font

    masks = {c: fonts.text_mask("plate_square", c, 60) for c in "O0DQCG"}
    for c, m in masks.items():
        assert m.shape[0] == 60 and m.max() > 0.9, c
    assert masks["O"].shape[1] > masks["0"].shape[1]
    for a in "O0DQCG":
        for b in "O0DQCG":
            if a < b and masks[a].shape == masks[b].shape:
                assert np.abs(masks[a] - masks[b]).mean() > 0.02, (a, b)
    assert set(stroke_font.GLYPHS) == set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
