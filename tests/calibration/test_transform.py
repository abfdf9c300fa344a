"""ROI mask, prewarp, the calibration file and the transform `edge run` applies."""

import json
import os
import stat

import cv2
import numpy as np
import pytest

from edge.calibration.file import (
    Calibration, CalibrationConfig, CalibrationError, Roi, load_calibration, save_calibration,
)
from edge.calibration.prewarp import prewarp_from_points
from edge.calibration.transform import CalibratedTransform, frame_transform
from edge.calibration import checkerboard
from edge.configuration.validation import ConfigError, from_mapping
from edge.cli import main

W, H = 640, 480
# A 400x100 rectangle seen in perspective: its top edge shorter than its bottom edge.
QUAD = [(220, 200), (420, 190), (470, 300), (170, 320)]


def scene() -> np.ndarray:
    img = np.full((H, W, 3), 90, np.uint8)
    cv2.fillPoly(img, [np.array(QUAD, np.int32)], (255, 255, 255))
    return img


def test_saved_file_is_readable_by_others(tmp_path):
    # root writes /etc/edge/calibration.json; the service's own user must be able to read it
    old = os.umask(0o022)
    try:
        path = save_calibration(Calibration(image_size=(W, H), roi=Roi(((0, 0), (9, 0), (9, 9)))), tmp_path / "c.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not list(tmp_path.glob(".c.json.*"))  # no temp file left behind


def test_config_section_and_no_calibration_means_no_transform(tmp_path):
    assert from_mapping(CalibrationConfig, {}) == CalibrationConfig(path="")
    assert frame_transform(CalibrationConfig()) is None
    with pytest.raises(ConfigError, match=r"^calibration\.pth: unknown key \(did you mean 'path'\?\)$"):
        from_mapping(CalibrationConfig, {"pth": "x"}, "calibration")
    # relative paths resolve against the config file's folder
    save_calibration(Calibration(image_size=(W, H), roi=Roi(((0, 0), (10, 0), (10, 10)))), tmp_path / "cal.json")
    t = frame_transform(CalibrationConfig(path="cal.json"), base_dir=tmp_path)
    assert isinstance(t, CalibratedTransform)


def test_roi_masks_outside_and_keeps_inside():
    poly = ((100, 100), (500, 120), (520, 400), (80, 380))
    t = CalibratedTransform(Calibration(image_size=(W, H), roi=Roi(poly)))
    img = np.full((H, W, 3), 200, np.uint8)
    out = t(img)
    assert out.shape == img.shape and img.min() == 200  # input untouched
    assert (out[300, 300] == 200).all() and (out[10, 10] == 0).all() and (out[470, 630] == 0).all()
    inside = cv2.pointPolygonTest(np.array(poly, np.float32), (90.0, 110.0), False)
    assert inside < 0 and (out[110, 90] == 0).all()
    # same calibration, frames at twice the resolution: the polygon scales with them
    big = t(np.full((2 * H, 2 * W, 3), 200, np.uint8))
    assert (big[600, 600] == 200).all() and (big[20, 20] == 0).all()


def test_prewarp_makes_the_rectangle_upright_with_its_real_aspect():
    warp = prewarp_from_points(QUAD, (W, H), aspect=4.0)
    Hm = warp.H
    pts = cv2.perspectiveTransform(np.array(QUAD, np.float64).reshape(-1, 1, 2), Hm).reshape(-1, 2)
    (tl, tr, br, bl) = pts
    assert tl[1] == pytest.approx(tr[1], abs=1e-6) and bl[1] == pytest.approx(br[1], abs=1e-6)
    assert tl[0] == pytest.approx(bl[0], abs=1e-6) and tr[0] == pytest.approx(br[0], abs=1e-6)
    assert (tr[0] - tl[0]) / (bl[1] - tl[1]) == pytest.approx(4.0)
    # as wide as the outline was on average (200 and 300 px), so plates keep their resolution
    assert tr[0] - tl[0] == pytest.approx(250.0, abs=1.0)

    out = CalibratedTransform(Calibration(image_size=(W, H), prewarp=warp))(scene())
    mask = (out[..., 0] > 200).astype(np.uint8)
    x, y, w, h = cv2.boundingRect(mask)
    assert mask.sum() / (w * h) > 0.97  # the white quadrilateral became an axis-aligned rectangle
    assert w / h == pytest.approx(4.0, rel=0.05)


def test_points_must_be_ordered_and_convex():
    with pytest.raises(CalibrationError, match="convex quadrilateral in the order top-left"):
        prewarp_from_points([QUAD[1], QUAD[0], QUAD[2], QUAD[3]], (W, H))


def test_cli_roi_prewarp_apply_build_one_file(tmp_path, capsys):
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), scene())
    cal = tmp_path / "camera.json"
    assert main(["calibrate", "roi", "--polygon", "150,150 500,150 520,360 120,360", "--image", str(frame),
                 "--out", str(cal), "--preview", str(tmp_path / "roi.png")]) == 0
    assert main(["calibrate", "prewarp", "--points", " ".join(f"{x},{y}" for x, y in QUAD), "--aspect", "4",
                 "--image", str(frame), "--out", str(cal), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["output_size"] == [W, H]
    c = load_calibration(cal)
    assert c.image_size == (W, H) and c.roi is not None and c.prewarp is not None
    assert main(["calibrate", "apply", str(frame), "--calibration", str(cal), "--out", str(tmp_path / "a.png")]) == 0
    applied = cv2.imread(str(tmp_path / "a.png"))
    assert applied.shape == (H, W, 3) and applied[0, 0].max() == 0 and applied.max() == 255
    # a point outside the frame, and points for a different frame size, are refused in one line
    assert main(["calibrate", "roi", "--polygon", "0,0 900,0 900,10", "--out", str(cal)]) == 1
    assert main(["calibrate", "roi", "--polygon", "0,0 9,0 9,9", "--size", "1280x720", "--out", str(cal)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "outside the 640x480 frame" in err[0] and "is for 640x480 frames" in err[1]


@pytest.mark.parametrize("text, message", [
    ("{", "not valid JSON"),
    ('{"schema": "other/1"}', "expected 'edge.calibration/1'"),
    ('{"schema": "edge.calibration/1", "image_size": [640, 480], "roi": {"polygon": [[0, 0], [1, 1]]}}',
     r"roi.polygon: expected at least 3 points, got 2"),
    ('{"schema": "edge.calibration/1", "roi": {"polygon": [[0, 0], [1, 1], [2, 0]]}}', "image_size: required"),
    ('{"schema": "edge.calibration/1", "image_size": [640, 480], "extra": 1}', "extra: unknown key"),
])
def test_bad_calibration_files_fail_in_one_line(tmp_path, text, message):
    p = tmp_path / "c.json"
    p.write_text(text)
    with pytest.raises(CalibrationError, match=message) as err:
        load_calibration(p)
    assert "\n" not in str(err.value)


def test_printable_checkerboard(tmp_path):
    # The pattern itself: OpenCV finds exactly 9x6 inner corners in it.
    img = checkerboard.render(9, 6, px_per_square=30)
    found, corners = cv2.findChessboardCorners(img, (9, 6))
    assert found and len(corners) == 54
    # The PDF: valid cross-reference table, A4 landscape, 25 mm squares (70.866 pt).
    pdf = checkerboard.write_pdf(tmp_path / "b.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    xref = int(pdf.rsplit(b"startxref", 1)[1].split()[0])
    assert pdf[xref:xref + 4] == b"xref"
    offsets = [int(line[:10]) for line in pdf[xref:].split(b"\n")[3:8]]
    assert [pdf[o:o + 7] for o in offsets] == [f"{i} 0 obj".encode() for i in range(1, 6)]
    assert b"/MediaBox [0 0 841.890 595.276]" in pdf
    squares = [line for line in pdf.split(b"\n") if line.endswith(b" re")]
    assert len(squares) == 35 + 1  # 10x7 squares, half black, plus the 100 mm scale bar
    assert all(line.split()[2:4] == [b"70.866", b"70.866"] for line in squares[:-1])
    assert squares[-1].split()[2] == b"283.465"  # 100 mm
    svg = checkerboard.write_svg(tmp_path / "b.svg").read_text()
    assert 'width="297.0mm"' in svg and svg.count('width="25.0" height="25.0"') == 35


def test_edge_run_config_applies_the_calibration_file(tmp_path):
    # The path in [calibration] (relative to the config file) becomes the pipeline's transform.
    from edge.app import make_transform
    from edge.configuration.settings import load_config

    poly = ((100, 100), (500, 100), (500, 400), (100, 400))
    save_calibration(Calibration(image_size=(W, H), roi=Roi(poly)), tmp_path / "cal.json")
    (tmp_path / "edge.toml").write_text('[calibration]\npath = "cal.json"\n')
    transform = make_transform(load_config(tmp_path / "edge.toml"))
    out = transform(np.full((H, W, 3), 200, np.uint8))
    assert (out[250, 300] == 200).all() and (out[20, 20] == 0).all()
    (tmp_path / "edge.toml").write_text('[calibration]\npath = "missing.json"\n')
    with pytest.raises(CalibrationError, match="calibration file not found"):
        make_transform(load_config(tmp_path / "edge.toml"))


# --- the cheap path: detection frame + plate regions, never a whole full-resolution remap ----

FW, FH = 1280, 720  # "full resolution" frames for the pipeline tests


def lens_calibration(w: int, h: int, *, roi: bool = False, prewarp: bool = False) -> Calibration:
    from edge.calibration.file import Intrinsics
    from edge.calibration.intrinsics import undistorted_camera_matrix

    K = np.array([[1.1 * w, 0, w / 2], [0, 1.1 * w, h / 2], [0, 0, 1]])
    D = np.array([-0.25, 0.07, 0.001, -0.001, 0])
    Kn = undistorted_camera_matrix(K, D, (w, h), 0.0)
    intr = Intrinsics(tuple(map(tuple, K)), tuple(D), tuple(map(tuple, Kn)))
    quad = [(0.3 * w, 0.5 * h), (0.7 * w, 0.47 * h), (0.73 * w, 0.63 * h), (0.27 * w, 0.66 * h)]
    return Calibration((w, h), intr,
                       roi=Roi(((0, 0.3 * h), (w, 0.25 * h), (w, h), (0, h))) if roi else None,
                       prewarp=prewarp_from_points(quad, (w, h)) if prewarp else None)


def textured(w: int, h: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    return cv2.add(img, rng.integers(0, 40, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("parts", ["undistort", "roi", "undistort+roi+prewarp", "prewarp"])
def test_crop_is_exactly_that_region_of_the_whole_frame_transform(parts):
    roi, prewarp = "roi" in parts, "prewarp" in parts
    if parts == "roi":
        cal = Calibration((W, H), roi=Roi(((0, 100), (W, 60), (W, H), (0, H))))
    elif parts == "prewarp":
        cal = Calibration((W, H), prewarp=prewarp_from_points(QUAD, (W, H)))
    else:
        cal = lens_calibration(W, H, roi=roi, prewarp=prewarp)
    t = CalibratedTransform(cal)
    for scale in (1, 2):  # frames at the calibration's size and at twice it
        img = textured(W * scale, H * scale)
        whole = t(img)
        ow, oh = t.output_size((W * scale, H * scale))
        assert whole.shape == (oh, ow, 3)
        for x1, y1, x2, y2 in ((200, 150, 420, 230), (0, 0, 37, 11), (ow - 90, oh - 33, ow, oh),
                               (5, 70 * scale, 300, 70 * scale + 41)):
            got = t.crop(img, x1, y1, x2, y2)
            assert got.shape == (y2 - y1, x2 - x1, 3)
            assert np.array_equal(got, whole[y1:y2, x1:x2]), (parts, scale, (x1, y1, x2, y2))
        assert t.crop(img, 10, 10, 10, 20).size == 0
    assert img.std() > 20  # a textured frame: a shifted or mis-sliced map would show


class RecordingTransform(CalibratedTransform):
    """The real transform, remembering the size of every frame it was asked to transform whole."""

    def __init__(self, cal):
        super().__init__(cal)
        self.whole: list[tuple[int, int]] = []
        self.crops = 0

    def __call__(self, image):
        self.whole.append(image.shape[1::-1])
        return super().__call__(image)

    def crop(self, image, x1, y1, x2, y2):
        self.crops += 1
        return super().crop(image, x1, y1, x2, y2)


class RecordingReader:
    name = "recording"

    def __init__(self):
        self.crops: list[np.ndarray] = []

    def predict(self, crops):
        from edge.records import CharConfidence, PlateText

        self.crops += [np.array(c) for c in crops]
        return [PlateText("AB123", tuple(CharConfidence(ch, 0.99) for ch in "AB123")) for _ in crops]


class RecordingTracker:
    open_tracks = 0

    def __init__(self):
        self.reads = []

    def update(self, frame, reads):
        self.reads += reads
        return []

    def flush(self):
        return []


def plate_scene(seed: int) -> np.ndarray:
    img = textured(FW, FH, seed)
    img = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)  # grey road...
    rng = np.random.default_rng(seed)
    for hue, (x, y) in ((60, (430, 380)), (120, (700, 400))):  # ...and two saturated plates
        x, y = x + int(rng.integers(-20, 20)), y + int(rng.integers(-10, 10))
        bgr = cv2.cvtColor(np.uint8([[[hue, 230, 230]]]), cv2.COLOR_HSV2BGR)[0, 0]
        cv2.rectangle(img, (x, y), (x + 150, y + 36), tuple(int(c) for c in bgr), -1)
        cv2.putText(img, "AB123", (x + 8, y + 29), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (20, 20, 20), 2)
    return img


@pytest.mark.parametrize("parts", ["undistort", "undistort+roi+prewarp"])
def test_pipeline_detects_on_a_small_transformed_frame_and_reads_sharp_full_res_crops(parts):
    from datetime import datetime, timezone

    from edge.pipeline import Pipeline, PipelineOptions
    from edge.recognition.reading import CONTEXT, DEFAULT_POLICY, crop_bounds
    from edge.records import Frame
    from tests.helpers import ColourPlateDetector, NoFrames

    cal = lens_calibration(FW, FH, roi="roi" in parts, prewarp="prewarp" in parts)
    frames = [Frame(i, plate_scene(i), i * 40_000_000, datetime(2026, 1, 1, tzinfo=timezone.utc), "t")
              for i in range(3)]

    def run(transform):
        reader, tracker, detector = RecordingReader(), RecordingTracker(), ColourPlateDetector()
        p = Pipeline(NoFrames(), detector, reader, tracker, object(), transform=transform,
                     options=PipelineOptions(detect_side=416))
        for f in frames:
            p.process(f)
        return reader, tracker, p

    cheap = RecordingTransform(cal)
    reader, tracker, pipeline = run(cheap)
    reference = CalibratedTransform(cal)
    old_reader, old_tracker, _ = run(lambda image: reference(image))  # a plain callable: whole frames

    # Only the 416 px detection frames were transformed whole; the plates came from crop().
    assert cheap.whole and set(cheap.whole) == {(416, 234)}
    assert len(tracker.reads) == 2 * len(frames)
    # the reader is sure of every plate (RecordingReader: 0.99), so each is read from its context crop only
    assert RecordingReader().predict([np.zeros((8, 8, 3), np.uint8)])[0].confidence >= DEFAULT_POLICY.sure_alone
    first = (CONTEXT,)
    assert cheap.crops == len(reader.crops) == len(first) * len(tracker.reads)
    assert pipeline.summary()["latency_ms"]["transform"]["n"] == len(frames)
    # Boxes are in the full-resolution transformed frame, as before: same plates, same place.
    assert len(old_tracker.reads) == len(tracker.reads)
    key = lambda r: (r.frame_seq, r.box.x)  # noqa: E731
    for new, old in zip(sorted(tracker.reads, key=key), sorted(old_tracker.reads, key=key)):
        assert new.frame_seq == old.frame_seq
        assert np.allclose([new.box.x, new.box.y, new.box.w, new.box.h],
                           [old.box.x, old.box.y, old.box.w, old.box.h], atol=4.0), (new.box, old.box)
    # The reader got exactly the full-resolution transformed pixels of each box (sharp, not upscaled).
    by_seq = {f.seq: reference(f.image) for f in frames}
    ow, oh = reference.output_size((FW, FH))
    for k, read in enumerate(tracker.reads):  # each plate is read from its context crop
        for margin, crop in zip(first, reader.crops[k * len(first):(k + 1) * len(first)]):
            x1, y1, x2, y2 = crop_bounds(read.box, ow, oh, margin)
            assert crop.shape[1] >= 140  # a plate 150 px wide stays ~150 px wide
            assert np.array_equal(crop, by_seq[read.frame_seq][y1:y2, x1:x2])
