"""Camera calibration: a calibration file, and the frame transform `edge run` applies from it.

A calibration file (JSON, ``"schema": "edge.calibration/1"``, kept under ``calibration/``)
holds up to three optional parts, each written by one ``edge calibrate`` tool:

- ``intrinsics`` — lens model from a checkerboard (camera matrix, distortion coefficients,
  RMS reprojection error). Frames are undistorted with it.
- ``roi`` — a polygon; everything outside it is blacked out before detection.
- ``prewarp`` — a perspective correction from four points that outline a real rectangle,
  so plates seen at an angle become closer to fronto-parallel.
- ``scale`` — the lens's focal length in pixels (from its figures, or a plate measured at a
  known distance), for speed estimates; lens intrinsics give it too. Not applied to frames.

Coordinates: the ROI polygon and the four prewarp points are in *undistorted* image pixels
(the raw image when there are no intrinsics) at the calibration's ``image_size``. The
transform applies undistort -> ROI mask -> prewarp with one ``cv2.remap`` and one mask per
frame (maps are built once per input size), so detection boxes are in the coordinates of
the transformed frame at full resolution. Frames of another resolution with the same aspect
ratio are handled by scaling every part. `edge run` never transforms the whole full-resolution
frame: it transforms the small detection frame (maps at that size) and only the plate regions
of the full-resolution frame (`CalibratedTransform.crop`).

Modules: `file` (the file's dataclasses, load and save), `transform` (the frame transform),
`prewarp` (a prewarp from four points), `points` (points between raw and undistorted pixels,
and points given on the command line), `intrinsics` (lens intrinsics from a checkerboard),
`scale`, `geometry` and `checkerboard`.
"""
