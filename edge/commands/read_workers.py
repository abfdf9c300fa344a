"""`edge read` on many photos with a worker process per core, output in input order.

One photo is a chain of steps that mostly holds one core (decode, the detector's passes one
after another, the reader's small batches, Python between them), so a second core helps one
photo little; two photos at once use both. Each worker is a process (the GIL would serialise
threads' Python work), loads the models once (one onnxruntime session each for the detector and
the reader, reused for every photo it gets) and reads whole photos: decode, detect, read. The
parent hands out the inputs a few ahead of the one it prints, prints each photo's line in input
order, and reads videos itself, in their place, as `edge read` always has.

Each worker's detector gets cores / workers onnxruntime threads (one on a 2-core machine with
two workers), its OpenCV as many; the reads are the same as one process's (the models give the
same outputs whatever their thread count; checked on real photos, benchmarks/speed.md).

Memory: each worker holds one photo at a time; a 24 MP photo peaks at about 235 MB in one
process (edge.recognition.stills), so the default number of workers is also bounded by the memory the
system says is available (MEMORY_PER_WORKER_MB each).
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

# inputs handed out ahead of the one being printed, per worker (bounded memory in the parent)
AHEAD_PER_WORKER = 2
# what one worker may need at its peak (a 24 MP photo at full size: about 235 MB)
MEMORY_PER_WORKER_MB = 300


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def available_mb() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def default_workers() -> int:
    """One per core, fewer when the available memory holds fewer big photos at once."""
    n = cores()
    mb = available_mb()
    if mb is not None:
        n = min(n, max(1, int(mb // MEMORY_PER_WORKER_MB)))
    return n


# -- in the worker ------------------------------------------------------------------------

_config: Any = None
_threads = 1
_models: Any = None


def _init(config: Any, threads: int) -> None:
    global _config, _threads, _models
    _config, _threads, _models = config, threads, None
    import cv2

    cv2.setNumThreads(threads)


def _load() -> Any:
    global _models
    if _models is None:
        import dataclasses

        from edge.recognition.models.loading import load_readers

        config = dataclasses.replace(_config, detector=dataclasses.replace(
            _config.detector, stills_threads=_threads))
        _models = load_readers(config, stills=True)
    return _models


def read_photo(path: Path) -> tuple[dict, list[str]]:
    """One photo's JSON line and its warnings (InputError for a photo that cannot be read)."""
    from edge.commands.read import _decode, _read_image

    models = _load()  # errors loading the models reach the parent through the first photo
    still = _decode(path)
    warnings = ["warning: the JPEG ends early (a partial copy?); read what could be decoded"] \
        if still.cut_short else []
    return _read_image(path, still, models), warnings


# -- in the parent ------------------------------------------------------------------------

def _context():
    import multiprocessing as mp

    # fork shares the imported modules at no cost (spawn imports them again in each worker:
    # 4.9 s against 3.2 s for 100 photos, benchmarks/speed.md), but a child can hang creating
    # its sessions when this process ran onnxruntime with a thread pool before forking (seen
    # in a test run that had read photos in-process): fork only a process that has not even
    # imported onnxruntime (the `edge read` command: the workers import it), and that runs no
    # other Python thread
    how = os.environ.get("EDGE_READ_START", "")  # fork, spawn or forkserver: to measure them
    if how in ("fork", "spawn", "forkserver"):
        return mp.get_context(how)
    if sys.platform.startswith("linux") and "onnxruntime" not in sys.modules and threading.active_count() == 1:
        return mp.get_context("fork")
    return mp.get_context("spawn")


def in_workers(paths: list[Path], config: Any, workers: int, is_video) \
        -> Iterator[tuple[Path, Future | None]]:
    """Each input in order with the future of its photo's (line, warnings); None for a video."""
    import edge.recognition.models.detector  # noqa: F401 - imported once here, shared by forked workers
    import edge.recognition.models.loading  # noqa: F401
    import edge.recognition.models.reader  # noqa: F401
    import edge.recognition.reading  # noqa: F401

    threads = max(1, cores() // workers)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(),
                               initializer=_init, initargs=(config, threads))
    try:
        # forked now, while this process has read no video yet (its sessions, its threads)
        pool.submit(os.getpid).result()
        pending: deque[tuple[Path, Future | None]] = deque()
        for path in paths:
            while len(pending) >= workers * AHEAD_PER_WORKER:
                yield pending.popleft()
            pending.append((path, None if is_video(path) else pool.submit(read_photo, path)))
        while pending:
            yield pending.popleft()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
