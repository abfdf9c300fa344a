"""Physical plate sizes per region, and the smallest readable plate width in pixels.

The sizes are data: the `[plate]` table of each region file in `edge/data/formats/` (width,
height, and the regulation or standard they come from). The aiming page compares a plate's
width in pixels with `min_readable_px`, and the speed estimate uses the size as its ruler.

The readable minimum is one pixel density for every region: 90 px across a 520 mm EU plate
(about 11 px per character, the project's rule of thumb also used by `edge calibrate advice`),
that is 173 px per metre of plate, so a 305 mm US plate needs 53 px and a 400 mm Brazilian one 69 px.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from edge.formats import DATA_DIR, known_regions

EU_REFERENCE_MM = 520.0
MIN_READABLE_PX_EU = 90.0  # on a 520 mm plate; see the module docstring
MIN_PX_PER_M = MIN_READABLE_PX_EU / (EU_REFERENCE_MM / 1000.0)


@dataclass(frozen=True, slots=True)
class PlateSize:
    """A region's standard plate: millimetres, and where the figure comes from."""

    region: str
    width_mm: float
    height_mm: float
    source: str

    @property
    def width_m(self) -> float:
        return self.width_mm / 1000.0

    @property
    def aspect(self) -> float:
        return self.width_mm / self.height_mm

    @property
    def min_readable_px(self) -> float:
        return MIN_PX_PER_M * self.width_m


EU_DEFAULT = PlateSize("EU", EU_REFERENCE_MM, 110.0, "EU common format (assumed when no region is configured)")


@lru_cache(maxsize=64)
def plate_size(region: str, data_dir: Path = DATA_DIR) -> PlateSize | None:
    """The `[plate]` size of one region (code or alias, any case), or None when it has none."""
    from edge.formats import _aliases

    code = _aliases(data_dir).get(region.upper())
    if code is None:
        return None
    data = tomllib.loads((data_dir / f"{code}.toml").read_text(encoding="utf-8")).get("plate")
    if not isinstance(data, dict):
        return None
    for key in data:
        if key not in ("width_mm", "height_mm", "source"):
            raise ValueError(f"{data_dir / f'{code}.toml'}: plate: unknown key {key!r}")
    width, height = float(data.get("width_mm", 0)), float(data.get("height_mm", 0))
    if not (width > 0 and height > 0):
        raise ValueError(f"{data_dir / f'{code}.toml'}: plate: width_mm and height_mm must be positive")
    return PlateSize(code, width, height, str(data.get("source", "")))


@dataclass(frozen=True, slots=True)
class ExpectedPlates:
    """The plate sizes a camera expects (from `[formats] regions`).

    `reference` is the size the aiming page measures against: the widest expected plate, so
    the check is never more lenient than the strictest plate it may see (a 520 mm EU plate
    when no region is configured). `certain` is True
    when every expected region has the same size (then a speed estimate can trust it).
    """

    sizes: tuple[PlateSize, ...]
    configured: bool  # False: no regions configured, every known region is possible

    @property
    def reference(self) -> PlateSize:
        if not self.configured or not self.sizes:
            return EU_DEFAULT
        return max(self.sizes, key=lambda s: s.width_mm)

    @property
    def certain(self) -> bool:
        widths = {s.width_mm for s in self.sizes}
        return self.configured and len(widths) == 1

    def for_region(self, region: str | None) -> PlateSize | None:
        """The size to use for a plate read as `region`: the expected size when there is only
        one, else that region's own (None when it is unknown or not expected)."""
        if self.certain:
            return self.sizes[0]
        if region:
            size = plate_size(region)
            if size is not None and (not self.configured or size.region in {s.region for s in self.sizes}):
                return size
        return None


def expected_plates(regions: Sequence[str]) -> ExpectedPlates:
    """The plate sizes for `[formats] regions` ([] = every known region)."""
    codes = list(regions) or list(known_regions())
    sizes = tuple(s for s in (plate_size(c) for c in codes) if s is not None)
    return ExpectedPlates(sizes, configured=bool(regions))
