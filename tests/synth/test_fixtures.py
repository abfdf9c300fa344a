"""The committed fixtures (scripts/make_fixtures.py) are complete and consistent with their labels."""

import json
import re
from pathlib import Path

import cv2

FIX = Path(__file__).resolve().parents[1] / "fixtures"
TEXT = re.compile(r"^[A-Z0-9]{2,10}$")


def _rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def test_plate_fixtures_match_their_labels():
    rows = _rows(FIX / "plates" / "labels.tsv")
    assert len(rows) >= 12
    assert {r[0] for r in rows} == {p.name for p in (FIX / "plates").glob("*.png")}
    for name, text, style, lines in rows:
        img = cv2.imread(str(FIX / "plates" / name))
        assert img is not None and img.shape[1] >= 120, name
        assert TEXT.match(text) and lines in ("1", "2") and name.endswith(f"_{style}.png")


def test_scene_fixtures_match_their_labels():
    rows = _rows(FIX / "scenes" / "labels.tsv")
    names = {p.name for p in (FIX / "scenes").glob("*.jpg")}
    assert {r[0] for r in rows} == names and len(names) >= 4
    for name, x, y, w, h, text in rows:
        img = cv2.imread(str(FIX / "scenes" / name))
        H, W = img.shape[:2]
        x, y, w, h = map(float, (x, y, w, h))
        assert 0 <= x and 0 <= y and x + w <= W and y + h <= H and w >= 100
        assert TEXT.match(text)


def _count_frames(path: Path) -> tuple[bool, int, tuple[int, int]]:
    cap = cv2.VideoCapture(str(path))
    opened, n, size = cap.isOpened(), 0, (0, 0)
    while opened:
        ok, frame = cap.read()
        if not ok:
            break
        n, size = n + 1, (frame.shape[1], frame.shape[0])
    cap.release()
    return opened, n, size


def test_videos_match_their_ground_truth():
    for name in ("passes", "passes_1080p"):
        gt = json.loads((FIX / "video" / f"{name}.json").read_text())
        opened, n, size = _count_frames(FIX / "video" / f"{name}.mp4")
        assert opened and n == gt["frames"] and size == (gt["width"], gt["height"])
        for v in gt["vehicles"]:
            assert TEXT.match(v["text"]) and v["first_full_frame"] is not None
        for fr in gt["per_frame"]:
            for p in fr["plates"]:
                x, y, w, h = p["box"]
                assert 0 <= x and 0 <= y and x + w <= gt["width"] + 0.1 and y + h <= gt["height"] + 0.1
    gt = json.loads((FIX / "video" / "passes.json").read_text())
    assert 3 <= len(gt["vehicles"]) <= 4
    with_plates = {fr["frame"] for fr in gt["per_frame"]}
    assert gt["frames"] - len(with_plates) >= 50  # static stretches for the motion gate
    assert max(v["max_plate_w"] for v in gt["vehicles"]) >= 120


def test_broken_videos_are_broken_as_documented():
    assert _count_frames(FIX / "video" / "broken" / "clean.mp4")[:2] == (True, 50)
    assert _count_frames(FIX / "video" / "broken" / "truncated.mp4")[1] == 0
    assert _count_frames(FIX / "video" / "broken" / "not_a_video.mp4")[1] == 0
    opened, n, _ = _count_frames(FIX / "video" / "broken" / "corrupt.mp4")
    assert n < 50


def test_fixtures_stay_small():
    total = sum(p.stat().st_size for p in FIX.rglob("*") if p.is_file())
    assert total < 6_000_000
