"""The committed plate detector (models/plate_detector.onnx) on committed synthetic scenes.

Uses tests/fixtures/scenes/*.jpg + labels.tsv when the renderer has written them, else renders
scenes with fixed seeds (edge.synth.scenes). Never reads ../shared.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.recognition.models.detector import OnnxPlateDetector, default_model_path
from edge.records import BoundingBox, PlateDetection
from edge.synth.big_photo import read_scene_labels

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "scenes"
MIN_W = 40  # plates at least this wide (original px) must be found


def _fixture_scenes() -> list[tuple[str, np.ndarray, list[BoundingBox]]]:
    labels = FIXTURES / "labels.tsv"
    if labels.is_file():
        out = []
        for name, plates in sorted(read_scene_labels(labels).items()):
            img = cv2.imread(str(FIXTURES / name), cv2.IMREAD_COLOR)
            if img is not None:
                out.append((name, img, [box for box, _ in plates]))
        if out:
            return out
    from edge.synth.scenes import render_scene

    out = []
    rng = np.random.default_rng(2026)
    for i, (w, h) in enumerate([(1280, 720), (640, 480), (960, 540), (1280, 720), (800, 600), (640, 360)]):
        sc = render_scene(rng, w, h, max_plates=3, min_plate_w=60.0, max_plate_w=260.0)
        out.append((f"rendered_{i}", sc.image, [b for b, _ in sc.plates]))
    return out


@pytest.fixture(scope="module")
def detector() -> OnnxPlateDetector:
    return OnnxPlateDetector(default_model_path(), threads=1)


@pytest.fixture(scope="module")
def scenes():
    return _fixture_scenes()


def test_model_is_committed_and_small():
    path = default_model_path()
    assert path.is_file(), path
    assert path.stat().st_size < 4 * 1024 * 1024
    assert path.with_suffix(".json").is_file()


def test_finds_the_plates_in_synthetic_scenes(detector, scenes):
    found = total = false_pos = 0
    for name, img, boxes in scenes:
        dets = detector.predict(img)
        big = [b for b in boxes if b.w >= MIN_W]
        total += len(big)
        for b in big:
            found += any(d.box.iou(b) >= 0.5 for d in dets)
        false_pos += sum(1 for d in dets if max((d.box.iou(b) for b in boxes), default=0.0) < 0.3)
    assert total >= 5
    # v1 finds 6 of the 7 fixture plates at its shipped threshold (it misses the dim plate
    # beside the headlight glare in 00_1280x720.jpg, score 0.48); allow one miss, no more
    assert found >= total - 1 and found / total >= 0.8, f"found {found}/{total} plates"
    assert false_pos <= max(2, len(scenes) // 3), f"{false_pos} false detections"


def test_output_contract_boxes_in_original_pixels(detector, scenes):
    name, img, boxes = next((s for s in scenes if any(b.w >= MIN_W for b in s[2])), scenes[0])
    h, w = img.shape[:2]
    dets = detector.predict(img)
    assert dets and all(isinstance(d, PlateDetection) and isinstance(d.box, BoundingBox) for d in dets)
    assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)
    for d in dets:
        assert 0.0 <= d.score <= 1.0
        assert 0 <= d.box.x and 0 <= d.box.y and d.box.x2 <= w + 1e-3 and d.box.y2 <= h + 1e-3
        assert d.box.w > 0 and d.box.h > 0
    # the same scene at twice the size (the letterbox input is the same): boxes scale with it
    big = cv2.resize(img, (w * 2, h * 2), interpolation=cv2.INTER_LINEAR)
    dets2 = detector.predict(big)
    best = dets[0].box
    scaled = BoundingBox(best.x * 2, best.y * 2, best.w * 2, best.h * 2)
    assert max(d.box.iou(scaled) for d in dets2) > 0.8
    # a frame with a border added on the right/bottom: the same plate, same pixels
    padded = cv2.copyMakeBorder(img, 0, h // 2, 0, w // 2, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    dets3 = detector.predict(padded)
    assert max((d.box.iou(best) for d in dets3), default=0.0) > 0.6


def test_blank_frame_has_no_plates(detector):
    assert detector.predict(np.full((720, 1280, 3), 114, np.uint8)) == []
    assert detector.predict(np.zeros((480, 640, 3), np.uint8)) == []


def test_grey_and_bgra_inputs_are_accepted(detector, scenes):
    _, img, _ = scenes[0]
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    assert isinstance(detector.predict(grey), list)
    bgra = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    assert [d.box for d in detector.predict(bgra)] == [d.box for d in detector.predict(img)]


def test_bad_input_is_a_clear_error(detector):
    with pytest.raises(ValueError):
        detector.predict(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ValueError):
        detector.predict(np.zeros((10, 10, 2), np.uint8))


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        OnnxPlateDetector(tmp_path / "nope.onnx")


def test_name_and_threshold_come_from_the_sidecar(detector):
    assert detector.name.startswith("plate_detector:")
    assert 0.0 < detector.score_threshold < 1.0
    strict = OnnxPlateDetector(default_model_path(), score_threshold=0.99)
    assert strict.score_threshold == 0.99


def test_input_side_comes_from_the_sidecar_unless_the_config_sets_it(scenes):
    import json

    from edge.recognition.models.loading import load_readers
    from edge.configuration.settings import build_config

    sidecar = json.loads(default_model_path().with_suffix(".json").read_text())
    assert load_readers(build_config({})).detector.input_side == sidecar["input"]["side"]
    small = load_readers(build_config({"detector": {"input_side": 256}})).detector
    assert small.input_side == 256
    # the letterboxed input really is that size: a 1280x720 frame -> 256x160 (144 padded to 160)
    blob, scale = small._letterbox(np.zeros((720, 1280, 3), np.uint8), small.input_side)
    assert blob.shape[2:] == (160, 256) and abs(scale - 0.2) < 1e-9


def test_candidates_below_the_sure_threshold_are_marked_for_confirmation(scenes):
    import json

    post = json.loads(default_model_path().with_suffix(".json").read_text())["postprocess"]
    detector = OnnxPlateDetector(default_model_path())
    assert detector.candidate_threshold == post.get("candidate_threshold", post["score_threshold"])
    assert detector.candidate_threshold <= detector.score_threshold
    seen = [d for _, image, _ in scenes for d in detector.predict(image)]
    assert seen and all(d.score > detector.candidate_threshold for d in seen)
    assert all(d.confirm == (d.score <= detector.score_threshold) for d in seen)
    # a threshold given by the caller is exactly that threshold: no candidates
    plain = OnnxPlateDetector(default_model_path(), score_threshold=0.3)
    assert plain.candidate_threshold == 0.3
    assert not any(d.confirm for _, image, _ in scenes for d in plain.predict(image))


def _close_up(style: str, seed: int) -> tuple[np.ndarray, BoundingBox]:
    """A synthetic plate filling 85% of a 640x480 picture's width (a car at the kerb)."""
    from edge.synth.plates import render_plate

    plate = render_plate(np.random.default_rng(seed), style).image
    canvas = np.full((480, 640, 3), (60, 70, 80), np.uint8)
    pw = 544
    ph = round(pw * plate.shape[0] / plate.shape[1])
    x0, y0 = (640 - pw) // 2, (480 - ph) // 2
    canvas[y0:y0 + ph, x0:x0 + pw] = cv2.resize(plate, (pw, ph), interpolation=cv2.INTER_AREA)
    return canvas, BoundingBox(x0, y0, pw, ph)


def test_the_coarse_pass_finds_plates_that_fill_the_picture():
    import json

    from edge.recognition.models.loading import load_readers
    from edge.configuration.settings import build_config

    sidecar = json.loads(default_model_path().with_suffix(".json").read_text())
    detector = load_readers(build_config({})).detector
    assert detector.coarse_side == sidecar["input"].get("coarse_side", 0) > 0
    main_only = load_readers(build_config({"detector": {"coarse_side": 0}})).detector
    for style, seed in (("us", 0), ("br_mercosur", 1), ("cn_blue", 0), ("uk_rear", 1), ("eu_ro", 1)):
        image, truth = _close_up(style, seed)  # main pass alone: IoU 0.59-0.78 (cut short); with
        # it 0.85-0.95, with TrueType fonts (Pillow) or without (CI), which draw other plates
        dets = detector.predict(image)
        assert max((d.box.iou(truth) for d in dets), default=0.0) >= 0.8, f"{style} {seed}: {dets}"
        assert max((d.box.iou(truth) for d in main_only.predict(image)), default=0.0) < 0.8
    # 0 turns it off; a side not below the main one would add nothing, so it is off too
    assert load_readers(build_config({"detector": {"coarse_side": 0}})).detector.coarse_side == 0
    assert OnnxPlateDetector(default_model_path(), input_side=320, coarse_side=320).coarse_side == 0


def test_fine_pass_for_stills_from_900_px_at_five_eighths_then_half_their_size(detector):
    assert detector.fine_side == 2048 and detector.input_side == 512 and detector.policy.fine_min_side == 900
    assert detector.fine_side_for(899, 899) == 0
    assert detector.fine_side_for(900, 600) == 768  # at least 768
    assert detector.fine_side_for(1280, 720) == 800  # five eighths
    assert detector.fine_side_for(1500, 1000) == 928  # 937, down to a multiple of 32
    assert detector.fine_side_for(1920, 1080) == 1152  # five eighths stops at 1152 ...
    assert detector.fine_side_for(1080, 1920) == 1152
    assert detector.fine_side_for(2560, 1440) == 1280  # ... where half is more
    assert detector.fine_side_for(4000, 3000) == 1984  # half, down to a multiple of 32
    assert detector.fine_side_for(6000, 4000) == 2048  # capped
    assert OnnxPlateDetector(default_model_path(), fine_side=0).fine_side_for(4000, 3000) == 0


def test_stills_get_their_own_detector_threads_and_video_keeps_one():
    from edge.recognition.models.loading import load_readers
    from edge.configuration.settings import build_config

    assert load_readers(build_config({})).detector.threads == 1  # video: a core for capture
    assert load_readers(build_config({}), stills=True).detector.threads == 2
    config = build_config({"detector": {"threads": 3, "stills_threads": 0}})
    assert load_readers(config).detector.threads == 3
    assert load_readers(config, stills=True).detector.threads == 0  # onnxruntime's choice


@pytest.mark.parametrize("length", [769, 960, 1080, 1488, 1500, 1984, 2048, 3000])
def test_fine_tiles_cover_the_image_and_overlap(length):
    from edge.recognition.models.detector import DEFAULT_DETECTION, _tile_size, _tile_starts

    most, overlap = DEFAULT_DETECTION.fine_tile, DEFAULT_DETECTION.fine_overlap
    tile = _tile_size(length, most, 32, overlap)
    assert tile % 32 == 0 and tile <= most
    starts = _tile_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + tile == length
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
    # no more tiles than `fine_tile` px ones would take
    assert len(starts) == len(_tile_starts(length, most, overlap))
    assert _tile_starts(700, _tile_size(700, most, 32, overlap), overlap) == [0]


def test_a_plate_on_a_tile_seam_is_found_once_with_its_whole_box(detector, scenes):
    from edge.recognition.models.detector import _tile_size

    # a fixture scene at native size on a 4K canvas, its plate centred on the right edge of the
    # first fine tile (the fine pass scales 3840 -> 1920: 736 px tiles at 0, 592 and 1184), so
    # that tile sees a cut plate and the next one sees it whole
    name, img, boxes = next(s for s in scenes if s[0].startswith("02_"))
    plate = max(boxes, key=lambda b: b.w)
    canvas = np.full((2160, 3840, 3), 114, np.uint8)
    assert detector.fine_side_for(3840, 2160) == 1920
    seam_x = round(_tile_size(1920, detector.policy.fine_tile, 32, detector.policy.fine_overlap) / 0.5)
    ox = int(seam_x - (plate.x + plate.w / 2))
    oy = int(600 - plate.y)  # y 300 once scaled: inside the first row of tiles only
    canvas[oy:oy + img.shape[0], ox:ox + img.shape[1]] = img
    want = BoundingBox(plate.x + ox, plate.y + oy, plate.w, plate.h)
    dets = detector.predict(canvas)
    # without dropping the boxes that touch an inner tile edge, the cut half of the plate in the
    # first tile comes out as a second box (IoU 0.46 with the plate)
    hits = [d for d in dets if d.box.iou(want) > 0.2]
    assert len(hits) == 1, [(d.box, d.score) for d in dets]
    assert hits[0].box.iou(want) >= 0.8


def test_nms_keeps_one_of_a_tight_and_a_loose_box_of_one_plate():
    from edge.recognition.models.detector import DEFAULT_DETECTION, _nms

    contain = DEFAULT_DETECTION.nms_contain
    # a 169x52 box inside a 191x79 one: IoU 0.43 (under the 0.45 NMS IoU), but one plate
    boxes = np.array([[784, 315, 953, 367], [814, 305, 1005, 384], [1200, 300, 1300, 340]], np.float32)
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    assert _nms(boxes, scores, 0.45, contain) == [0, 2]
    # two plates side by side that touch are both kept
    side = np.array([[0, 0, 100, 30], [95, 0, 195, 30]], np.float32)
    assert _nms(side, np.array([0.9, 0.8], np.float32), 0.45, contain) == [0, 1]


def _far_car(scenes, name: str, scale: float) -> tuple[np.ndarray, BoundingBox]:
    """A 1500x1000 photo holding one fixture scene shrunk by `scale` at (300, 400), like a car
    far off; and its plate's box."""
    _, img, boxes = next(s for s in scenes if s[0].startswith(name))
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    photo = np.full((1000, 1500, 3), 114, np.uint8)
    photo[400:400 + small.shape[0], 300:300 + small.shape[1]] = small
    b = max(boxes, key=lambda b: b.w)
    return photo, BoundingBox(300 + b.x * scale, 400 + b.y * scale, b.w * scale, b.h * scale)


def test_a_far_plate_in_a_mid_size_photo_is_found_even_beside_a_near_one(scenes):
    class Counting(OnnxPlateDetector):
        tiled = 0

        def _tiled_peaks(self, image, side):
            self.tiled += 1
            return super()._tiled_peaks(image, side)

    stills, video = Counting(default_model_path(), fine_side=2048), Counting(default_model_path(), fine_side=0)
    # the plate is 40 px wide: 14 px in the 512 px main pass, which finds nothing
    photo, plate = _far_car(scenes, "01_", 0.15)
    assert not [d for d in video.predict(photo) if d.box.iou(plate) >= 0.5]
    found = [d for d in stills.predict(photo) if d.box.iou(plate) >= 0.5]
    assert stills.tiled == 1 and len(found) == 1 and found[0].confirm  # the reader must confirm it
    # a near car at the right of the same photo, whose plate the main pass is sure of, does not
    # stop the fine pass (until 2026-12-06 it did, and the far car went unseen)
    _, near_img, near_boxes = next(s for s in scenes if s[0].startswith("02_"))
    h, w = near_img.shape[:2]
    assert h <= 1000 and 1500 - w > 300 + 1280 * 0.15  # clear of the far car
    photo[:h, 1500 - w:] = near_img
    near = max(near_boxes, key=lambda b: b.w)
    near = BoundingBox(near.x + 1500 - w, near.y, near.w, near.h)
    dets = stills.predict(photo)
    assert stills.tiled == 2
    assert any(not d.confirm and d.box.iou(near) >= 0.5 for d in dets)
    assert [d for d in dets if d.box.iou(plate) >= 0.5]



_GROWTH_SCRIPT = """
import re, sys
from pathlib import Path
import cv2, numpy as np
from edge.recognition.models.detector import OnnxPlateDetector, default_model_path

def rss_mb():
    return int(re.search(r"VmRSS:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024

img = cv2.imread(sys.argv[1])
detector = OnnxPlateDetector(default_model_path(), fine_side=2048)
assert img.shape[:2] == (720, 1280) and detector.fine_side_for(1280, 720)
frames = [np.ascontiguousarray(np.roll(img, 7 * i, axis=1)) for i in range(8)]
detector.predict(frames[0])
detector.predict(frames[1])
settled = rss_mb()
for frame in frames[2:]:
    detector.predict(frame)
print(rss_mb() - settled)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")
def test_a_folder_of_mid_size_photos_does_not_grow_the_process():
    # Each 1280x720 still gets a one-tile fine pass. Shrinking onnxruntime's arena after it,
    # while glibc keeps freed chunks in its heap (no edge.heap threshold yet), grew the process
    # about 15 MB a photo: 100 real photos ended at 261 MB instead of 139. A fresh process, so
    # that no other test has set edge.heap's threshold.
    import subprocess
    import sys

    scene = Path(__file__).resolve().parents[2] / "fixtures" / "scenes" / "00_1280x720.jpg"
    out = subprocess.run([sys.executable, "-c", _GROWTH_SCRIPT, str(scene)], capture_output=True, text=True,
                         timeout=120, check=True)
    assert float(out.stdout.strip()) < 25, out.stdout


def test_the_sidecar_may_set_the_detection_policy_and_the_confirm_rule(tmp_path):
    import json
    import shutil

    from edge.recognition.models.detector import DEFAULT_DETECTION, ConfirmRule, DetectionPolicy

    shipped = json.loads((default_model_path().with_suffix(".json")).read_text())
    # the shipped sidecar sets only `fine_scale` (its default), and the confirm rule its
    # thresholds were chosen with
    assert DetectionPolicy.from_sidecar(shipped) == DEFAULT_DETECTION
    assert ConfirmRule.from_sidecar(shipped) == ConfirmRule(0.5, 4)
    assert ConfirmRule.from_sidecar({}) is None
    meta = dict(shipped, input=dict(shipped["input"], fine_min_side=1200, fine_scale=0.6),
                postprocess=dict(shipped["postprocess"], nms_contain=0.7),
                confirmation={"confirm_rule": {"min_confidence": 0.7, "min_chars": 5}})
    shutil.copy(default_model_path(), tmp_path / "plate_detector.onnx")
    (tmp_path / "plate_detector.json").write_text(json.dumps(meta))
    custom = OnnxPlateDetector(tmp_path / "plate_detector.onnx")
    assert (custom.policy.fine_min_side, custom.policy.fine_scale, custom.policy.nms_contain) == (1200, 0.6, 0.7)
    assert custom.policy.fine_tile == DEFAULT_DETECTION.fine_tile  # left out: the default
    assert custom.fine_side_for(1000, 800) == 0 and custom.confirm_rule == ConfirmRule(0.7, 5)
    # a policy passed in wins over the sidecar's
    assert OnnxPlateDetector(tmp_path / "plate_detector.onnx", policy=DEFAULT_DETECTION).fine_side_for(1000, 800) > 0
    with pytest.raises(ValueError):
        DetectionPolicy(fine_tile=128, fine_overlap=128)
