"""Model and `edge read` speed (issue 2 targets), median of repeated runs on this machine.

    python3 benchmarks/models.py [--photos DIR] [--runs 5] [--config edge.toml]

* detector: ms per 1280x720 frame (pre- and post-processing included), fixture scenes
* reader: ms per plate crop (batch of 1), fixture plates; ms per plate when all of the reading
  policy's `read_crops` are read (one batch, the worst case); and ms per plate as `edge.recognition.reading`
  reads the detector's plates in the photos below (the first crops, the rest only when those disagree), with the
  number of crops that took on average
* `edge read DIR`: ms per photo end to end (a fresh process per run: start-up, model load,
  decode, detect, read, JSON out) and its peak RSS. DIR defaults to 100 real photos of
  ../shared/datasets/e2e_val when present, else the fixture scenes.
* `edge read` on 10 big photos (4000x3000 JPEG, the fixture scenes at half size laid side by
  side, edge.synth.big_photo): ms per photo end to end, peak RSS, and how many of their plates
  it reads exactly. These get the detector's tiled fine pass; the photos above are too small.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


def _median_ms(fn, items, runs):
    per_run = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        per_run.append((time.perf_counter() - t0) * 1e3 / len(items))
    return statistics.median(per_run), per_run


class _CountingReader:
    """Counts the crops that edge.recognition.reading asks the reader to read."""

    def __init__(self, reader):
        self.reader, self.crops = reader, 0

    def predict(self, crops):
        self.crops += len(crops)
        return self.reader.predict(crops)


def _edge_read(target: Path, config: Path | None) -> tuple[float, float, list[dict]]:
    """`edge read TARGET` in a fresh process: seconds, peak RSS in MB, its JSON lines.

    The peak is the child's own VmHWM: its ru_maxrss would count this process's peak too, as
    it survives fork and exec."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c",
         "import sys; from edge.cli import main; rc = main(['read', *sys.argv[1:]]); "
         "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0], file=sys.stderr); sys.exit(rc)",
         str(target), *(["--config", str(config)] if config else [])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    seconds = time.perf_counter() - t0
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return seconds, int(proc.stderr.strip().splitlines()[-1]) / 1024, lines


def _big_photos(n: int = 10) -> tuple[Path, dict[str, list]]:
    """n 4000x3000 photos of the fixture scenes at half size, each in another order."""
    import random

    from edge.synth.big_photo import compose_big_photo, read_scene_labels

    labels = read_scene_labels(FIXTURES / "scenes" / "labels.tsv")
    scenes = [(cv2.imread(str(FIXTURES / "scenes" / name)), boxes) for name, boxes in sorted(labels.items())]
    out = Path(tempfile.mkdtemp(prefix="edge-bench-big-"))
    truth = {}
    for i in range(n):
        random.Random(i).shuffle(scenes)
        image, plates = compose_big_photo(scenes, 4000, 3000, scale=0.5)
        path = out / f"big_{i:02d}.jpg"
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        truth[str(path)] = plates
    return out, truth


def _photo_dir(arg: Path | None) -> Path:
    if arg:
        return arg
    e2e = ROOT.parent / "shared" / "datasets" / "e2e_val" / "images"
    if e2e.is_dir():
        tmp = Path(tempfile.mkdtemp(prefix="edge-bench-"))
        for p in sorted(e2e.iterdir())[::3][:100]:
            (tmp / p.name).symlink_to(p)
        return tmp
    return FIXTURES / "scenes"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--config", type=Path, help="an edge.toml for the models and `edge read` (e.g. a Pi's settings)")
    args = ap.parse_args()

    from edge.recognition.models.loading import load_readers
    from edge.recognition.reading import DEFAULT_POLICY, read_detections
    from edge.records import BoundingBox
    from edge.configuration.settings import load_config

    models = load_readers(load_config(args.config))
    frames = [cv2.resize(cv2.imread(str(p)), (1280, 720)) for p in sorted((FIXTURES / "scenes").glob("*.jpg"))]
    plates = [cv2.imread(str(p)) for p in sorted((FIXTURES / "plates").glob("*.png"))]
    models.detector.predict(frames[0])
    models.reader.predict(plates[:1])
    det_ms, det_runs = _median_ms(models.detector.predict, frames * 10, args.runs)
    ocr_ms, ocr_runs = _median_ms(lambda c: models.reader.predict([c]), plates * 10, args.runs)
    crops = len(DEFAULT_POLICY.read_crops)
    plate_ms, plate_runs = _median_ms(lambda c: models.reader.predict([c] * crops), plates * 10, args.runs)

    photos = _photo_dir(args.photos)
    n = sum(1 for p in photos.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    read_runs, rss = [], []
    for _ in range(args.runs):
        seconds, mb, _ = _edge_read(photos, args.config)
        read_runs.append(seconds * 1e3 / n)
        rss.append(mb)
    big_dir, big_truth = _big_photos()
    big_runs, big_rss = [], []
    for _ in range(args.runs):
        seconds, mb, big_lines = _edge_read(big_dir, args.config)
        big_runs.append(seconds * 1e3 / len(big_truth))
        big_rss.append(mb)
    big_read = sum(any(p["text"] == text and box.iou(BoundingBox(*p["box"])) >= 0.5 for p in line["plates"])
                   for line in big_lines for box, text in big_truth[line["image"]])
    images = [im for p in sorted(photos.iterdir()) if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
              and (im := cv2.imread(str(p))) is not None]
    found = [(im, dets) for im in images if (dets := models.detector.predict(im))]
    n_plates = sum(len(d) for _, d in found)
    counter = _CountingReader(models.reader)
    read_ms, read_runs_ms = _median_ms(lambda job: read_detections(job[0], job[1], counter, models.rules),
                                       found, args.runs)
    read_ms *= len(found) / max(n_plates, 1)
    report = {
        "detector": models.detector.name, "reader": models.reader.name,
        "detector_ms_per_1280x720_frame": round(det_ms, 2), "detector_runs": [round(v, 2) for v in det_runs],
        "reader_ms_per_crop": round(ocr_ms, 3), "reader_runs": [round(v, 3) for v in ocr_runs],
        f"reader_ms_per_plate_{crops}_crops": round(plate_ms, 3), "reader_plate_runs": [round(v, 3) for v in plate_runs],
        "reader_ms_per_plate_as_read": round(read_ms, 3),
        "reader_as_read_runs": [round(v * len(found) / max(n_plates, 1), 3) for v in read_runs_ms],
        "reader_crops_per_plate_as_read": round(counter.crops / max(n_plates * args.runs, 1), 2),
        "reader_as_read_plates": n_plates,
        "edge_read_photos": n, "edge_read_ms_per_photo": round(statistics.median(read_runs), 2),
        "edge_read_runs": [round(v, 2) for v in read_runs], "edge_read_peak_rss_mb": round(max(rss), 1),
        "edge_read_big_photos": len(big_truth), "edge_read_ms_per_big_photo": round(statistics.median(big_runs), 1),
        "edge_read_big_runs": [round(v, 1) for v in big_runs], "edge_read_big_peak_rss_mb": round(max(big_rss), 1),
        "edge_read_big_plates_read": f"{big_read}/{sum(len(v) for v in big_truth.values())}",
        "edge_read_big_detect_ms_median": round(statistics.median(line["ms"]["detect"] for line in big_lines), 1),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
