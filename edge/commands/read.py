"""`edge read IMAGE_OR_VIDEO...`: one-shot reading, one JSON line per image or per video event."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from edge.records import PlateRead
from edge.sources import IMAGE_SUFFIXES, UNDECODABLE_PHOTO_HINT, UNDECODABLE_PHOTO_SUFFIXES, VIDEO_SUFFIXES

log = logging.getLogger(__name__)

DECODE_AHEAD = 2  # images decoded ahead of the one being read (bounded memory)


class InputError(Exception):
    """An input that cannot be read; the message is one line saying what is wrong."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("read", help="read the plates in images or videos (one JSON line each)")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_VIDEO",
                   help="image or video files, or folders of images")
    p.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    p.add_argument("--config", type=Path, help="TOML config (models, formats, tracking)")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="photos read N at once by worker threads sharing the models, output in input "
                        "order (default 0: one per core, fewer if memory is short; 1: one at a time)")


def run(args: argparse.Namespace) -> int:
    from edge.commands.read_workers import default_workers, in_workers, worker_threads
    from edge.configuration.settings import load_config
    from edge.configuration.validation import ConfigError

    if args.workers < 0:
        print("edge read: --workers: must be 0 (one per core) or more", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except (ConfigError, OSError, RuntimeError) as exc:
        print(f"edge read: {exc}", file=sys.stderr)
        return 2
    paths = list(_expand(args.inputs))
    photos = sum(not _is_video(p) for p in paths)
    workers = max(1, min(args.workers or default_workers(), photos))
    try:  # here, before anything is read (also checks the models before a video is read)
        models = _load_models(config, worker_threads(workers) if workers > 1 else None)
    except (ConfigError, OSError, RuntimeError) as exc:
        print(f"edge read: {exc}", file=sys.stderr)
        return 2

    failures = 0
    out = sys.stdout
    if args.format == "table":
        print(f"{'input':<40} {'plate':<10} {'conf':>5}  {'box':<22} {'ms det+ocr':<11} region", file=out)
    inputs = in_workers(paths, models, workers, _is_video) if workers > 1 else _decoded_ahead(iter(paths))
    for path, pending in inputs:
        try:
            if pending is None:
                for event_json in _read_video(path, config):
                    _emit_video_event(out, args.format, path, event_json)
            else:
                if workers > 1:
                    line, cut_short = pending.result()
                else:
                    still = pending.result()
                    line, cut_short = _read_image(path, still, models), still.cut_short
                if cut_short:
                    print(f"edge read: {path}: warning: the JPEG ends early (a partial copy?); "
                          "read what could be decoded", file=sys.stderr)
                _emit_image(out, args.format, line)
        except InputError as exc:
            failures += 1
            print(f"edge read: {path}: {exc}", file=sys.stderr)
        pending = still = None  # the image goes before the next one is decoded
        out.flush()
    return 1 if failures else 0


def _load_models(config, threads: int | None = None):
    """The models for photos; `threads`: each session's and OpenCV's threads when several
    workers share them (else the config's)."""
    import dataclasses

    from edge.recognition.models.loading import load_readers

    if threads is not None:
        import cv2

        cv2.setNumThreads(threads)
        config = dataclasses.replace(config, detector=dataclasses.replace(config.detector,
                                                                            stills_threads=threads))
    return load_readers(config, stills=True)


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def _expand(inputs: list[str]) -> Iterator[Path]:
    """The inputs, each folder replaced by its images and videos (and its photos in formats that
    cannot be decoded, which then fail with a message saying so). A folder with none of these is
    yielded itself, to fail as one."""
    wanted = (*IMAGE_SUFFIXES, *VIDEO_SUFFIXES, *UNDECODABLE_PHOTO_SUFFIXES)
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in wanted and not p.is_dir())
            yield from files or [path]
        else:
            yield path


def _decoded_ahead(paths: Iterator[Path], decode: Callable[[Path], Any] | None = None) \
        -> Iterator[tuple[Path, Future | None]]:
    """Each input with its image already being decoded by a helper thread, a few inputs ahead,
    so JPEG decoding (which releases the GIL) overlaps detection on the second core. After a
    big image (edge.recognition.stills.BIG_PHOTO_BYTES) nothing is decoded until it has been read; the caller
    drops its reference to an image before asking for the next.
    Videos come with None: they are read frame by frame by the pipeline."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
        pending: deque[tuple[Path, Future | None]] = deque()
        for path in paths:
            # waiting for the next image's decode costs nothing: it is the one wanted next
            while pending and (len(pending) >= DECODE_AHEAD or _is_big(pending[0][1])):
                yield pending.popleft()
            is_video = path.suffix.lower() in VIDEO_SUFFIXES
            pending.append((path, None if is_video else pool.submit(decode or _decode, path)))
        while pending:
            yield pending.popleft()


def _is_big(decoding: Future | None) -> bool:
    from edge.recognition.stills import BIG_PHOTO_BYTES

    return decoding is not None and decoding.exception() is None \
        and decoding.result().nbytes > BIG_PHOTO_BYTES


def _decode(path: Path):
    from edge.recognition.stills import read_still

    if not path.exists():
        raise InputError("no such file")
    if path.is_dir():
        raise InputError(f"no images or videos in this folder ({', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)})")
    try:
        still = read_still(path)
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror})") from None
    if still is None:
        if _is_heif(path):
            raise InputError(f"a HEIC/HEIF photo: {UNDECODABLE_PHOTO_HINT}")
        if path.suffix.lower() in UNDECODABLE_PHOTO_SUFFIXES:
            raise InputError(f"a {path.suffix[1:].upper()} photo: {UNDECODABLE_PHOTO_HINT}")
        raise InputError("not a readable image (unknown format or corrupt file)")
    return still


def _is_heif(path: Path) -> bool:
    """An ISO media file whose brand is an image one (HEIC, HEIF, AVIF), whatever its name."""
    with open(path, "rb") as f:
        head = f.read(12)
    return head[4:8] == b"ftyp" and head[8:12] in {b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif"}


def _read_image(path: Path, still, models) -> dict:
    from edge.recognition.reading import read_image

    result = read_image(still.image, models.detector, models.reader, models.rules)
    return {
        "image": str(path),
        "plates": [_plate_json(r, still.scale_x, still.scale_y) for r in result.reads],
        "ms": {"detect": round(result.detect_ms, 2), "ocr": round(result.ocr_ms, 2)},
    }


def _plate_json(read: PlateRead, scale_x: float = 1.0, scale_y: float = 1.0) -> dict:
    box = read.box
    if scale_x != 1.0 or scale_y != 1.0:  # read from a reduced decode: back to the photo's pixels
        box = box.scaled(scale_x, scale_y)
    plate = {
        "text": read.text,
        "confidence": round(read.confidence, 4),
        "box": box.as_list(),
        "chars": [{"c": c.c, "p": round(c.p, 4)} for c in read.chars],
    }
    if read.region:
        plate["region"] = read.region
    return plate


def _read_video(path: Path, config) -> Iterator[dict]:
    from edge.commands.read_video import read_video_events
    from edge.sources import SourceError

    if not path.exists():
        raise InputError("no such file")
    try:
        yield from read_video_events(path, config)
    except SourceError as exc:
        # the source names its file, and so does every line printed here: name it once
        raise InputError(str(exc).removeprefix(f"{path}: ")) from None


def _emit_image(out, fmt: str, line: dict) -> None:
    if fmt == "jsonl":
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
        return
    ms = f"{line['ms']['detect']:.1f}+{line['ms']['ocr']:.1f}"
    if not line["plates"]:
        out.write(f"{_short(line['image']):<40} {'-':<10} {'':>5}  {'':<22} {ms}\n")
    for plate in line["plates"]:
        box = ",".join(str(v) for v in plate["box"])
        out.write(f"{_short(line['image']):<40} {plate['text']:<10} {plate['confidence']:>5.2f}  "
                  f"{box:<22} {ms:<11} {plate.get('region', '')}\n")


def _emit_video_event(out, fmt: str, path: Path, event: dict) -> None:
    if fmt == "jsonl":
        out.write(json.dumps(event, ensure_ascii=False) + "\n")
        return
    box = ",".join(str(v) for v in event["box"])
    label = f"{_short(str(path))}@{event['time']['best'][11:23]}"
    out.write(f"{label:<40} {event['plate']['text']:<10} {event['plate']['confidence']:>5.2f}  "
              f"{box:<22} {'-':<11} {event['plate'].get('region') or ''}\n")


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]
