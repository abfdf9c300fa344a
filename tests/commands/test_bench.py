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
    # the finer stages (edge.stage_timing): every frame decoded and run through both detector
    # passes; the reader's batches counted per call
    stages = result["stages_ms"]
    assert stages["decode"]["n"] == 60
    assert stages["pass 512"]["n"] == stages["pass 320"]["n"] == result["frames"]["detected_frames"]
    assert stages["pass 512"]["p50"] > 0 and stages["letterbox"]["p50"] > 0
    assert stages["reader batch"]["n"] >= stages["reader"]["n"] > 0
    assert stages["per frame"]["reader batches"]["p50"] >= 1


def test_stage_timing_unwires_what_it_wired():
    from edge.recognition.reading import crop_plate
    from edge.stage_timing import StageTimer

    class Part:
        def predict(self, crops):
            return list(crops)

    class FakePipeline:
        def __init__(self):
            self.source, self.detector, self.reader, self.sink = object(), object(), Part(), object()

        def process(self, frame):
            return frame

    pipeline = FakePipeline()
    timer = StageTimer().instrument(pipeline)
    assert pipeline.reader.predict([1, 2]) == [1, 2]
    pipeline.process(None)
    summary = timer.summary()
    assert summary["reader batch"]["n"] == 1 and summary["per frame"]["crops read"]["p50"] == 2
    timer.restore()
    import edge.recognition.reading

    assert edge.recognition.reading.crop_plate is crop_plate
    assert "predict" not in vars(pipeline.reader) and "process" not in vars(pipeline)
