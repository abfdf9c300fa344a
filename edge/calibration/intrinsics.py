"""Lens intrinsics from checkerboard images or a video (OpenCV).

findChessboardCorners -> cornerSubPix -> calibrateCamera, with near-duplicate views dropped
(a video of a board held still would otherwise weight one pose a hundred times) and views
whose reprojection error is far above the others dropped once before the final fit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.calibration.file import CalibrationError, Intrinsics

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


@dataclass(frozen=True)
class Board:
    cols: int = 9  # inner corners per row
    rows: int = 6  # inner corners per column
    square_mm: float = 25.0

    @classmethod
    def parse(cls, text: str, square_mm: float) -> Board:
        try:
            cols, rows = (int(v) for v in text.lower().split("x"))
        except ValueError:
            raise CalibrationError(f"--board {text!r}: expected inner corners as COLSxROWS, e.g. 9x6") from None
        if cols < 3 or rows < 3:
            raise CalibrationError("--board: need at least 3x3 inner corners")
        if square_mm <= 0:
            raise CalibrationError("--square-mm must be positive")
        return cls(cols, rows, square_mm)

    def object_points(self) -> np.ndarray:
        grid = np.zeros((self.rows * self.cols, 3), np.float32)
        grid[:, :2] = np.mgrid[0:self.cols, 0:self.rows].T.reshape(-1, 2) * self.square_mm
        return grid


@dataclass(frozen=True)
class View:
    name: str
    corners: np.ndarray  # (N, 1, 2) float32, sub-pixel refined


@dataclass(frozen=True)
class IntrinsicsResult:
    intrinsics: Intrinsics
    image_size: tuple[int, int]
    rms_px: float
    per_view_px: tuple[float, ...]
    used: tuple[str, ...]
    dropped: tuple[str, ...]
    frames_seen: int
    boards_found: int

    def summary(self) -> dict:
        K = self.intrinsics.K
        w, h = self.image_size
        return {
            "image_size": [w, h],
            "rms_px": round(self.rms_px, 4),
            "fx": round(K[0, 0], 2), "fy": round(K[1, 1], 2),
            "cx": round(K[0, 2], 2), "cy": round(K[1, 2], 2),
            "dist_coeffs": [round(float(v), 5) for v in self.intrinsics.dist_coeffs],
            "hfov_deg": round(float(np.degrees(2 * np.arctan(w / (2 * K[0, 0])))), 2),
            "frames_seen": self.frames_seen, "boards_found": self.boards_found,
            "views_used": len(self.used), "views_dropped": list(self.dropped),
        }


def find_corners(gray: np.ndarray, board: Board) -> np.ndarray | None:
    """Sub-pixel inner corners of the board in a grey image, or None."""
    import cv2

    size = (board.cols, board.rows)
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
    found, corners = cv2.findChessboardCorners(gray, size, flags)
    if not found:
        return None
    # The refinement window must stay inside one square: half the smallest corner spacing.
    grid = corners.reshape(board.rows, board.cols, 2)
    spacing = min(np.linalg.norm(np.diff(grid, axis=1), axis=2).min(),
                  np.linalg.norm(np.diff(grid, axis=0), axis=2).min())
    win = int(max(2, min(11, spacing / 2 - 1)))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.001)
    refined = cv2.cornerSubPix(gray, corners, (win, win), (-1, -1), criteria)
    return np.asarray(refined, np.float32).reshape(-1, 1, 2)  # same shape on OpenCV 4 and 5


def iter_images(inputs: Iterable[str | Path], every: int = 1) -> Iterator[tuple[str, np.ndarray]]:
    """(name, grey image) from image files, folders of images and video files."""
    import cv2

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            yield from iter_images(files, every=1)
            continue
        if not path.exists():
            raise CalibrationError(f"{path}: no such file")
        if path.suffix.lower() in IMAGE_SUFFIXES:
            img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise CalibrationError(f"{path}: not a readable image")
            yield str(path), img
            continue
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise CalibrationError(f"{path}: not a readable image or video")
        try:
            index = 0
            got_any = False
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                got_any = True
                if index % max(1, every) == 0:
                    yield f"{path}#{index}", cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
                index += 1
            if not got_any:
                raise CalibrationError(f"{path}: video has no readable frames")
        finally:
            cap.release()


def collect_views(images: Iterable[tuple[str, np.ndarray]], board: Board,
                  min_motion_px: float = 4.0) -> tuple[list[View], tuple[int, int], int]:
    """Detect the board in every image; keep views that differ from the previous kept view by at
    least `min_motion_px` mean corner motion. Returns (views, image_size, frames_seen)."""
    views: list[View] = []
    size: tuple[int, int] | None = None
    seen = 0
    for name, gray in images:
        seen += 1
        h, w = gray.shape[:2]
        if size is None:
            size = (w, h)
        elif size != (w, h):
            raise CalibrationError(f"{name}: image is {w}x{h} but earlier ones are {size[0]}x{size[1]}")
        corners = find_corners(gray, board)
        if corners is None:
            continue
        if views and np.mean(np.linalg.norm(corners - views[-1].corners, axis=2)) < min_motion_px:
            continue
        views.append(View(name, corners))
    if size is None:
        raise CalibrationError("no images given")
    return views, size, seen


def calibrate(views: list[View], board: Board, image_size: tuple[int, int], *, k3: bool = False,
              tangential: bool = True, max_views: int = 60, alpha: float = 0.0,
              frames_seen: int = 0) -> IntrinsicsResult:
    """Fit the pinhole + radial(k1, k2[, k3]) + tangential(p1, p2) model."""
    import cv2

    found = len(views)
    if found < 6:
        raise CalibrationError(
            f"the {board.cols}x{board.rows} board was found in only {found} views; need at least 6 "
            "(show the whole board, tilted in different directions, filling different parts of the frame)")
    if found > max_views:  # evenly spaced subset keeps the spread of poses
        idx = np.linspace(0, found - 1, max_views).round().astype(int)
        views = [views[i] for i in idx]
    flags = 0 if k3 else cv2.CALIB_FIX_K3
    if not tangential:
        flags |= cv2.CALIB_ZERO_TANGENT_DIST
    criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-9)
    obj = board.object_points()

    def fit(vs: list[View]):
        rms, K, D, rvecs, tvecs = cv2.calibrateCamera(
            [obj] * len(vs), [v.corners for v in vs], image_size, None, None, flags=flags, criteria=criteria)
        errs = []
        for v, r, t in zip(vs, rvecs, tvecs):
            proj, _ = cv2.projectPoints(obj, r, t, K, D)
            errs.append(float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - v.corners.reshape(-1, 2)) ** 2, axis=1)))))
        return rms, K, D, errs

    rms, K, D, errs = fit(views)
    dropped: list[str] = []
    med = float(np.median(errs))
    keep = [v for v, e in zip(views, errs) if e <= max(3.0 * med, 0.5)]
    if len(keep) < len(views) and len(keep) >= 6:
        dropped = [v.name for v, e in zip(views, errs) if e > max(3.0 * med, 0.5)]
        views = keep
        rms, K, D, errs = fit(views)
    D = D.ravel()
    if not k3 and len(D) >= 5:
        D = D[:5]
    K_new = undistorted_camera_matrix(K, D, image_size, alpha)
    intr = Intrinsics(
        camera_matrix=tuple(tuple(float(v) for v in row) for row in K),
        dist_coeffs=tuple(float(v) for v in D),
        new_camera_matrix=tuple(tuple(float(v) for v in row) for row in K_new),
        rms_px=float(rms), alpha=float(alpha), views=len(views),
        board={"cols": board.cols, "rows": board.rows, "square_mm": board.square_mm},
    )
    log.info("calibrated from %d views: rms %.3f px", len(views), rms)
    return IntrinsicsResult(intr, image_size, float(rms), tuple(errs), tuple(v.name for v in views),
                            tuple(dropped), frames_seen, found)


def intrinsics_from_inputs(inputs: Iterable[str | Path], board: Board, *, every: int = 5,
                           k3: bool = False, max_views: int = 60, alpha: float = 0.0) -> IntrinsicsResult:
    views, size, seen = collect_views(iter_images(inputs, every=every), board)
    return calibrate(views, board, size, k3=k3, max_views=max_views, alpha=alpha, frames_seen=seen)


def undistorted_camera_matrix(K: np.ndarray, D: np.ndarray, size: tuple[int, int], alpha: float) -> np.ndarray:
    import cv2

    K_new, _ = cv2.getOptimalNewCameraMatrix(K, D, size, alpha, size)
    if not np.all(np.isfinite(K_new)) or K_new[0, 0] <= 0 or K_new[1, 1] <= 0:
        return K.copy()
    return K_new
