"""`edge models list`: the shipped models, a reader from a local file with its own sidecar, a
detector plugin, timing, and one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from edge.recognition.models import models_dir
from tests.helpers import REPO


def models(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", "models", "list", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_the_shipped_models_with_their_files_sidecars_cards_and_figures():
    r = models("--json")
    assert r.returncode == 0, r.stderr
    det, rdr = json.loads(r.stdout)["models"]
    assert (det["role"], det["kind"], det["shipped"], det["name"]) == ("detector", "onnx", True, "plate_detector:2")
    assert det["model"]["bytes"] == (models_dir() / "plate_detector.onnx").stat().st_size
    assert det["sidecar"]["path"].endswith("plate_detector.json") and det["card"].endswith("plate_detector.md")
    assert 0.5 < det["figures"]["recall"] <= 1 and det["figures"]["ms_1280x720"] > 0
    assert rdr["name"].startswith("plate_reader@") and rdr["figures"]["alphabet"] == 37
    table = models()
    assert "detector plate_detector:2  (ONNX, shipped)" in table.stdout and "sha256" in table.stdout


def test_a_reader_from_a_local_file_and_a_detector_plugin(tmp_path):
    shutil.copy(models_dir() / "plate_reader.onnx", tmp_path / "my_reader.onnx")
    side = json.loads((models_dir() / "plate_reader.json").read_text())
    side.update(name="my_reader", version="7")
    (tmp_path / "my_reader.json").write_text(json.dumps(side))
    (tmp_path / "edge.toml").write_text('[reader]\nmodel = "my_reader.onnx"\n'
                                        '[detector]\nplugin = "tests.helpers:still_detector_plugin"\n')
    r = models("--config", str(tmp_path / "edge.toml"), "--json", "--time", "--runs", "2")
    assert r.returncode == 0, r.stderr
    det, rdr = json.loads(r.stdout)["models"]
    assert det == {"role": "detector", "name": "still-detector:1", "kind": "plugin",
                   "plugin": "tests.helpers:still_detector_plugin", "measured_ms": det["measured_ms"]}
    assert (rdr["name"], rdr["shipped"], rdr["card"]) == ("my_reader@7", False, None)
    assert rdr["model"]["path"] == str(tmp_path / "my_reader.onnx") and rdr["measured_ms"] > 0


def test_a_missing_model_is_one_line(tmp_path):
    (tmp_path / "edge.toml").write_text('[reader]\nmodel = "nope.onnx"\n')
    r = models("--config", str(tmp_path / "edge.toml"))
    assert r.returncode == 1
    assert r.stderr.strip() == f"edge models: {tmp_path / 'nope.onnx'}: reader model not found " \
                               "(set reader.model or $EDGE_MODELS_DIR)"
    (tmp_path / "edge.toml").write_text('[reader]\nmodle = "x"\n')
    r = models("--config", str(tmp_path / "edge.toml"))
    assert r.returncode == 2 and r.stderr.strip() == "edge models: reader.modle: unknown key (did you mean 'model'?)"
