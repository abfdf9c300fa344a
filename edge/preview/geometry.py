"""Where the analysed frame's boxes are in the camera's own picture.

The preview shows the camera's raw frame (so an installer sees outside the ROI while editing
it, and no whole-frame remap is paid for the page); the pipeline's boxes are in the calibrated
frame (undistorted, masked, prewarped). `ViewGeometry` maps them back through the transform's
`output_to_input` (edge.calibration.transform.CalibratedTransform); without a calibration it is the identity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.records import BoundingBox


class ViewGeometry:
    def __init__(self, transform: Any = None) -> None:
        back = getattr(transform, "output_to_input", None)
        self._back = back if callable(back) else None

    @property
    def maps_back(self) -> bool:
        """True when boxes are mapped to raw pixels (the page then shows the raw frame)."""
        return self._back is not None

    def box(self, box: BoundingBox, view_size: tuple[int, int]) -> BoundingBox:
        """The analysed-frame `box` as the axis-aligned box around its corners in the view."""
        if self._back is None:
            return box
        corners = np.array([[box.x, box.y], [box.x2, box.y], [box.x2, box.y2], [box.x, box.y2]], np.float64)
        pts = self._back(corners, view_size)
        if not np.all(np.isfinite(pts)) or np.any(np.abs(pts) > 1e5):
            return box  # beyond the warp's horizon: no place in the view, keep the analysed box
        x1, y1 = pts.min(axis=0)
        x2, y2 = pts.max(axis=0)
        return BoundingBox(float(x1), float(y1), float(x2 - x1), float(y2 - y1))
