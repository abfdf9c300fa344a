"""`edge models list`: which detector and reader `edge run` would load with this config, from
which files, with their sidecars, model cards and figures.

The figures are the ones the sidecar records (measured when the model was packaged);
--time also measures each model here, on this machine (median of --runs inferences).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from edge.commands import one_line


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the models edge run loads (files, sidecars, figures)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="the detector and reader, their files and figures")
    ls.add_argument("--config", type=Path, help="TOML config (default: the embedded default)")
    ls.add_argument("--json", action="store_true", help="one JSON object")
    ls.add_argument("--time", action="store_true", help="also time each model on this machine")
    ls.add_argument("--runs", type=int, default=10, help="inferences to time with --time (default 10)")


def _file(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    data = path.read_bytes()
    return {"path": str(path), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()[:16]}


def _detector_sidecar(model: Path) -> Path:
    side = model.with_suffix(".json")  # as OnnxPlateDetector finds it (int8 files share the fp32 one)
    return side if side.is_file() else model.parent / (model.stem.split("_int8")[0].split("_fp32")[0] + ".json")


def _figures(role: str, meta: dict[str, Any]) -> dict[str, Any]:
    """What the sidecar records about this model's quality and speed."""
    if role == "detector":
        variant = meta.get("variants", {}).get(meta.get("format", ""), {})
        keys = ("recall", "precision", "ap50", "ms_1280x720", "threshold")
        return {k: round(variant[k], 4) for k in keys if isinstance(variant.get(k), (int, float))}
    out = {k: meta[k] for k in ("precision", "max_chars", "head") if k in meta}
    out["alphabet"] = len(meta.get("alphabet", ""))
    return out


def describe(role: str, config: Any, model: Any, path: Path) -> dict[str, Any]:
    section = getattr(config, role)
    entry: dict[str, Any] = {"role": role, "name": str(model.name)}
    if section.plugin:
        entry.update(kind="plugin", plugin=section.plugin)
        return entry
    entry.update(kind="onnx", shipped=not section.model, model=_file(path))
    if role == "detector":
        side = _detector_sidecar(path)
    else:
        from edge.configuration.settings import resolve_path

        side = resolve_path(config, section.sidecar) if section.sidecar else path.with_suffix(".json")
    meta = json.loads(side.read_text()) if side.is_file() else {}
    entry["sidecar"] = {"path": str(side), "format": meta.get("format"), "input": meta.get("input", {})} \
        if side.is_file() else None
    card = path.with_suffix(".md")
    entry["card"] = str(card) if card.is_file() else None
    entry["figures"] = _figures(role, meta)
    return entry


def measure(models: Any, runs: int) -> dict[str, float]:
    """Median ms: the detector on a 1280x720 frame, the reader on one 48x160 crop."""
    import numpy as np

    frame = np.full((720, 1280, 3), 127, np.uint8)
    crop = np.full((48, 160, 3), 200, np.uint8)
    out = {}
    for role, call in (("detector", lambda: models.detector.predict(frame)),
                       ("reader", lambda: models.reader.predict([crop]))):
        call()  # the first inference allocates
        times = []
        for _ in range(max(1, runs)):
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1e3)
        out[role] = round(statistics.median(times), 3)
    return out


def _text(entry: dict[str, Any], ms: float | None, runs: int) -> str:
    where = "plugin " + entry["plugin"] if entry["kind"] == "plugin" else \
        ("ONNX, shipped" if entry["shipped"] else "ONNX, from the config")
    lines = [f"{entry['role']:<9}{entry['name']}  ({where})"]
    if entry.get("model"):
        m = entry["model"]
        lines.append(f"  model    {m['path']}  {m['bytes']:,} bytes  sha256 {m['sha256']}")
    if entry["kind"] == "onnx":
        side = entry["sidecar"]
        lines.append(f"  sidecar  {side['path']}" if side else "  sidecar  none (the model's defaults)")
        lines.append(f"  card     {entry['card'] or 'none'}")
        figures = ", ".join(f"{k} {v}" for k, v in entry["figures"].items())
        lines.append(f"  figures  {figures or 'none recorded'} (from the sidecar)")
    if ms is not None:
        per = "per 1280x720 frame" if entry["role"] == "detector" else "per plate crop"
        lines.append(f"  measured {ms} ms {per} here (median of {runs})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from edge.recognition.models.loading import load_readers, model_paths
    from edge.configuration.validation import ConfigError
    from edge.configuration.settings import load_config

    try:
        config = load_config(args.config)
        models = load_readers(config)
    except (ConfigError, RuntimeError, OSError, ValueError) as exc:
        print(f"edge models: {one_line(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    det_path, rdr_path = model_paths(config)
    entries = [describe("detector", config, models.detector, det_path),
               describe("reader", config, models.reader, rdr_path)]
    timings = measure(models, args.runs) if args.time else {}
    for e in entries:
        if e["role"] in timings:
            e["measured_ms"] = timings[e["role"]]
    if args.json:
        sys.stdout.write(json.dumps({"models": entries}) + "\n")
    else:
        sys.stdout.write("\n".join(_text(e, timings.get(e["role"]), args.runs) for e in entries) + "\n")
    return 0
