"""Model inference: the only package that imports onnxruntime (lazily, inside the model classes)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def models_dir() -> Path:
    """Where the shipped models live.

    $EDGE_MODELS_DIR if set; else the repository's `models/` (a source checkout or an editable
    install); else `<sys.prefix>/share/edge/models` (where a wheel install puts them).
    """
    env = os.environ.get("EDGE_MODELS_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3] / "models"
    if repo.is_dir():
        return repo
    return Path(sys.prefix) / "share" / "edge" / "models"
