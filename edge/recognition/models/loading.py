"""The models a config names, loaded: detector + reader + format rules, and their warm-up.

`[detector]` and `[reader]` name an ONNX file ("" = the shipped one in `models_dir()`) or a
plugin, "package.module:factory": `factory(section)` returns an object with the
PlateDetector / PlateReader protocol of edge.ports. Used by `edge run`, `edge read`,
`edge bench`, `edge doctor`, `edge models`, and by training/ and benchmarks/ (the product's
own loading, so that what they measure is what runs).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from edge.formats import FormatRules
from edge.recognition.models import models_dir
from edge.ports import PlateDetector, PlateReader
from edge.configuration.settings import AppConfig, DetectorConfig, ReaderConfig, resolve_path

DETECTOR_FILE = "plate_detector.onnx"
READER_FILE = "plate_reader.onnx"

# What the pipeline uses of each model (edge.ports): a plugin's object must have all of it.
PROTOCOL = {"detector": ("name", "predict", "input_side", "fine_side"), "reader": ("name", "predict")}


class StartupError(RuntimeError):
    """Something needed to start is missing or broken; the message is one line."""


@dataclass
class Models:
    detector: PlateDetector
    reader: PlateReader
    rules: FormatRules

    @property
    def names(self) -> dict[str, str]:
        return {"detector": str(self.detector.name), "reader": str(self.reader.name)}


def model_paths(config: AppConfig) -> tuple[Path, Path]:
    det = resolve_path(config, config.detector.model) if config.detector.model else models_dir() / DETECTOR_FILE
    rdr = resolve_path(config, config.reader.model) if config.reader.model else models_dir() / READER_FILE
    return det, rdr


def load_rules(config: AppConfig) -> FormatRules:
    return FormatRules.from_config(config.formats)


def load_plugin(spec: str, section: DetectorConfig | ReaderConfig, what: str) -> object:
    """`package.module:factory` -> factory(section): a model behind the PlateDetector/PlateReader
    protocol. A factory that raises (TypeError included) fails the start with its own error."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise StartupError(f"{what}.plugin: {spec!r} must look like 'package.module:factory'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise StartupError(f"{what}.plugin: cannot load {spec!r}: {exc}") from None
    model = factory(section)
    missing = [name for name in PROTOCOL[what] if not hasattr(model, name)]
    if missing:
        raise StartupError(f"{what}.plugin: {spec!r} gave an object without {', '.join(missing)} "
                           f"(the Plate{what.capitalize()} protocol, edge/ports.py)")
    return model


def load_readers(config: AppConfig, stills: bool = False) -> Models:
    """Detector + reader + format rules from the config (RuntimeError subclasses, one line).

    `stills`: the models read single images (`edge read`), which get the detector's fine pass
    over big images (`[detector] fine_side`) and its `stills_threads`; video frames never do."""
    det_path, rdr_path = model_paths(config)
    for what, section, p in (("detector", config.detector, det_path), ("reader", config.reader, rdr_path)):
        if not section.plugin and not p.is_file():
            raise StartupError(f"{p}: {what} model not found (set {what}.model or $EDGE_MODELS_DIR)")
    return Models(_detector(config, det_path, stills), _reader(config, rdr_path), load_rules(config))


def _detector(config: AppConfig, path: Path, stills: bool) -> PlateDetector:
    cfg = config.detector
    if cfg.plugin:
        return cast(PlateDetector, load_plugin(cfg.plugin, cfg, "detector"))
    from edge.recognition.models.detector import OnnxPlateDetector

    # None in [detector] = the model's own (its JSON sidecar); video never gets the fine pass
    return OnnxPlateDetector(path, threads=cfg.stills_threads if stills else cfg.threads,
                             score_threshold=cfg.score_threshold, input_side=cfg.input_side,
                             coarse_side=cfg.coarse_side, fine_side=cfg.fine_side if stills else 0)


def _reader(config: AppConfig, path: Path) -> PlateReader:
    cfg = config.reader
    if cfg.plugin:
        return cast(PlateReader, load_plugin(cfg.plugin, cfg, "reader"))
    from edge.recognition.models.reader import OnnxPlateReader

    sidecar = resolve_path(config, cfg.sidecar) if cfg.sidecar else None
    return OnnxPlateReader(path, threads=cfg.threads, sidecar=sidecar)


def warm_up(models: Models, size: tuple[int, int] = (1280, 720)) -> float:
    """Run each model once (first inference allocates and is slow); returns ms."""
    t0 = time.perf_counter()
    w, h = size
    image = np.full((h, w, 3), 127, np.uint8)
    models.detector.predict(image)
    models.reader.predict([np.full((48, 160, 3), 200, np.uint8)])
    return (time.perf_counter() - t0) * 1e3
