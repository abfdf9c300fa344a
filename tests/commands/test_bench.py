from __future__ import annotations

from edge.commands.bench import bench
from edge.configuration.settings import build_config
from tests.helpers import photo_of_small_scenes


def test_bench_on_a_folder_of_photos_measures_what_edge_run_does(tmp_path):
    # edge run reads a folder of photos as stills (the detector's fine pass for big ones) and
    # reports a car seen in one photo; bench must measure that path, not the video one
    folder = tmp_path / "photos"
    folder.mkdir()
    want = {text for _, text in photo_of_small_scenes(folder / "big.jpg")}
    config = build_config({"outbox": {"path": str(tmp_path / "outbox.db")}})
    result = bench(folder, config, detect_every_frame=True)
    assert result["frames"]["processed"] == 1
    assert len(set(result["events"]) & want) >= len(want) - 1, result["events"]
    assert result["size"] == [None, None]


def test_bench_json_samples_are_every_frames_latency(tmp_path):
    import json
    import subprocess
    import sys

    from tests.helpers import REPO

    video = REPO / "tests" / "fixtures" / "video" / "passes.mp4"
    r = subprocess.run([sys.executable, "-m", "edge", "bench", str(video), "--frames", "60", "--json", "--samples"],
                       cwd=REPO, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    samples = result["latency_samples_ms"]
    assert len(samples["total"]) == result["latency_ms"]["total"]["n"] == 60
    assert sorted(samples["detect"])[len(samples["detect"]) // 2] > 0
