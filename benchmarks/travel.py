#!/usr/bin/env python3
"""Direction and speed estimates against renderer videos of known motion.

    python benchmarks/travel.py --seeds 1 2 3 4 5          # the shipped models
    python benchmarks/travel.py --seeds 1 2 3 --truth-boxes   # the renderer's own boxes

Each seed renders the passes of tests/test_travel.py (960x540, 25 fps, a 2000 px lens, 520 mm
plates 90-270 px wide: approaching and receding at 30-70 km/h, two across, one parked), runs them
through the pipeline and prints, per pass, the true speed, the estimate, its error and whether
the direction is right; then the error's median, 90th percentile and maximum.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    import json

    from edge.recognition.models.loading import load_readers
    from edge.configuration.settings import build_config
    from edge.synth.kinematics import true_motion
    from edge.synth.video import render_pass_video
    from tests.preview.fakes import GroundTruthDetector, GroundTruthReader
    from tests.test_travel import FOCAL, FPS, PLATE_M, REGIONS, by_vehicle, passes, run

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--truth-boxes", action="store_true", help="replay the renderer's boxes instead of the models")
    args = ap.parse_args()
    errors, wrong, missed = [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        cal = Path(tmp) / "camera.json"
        cal.write_text(json.dumps({"schema": "edge.calibration/1", "image_size": [960, 540],
                                   "scale": {"focal_px": FOCAL, "uncertainty": 0.02}}))
        config = build_config({"formats": {"regions": REGIONS}, "calibration": {"path": str(cal)},
                               "tracking": {"repeat_suppress_s": 0}})
        for seed in args.seeds:
            video = render_pass_video(Path(tmp) / f"s{seed}.mp4", seed, 960, 540, FPS, vehicles=passes(seed),
                                      static_frames_between=10, motion_blur=0.05)
            if args.truth_boxes:
                det = GroundTruthDetector(video.to_json())
                rdr = GroundTruthReader(det)
            else:
                models = load_readers(config)
                det, rdr = models.detector, models.reader
            events = by_vehicle(video, run(video, config, det, rdr))
            for k, spec in enumerate(video.vehicles):
                e = events.get(k)
                if e is None:
                    missed += 1
                    print(f"seed {seed} {spec.motion:8} {spec.style:6} not read")
                    continue
                if spec.motion == "parked":
                    print(f"seed {seed} parked   {spec.style:6} direction {e.get('direction', 'none')}")
                    wrong += "direction" in e
                    continue
                truth = true_motion(video, k, FOCAL, PLATE_M)
                label = e.get("direction", {}).get("label")
                wrong += label != truth.label
                s = e.get("speed")
                line = f"seed {seed} {spec.motion:8} {spec.style:6} {label or 'none':11} (true {truth.label:11})"
                if s:
                    err = s["kmh"] / truth.speed_kmh - 1
                    errors.append(abs(err))
                    line += (f" true {truth.speed_kmh:5.1f} km/h, estimate {s['kmh']:5.1f} "
                             f"+/- {s['uncertainty_kmh']:4.1f} ({err:+.1%})")
                print(line)
    if errors:
        q = sorted(errors)
        print(f"speed: {len(q)} passes, |error| median {statistics.median(q):.1%}, "
              f"90th percentile {q[int(0.9 * (len(q) - 1))]:.1%}, max {q[-1]:.1%}")
    print(f"direction: {wrong} wrong; {missed} passes not read")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
