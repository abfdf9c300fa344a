"""Lens calibration against a known synthetic camera (focal length, principal point, k1/k2)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edge.calibration.file import CalibrationError, load_calibration
from edge.calibration.transform import CalibratedTransform
from edge.calibration.intrinsics import Board, collect_views, calibrate, find_corners
from edge.cli import main
from tests.calibration.synthcam import Renderer, SynthCamera, poses

CAM = SynthCamera()  # 640x480, f=560 px, c=(326, 236), k1=-0.28, k2=0.09
BOARD = Board(9, 6, 25.0)
N_POSES = 20


@pytest.fixture(scope="module")
def shots():
    r = Renderer(CAM, BOARD.square_mm, BOARD.cols, BOARD.rows)
    out = []
    for i, (rv, tv) in enumerate(poses(N_POSES, BOARD.square_mm, BOARD.cols, BOARD.rows)):
        out.append((r.render(rv, tv, rng=np.random.default_rng(i)), r.true_corners(rv, tv)))
    return out


@pytest.fixture(scope="module")
def video(shots, tmp_path_factory):
    """A checkerboard 'video': each pose held for 3 frames (near-duplicates the tool must drop)."""
    path = tmp_path_factory.mktemp("calib") / "board.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (CAM.width, CAM.height))
    assert w.isOpened()
    for img, _ in shots:
        for _ in range(3):
            w.write(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
    w.release()
    return path


def distortion_field(K, D, size, step=16):
    """Where each pixel of an ideal pinhole image lands after the lens distortion (px)."""
    w, h = size
    xs, ys = np.meshgrid(np.arange(0, w, step), np.arange(0, h, step))
    pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    norm = np.c_[(pts[:, 0] - K[0, 2]) / K[0, 0], (pts[:, 1] - K[1, 2]) / K[1, 1], np.ones(len(pts))]
    img, _ = cv2.projectPoints(norm.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, D)
    return img.reshape(-1, 2) - pts


def test_synthetic_camera_agrees_with_opencv_projection(shots):
    # The renderer traces rays backwards; OpenCV's projectPoints goes forwards: they must meet.
    errors = []
    for img, truth in shots:
        corners = find_corners(img, BOARD)
        if corners is not None:
            errors.append(np.linalg.norm(corners.reshape(-1, 2) - truth, axis=1))
    assert len(errors) >= 15, "the board should be found in most poses"
    all_err = np.concatenate(errors)
    assert all_err.mean() < 0.3 and all_err.max() < 0.8


def test_intrinsics_from_video_recovers_known_camera(video, tmp_path, capsys):
    out = tmp_path / "camera.json"
    rc = main(["calibrate", "intrinsics", str(video), "--every", "1", "--out", str(out), "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    # 60 frames, 3 per pose: near-duplicates are dropped, so at most one view per pose is used.
    assert summary["frames_seen"] == 3 * N_POSES
    assert 12 <= summary["views_used"] <= N_POSES
    assert summary["rms_px"] < 0.5

    cal = load_calibration(out)
    K, D = cal.intrinsics.K, cal.intrinsics.D
    assert cal.image_size == (CAM.width, CAM.height)
    assert abs(K[0, 0] - CAM.fx) / CAM.fx < 0.02
    assert abs(K[1, 1] - CAM.fy) / CAM.fy < 0.02
    assert abs(K[0, 2] - CAM.cx) < 3 and abs(K[1, 2] - CAM.cy) < 3
    assert abs(D[0] - CAM.k1) < 0.03 and abs(D[1] - CAM.k2) < 0.05
    assert abs(D[2]) < 0.005 and abs(D[3]) < 0.005
    # Coefficients trade off against each other; what matters is the pixel displacement field.
    truth = distortion_field(CAM.K, CAM.D, (CAM.width, CAM.height))
    got = distortion_field(K, D, (CAM.width, CAM.height))
    assert np.abs(truth).max() > 20, "the synthetic lens must distort noticeably"
    assert np.abs(got - truth).max() < 1.0


def test_undistort_transform_straightens_the_board(shots, tmp_path):
    views, size, _ = collect_views(((str(i), img) for i, (img, _) in enumerate(shots)), BOARD)
    result = calibrate(views, BOARD, size)
    from edge.calibration.file import Calibration, save_calibration

    path = save_calibration(Calibration(image_size=size, intrinsics=result.intrinsics), tmp_path / "c.json")
    transform = CalibratedTransform(load_calibration(path))
    # After undistortion, corners must be where an ideal pinhole camera with K_new puts them.
    K_new = result.intrinsics.K_new
    obj = BOARD.object_points().astype(np.float64)
    checked = 0
    for img, truth in shots[:6]:
        und = transform(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
        assert und.shape == (CAM.height, CAM.width, 3)
        corners = find_corners(cv2.cvtColor(und, cv2.COLOR_BGR2GRAY), BOARD)
        if corners is None:
            continue
        ok, rvec, tvec = cv2.solvePnP(obj, corners, K_new, None)
        proj, _ = cv2.projectPoints(obj, rvec, tvec, K_new, None)
        assert np.abs(proj.reshape(-1, 2) - corners.reshape(-1, 2)).max() < 0.8  # straight lines again
        raw_err = np.abs(cv2.projectPoints(obj, *cv2.solvePnP(obj, truth.astype(np.float32), K_new, None)[1:],
                                           K_new, None)[0].reshape(-1, 2) - truth).max()
        assert raw_err > 2.0  # ...while the raw image was not a pinhole image
        checked += 1
    assert checked >= 3


def test_too_few_views_is_a_clear_error(shots):
    views, size, _ = collect_views(((str(i), img) for i, (img, _) in enumerate(shots[:3])), BOARD)
    with pytest.raises(CalibrationError, match="found in only .* views; need at least 6"):
        calibrate(views, BOARD, size)


def test_unreadable_input_is_one_line(tmp_path, capsys):
    bad = tmp_path / "not-a-video.mp4"
    bad.write_bytes(b"nope")
    rc = main(["calibrate", "intrinsics", str(bad), "--out", str(tmp_path / "c.json")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err and "not a readable image or video" in err
