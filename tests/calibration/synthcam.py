"""A known synthetic camera that photographs a planar checkerboard.

Each output pixel is traced back through the lens: pixel -> undistorted normalised ray
(cv2.undistortPoints with the true K, D) -> intersection with the board plane of the pose ->
board coordinates -> checker colour, supersampled 2x2 for anti-aliasing. The true corner
positions come from cv2.projectPoints with the same camera, so a test can check the renderer
agrees with OpenCV's forward model before trusting any calibration result.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SynthCamera:
    width: int = 640
    height: int = 480
    fx: float = 560.0
    fy: float = 560.0
    cx: float = 326.0
    cy: float = 236.0
    k1: float = -0.28
    k2: float = 0.09

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], np.float64)

    @property
    def D(self) -> np.ndarray:
        return np.array([self.k1, self.k2, 0, 0, 0], np.float64)


def poses(n: int, square_mm: float, cols: int, rows: int, seed: int = 7):
    """(rvec, tvec) of the board (origin at its first inner corner) at varied tilts and places."""
    rng = np.random.default_rng(seed)
    cxm, cym = (cols - 1) * square_mm / 2, (rows - 1) * square_mm / 2
    out = []
    for i in range(n):
        ax, ay = np.radians(rng.uniform(-35, 35, 2))
        az = np.radians(rng.uniform(-20, 20))
        R = cv2.Rodrigues(np.array([ax, ay, az]))[0]
        z = rng.uniform(330, 520)
        # place the board centre somewhere in the frame, often near the edges where distortion shows
        px, py = rng.uniform(-0.33, 0.33) * z, rng.uniform(-0.22, 0.22) * z
        t = np.array([px, py, z]) - R @ np.array([cxm, cym, 0.0])
        out.append((cv2.Rodrigues(R)[0].ravel(), t))
    return out


def undistort_normalised(px: np.ndarray, cam: SynthCamera) -> np.ndarray:
    """Distorted pixels -> undistorted normalised coordinates for the radial k1/k2 model,
    solving r_u (1 + k1 r_u^2 + k2 r_u^4) = r_d by Newton's method (exact to ~1e-12)."""
    xd = (px[:, 0] - cam.cx) / cam.fx
    yd = (px[:, 1] - cam.cy) / cam.fy
    rd = np.hypot(xd, yd)
    ru = rd.copy()
    for _ in range(10):  # quadratic convergence from r_u = r_d
        f = ru * (1 + cam.k1 * ru**2 + cam.k2 * ru**4) - rd
        df = 1 + 3 * cam.k1 * ru**2 + 5 * cam.k2 * ru**4
        ru = ru - f / df
    scale = np.divide(ru, rd, out=np.ones_like(rd), where=rd > 0)
    return np.stack([xd * scale, yd * scale], axis=1)


class Renderer:
    def __init__(self, cam: SynthCamera, square_mm: float, cols: int, rows: int, ss: int = 2):
        self.cam, self.sq, self.cols, self.rows, self.ss = cam, square_mm, cols, rows, ss
        w, h = cam.width, cam.height
        offs = (np.arange(ss) + 0.5) / ss - 0.5
        xs = (np.arange(w)[None, :, None, None] + offs[None, None, None, :])
        ys = (np.arange(h)[:, None, None, None] + offs[None, None, :, None])
        px = np.broadcast_to(xs, (h, w, ss, ss)).reshape(-1)
        py = np.broadcast_to(ys, (h, w, ss, ss)).reshape(-1)
        pts = np.stack([px, py], axis=1).reshape(-1, 1, 2)
        self.rays = np.c_[undistort_normalised(pts.reshape(-1, 2), cam), np.ones(len(pts))]  # (x, y, 1)

    def render(self, rvec, tvec, noise: float = 2.0, rng=None) -> np.ndarray:
        R = cv2.Rodrigues(np.asarray(rvec, np.float64))[0]
        t = np.asarray(tvec, np.float64)
        # Board plane: X = R [u v 0]^T + t. Ray s*d hits it where s*d = u r1 + v r2 + t,
        # i.e. [r1 r2 -d][u v s]^T = -t: solve with the plane normal n = r3.
        n = R[:, 2]
        s = (n @ t) / (self.rays @ n)
        X = self.rays * s[:, None] - t
        u = X @ R[:, 0]
        v = X @ R[:, 1]
        # Squares: corner (0,0) is the first inner corner; the board has one square more each way.
        iu = np.floor(u / self.sq).astype(np.int64) + 1
        iv = np.floor(v / self.sq).astype(np.int64) + 1
        inside = (iu >= 0) & (iu <= self.cols) & (iv >= 0) & (iv <= self.rows) & (s > 0)
        margin = (u > -2 * self.sq) & (u < (self.cols + 1) * self.sq) & (v > -2 * self.sq) & (v < (self.rows + 1) * self.sq) & (s > 0)
        val = np.full(len(u), 60.0)  # background: dark grey wall
        val[margin] = 235.0  # white paper around the squares
        black = inside & ((iu + iv) % 2 == 0)
        val[black] = 20.0
        h, w, ss = self.cam.height, self.cam.width, self.ss
        img = val.reshape(h, w, ss, ss).mean(axis=(2, 3))
        if noise:
            rng = rng or np.random.default_rng(0)
            img = img + rng.normal(0, noise, img.shape)
        return np.clip(img, 0, 255).astype(np.uint8)

    def true_corners(self, rvec, tvec) -> np.ndarray:
        obj = np.zeros((self.rows * self.cols, 3), np.float64)
        obj[:, :2] = np.mgrid[0:self.cols, 0:self.rows].T.reshape(-1, 2) * self.sq
        img, _ = cv2.projectPoints(obj, np.asarray(rvec, np.float64), np.asarray(tvec, np.float64),
                                   self.cam.K, self.cam.D)
        return img.reshape(-1, 2)
