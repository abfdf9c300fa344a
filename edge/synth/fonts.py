"""Glyph masks for the synthetic renderer, cached per (font, character).

Two kinds of font:

* TrueType/OpenType files found on the system (Debian ``fonts-dejavu-core``,
  ``fonts-liberation``, ``fonts-freefont-ttf``, ``fonts-urw-base35``), rendered with
  Pillow, imported lazily and only here.
* OpenCV's built-in Hershey stroke fonts, always available; drawn with thick strokes they
  look much like the DIN / FE stroke lettering of real plates.
* The squarish plate font of ``edge.synth.stroke_font``, always available.

Every glyph is rendered once into a uint8 mask whose height is the font's cap height
scaled to ``CANON`` pixels (ink cropped left/right; descenders kept for lowercase text),
and then only resized when a plate is drawn. Nothing here draws from a random generator,
so the same seed gives the same plate whatever the cache holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from edge.synth import stroke_font

CANON = 96  # cap height of a cached glyph, pixels

_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.local/share/fonts"))

# name -> file names to look for (first found wins), classified by look.
_TTF_FILES: dict[str, tuple[str, ...]] = {
    "nimbus_narrow_bold": ("NimbusSansNarrow-Bold.otf", "NimbusSansNarrow-Bold.t1"),
    "nimbus_narrow": ("NimbusSansNarrow-Regular.otf",),
    "liberation_narrow_bold": ("LiberationSansNarrow-Bold.ttf",),
    "liberation_narrow": ("LiberationSansNarrow-Regular.ttf",),
    "dejavu_cond_bold": ("DejaVuSansCondensed-Bold.ttf",),
    "dejavu_cond": ("DejaVuSansCondensed.ttf",),
    "dejavu_bold": ("DejaVuSans-Bold.ttf",),
    "dejavu_mono_bold": ("DejaVuSansMono-Bold.ttf",),
    "liberation_bold": ("LiberationSans-Bold.ttf",),
    "liberation_mono_bold": ("LiberationMono-Bold.ttf",),
    "free_sans_bold": ("FreeSansBold.ttf",),
    "nimbus_bold": ("NimbusSans-Bold.otf",),
    "gothic_demi": ("URWGothic-Demi.otf",),
    "nimbus_mono_bold": ("NimbusMonoPS-Bold.otf",),
    "script": ("Z003-MediumItalic.otf",),
    "serif_bold": ("NimbusRoman-Bold.otf", "DejaVuSerif-Bold.ttf", "LiberationSerif-Bold.ttf"),
}

# Hershey stroke fonts: (cv2 face, stroke thickness at CANON cap height)
_HERSHEY: dict[str, tuple[int, int]] = {
    "hershey_simplex_bold": (cv2.FONT_HERSHEY_SIMPLEX, 13),
    "hershey_simplex": (cv2.FONT_HERSHEY_SIMPLEX, 6),
    "hershey_duplex_bold": (cv2.FONT_HERSHEY_DUPLEX, 12),
    "hershey_plain_bold": (cv2.FONT_HERSHEY_PLAIN, 12),
}

# Font families by look, used by the plate styles. Missing files are simply skipped.
FAMILIES: dict[str, tuple[str, ...]] = {
    # narrow stroke-like lettering: FE-Schrift, DIN 1451, Mercosur, most of Europe
    "narrow": ("nimbus_narrow_bold", "liberation_narrow_bold", "dejavu_cond_bold", "hershey_simplex_bold",
               "hershey_simplex", "hershey_duplex_bold", "nimbus_narrow", "liberation_narrow", "dejavu_cond",
               "plate_square"),
    # US "penitentiary gothic" and friends: condensed bold sans
    "us": ("nimbus_narrow_bold", "liberation_narrow_bold", "dejavu_cond_bold", "hershey_simplex_bold",
           "hershey_duplex_bold", "gothic_demi", "free_sans_bold", "dejavu_bold", "liberation_bold",
           "nimbus_mono_bold", "dejavu_mono_bold", "plate_square_bold"),
    # UK Charles Wright, Indian/Asian plates: wide bold sans
    "wide": ("dejavu_bold", "liberation_bold", "free_sans_bold", "nimbus_bold", "gothic_demi",
             "hershey_duplex_bold", "hershey_simplex_bold", "dejavu_mono_bold", "liberation_mono_bold"),
    # small lines (state names, slogans, city names)
    "small": ("dejavu_cond_bold", "liberation_narrow_bold", "nimbus_bold", "free_sans_bold", "dejavu_bold",
              "hershey_simplex", "serif_bold"),
    "script": ("script", "serif_bold", "hershey_simplex"),
    # rounded-rectangle lettering (Brazil's grey plates; many others): drawn from code
    "square": ("plate_square", "plate_square_bold", "plate_square_light"),
}


@lru_cache(maxsize=1)
def _font_files() -> dict[str, str]:
    """Map of font file name -> path, found under the usual font folders (sorted, deterministic)."""
    extra = os.environ.get("EDGE_SYNTH_FONTS")
    dirs = ([extra] if extra else []) + list(_FONT_DIRS)
    found: dict[str, str] = {}
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for root, subdirs, files in os.walk(d):
            subdirs.sort()
            for f in sorted(files):
                found.setdefault(f, os.path.join(root, f))
    return found


@lru_cache(maxsize=1)
def _have_pillow() -> bool:
    if os.environ.get("EDGE_SYNTH_NO_TTF"):
        return False  # force the built-in Hershey fonts (what a machine without Pillow gets)
    try:
        import PIL.ImageFont  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def available_fonts() -> dict[str, str]:
    """Font name -> source ("hershey" or a file path) for every usable font."""
    out: dict[str, str] = {}
    if _have_pillow():
        files = _font_files()
        for name, candidates in _TTF_FILES.items():
            for c in candidates:
                if c in files and not c.endswith(".t1"):
                    out[name] = files[c]
                    break
    for name in _HERSHEY:
        out[name] = "hershey"
    for name in stroke_font.WEIGHTS:
        out[name] = "stroke"
    return out


@lru_cache(maxsize=None)
def family(name: str) -> tuple[str, ...]:
    have = available_fonts()
    fonts = tuple(f for f in FAMILIES[name] if f in have)
    return fonts or tuple(_HERSHEY)


@lru_cache(maxsize=64)
def _pil_font(path: str):
    from PIL import ImageFont

    # size chosen so that the cap height is about CANON px; rescaled exactly per glyph below
    return ImageFont.truetype(path, size=int(CANON * 1.45))


@lru_cache(maxsize=64)
def _cap_box(font_name: str) -> tuple[int, int]:
    """(top, bottom) of the capital 'H' in the font's drawing coordinates (TTF only)."""
    font = _pil_font(available_fonts()[font_name])
    _, top, _, bottom = font.getbbox("H", anchor="ls")
    return int(top), int(bottom)


@dataclass(frozen=True, slots=True)
class Glyph:
    mask: np.ndarray  # uint8, height = CANON * (1 + descent) ; cap top at row `top`
    top: int  # row of the cap top (0 for capitals without overshoot)
    advance: float  # extra advance (e.g. space width) in CANON units; 0 -> use mask width


def _render_ttf(font_name: str, ch: str) -> Glyph:
    from PIL import Image, ImageDraw

    font = _pil_font(available_fonts()[font_name])
    cap_top, cap_bottom = _cap_box(font_name)  # cap_top negative (above baseline)
    cap_h = cap_bottom - cap_top
    if ch == " ":
        w = font.getlength(" ")
        return Glyph(np.zeros((CANON, 1), np.uint8), 0, w * CANON / cap_h)
    l, t, r, b = font.getbbox(ch, anchor="ls")
    pad = 4
    W, H = int(r - l) + 2 * pad, int(max(b, 0) - min(t, cap_top)) + 2 * pad
    img = Image.new("L", (max(W, 1), max(H, 1)), 0)
    ImageDraw.Draw(img).text((pad - l, pad - min(t, cap_top)), ch, font=font, fill=255, anchor="ls")
    a = np.asarray(img)
    cols = np.where(a.max(axis=0) > 0)[0]
    if cols.size == 0:
        return Glyph(np.zeros((CANON, 1), np.uint8), 0, font.getlength(ch) * CANON / cap_h)
    a = a[:, cols[0]: cols[-1] + 1]
    # rows: from cap top (or higher ink) to bottom of ink / baseline
    y_cap = pad - min(t, cap_top) + cap_top  # row of cap top in `a`
    y_base = y_cap + cap_h
    rows = np.where(a.max(axis=1) > 0)[0]
    y0 = min(rows[0], y_cap)
    y1 = max(rows[-1] + 1, y_base)
    a = a[y0:y1]
    s = CANON / cap_h
    out = cv2.resize(a, (max(1, round(a.shape[1] * s)), max(1, round(a.shape[0] * s))), interpolation=cv2.INTER_AREA)
    return Glyph(out, round((y_cap - y0) * s), 0.0)


@lru_cache(maxsize=16)
def _hershey_cap(font_name: str) -> tuple[int, int]:
    """(top row, height) of the ink of 'H' drawn at baseline y=200, scale 4."""
    face, thick = _HERSHEY[font_name]
    img = np.zeros((300, 300), np.uint8)
    cv2.putText(img, "H", (20, 200), face, 4.0, 255, thick, cv2.LINE_AA)
    rows = np.where(img.max(axis=1) > 0)[0]
    return int(rows[0]) - 200, int(rows[-1] + 1 - rows[0])


def _render_hershey(font_name: str, ch: str) -> Glyph:
    face, thick = _HERSHEY[font_name]
    scale = 4.0
    cap_off, cap_h = _hershey_cap(font_name)
    if ch == " ":
        (sw, _), _ = cv2.getTextSize(" ", face, scale, thick)
        return Glyph(np.zeros((CANON, 1), np.uint8), 0, sw * CANON / cap_h * 0.6)
    (cw, chh), cb = cv2.getTextSize(ch, face, scale, thick)
    pad = thick * 2 + 10
    y_base = pad + max(chh, -cap_off)
    img = np.zeros((y_base + cb + pad + thick, cw + 2 * pad), np.uint8)
    cv2.putText(img, ch, (pad, y_base), face, scale, 255, thick, cv2.LINE_AA)
    cols = np.where(img.max(axis=0) > 0)[0]
    rows = np.where(img.max(axis=1) > 0)[0]
    if cols.size == 0:
        return Glyph(np.zeros((CANON, 1), np.uint8), 0, cw * CANON / cap_h)
    cap_top = y_base + cap_off
    y0 = min(rows[0], cap_top)
    y1 = max(rows[-1] + 1, cap_top + cap_h)
    a = img[y0:y1, cols[0]: cols[-1] + 1]
    s = CANON / cap_h
    out = cv2.resize(a, (max(1, round(a.shape[1] * s)), max(1, round(a.shape[0] * s))), interpolation=cv2.INTER_AREA)
    return Glyph(out, round((cap_top - y0) * s), 0.0)


@lru_cache(maxsize=8192)
def glyph(font_name: str, ch: str) -> Glyph:
    src = available_fonts()[font_name]
    if src == "stroke":
        if ch == " ":
            return Glyph(np.zeros((CANON, 1), np.uint8), 0, CANON * 0.35)
        if ch not in stroke_font.GLYPHS:  # lower case, punctuation: a plain stroke face
            return _render_hershey("hershey_simplex_bold", ch)
        mask, top = stroke_font.render(font_name, ch, CANON)
        return Glyph(mask, top, 0.0)
    if src == "hershey":
        return _render_hershey(font_name, ch)
    return _render_ttf(font_name, ch)


def text_mask(font_name: str, text: str, cap_h: int, spacing: float = 0.12, squeeze: float = 1.0,
              dash_w: float = 0.45) -> np.ndarray:
    """Draw `text` as a float32 mask (0..1) with cap height `cap_h` pixels.

    `spacing` is the gap between characters as a fraction of cap height, `squeeze` scales
    glyph widths (condensed < 1 < extended). '-' is drawn as a bar, '·' as a dot, so that
    they look the same in every font. Returns an array of shape (h, w), h >= cap_h,
    with the cap top at row 0 (descenders of lowercase letters are cut).
    """
    cap_h = max(int(cap_h), 3)
    s = cap_h / CANON
    pieces: list[tuple[np.ndarray | None, int]] = []
    gap = max(1, round(spacing * cap_h))
    total = 0
    for i, ch in enumerate(text):
        if ch == "-":
            w = max(2, round(dash_w * cap_h * squeeze))
            m = np.zeros((cap_h, w), np.float32)
            th = max(1, round(cap_h * 0.11))
            y = cap_h // 2 - th // 2
            m[y: y + th, :] = 1.0
            pieces.append((m, w))
        elif ch == "·":
            w = max(2, round(0.2 * cap_h))
            m = np.zeros((cap_h, w), np.float32)
            cv2.circle(m, (w // 2, cap_h // 2), max(1, w // 2), 1.0, -1, cv2.LINE_AA)
            pieces.append((m, w))
        else:
            g = glyph(font_name, ch)
            if g.advance:
                pieces.append((None, max(1, round(g.advance * s))))
            else:
                gw = max(1, round(g.mask.shape[1] * s * squeeze))
                gh = max(1, round(g.mask.shape[0] * s))
                m = cv2.resize(g.mask, (gw, gh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
                top = round(g.top * s)
                m = m[top: top + cap_h]
                if m.shape[0] < cap_h:
                    m = np.pad(m, ((0, cap_h - m.shape[0]), (0, 0)))
                pieces.append((m.astype(np.float32) * (1.0 / 255.0), gw))
        total += pieces[-1][1] + (gap if i < len(text) - 1 else 0)
    out = np.zeros((cap_h, max(total, 1)), np.float32)
    x = 0
    for m, w in pieces:
        if m is not None:
            out[:, x: x + w] = np.maximum(out[:, x: x + w], m[:, :w])
        x += w + gap
    return out
