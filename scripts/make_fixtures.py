#!/usr/bin/env python3
"""Regenerate the committed test fixtures under tests/fixtures/ with the project's renderer.

    python scripts/make_fixtures.py                  # everything
    python scripts/make_fixtures.py --only plates    # plates | scenes | video | broken (comma list)
    python scripts/make_fixtures.py --out /tmp/fx    # somewhere else

Deterministic: fixed seeds, so the same machine + font set gives byte-identical files
(install the fonts and Pillow listed in edge/synth/README.md for the committed look).
Writes:
  plates/NN_<style>.png + labels.tsv      (name, text, style, lines)
  scenes/NN_<w>x<h>.jpg + labels.tsv      (name, x, y, w, h, text; one row per plate)
  video/passes.mp4 + passes.json          960x540, 25 fps, 4 vehicles, static stretches between
  video/passes_1080p.mp4 + .json          1920x1080, 25 fps, 3.2 s, a plate in every frame
  video/broken/{truncated,corrupt}.mp4    + clean.mp4 they were cut from (error paths)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.synth.degrade import degrade  # noqa: E402
from edge.synth.plates import render_plate  # noqa: E402
from edge.synth.scenes import render_scene  # noqa: E402
from edge.synth.video import VehicleSpec, render_pass_video  # noqa: E402

# (style, text shown on the plate or None for random, degrade strength)
PLATES = [
    ("us", "7ABC123", 0.0), ("us", "ABC-1234", 0.25), ("us_vanity", None, 0.0), ("us", None, 0.3),
    ("eu_de", "B AB 1234", 0.0), ("eu_fr", "AB-123-CD", 0.25), ("eu_it", "AB 123CD", 0.0),
    ("eu_es", "1234 BCD", 0.25), ("eu_nl", None, 0.0), ("eu_pl", None, 0.25), ("eu_ro", "B 123 ABC", 0.0),
    ("eu_ro", "SB 90 TZI", 0.3), ("br_mercosur", "ABC1D23", 0.0), ("br_old", "ABC-1234", 0.25),
    ("uk_rear", "AB12 CDE", 0.0), ("uk_front", None, 0.25), ("eu_2line", None, 0.0), ("br_2line", None, 0.0),
    ("cn_blue", None, 0.0), ("in", None, 0.2),
]

SCENES = [(1280, 720), (1280, 720), (960, 540), (960, 540), (640, 480), (800, 600)]

PASSES = [  # 960x540 @ 25 fps: 18 static frames, then 4 passes of 45 frames with 18 static frames between
    VehicleSpec("B 123 ABC", "eu_ro", 18, 62, "towards", (70.0, 250.0), 0.42),
    VehicleSpec("7ABC123", "us", 81, 125, "away", (90.0, 240.0), 0.6),
    VehicleSpec("BRA2E19", "br_mercosur", 144, 188, "towards", (70.0, 250.0), 0.55),
    VehicleSpec("AB12 CDE", "uk_rear", 207, 251, "across", (180.0, 180.0), 0.35),
]

BENCH = [  # 1920x1080 @ 25 fps, overlapping passes: at least one plate in every frame
    VehicleSpec("WA 12345", "eu_pl", 0, 79, "towards", (90.0, 300.0), 0.3),
    VehicleSpec("KX 42 ZUN", "eu_ro", 0, 49, "away", (60.0, 200.0), 0.78),
    VehicleSpec("8XYZ789", "us", 40, 79, "towards", (50.0, 110.0), 0.72),
]


def make_plates(out: Path) -> None:
    d = out / "plates"
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("*.png"):
        old.unlink()
    rng = np.random.default_rng(20261127)
    rows = ["# name\ttext\tstyle\tlines  (synthetic, scripts/make_fixtures.py)"]
    for i, (style, text, strength) in enumerate(PLATES):
        p = render_plate(rng, style, width=int(rng.integers(200, 261)) if p_lines(style) == 1 else 150, text=text)
        img = degrade(rng, p.image, strength) if strength > 0 else p.image
        name = f"{i:02d}_{style}.png"
        cv2.imwrite(str(d / name), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        rows.append(f"{name}\t{p.text}\t{p.style}\t{p.lines}")
    (d / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def p_lines(style: str) -> int:
    return 2 if "2line" in style else 1


def make_scenes(out: Path) -> None:
    d = out / "scenes"
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("*.jpg"):
        old.unlink()
    rng = np.random.default_rng(4242)
    rows = ["# image\tx\ty\tw\th\ttext  (one row per plate; synthetic, scripts/make_fixtures.py)"]
    for i, (w, h) in enumerate(SCENES):
        while True:
            sc = render_scene(rng, w, h, max_plates=3, min_plate_w=130.0, max_plate_w=min(300.0, w * 0.32),
                              effects=0.4)
            if sc.plates:
                break
        name = f"{i:02d}_{w}x{h}.jpg"
        cv2.imwrite(str(d / name), sc.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        for b, text in sc.plates:
            rows.append(f"{name}\t{b.x:.1f}\t{b.y:.1f}\t{b.w:.1f}\t{b.h:.1f}\t{text}")
    (d / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def _write_truth(truth, path: Path) -> None:
    path.write_text(json.dumps(truth.to_json(), indent=1) + "\n", encoding="utf-8")


def make_video(out: Path) -> None:
    d = out / "video"
    d.mkdir(parents=True, exist_ok=True)
    t = render_pass_video(d / "passes.mp4", 2026, 960, 540, 25, PASSES, static_frames_between=18)
    _write_truth(t, d / "passes.json")
    t = render_pass_video(d / "passes_1080p.mp4", 1080, 1920, 1080, 25, BENCH, n_frames=80)
    _write_truth(t, d / "passes_1080p.json")


def make_broken(out: Path) -> None:
    d = out / "video" / "broken"
    d.mkdir(parents=True, exist_ok=True)
    clean = d / "clean.mp4"
    t = render_pass_video(clean, 77, 320, 180, 25, [VehicleSpec("AB-123-CD", "eu_fr", 5, 34, "towards",
                                                                 (40.0, 120.0), 0.5)], n_frames=50)
    _write_truth(t, d / "clean.json")
    data = clean.read_bytes()
    # truncated: the first 60 % of the file (mp4v writes its index at the end: unopenable)
    (d / "truncated.mp4").write_bytes(data[: int(len(data) * 0.6)])
    # corrupt: container intact, a stretch of the frame data overwritten with garbage
    rng = np.random.default_rng(5)
    b = bytearray(data)
    lo, hi = int(len(b) * 0.3), int(len(b) * 0.55)
    b[lo:hi] = rng.integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
    (d / "corrupt.mp4").write_bytes(bytes(b))
    # not a video at all
    (d / "not_a_video.mp4").write_bytes(b"this is not a video file\n" * 4)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures")
    ap.add_argument("--only", default="plates,scenes,video,broken")
    args = ap.parse_args(argv)
    steps = {"plates": make_plates, "scenes": make_scenes, "video": make_video, "broken": make_broken}
    for name in args.only.split(","):
        name = name.strip()
        if name not in steps:
            ap.error(f"unknown part {name!r}; choose from {', '.join(steps)}")
        steps[name](args.out)
    total = 0
    for f in sorted(args.out.rglob("*")):
        if f.is_file():
            total += f.stat().st_size
            print(f"{f.stat().st_size:>10,}  {f.relative_to(args.out)}")
    print(f"{total:>10,}  total")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
