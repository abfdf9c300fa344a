"""`edge read`: its command-line contract (README, Commands) on committed fixtures, and its error paths."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from edge.cli import main
from edge.records import BoundingBox
from tests.helpers import photo_of_small_scenes, scene_labels

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def test_images_give_one_json_line_each_in_the_documented_shape(capsys):
    labels = scene_labels()
    rc = main(["read", str(FIXTURES / "scenes")])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert len(out) == len(labels)
    found = 0
    for line in out:
        doc = json.loads(line)
        assert set(doc) == {"image", "plates", "ms"}
        assert set(doc["ms"]) == {"detect", "ocr"} and all(v >= 0 for v in doc["ms"].values())
        for plate in doc["plates"]:
            assert {"text", "confidence", "box", "chars"} <= set(plate) <= {"text", "confidence", "box", "chars", "region"}
            assert len(plate["box"]) == 4 and all(isinstance(v, int) for v in plate["box"])
            assert "".join(c["c"] for c in plate["chars"]) == plate["text"]
            assert all(0.0 <= c["p"] <= 1.0 for c in plate["chars"]) and 0.0 <= plate["confidence"] <= 1.0
        for box, text in labels[Path(doc["image"]).name]:
            if any(p["text"] == text and box.iou(BoundingBox(*p["box"])) >= 0.5 for p in doc["plates"]):
                found += 1
    total = sum(len(v) for v in labels.values())
    # The shipped models read all 7 fixture plates exactly (2026-12-06, before and after that
    # day's changes); earlier versions read 5, missing the dim plate beside a headlight glare and
    # reading WESU13 as MSSU13, hence the margin of 2. Boxes must be in original-image pixels for
    # the IoU match to count at all.
    assert found >= total - 2, (found, total)


def test_small_plates_in_a_big_photo_are_found_by_the_fine_pass(tmp_path, capsys):
    photo = tmp_path / "big.jpg"
    plates = photo_of_small_scenes(photo)
    assert main(["read", str(photo)]) == 0
    doc = json.loads(capsys.readouterr().out)
    read = [(BoundingBox(*p["box"]), p["text"]) for p in doc["plates"]]
    found = sum(any(t == text and b.iou(box) >= 0.5 for b, t in read) for box, text in plates)
    # all 7 with the fine pass (2026-12-06; 3 of 7 with `[detector] fine_side = 0`)
    assert found >= len(plates) - 1, (found, read)


def test_a_photo_over_24_mp_is_read_reduced_with_boxes_in_its_own_pixels(tmp_path, capsys):
    import cv2

    from edge.synth.big_photo import compose_big_photo
    from edge.recognition.stills import MAX_STILL_PIXELS

    scenes = [(cv2.imread(str(FIXTURES / "scenes" / name)), labelled) for name, labelled in sorted(scene_labels().items())]
    image, plates = compose_big_photo(scenes, 6400, 4000, scale=1.0)
    assert image.shape[0] * image.shape[1] > MAX_STILL_PIXELS  # decoded at 3200x2000
    photo = tmp_path / "26mp.jpg"
    assert cv2.imwrite(str(photo), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert main(["read", str(photo)]) == 0
    doc = json.loads(capsys.readouterr().out)
    read = [(BoundingBox(*p["box"]), p["text"]) for p in doc["plates"]]
    found = sum(any(t == text and b.iou(box) >= 0.5 for b, t in read) for box, text in plates)
    assert found >= len(plates) - 1, (found, read, plates)


def test_a_photo_taken_with_the_phone_turned_is_read_upright(tmp_path, capsys):
    import cv2

    from tests.helpers import with_exif_orientation

    (box, text), = scene_labels()["01_1280x720.jpg"]
    upright = cv2.imread(str(FIXTURES / "scenes" / "01_1280x720.jpg"))
    # a phone stores the sensor's pixels (here turned a quarter anticlockwise) and an EXIF tag
    # saying to turn them clockwise for display
    ok, jpeg = cv2.imencode(".jpg", cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE))
    photo = tmp_path / "turned.jpg"
    photo.write_bytes(with_exif_orientation(jpeg.tobytes(), 6))
    assert main(["read", str(photo)]) == 0
    plates = json.loads(capsys.readouterr().out)["plates"]
    assert any(p["text"] == text and box.iou(BoundingBox(*p["box"])) >= 0.7 for p in plates), plates


def test_bad_inputs_are_one_line_each_and_the_rest_is_still_read(tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a jpeg")
    good = FIXTURES / "scenes" / "01_1280x720.jpg"
    rc = main(["read", str(broken), str(tmp_path / "missing.png"), str(good)])
    captured = capsys.readouterr()
    assert rc == 1
    assert [json.loads(line)["image"] for line in captured.out.splitlines()] == [str(good)]
    errors = captured.err.strip().splitlines()
    assert errors == [
        f"edge read: {broken}: not a readable image (unknown format or corrupt file)",
        f"edge read: {tmp_path / 'missing.png'}: no such file",
    ]


HEIC_HEAD = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"  # an iPhone photo's first bytes


def test_photos_in_formats_opencv_cannot_decode_and_empty_folders_say_so(tmp_path, capsys):
    photos = tmp_path / "phone"
    photos.mkdir()
    (photos / "IMG_0001.HEIC").write_bytes(HEIC_HEAD)
    (photos / "IMG_0002.jpg").write_bytes(HEIC_HEAD)  # renamed, still HEIC inside
    (photos / "notes.txt").write_text("not a photo, not mentioned")
    good = FIXTURES / "scenes" / "01_1280x720.jpg"
    (photos / "IMG_0003.jpg").write_bytes(good.read_bytes())
    empty = tmp_path / "empty"
    empty.mkdir()
    rc = main(["read", str(photos), str(empty)])
    captured = capsys.readouterr()
    assert rc == 1
    assert [json.loads(line)["image"] for line in captured.out.splitlines()] == [str(photos / "IMG_0003.jpg")]
    hint = "OpenCV cannot decode this format; convert to JPEG first (e.g. heif-convert, darktable-cli)"
    assert captured.err.strip().splitlines() == [
        f"edge read: {photos / 'IMG_0001.HEIC'}: a HEIC/HEIF photo: {hint}",
        f"edge read: {photos / 'IMG_0002.jpg'}: a HEIC/HEIF photo: {hint}",
        f"edge read: {empty}: no images or videos in this folder "
        "(.jpg, .jpeg, .png, .bmp, .webp, .tif, .tiff, .mp4, .mkv, .avi, .mov, .m4v, .webm, .mjpeg, .mjpg, .h264, .ts)",
    ]


def test_a_jpeg_cut_short_is_read_as_far_as_it_goes_with_a_warning(tmp_path, capsys):
    whole = (FIXTURES / "scenes" / "01_1280x720.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[: len(whole) * 3 // 4])  # the plate is in the lost bottom quarter
    good = FIXTURES / "scenes" / "00_1280x720.jpg"
    rc = main(["read", str(cut), str(good)])
    captured = capsys.readouterr()
    assert rc == 0
    assert [json.loads(line)["image"] for line in captured.out.splitlines()] == [str(cut), str(good)]
    ours = [line for line in captured.err.splitlines() if line.startswith("edge read:")]
    assert ours == [f"edge read: {cut}: warning: the JPEG ends early (a partial copy?); read what could be decoded"]


def test_table_format(capsys):
    rc = main(["read", "--format", "table", str(FIXTURES / "scenes" / "01_1280x720.jpg")])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert lines[0].split() == ["input", "plate", "conf", "box", "ms", "det+ocr", "region"]
    assert "0682ZT" in lines[1]
    # the per-stage milliseconds of the JSON line's "ms", detection then reading
    detect, ocr = (float(v) for v in lines[1].split()[4].split("+"))
    assert detect > 0 and ocr > 0


def test_video_gives_one_event_line_per_pass_valid_against_the_schema(capsys):
    schema = json.loads((ROOT / "schemas" / "edge.read-1.schema.json").read_text())
    truth = json.loads((FIXTURES / "video" / "passes.json").read_text())
    rc = main(["read", str(FIXTURES / "video" / "passes.mp4")])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 0
    for event in events:
        jsonschema.validate(event, schema)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    texts = {v["text"] for v in truth["vehicles"]}
    # Every event is a real vehicle and no vehicle is reported twice. (The shipped detector
    # misses the car crossing the frame; tests/test_pipeline.py tracks that as a strict xfail.)
    assert {e["plate"]["text"] for e in events} <= texts
    assert len(events) == len({e["plate"]["text"] for e in events}) >= 3


@pytest.mark.parametrize("name", ["truncated.mp4", "not_a_video.mp4"])
def test_unreadable_video_is_one_clear_line(name, capsys):
    path = FIXTURES / "video" / "broken" / name
    rc = main(["read", str(path)])
    captured = capsys.readouterr()
    assert rc == 1 and captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"edge read: {path}: ")
    assert err[0].count(str(path)) == 1  # named once, not again by the video source's message


def test_images_are_decoded_ahead_but_never_two_big_ones_at_once():
    import threading

    import numpy as np

    from edge.commands.read import _decoded_ahead
    from edge.recognition.stills import BIG_PHOTO_BYTES

    started: dict[str, threading.Event] = {}
    small = np.zeros((100, 100, 3), np.uint8)
    big = np.zeros((BIG_PHOTO_BYTES // 3000 + 1, 1000, 3), np.uint8)

    def decode(path: Path):
        started[path.name].set()
        return big if path.name.startswith("big") else small

    names = ["s1.jpg", "s2.jpg", "s3.jpg", "big1.jpg", "big2.jpg", "s4.jpg"]
    started.update((n, threading.Event()) for n in names)
    read = []
    for path, decoding in _decoded_ahead(iter(Path(n) for n in names), decode):
        assert decoding.result() is not None
        following = names[names.index(path.name) + 1] if path.name != names[-1] else None
        if path.name in ("s1.jpg", "s2.jpg"):  # small: the next one is decoded meanwhile
            assert started[following].wait(5.0), f"{following} not decoded ahead of {path.name}"
        if path.name in ("big1.jpg", "big2.jpg"):  # big: nothing else until it is read
            assert not started[following].wait(0.2), f"{following} decoded while {path.name} was read"
        read.append(path.name)
    assert read == names


def test_photos_of_a_plate_alone_are_read_whole(capsys):
    # a plate crop (or a plate photographed up close) fills the picture; the detector, which
    # only saw plates with surroundings, boxed some short by a character before it looked again
    # with the photo set in a grey frame (17 of these 20 were read, 2026-12-06); the two-row
    # PII4K81 was read PII4K811 until two margins clipped to the same crop stopped voting twice.
    # One miss is allowed: reader 3.1.0 read that plate PI4K81 (a doubled I collapsed), 3.2.0
    # reads the Polish SBI79RY as SB179RY (the I/1 limit in models/plate_reader.md).
    from tests.helpers import fixture_plates

    want = {name: text for name, _, text in fixture_plates()}
    assert main(["read", str(FIXTURES / "plates")]) == 0
    read = {Path(d["image"]).name: [p["text"] for p in d["plates"]]
            for d in map(json.loads, capsys.readouterr().out.splitlines())}
    missed = {name: texts for name, texts in read.items() if want[name] not in texts}
    assert len(read) == len(want) and len(missed) <= 1, missed



def test_workers_print_the_same_lines_in_the_same_order_as_one_process(tmp_path, capsys):
    # photos, a bad file and a video in between: the video is read by this process in its place
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a jpeg")
    scenes = sorted(str(p) for p in (FIXTURES / "scenes").glob("*.jpg"))
    video = str(FIXTURES / "video" / "passes.mp4")
    inputs = [scenes[0], str(broken), *scenes[1:3], video, *scenes[3:]]
    runs = []
    for workers in ("1", "2"):
        rc = main(["read", "--workers", workers, *inputs])
        captured = capsys.readouterr()
        lines = [json.loads(line) for line in captured.out.splitlines()]
        for line in lines:
            line.pop("ms", None)
            line.pop("id", None)  # a video event's id is new every run
        runs.append((rc, lines, captured.err.strip().splitlines()))
    assert runs[0] == runs[1]
    rc, lines, errors = runs[1]
    assert rc == 1 and errors == [f"edge read: {broken}: not a readable image (unknown format or corrupt file)"]
    images = [line["image"] for line in lines if "image" in line]
    assert images == [scenes[0], *scenes[1:3], *scenes[3:]]
    first_event = next(i for i, line in enumerate(lines) if "image" not in line)
    assert [line.get("image") for line in lines[:first_event]] == scenes[:3]


def test_workers_that_cannot_load_the_models_say_so_once(tmp_path, capsys):
    config = tmp_path / "edge.toml"
    config.write_text(f'[detector]\nmodel = "{tmp_path / "missing.onnx"}"\n')
    scenes = sorted(str(p) for p in (FIXTURES / "scenes").glob("*.jpg"))
    assert main(["read", "--workers", "2", "--config", str(config), *scenes]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and "missing.onnx" in captured.err


def test_default_workers_are_one_per_core_as_memory_allows(monkeypatch):
    from edge.commands import read_workers

    monkeypatch.setattr(read_workers, "cores", lambda: 4)
    monkeypatch.setattr(read_workers, "available_mb", lambda: 8000.0)
    assert read_workers.default_workers() == 4
    monkeypatch.setattr(read_workers, "available_mb", lambda: 700.0)  # a 1 GB Pi 4, busy
    assert read_workers.default_workers() == 2
    monkeypatch.setattr(read_workers, "available_mb", lambda: 100.0)
    assert read_workers.default_workers() == 1
