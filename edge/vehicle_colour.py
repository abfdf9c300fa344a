"""Vehicle colour from the body around the plate: a measured heuristic, off by default.

Where: the plate sits on the body, so the paint is just above it (the boot lid at the rear, the
bumper at the front) and beside it. `context_bounds` keeps a small copy of that region with each
read (`PlateContext`, at most CONTEXT_WIDTH px wide); once per event the best read's region is
classified:

1. the pixels of a band around the plate (the plate itself left out, the lights and wheels
   further out not reached), in CIELAB: a perceptual space, where lightness (L*) and
   colourfulness (chroma C* = sqrt(a*² + b*²)) separate the way people name car colours;
2. the main colour is the biggest of 4 k-means clusters (the rest is shadow, glass, a grille,
   a badge), unless that one is dark and a lighter one is nearly as big; its share of the
   band is the first part of the confidence;
3. it is named: a low chroma is white, silver, grey or black by lightness; otherwise the hue
   angle says red, yellow, green or blue, a dark red-to-yellow hue brown. The second part of
   the confidence is how far the colour is from the nearest naming boundary.

An infrared (black and white) picture has no colour: no colour is given. The thresholds and
the region were chosen on half of a hand-labelled set of real photos and checked on the other
half; docs/vehicle_attributes.md has the figures, the confusion matrix and what it cannot do
(dusk and night, tinted lights, two-tone cars). Costs well under a millisecond per event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from edge.records import BoundingBox, PlateContext, VehicleColour

COLOURS = ("white", "silver", "grey", "black", "red", "blue", "green", "yellow", "brown")
CONTEXT_WIDTH = 96  # px: the kept region is scaled down to this (plenty for a colour)
# The kept region, in plate widths (x) and heights (y) around the plate.
LEFT, RIGHT, UP, DOWN = 1.0, 1.0, 3.0, 1.0
ACHROMATIC_C = 20.0  # chroma below this is a white, silver, grey or black car (paint is muted)
BLACK_L, GREY_L, SILVER_L = 35.0, 45.0, 75.0  # lightness boundaries (L*, 0-100), chosen on the dev half
MONOCHROME_C = 1.5  # a picture whose mean chroma is below this is infrared / black and white


@dataclass(frozen=True)
class VehicleConfig:
    """`[vehicle]`: attributes of the vehicle around the plate, computed once per event.

    colour: true = each event gets `vehicle.colour` and its confidence (off by default: a
            heuristic with the accuracy measured in docs/vehicle_attributes.md).
    min_confidence: events whose colour is less sure than this get no colour at all.
    """

    colour: bool = False
    min_confidence: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence: must be between 0 and 1, got {self.min_confidence}")


def context_bounds(box: BoundingBox, width: int, height: int) -> tuple[int, int, int, int] | None:
    """(x1, y1, x2, y2) of the region around the plate kept for the colour, clipped to the frame."""
    x1, y1 = max(0, int(box.x - LEFT * box.w)), max(0, int(box.y - UP * box.h))
    x2, y2 = min(width, int(math.ceil(box.x2 + RIGHT * box.w))), min(height, int(math.ceil(box.y2 + DOWN * box.h)))
    return (x1, y1, x2, y2) if x2 - x1 >= 8 and y2 - y1 >= 8 else None


def cut_context(image: np.ndarray, box: BoundingBox) -> PlateContext | None:
    """A small copy of the plate's surroundings, with the plate's place in it."""
    import cv2

    h, w = image.shape[:2]
    bounds = context_bounds(box, w, h)
    if bounds is None or image.ndim != 3:
        return None
    x1, y1, x2, y2 = bounds
    region = image[y1:y2, x1:x2]
    k = min(1.0, CONTEXT_WIDTH / region.shape[1])
    small = cv2.resize(region, (max(1, round(region.shape[1] * k)), max(1, round(region.shape[0] * k))),
                       interpolation=cv2.INTER_AREA)
    plate = BoundingBox((box.x - x1) * k, (box.y - y1) * k, box.w * k, box.h * k)
    return PlateContext(small, plate)


# Where the paint is looked for, in plate widths (x, from the plate's left edge) and heights (y,
# from its top): a band around the plate, the plate itself left out. Chosen on the dev half of
# the labelled photos among bands from 0.25 to 3 plate heights up (docs/vehicle_attributes.md).
RING = (-0.6, -1.2, 1.6, 1.0)
CLUSTERS = 4
DARK_L = 35.0  # a darker main cluster is often shadow, a grille or a window ...
DARK_YIELD = 0.6  # ... and gives way to a lighter one at least this big relative to it


def _paint_pixels(ctx: PlateContext) -> np.ndarray:
    """Lab pixels of the band around the plate, without the plate (N x 3, float32)."""
    import cv2

    img, p = ctx.image, ctx.plate
    h, w = img.shape[:2]
    lab = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    fx1, fy1, fx2, fy2 = RING
    mask = np.zeros((h, w), bool)
    mask[max(0, int(p.y + fy1 * p.h)):min(h, int(p.y + fy2 * p.h)),
         max(0, int(p.x + fx1 * p.w)):min(w, int(p.x + fx2 * p.w))] = True
    mask[max(0, int(p.y - 0.2 * p.h)):min(h, int(p.y2 + 0.2 * p.h)),
         max(0, int(p.x - 0.1 * p.w)):min(w, int(p.x2 + 0.1 * p.w))] = False
    return lab[mask]


def _main_colour(px: np.ndarray) -> tuple[np.ndarray, float]:
    """(Lab centre, share) of the cluster most likely to be paint: the biggest, unless it is
    dark and a lighter one is nearly as big (shadow, grille and glass are dark)."""
    import cv2

    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 0.5)
    cv2.setRNGSeed(1)  # the same picture always gets the same answer
    _, labels, centres = cv2.kmeans(px, CLUSTERS, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    share = np.bincount(labels.ravel(), minlength=CLUSTERS) / len(px)
    order = [int(j) for j in np.argsort(-share)]
    main = order[0]
    if centres[main][0] < DARK_L:
        main = next((j for j in order[1:] if centres[j][0] >= DARK_L and share[j] >= DARK_YIELD * share[main]),
                    main)
    return centres[main], float(share[main])


def name_colour(L: float, a: float, b: float) -> tuple[str, float]:
    """(name, margin): the colour's name and how far (in Lab units) it is from another name."""
    c = math.hypot(a, b)
    if c < ACHROMATIC_C:
        edges = (BLACK_L, GREY_L, SILVER_L)
        name = "black" if L < BLACK_L else "grey" if L < GREY_L else "silver" if L < SILVER_L else "white"
        return name, min(min(abs(L - e) for e in edges), ACHROMATIC_C - c)
    hue = math.degrees(math.atan2(b, a)) % 360.0
    if hue >= 340.0 or hue < 45.0:
        name = "red"
    elif hue < 105.0:
        name = "brown" if L < 50.0 else "yellow"  # a dark orange-to-yellow is brown
    elif hue < 200.0:
        name = "green"
    else:
        name = "blue"
    bounds = (340.0, 45.0, 105.0, 200.0)
    hue_margin = min(min(abs(hue - e), 360.0 - abs(hue - e)) for e in bounds)
    return name, min(c - ACHROMATIC_C, hue_margin * c / 57.3)  # an angle's width at this chroma


def classify(ctx: PlateContext | None) -> VehicleColour | None:
    """The body colour around the plate, or None (no region, or a black and white picture)."""
    import cv2

    if ctx is None:
        return None
    lab = cv2.cvtColor(ctx.image.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    if float(np.hypot(lab[..., 1], lab[..., 2]).mean()) < MONOCHROME_C:
        return None  # infrared or black and white: colour is not in the picture
    px = _paint_pixels(ctx)
    if len(px) < 30:
        return None
    centre, share = _main_colour(px)
    name, margin = name_colour(*map(float, centre))
    confidence = min(1.0, 2.0 * share) * (0.5 + 0.5 * min(1.0, max(0.0, margin) / 8.0))
    return VehicleColour(name, round(confidence, 3))


class VehicleColourSink:
    """An EventSink stage: names each event's body colour once (from its best read's
    surroundings) and drops the pixels, before the inner sink (privacy, outbox) sees it."""

    def __init__(self, inner: Any, config: VehicleConfig) -> None:
        self.inner = inner
        self.config = config
        if config.colour:  # OpenCV's first k-means and colour conversion take ~40 ms: not at an event
            warm = np.zeros((48, 96, 3), np.uint8)
            warm[:, :, 2] = np.arange(96, dtype=np.uint8)
            classify(PlateContext(warm, BoundingBox(30, 30, 36, 8)))

    def submit(self, event: Any) -> Any:
        colour = classify(event.context) if self.config.colour else None
        if colour is not None and colour.confidence < self.config.min_confidence:
            colour = None
        return self.inner.submit(replace(event, colour=colour, context=None))

    def retry(self) -> Any:
        return self.inner.retry()

    def close(self) -> Any:
        return self.inner.close()
