"""Synthetic licence plates: US, EU, Brazil, UK, two-line, Chinese-style and Indian-style.

    plate = render_plate(np.random.default_rng(7))            # random style
    plate = render_plate(rng, "eu_de", width=320)              # one style, 320 px wide

`plate.image` is a BGR uint8 image cropped tightly to the plate (its border included),
`plate.text` the registration only (A-Z0-9, no separators; for Chinese-style plates the
Latin part only). Same generator state -> byte-identical output.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.synth import fonts
from edge.synth._draw import blend_mask, fit_text, hexc, jitter, rounded_rect, vertical_gradient

LETTERS = string.ascii_uppercase
DIGITS = string.digits


@dataclass(frozen=True)
class SynthPlate:
    image: np.ndarray = field(repr=False)  # BGR uint8, plate incl. its border
    text: str  # registration characters, A-Z0-9 only
    style: str
    lines: int


# --------------------------------------------------------------------------- text helpers

def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _pat(rng: np.random.Generator, pattern: str, letters: str = LETTERS) -> str:
    """'L' -> letter, 'N' -> digit, 'A' -> either, anything else copied."""
    out = []
    for p in pattern:
        if p == "L":
            out.append(_pick(rng, letters))
        elif p == "N":
            out.append(_pick(rng, DIGITS))
        elif p == "A":
            out.append(_pick(rng, letters + DIGITS))
        else:
            out.append(p)
    return "".join(out)


def _clean(s: str) -> str:
    return "".join(c for c in s if c.isascii() and c.isalnum()).upper()


def _font(rng: np.random.Generator, fam: str) -> str:
    return _pick(rng, fonts.family(fam))


def _bolts(rng: np.random.Generator, img: np.ndarray, pts, r: float) -> None:
    if rng.random() < 0.35:
        return
    r = max(1, int(round(r)))
    metal = jitter(rng, (150, 150, 150), 30)
    for (x, y) in pts:
        x, y = int(round(x)), int(round(y))
        cv2.circle(img, (x, y), r, metal, -1, cv2.LINE_AA)
        cv2.circle(img, (x - max(1, r // 3), y - max(1, r // 3)), max(1, r // 3), (230, 230, 230), -1, cv2.LINE_AA)
        cv2.circle(img, (x, y), r, (60, 60, 60), 1, cv2.LINE_AA)


def _stars(img: np.ndarray, cx: float, cy: float, rad: float) -> None:
    yel = hexc("#FFD200")
    s = max(1, int(round(rad * 0.16)))
    for k in range(12):
        a = k * np.pi / 6
        cv2.circle(img, (int(round(cx + rad * np.cos(a))), int(round(cy + rad * np.sin(a)))), s, yel, -1, cv2.LINE_AA)


def _eu_band(rng: np.random.Generator, img: np.ndarray, x0: int, x1: int, y0: int, y1: int, code: str,
             right: bool = False) -> None:
    blue = jitter(rng, hexc("#003399"), 10)
    cv2.rectangle(img, (x0, y0), (x1, y1), blue, -1)
    w, h = x1 - x0, y1 - y0
    if not right:
        _stars(img, x0 + w / 2, y0 + h * 0.3, min(w, h) * 0.3)
        ch = h * 0.26
        fit_text(img, _font(rng, "wide"), code, (x0 + w * 0.08, y0 + h * 0.62, x1 - w * 0.08, y0 + h * 0.62 + ch),
                 (255, 255, 255), spacing=0.05)


def _sticker(rng: np.random.Generator, img: np.ndarray, x: float, y: float, w: float, h: float) -> None:
    col = _pick(rng, [hexc("#2E7D32"), hexc("#C62828"), hexc("#F9A825"), hexc("#1565C0"), hexc("#6A1B9A"),
                      hexc("#EF6C00"), (240, 240, 240)])
    x, y, w, h = int(x), int(y), max(2, int(w)), max(2, int(h))
    cv2.rectangle(img, (x, y), (x + w, y + h), col, -1)
    if h >= 6:
        txt = _pat(rng, "NN")
        fit_text(img, "hershey_simplex", txt, (x + w * 0.15, y + h * 0.2, x + w * 0.85, y + h * 0.75),
                 (20, 20, 20) if sum(col) > 400 else (250, 250, 250))


def _emboss(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Slight relief / paper texture so flat colours do not look like vector art."""
    h, w = img.shape[:2]
    if rng.random() < 0.5:
        return img
    n = rng.normal(0, rng.uniform(1.5, 5), (h // 2 + 1, w // 2 + 1)).astype(np.float32)
    n = cv2.resize(n, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(img.astype(np.float32) + n[:, :, None], 0, 255).astype(np.uint8)


def _shadow_text(rng: np.random.Generator, img: np.ndarray, font, text, box, color, **kw):
    """Embossed characters: a faint dark offset copy under the text (US plates are stamped)."""
    if rng.random() < 0.4:
        x0, y0, x1, y1 = box
        d = max(1.0, (y1 - y0) * 0.04)
        fit_text(img, font, text, (x0 + d, y0 + d, x1 + d, y1 + d), tuple(int(int(c) * 0.45) for c in img[2, 2]), **kw)
    return fit_text(img, font, text, box, color, **kw)


# --------------------------------------------------------------------------- US

US_STATES = (
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware", "Florida",
    "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky", "Louisiana", "Maine",
    "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi", "Missouri", "Montana", "Nebraska",
    "Nevada", "New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina", "North Dakota", "Ohio",
    "Oklahoma", "Oregon", "Pennsylvania", "Rhode Island", "South Carolina", "South Dakota", "Tennessee", "Texas",
    "Utah", "Vermont", "Virginia", "Washington", "West Virginia", "Wisconsin", "Wyoming",
)
US_SLOGANS = (
    "Sunshine State", "Empire State", "Land of Lincoln", "Live Free or Die", "Great Lakes", "Famous Potatoes",
    "The Lone Star State", "Grand Canyon State", "Garden State", "visitPA.com", "First in Flight",
    "Wild, Wonderful", "America's Dairyland", "Green Mountain State", "Beautiful", "The Natural State",
    "Sportsman's Paradise", "Vacationland", "Big Sky Country", "Treasure State", "10,000 Lakes",
    "Greatest Snow on Earth", "Ocean State", "Heart of Dixie", "Pure Michigan", "dmv.ca.gov", "Peach State",
    "Show Me State", "In God We Trust", "Centennial State", "Land of Enchantment", "Aloha State",
)
# (background top, background bottom, characters, header, slogan)
US_SCHEMES = (
    ("#FFFFFF", "#F2F2F2", "#1B2A6B", "#C8102E", "#1B2A6B"),  # CA-like
    ("#FFFFFF", "#E9EEF5", "#111111", "#111111", "#444444"),  # TX-like
    ("#F7F3E3", "#F3C94B", "#0B2F6E", "#0B2F6E", "#0B2F6E"),  # NY-like gold/blue
    ("#FFFFFF", "#FFFFFF", "#0B6E3A", "#0B6E3A", "#0B6E3A"),  # FL-like green
    ("#FFFFFF", "#DDE8F4", "#0A2A66", "#0A2A66", "#B22234"),
    ("#FCEFC0", "#E8B94A", "#1A1A1A", "#1A1A1A", "#1A1A1A"),  # yellow
    ("#E6F0FA", "#9DC3E6", "#0E1F4D", "#0E1F4D", "#0E1F4D"),  # light blue
    ("#101010", "#202020", "#F2F2F2", "#F2F2F2", "#D4AF37"),  # black
    ("#0A2463", "#123A85", "#FFFFFF", "#FFD23F", "#FFFFFF"),  # dark blue
    ("#FFFFFF", "#FFE8B0", "#7A1020", "#7A1020", "#7A1020"),  # maroon
    ("#FFFFFF", "#F0F0F0", "#2B2B2B", "#1F4E9E", "#1F4E9E"),
    ("#F5F9F2", "#BFD9A8", "#163E1C", "#163E1C", "#163E1C"),  # greenish
    ("#FFFFFF", "#FDE2C8", "#B3261E", "#B3261E", "#6B3E26"),  # red chars
)
US_PATTERNS = (
    ("NLLLNNN", (1, 4)), ("LLLNNNN", (3,)), ("LLLNNN", (3,)), ("NNNLLL", (3,)), ("NLLNNN", (3,)),
    ("LLNNNNN", (2,)), ("NNNNNN", (3,)), ("LLLNNNN", (3,)), ("NNNNLL", (4,)), ("LLNNLLL", (2, 4)),
    ("NNNNNNN", (3,)), ("LNNNLL", (4,)), ("NLLNN", (3,)), ("LLL NNN", ()), ("NNLNNN", (3,)),
    ("LLLLNNNN", (4,)), ("NNNNN", (2,)), ("NNNLLLL", (3,)),
)
_VANITY_WORDS = (
    "LUV", "MY", "GO", "BLUE", "CAR", "ZOOM", "FAST", "MOM", "DAD", "KING", "QUEEN", "BOSS", "JAZZ", "SURF",
    "SKI", "GOLF", "BEACH", "RIDE", "TESLA", "JEEP", "HAPPY", "LUCKY", "STAR", "ROCK", "WOLF", "BEAR", "EAGLE",
    "AURA", "NBT", "LIMES", "OHYEAH", "XOXO", "YOLO", "CHILL", "RUN", "NERD", "CODE", "MAGIC", "DREAM",
)


def _vanity(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.4:
        s = _pick(rng, _VANITY_WORDS)
        if rng.random() < 0.5:
            s += str(int(rng.integers(1, 100)))
    elif r < 0.7:
        s = _pick(rng, _VANITY_WORDS) + _pick(rng, _VANITY_WORDS)
    else:
        s = "".join(_pick(rng, "BCDFGHJKLMNPRSTVWZ" if i % 2 == 0 else "AEIOUY") for i in range(int(rng.integers(3, 7))))
    s = s[: int(rng.integers(6, 9))]
    if len(s) < 2:
        s += _pat(rng, "NN")
    return s


def _us(rng: np.random.Generator, W: int, H: int, vanity: bool, ov: str | None = None) -> tuple[np.ndarray, str]:
    bg_top, bg_bot, ch, hd, sl = (hexc(c) for c in _pick(rng, US_SCHEMES))
    img = vertical_gradient(H, W, jitter(rng, bg_top, 8), jitter(rng, bg_bot, 8))
    # background motif: a faint hill / sun / band
    motif = rng.random()
    if motif < 0.2 and sum(bg_top) > 380:  # scenic picture (desert, sunset, mountains, sea), washed out
        pal = np.float32([[235, 200, 140], [120, 190, 240], [90, 140, 250], [150, 200, 150], [200, 150, 170],
                          [230, 230, 210], [80, 160, 230], [200, 120, 90]])
        grid = pal[rng.integers(len(pal), size=(3, 5))]
        field = cv2.resize(grid, (W, H), interpolation=cv2.INTER_CUBIC)
        a = rng.uniform(0.3, 0.65)
        img = np.clip(img.astype(np.float32) * (1 - a) + field * a, 0, 255).astype(np.uint8)
        if rng.random() < 0.6:
            pts = [(0, H)] + [(int(W * k / 8), int(H * rng.uniform(0.45, 0.9))) for k in range(9)] + [(W, H)]
            col = tuple(int(c) for c in np.clip(field[H // 2, W // 2] * 0.75, 0, 255))
            cv2.fillPoly(img, [np.array(pts, np.int32)], col, cv2.LINE_AA)
    elif motif < 0.4:
        pts = [(0, int(H * rng.uniform(0.55, 0.8)))]
        for k in range(1, 7):
            pts.append((int(W * k / 6), int(H * rng.uniform(0.5, 0.85))))
        pts += [(W, H), (0, H)]
        col = tuple(int(int(a) * 0.75 + b * 0.25) for a, b in zip(img[H // 2, W // 2], jitter(rng, (120, 160, 90), 60)))
        cv2.fillPoly(img, [np.array(pts, np.int32)], col, cv2.LINE_AA)
    elif motif < 0.5:
        col = tuple(int(int(a) * 0.7 + b * 0.3) for a, b in zip(img[H // 2, W // 2], jitter(rng, (60, 170, 240), 40)))
        cv2.circle(img, (int(W * rng.uniform(0.3, 0.7)), int(H * 0.55)), int(H * rng.uniform(0.25, 0.45)), col, -1,
                   cv2.LINE_AA)
    elif motif < 0.62:
        col = jitter(rng, (90, 40, 20) if sum(bg_top) > 380 else (220, 220, 220), 40)
        cv2.rectangle(img, (0, 0), (W, int(H * rng.uniform(0.18, 0.24))), col, -1)
        hd = (255, 255, 255) if sum(col) < 380 else (20, 20, 20)
    if vanity:
        text = _vanity(rng)
        shown = text
    else:
        pat, seps = _pick(rng, US_PATTERNS)
        text = _pat(rng, pat.replace(" ", ""))
        sep = _pick(rng, [" ", "-", "", " ", "·"]) if seps else ""
        shown = text
        for i in sorted(seps, reverse=True):
            shown = shown[:i] + sep + shown[i:]
        text = _clean(text)
    if ov is not None:
        shown, text = ov, _clean(ov)
    # header: state name
    state = _pick(rng, US_STATES)
    if rng.random() < 0.5:
        state = state.upper()
    hfont = _font(rng, "script") if rng.random() < 0.3 else _font(rng, "small")
    hh = H * rng.uniform(0.12, 0.18)
    fit_text(img, hfont, state, (W * 0.12, H * 0.06, W * 0.88, H * 0.06 + hh), hd, spacing=0.08)
    # slogan
    if rng.random() < 0.85:
        sh = H * rng.uniform(0.08, 0.12)
        fit_text(img, _font(rng, "small"), _pick(rng, US_SLOGANS), (W * 0.15, H * 0.84, W * 0.85, H * 0.84 + sh),
                 sl, spacing=0.06)
    # registration
    cap = H * rng.uniform(0.40, 0.50)
    cy = H * rng.uniform(0.50, 0.56)
    f = _font(rng, "us")
    margin = W * rng.uniform(0.05, 0.1)
    _shadow_text(rng, img, f, shown, (margin, cy - cap / 2, W - margin, cy + cap / 2), jitter(rng, ch, 10),
                 spacing=rng.uniform(0.06, 0.2), squeeze=rng.uniform(0.8, 1.1),
                 bold=int(rng.integers(-1, 2)))
    # stickers in the corners
    if rng.random() < 0.6:
        sw, sh_ = W * 0.1, H * 0.14
        x = W * 0.04 if rng.random() < 0.5 else W * 0.86
        _sticker(rng, img, x, H * 0.05, sw, sh_)
    _bolts(rng, img, [(W * 0.2, H * 0.12), (W * 0.8, H * 0.12), (W * 0.2, H * 0.88), (W * 0.8, H * 0.88)], H * 0.04)
    if rng.random() < 0.5:
        rounded_rect(img, (1, 1), (W - 2, H - 2), jitter(rng, ch, 20), max(1, int(H * 0.02)), int(H * 0.06))
    return img, text


# --------------------------------------------------------------------------- EU

_NO_IOQ = "ABCDEFGHJKLMNPRSTUVWXYZ"
_ES_LETTERS = "BCDFGHJKLMNPRSTVWXYZ"
_IT_LETTERS = "ABCDEFGHJKLMNPRSTVWXYZ"
_NL_LETTERS = "BDFGHJKLNPRSTVXZ"
_DE_CITIES = ("B", "M", "HH", "K", "F", "S", "D", "DO", "E", "HB", "H", "L", "N", "DD", "BN", "MS", "KA", "WI",
              "AC", "GE", "BO", "HD", "RO", "LB", "ES", "OF", "MZ", "BI", "SU", "RE", "PI", "BAD", "MOL", "WES")
_RO_COUNTIES = ("AB", "AR", "AG", "BC", "BH", "BN", "BT", "BV", "BR", "BZ", "CS", "CL", "CJ", "CT", "CV", "DB",
                "DJ", "GL", "GR", "GJ", "HR", "HD", "IL", "IS", "IF", "MM", "MH", "MS", "NT", "OT", "PH", "SM",
                "SJ", "SB", "SV", "TR", "TM", "TL", "VS", "VL", "VN")
_PL_PREFIX = ("WA", "WE", "WI", "KR", "KK", "PO", "PZ", "GD", "GA", "WR", "DW", "LU", "EL", "SK", "SC", "ZS",
              "BI", "OP", "RZ", "WPR", "WND", "KRA", "SBI", "DLU", "GKA")


def _eu_text(rng: np.random.Generator, country: str) -> tuple[str, str]:
    """(shown text with separators, code for the band)."""
    if country == "de":
        city = _pick(rng, _DE_CITIES)
        n_l = int(rng.integers(1, 3))
        n_d = int(rng.integers(1, 5))
        while len(city) + n_l + n_d > 8:
            n_d -= 1
        return f"{city} {_pat(rng, 'L' * n_l, _NO_IOQ)} {_pat(rng, 'N' * n_d).lstrip('0') or '1'}", "D"
    if country == "fr":
        return _pat(rng, "LL-NNN-LL", _NO_IOQ.replace("U", "")), "F"
    if country == "it":
        return _pat(rng, "LL NNNLL", _IT_LETTERS), "I"
    if country == "es":
        return _pat(rng, "NNNN LLL", _ES_LETTERS), "E"
    if country == "nl":
        side = _pick(rng, ("NN-LL-NN", "LL-NNN-L", "N-LLL-NN", "LL-NN-LL", "NN-LLL-N", "N-LL-NNN", "L-NN-LLL",
                           "LLL-NN-L"))
        return _pat(rng, side, _NL_LETTERS), "NL"
    if country == "pl":
        pre = _pick(rng, _PL_PREFIX)
        rest = _pat(rng, _pick(rng, ("NNNNN", "NNNLL", "NLLNN", "NNNNL", "NNLL", "NNNN")) if len(pre) == 2 else
                    _pick(rng, ("NNNN", "NNLL", "NLLN", "NNNL", "LNNN")), _NO_IOQ)
        return f"{pre} {rest}", "PL"
    if country == "ro":
        if rng.random() < 0.35:
            return f"B {_pat(rng, _pick(rng, ('NN', 'NNN')))} {_pat(rng, 'LLL', _NO_IOQ)}", "RO"
        return f"{_pick(rng, _RO_COUNTIES)} {_pat(rng, 'NN')} {_pat(rng, 'LLL', _NO_IOQ)}", "RO"
    # other EU countries
    code, pat = _pick(rng, (("CZ", "NLN NNNN"), ("SK", "LL NNNLL"), ("HU", "LLL-NNN"), ("A", "LL NNN L"),
                            ("B", "N-LLL-NNN"), ("P", "LL-NN-LL"), ("S", "LLL NNL"), ("DK", "LL NN NNN"),
                            ("FIN", "LLL-NNN"), ("LT", "LLL NNN"), ("BG", "LL NNNN LL"), ("SLO", "LL LN-NNN"),
                            ("IRL", "NNN-L-NNNN"), ("LV", "LL-NNNN"), ("HR", "LL NNN-LL"), ("EST", "NNN LLL"),
                            ("L", "LL NNNN"), ("GR", "LLL-NNNN")))
    return _pat(rng, pat, _NO_IOQ), code


EU_COUNTRIES = ("de", "fr", "it", "es", "nl", "pl", "ro", "other")


def _eu(rng: np.random.Generator, W: int, H: int, country: str, ov: str | None = None) -> tuple[np.ndarray, str]:
    shown, code = _eu_text(rng, country)
    if ov is not None:
        shown = ov
    bg = hexc("#F6C900") if country == "nl" else (hexc("#FFD500") if (country == "other" and code == "L") else
                                                   (245, 245, 245))
    img = vertical_gradient(H, W, jitter(rng, bg, 6), jitter(rng, tuple(int(c * 0.95) for c in bg), 6))
    chars = (20, 20, 20)
    if code == "B":
        chars = hexc("#8B1A1A")
    b = max(1, int(round(H * 0.035)))
    band_w = int(round(W * rng.uniform(0.075, 0.095)))
    _eu_band(rng, img, b, b + band_w, b, H - b, code)
    x_end = W - b
    if country == "fr":
        _eu_band(rng, img, W - b - band_w, W - b, b, H - b, "", right=True)
        fit_text(img, "hershey_simplex_bold", _pat(rng, "NN"), (W - b - band_w * 0.85, H * 0.55, W - b - band_w * 0.15,
                                                                 H * 0.8), (255, 255, 255))
        x_end = W - b - band_w
    elif country == "it":
        _eu_band(rng, img, W - b - band_w, W - b, b, H - b, "", right=True)
        fit_text(img, "hershey_simplex_bold", _pat(rng, "LL"), (W - b - band_w * 0.85, H * 0.55, W - b - band_w * 0.15,
                                                                 H * 0.8), (255, 255, 255))
        x_end = W - b - band_w
    cap = H * rng.uniform(0.62, 0.72)
    cy = H * 0.5 + rng.normal(0, H * 0.015)
    f = _font(rng, "narrow")
    x0 = b + band_w + W * 0.02
    if country == "de" and " " in shown and rng.random() < 0.85:
        # two round seals between city code and letters
        city, rest = shown.split(" ", 1)
        w1 = fit_text(img, f, city, (x0, cy - cap / 2, x0 + W * 0.25, cy + cap / 2), chars, spacing=0.1,
                      align="left")[2]
        r = H * 0.16
        sx = w1 + r * 1.5
        cv2.circle(img, (int(sx), int(H * 0.3)), int(r), jitter(rng, _pick(rng, [hexc("#F28C28"), hexc("#3FA34D"),
                                                                            hexc("#D94F9B"), hexc("#2F7CC0")]), 8),
                   -1, cv2.LINE_AA)
        cv2.circle(img, (int(sx), int(H * 0.7)), int(r), jitter(rng, (200, 200, 200), 20), -1, cv2.LINE_AA)
        fit_text(img, f, rest.replace(" ", "  "), (sx + r * 1.5, cy - cap / 2, x_end - W * 0.02, cy + cap / 2), chars,
                 spacing=0.1, align="left" if rng.random() < 0.5 else "center")
    else:
        fit_text(img, f, shown, (x0, cy - cap / 2, x_end - W * 0.02, cy + cap / 2), chars,
                 spacing=rng.uniform(0.05, 0.15), squeeze=rng.uniform(0.85, 1.05), bold=int(rng.integers(0, 2)),
                 dash_w=0.35)
    rounded_rect(img, (0, 0), (W - 1, H - 1), (25, 25, 25), b, int(H * 0.08))
    return img, _clean(shown)


# --------------------------------------------------------------------------- Brazil

_BR_CITIES = ("SP - SAO PAULO", "RJ - RIO DE JANEIRO", "MG - BELO HORIZONTE", "PR - CURITIBA", "RS - PORTO ALEGRE",
              "BA - SALVADOR", "SC - FLORIANOPOLIS", "GO - GOIANIA", "PE - RECIFE", "CE - FORTALEZA", "DF - BRASILIA",
              "SP - CAMPINAS", "SP - SANTOS", "MG - UBERLANDIA")


def _mercosur_band(rng: np.random.Generator, img: np.ndarray, W: int, band_h: int) -> None:
    blue = jitter(rng, hexc("#003DA5"), 10)
    cv2.rectangle(img, (0, 0), (W, band_h), blue, -1)
    fit_text(img, _font(rng, "small"), "BRASIL", (W * 0.3, band_h * 0.2, W * 0.7, band_h * 0.8), (255, 255, 255),
             spacing=0.12)
    # Mercosur logo (left) and flag (right)
    cx = int(W * 0.08)
    for k in range(4):
        cv2.circle(img, (cx + int(band_h * 0.12 * (k - 1.5)), int(band_h * (0.35 + 0.1 * (k % 2)))),
                   max(1, int(band_h * 0.06)), (255, 255, 255), -1)
    fx0, fx1 = int(W * 0.86), int(W * 0.95)
    fy0, fy1 = int(band_h * 0.2), int(band_h * 0.8)
    cv2.rectangle(img, (fx0, fy0), (fx1, fy1), hexc("#009C3B"), -1)
    c = ((fx0 + fx1) // 2, (fy0 + fy1) // 2)
    d = np.array([[fx0 + 1, c[1]], [c[0], fy0 + 1], [fx1 - 1, c[1]], [c[0], fy1 - 1]], np.int32)
    cv2.fillPoly(img, [d], hexc("#FFDF00"), cv2.LINE_AA)
    cv2.circle(img, c, max(1, (fy1 - fy0) // 4), hexc("#002776"), -1, cv2.LINE_AA)


def _qr(rng: np.random.Generator, img: np.ndarray, x: float, y: float, s: float) -> None:
    s = max(4, int(s))
    cells = (rng.random((7, 7)) < 0.5).astype(np.uint8) * 255
    q = cv2.resize(255 - cells, (s, s), interpolation=cv2.INTER_NEAREST)
    x, y = int(x), int(y)
    H, W = img.shape[:2]
    q = q[: H - y, : W - x]
    img[y: y + q.shape[0], x: x + q.shape[1]] = np.minimum(img[y: y + q.shape[0], x: x + q.shape[1]],
                                                           q[:, :, None])


def _br_mercosur(rng: np.random.Generator, W: int, H: int, ov: str | None = None) -> tuple[np.ndarray, str]:
    img = vertical_gradient(H, W, jitter(rng, (250, 250, 250), 5), jitter(rng, (232, 232, 232), 5))
    band_h = int(H * rng.uniform(0.2, 0.25))
    _mercosur_band(rng, img, W, band_h)
    text = _pat(rng, "LLLNLNN") if ov is None else ov
    chars = (20, 20, 20) if rng.random() < 0.8 else _pick(rng, [hexc("#B00000"), hexc("#0A3C8C"), hexc("#0B6E3A")])
    _qr(rng, img, W * 0.025, band_h + H * 0.08, H * 0.17)
    fit_text(img, "hershey_simplex", "BR", (W * 0.025, band_h + H * 0.32, W * 0.09, band_h + H * 0.44), (20, 20, 20))
    cap = H * rng.uniform(0.5, 0.58)
    cy = band_h + (H - band_h) * 0.5
    fit_text(img, _font(rng, "narrow"), text, (W * 0.1, cy - cap / 2, W * 0.96, cy + cap / 2), chars,
             spacing=rng.uniform(0.06, 0.14), squeeze=rng.uniform(0.9, 1.1), bold=int(rng.integers(0, 2)))
    rounded_rect(img, (0, 0), (W - 1, H - 1), (25, 25, 25), max(1, int(H * 0.03)), int(H * 0.06))
    return img, text


def _br_old(rng: np.random.Generator, W: int, H: int, ov: str | None = None) -> tuple[np.ndarray, str]:
    """Brazil's 1990-2018 plates: grey (private) or red (commercial), a thin city line above
    three letters, a dot and four digits in rounded-rectangle lettering."""
    red = rng.random() < 0.35
    if red:
        base = jitter(rng, hexc("#9A3B3B"), 25)
        chars = jitter(rng, (235, 235, 235), 15)
    else:
        g = int(rng.integers(120, 215))
        base = jitter(rng, (g, g, g + 3), 6)
        chars = jitter(rng, (35, 35, 35), 15)
    img = vertical_gradient(H, W, base, tuple(max(0, c - 14) for c in base))
    text = _pat(rng, "LLLNNNN")
    sep = _pick(rng, ["·", "·", "·", "-", " "])
    disp = text[:3] + sep + text[3:]
    if ov is not None:
        text, disp = ov, (ov[:3] + "-" + ov[3:] if ov.isalnum() and len(ov) == 7 else ov)
    band = H * rng.uniform(0.1, 0.17)
    if rng.random() < 0.9:
        fit_text(img, _font(rng, "small"), _pick(rng, _BR_CITIES), (W * 0.3, H * 0.05, W * 0.7, H * 0.05 + band),
                 chars, spacing=0.1)
    cap = H * rng.uniform(0.58, 0.7)
    cy = H * 0.05 + band + (H * 0.95 - H * 0.05 - band) * 0.5
    font = _font(rng, "square") if rng.random() < 0.75 else _font(rng, "narrow")
    fit_text(img, font, disp, (W * 0.04, cy - cap / 2, W * 0.96, cy + cap / 2),
             chars, spacing=rng.uniform(0.1, 0.2), squeeze=rng.uniform(0.85, 1.15), bold=int(rng.integers(-1, 2)),
             dash_w=0.3)
    rounded_rect(img, (0, 0), (W - 1, H - 1), chars, max(1, int(H * 0.03)), int(H * 0.06))
    _bolts(rng, img, [(W * 0.12, H * 0.12), (W * 0.88, H * 0.12)], H * 0.035)
    return img, text


# --------------------------------------------------------------------------- UK

def _uk(rng: np.random.Generator, W: int, H: int, rear: bool, ov: str | None = None) -> tuple[np.ndarray, str]:
    bg = hexc("#F9D10F") if rear else (248, 248, 248)
    img = vertical_gradient(H, W, jitter(rng, bg, 6), jitter(rng, tuple(int(c * 0.94) for c in bg), 6))
    text = _pat(rng, "LLNNLLL", "ABCDEFGHJKLMNOPRSTUVWXYZ")
    disp = text[:4] + " " + text[4:]
    if ov is not None:
        text, disp = ov, (ov[:4] + " " + ov[4:] if ov.isalnum() and len(ov) == 7 else ov)
    x0 = W * 0.03
    if rng.random() < 0.5:
        bw = int(W * 0.08)
        col = hexc("#003399") if rng.random() < 0.7 else hexc("#00703C")
        cv2.rectangle(img, (0, 0), (bw, H), jitter(rng, col, 8), -1)
        fit_text(img, _font(rng, "wide"), _pick(rng, ["GB", "UK", "GB", "CYM", "ENG"]),
                 (bw * 0.1, H * 0.62, bw * 0.9, H * 0.85), (255, 255, 255))
        if rng.random() < 0.5:
            _stars(img, bw / 2, H * 0.32, bw * 0.3)
        x0 = bw + W * 0.02
    cap = H * rng.uniform(0.62, 0.72)
    cy = H * 0.5
    f = _font(rng, "wide")
    fit_text(img, f, disp, (x0, cy - cap / 2, W * 0.97, cy + cap / 2), (15, 15, 15),
             spacing=rng.uniform(0.06, 0.14), squeeze=rng.uniform(0.8, 1.0), bold=int(rng.integers(0, 2)))
    if rng.random() < 0.5:
        fit_text(img, "hershey_simplex", _pick(rng, ["AUTO PLATES LTD", "MOTORS", "CARS.CO.UK", "BS AU 145e"]),
                 (W * 0.35, H * 0.88, W * 0.65, H * 0.96), (40, 40, 40))
    if rng.random() < 0.5:
        rounded_rect(img, (0, 0), (W - 1, H - 1), (20, 20, 20), max(1, int(H * 0.025)), int(H * 0.08))
    return img, text


# --------------------------------------------------------------------------- two-line plates

def _two_line(rng: np.random.Generator, W: int, H: int, kind: str, ov: str | None = None) -> tuple[np.ndarray, str]:
    if kind == "br":
        img = vertical_gradient(H, W, (250, 250, 250), jitter(rng, (232, 232, 232), 5))
        band_h = int(H * 0.18)
        _mercosur_band(rng, img, W, band_h)
        t = _pat(rng, "LLLNLNN")
        r1, r2 = t[:3], t[3:]
        top, chars, f = band_h + H * 0.05, (20, 20, 20), _font(rng, "narrow")
    elif kind == "in":
        bg = (245, 245, 245) if rng.random() < 0.7 else hexc("#F7D117")
        img = vertical_gradient(H, W, jitter(rng, bg, 5), jitter(rng, bg, 5))
        st = _pick(rng, ("MH", "DL", "KA", "TN", "UP", "GJ", "RJ", "KL", "AP", "WB", "HR", "PB"))
        r1 = st + _pat(rng, "NN")
        r2 = _pat(rng, _pick(rng, ("LLNNNN", "LNNNN", "LLNNNN")))
        t = r1 + r2
        top, chars, f = H * 0.08, (20, 20, 20), _font(rng, "wide")
    else:  # EU square / motorcycle plate with a band on the left
        country = _pick(rng, ("de", "pl", "ro", "other", "it", "nl"))
        shown, code = _eu_text(rng, country)
        parts = shown.replace("-", " ").split(" ")
        k = max(1, len(parts) // 2)
        r1, r2 = "".join(parts[:k]), "".join(parts[k:])
        if not r2:
            r1, r2 = r1[: len(r1) // 2], r1[len(r1) // 2:]
        t = r1 + r2
        bg = hexc("#F6C900") if country == "nl" else (245, 245, 245)
        img = vertical_gradient(H, W, jitter(rng, bg, 5), jitter(rng, bg, 5))
        bw = int(W * 0.12)
        _eu_band(rng, img, 0, bw, 0, H, code)
        top, chars, f = H * 0.08, (20, 20, 20), _font(rng, "narrow")
        if ov is not None:
            r1, r2 = _split_rows(ov)
            t = r1 + r2
        left = bw + W * 0.03
        cap = (H - top - H * 0.08) * 0.44
        fit_text(img, f, r1, (left, top, W * 0.96, top + cap), chars, spacing=0.12)
        fit_text(img, f, r2, (left, H - H * 0.08 - cap, W * 0.96, H - H * 0.08), chars, spacing=0.12)
        rounded_rect(img, (0, 0), (W - 1, H - 1), (25, 25, 25), max(1, int(H * 0.03)), int(H * 0.06))
        return img, _clean(t)
    if ov is not None:
        r1, r2 = _split_rows(ov)
        t = r1 + r2
    cap = (H - top - H * 0.08) * 0.43
    fit_text(img, f, r1, (W * 0.08, top, W * 0.92, top + cap), chars, spacing=0.12)
    fit_text(img, f, r2, (W * 0.05, H - H * 0.08 - cap, W * 0.95, H - H * 0.08), chars, spacing=0.12)
    rounded_rect(img, (0, 0), (W - 1, H - 1), (25, 25, 25), max(1, int(H * 0.03)), int(H * 0.06))
    return img, _clean(t)


# --------------------------------------------------------------------------- Chinese-style, Indian-style

def _split_rows(ov: str) -> tuple[str, str]:
    """Rows of a two-line plate from caller text: split at '/', else in the middle."""
    if "/" in ov:
        a, b = ov.split("/", 1)
        return a.strip(), b.strip()
    c = _clean(ov)
    k = (len(c) + 1) // 2 if len(c) < 6 else len(c) // 2
    return c[:k], c[k:]


def _pseudo_hanzi(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A CJK-looking block of strokes (not a real character; not part of the text)."""
    m = np.zeros((h, w), np.float32)
    t = max(1, int(round(h * 0.09)))
    for _ in range(int(rng.integers(4, 8))):
        if rng.random() < 0.5:
            y = int(rng.uniform(0.05, 0.95) * h)
            x0, x1 = sorted(int(v) for v in rng.uniform(0.0, 1.0, 2) * w)
            cv2.line(m, (x0, y), (max(x1, x0 + w // 3), y), 1.0, t, cv2.LINE_AA)
        else:
            x = int(rng.uniform(0.1, 0.9) * w)
            y0, y1 = sorted(int(v) for v in rng.uniform(0.0, 1.0, 2) * h)
            cv2.line(m, (x, y0), (x + int(rng.uniform(-0.3, 0.3) * w), max(y1, y0 + h // 3)), 1.0, t, cv2.LINE_AA)
    return m


def _cn(rng: np.random.Generator, W: int, H: int, ov: str | None = None) -> tuple[np.ndarray, str]:
    img = vertical_gradient(H, W, jitter(rng, hexc("#0A46C8"), 12), jitter(rng, hexc("#0838A8"), 12))
    b = max(1, int(H * 0.04))
    rounded_rect(img, (b, b), (W - 1 - b, H - 1 - b), (240, 240, 240), max(1, int(H * 0.025)), int(H * 0.08))
    t = _pick(rng, "ABCDEFGHJKLMN") + _pat(rng, _pick(rng, ("NNNNN", "LNNNN", "LLNNN", "NLNNN", "NNNNL",
                                                             "NNLNN", "LNLNN")), _NO_IOQ)
    if ov is not None:
        t = ov
    cap = H * 0.66
    y0 = (H - cap) / 2
    f = _font(rng, "narrow")
    x0 = W * 0.05
    if rng.random() < 0.75:  # the province character: a CJK-like block, not part of the text
        hz = _pseudo_hanzi(rng, int(cap), int(cap * 0.9))
        blend_mask(img, hz, int(W * 0.05), int(y0), (245, 245, 245))
        x0 += cap
    fit_text(img, f, t[0] + "·" + t[1:], (x0, y0, W * 0.95, y0 + cap), (245, 245, 245), spacing=0.12)
    _bolts(rng, img, [(W * 0.22, H * 0.14), (W * 0.78, H * 0.14)], H * 0.04)
    return img, t


def _india(rng: np.random.Generator, W: int, H: int, ov: str | None = None) -> tuple[np.ndarray, str]:
    bg = (245, 245, 245) if rng.random() < 0.7 else hexc("#F7D117")
    img = vertical_gradient(H, W, jitter(rng, bg, 5), jitter(rng, tuple(int(c * 0.95) for c in bg), 5))
    st = _pick(rng, ("MH", "DL", "KA", "TN", "UP", "GJ", "RJ", "KL", "AP", "WB", "HR", "PB", "TS", "MP"))
    t = st + _pat(rng, _pick(rng, ("NNLLNNNN", "NNLNNNN", "NNLLNNNN")))
    shown = f"{t[:2]} {t[2:4]} {t[4:-4]} {t[-4:]}" if rng.random() < 0.7 else t
    if ov is not None:
        t = shown = ov
    x0 = W * 0.04
    if rng.random() < 0.5:
        x0 = W * 0.09
        fit_text(img, "hershey_simplex_bold", "IND", (W * 0.015, H * 0.6, W * 0.075, H * 0.8), hexc("#1040A0"))
        cv2.ellipse(img, (int(W * 0.045), int(H * 0.35)), (int(W * 0.022), int(H * 0.15)), 0, 0, 360,
                    (190, 190, 200), -1, cv2.LINE_AA)
    cap = H * rng.uniform(0.55, 0.68)
    fit_text(img, _font(rng, "wide"), shown, (x0, H / 2 - cap / 2, W * 0.96, H / 2 + cap / 2), (15, 15, 15),
             spacing=rng.uniform(0.05, 0.12), squeeze=rng.uniform(0.8, 1.0))
    rounded_rect(img, (0, 0), (W - 1, H - 1), (20, 20, 20), max(1, int(H * 0.03)), int(H * 0.08))
    return img, t


# --------------------------------------------------------------------------- registry

# style -> (aspect ratio range (w/h), lines, weight)
_SPECS: dict[str, tuple[tuple[float, float], int, float]] = {
    "us": ((1.9, 2.15), 1, 18.0),
    "us_vanity": ((1.9, 2.15), 1, 5.0),
    "eu_de": ((4.3, 4.75), 1, 5.0),
    "eu_fr": ((4.3, 4.75), 1, 3.0),
    "eu_it": ((4.3, 4.75), 1, 3.0),
    "eu_es": ((4.3, 4.75), 1, 3.0),
    "eu_nl": ((4.3, 4.75), 1, 2.0),
    "eu_pl": ((4.3, 4.75), 1, 3.0),
    "eu_ro": ((4.3, 4.75), 1, 5.0),
    "eu_other": ((3.9, 4.75), 1, 5.0),
    "br_mercosur": ((2.9, 3.2), 1, 8.0),
    "br_old": ((2.9, 3.2), 1, 8.0),
    "uk_rear": ((4.3, 4.75), 1, 4.0),
    "uk_front": ((4.3, 4.75), 1, 3.0),
    "eu_2line": ((1.45, 1.75), 2, 2.0),
    "br_2line": ((1.15, 1.3), 2, 1.5),
    "in_2line": ((1.6, 1.9), 2, 1.5),
    "cn_blue": ((3.0, 3.2), 1, 3.0),
    "in": ((4.0, 4.6), 1, 3.0),
}
STYLES: tuple[str, ...] = tuple(_SPECS)
_WEIGHTS = np.array([s[2] for s in _SPECS.values()], np.float64)
_WEIGHTS /= _WEIGHTS.sum()


def style_region(style: str) -> str:
    """Coarse region of a style: 'us', 'eu', 'br', 'uk', 'cn', 'in'."""
    return style.split("_")[0]


def render_plate(rng: np.random.Generator, style: str | None = None, *, width: int | None = None,
                 text: str | None = None) -> SynthPlate:
    """Render one plate. `style` from STYLES (None: weighted random); `width` in pixels (default 200-260).

    `text` forces the registration (for fixtures): A-Z0-9 plus display separators
    (' ', '-', '·'; '/' splits the rows of a two-line plate), e.g. "AB-123-CD". The
    returned `SynthPlate.text` is the same without separators.
    """
    ov = None
    if text is not None:
        ov = " ".join(str(text).upper().split())
        if not _clean(ov) or any(not (c.isascii() and c.isalnum()) and c not in " -·/" for c in ov):
            raise ValueError(f"plate text must be A-Z0-9 with ' ', '-', '·' or '/' separators: {text!r}")
    if style is None:
        style = STYLES[int(rng.choice(len(STYLES), p=_WEIGHTS))]
    if style not in _SPECS:
        raise ValueError(f"unknown plate style {style!r}; known: {', '.join(STYLES)}")
    (a0, a1), lines, _ = _SPECS[style]
    aspect = rng.uniform(a0, a1)
    W = int(width) if width is not None else int(rng.integers(200, 261))
    if lines == 2 and width is None:
        W = int(W * 0.6)
    W = max(W, 16)
    H = max(8, int(round(W / aspect)))
    if style in ("us", "us_vanity"):
        img, text = _us(rng, W, H, vanity=style == "us_vanity", ov=ov)
    elif style.startswith("eu_") and lines == 1:
        img, text = _eu(rng, W, H, style[3:], ov)
    elif style == "br_mercosur":
        img, text = _br_mercosur(rng, W, H, ov)
    elif style == "br_old":
        img, text = _br_old(rng, W, H, ov)
    elif style in ("uk_rear", "uk_front"):
        img, text = _uk(rng, W, H, rear=style == "uk_rear", ov=ov)
    elif style == "eu_2line":
        img, text = _two_line(rng, W, H, "eu", ov)
    elif style == "br_2line":
        img, text = _two_line(rng, W, H, "br", ov)
    elif style == "in_2line":
        img, text = _two_line(rng, W, H, "in", ov)
    elif style == "cn_blue":
        img, text = _cn(rng, W, H, ov)
    else:
        img, text = _india(rng, W, H, ov)
    img = _emboss(rng, img)
    text = _clean(text)
    return SynthPlate(image=np.ascontiguousarray(img), text=text, style=style, lines=lines)
