"""`edge read` on many photos with a worker thread per core, output in input order.

One photo is a chain of steps that mostly holds one core (decode, the detector's passes one
after another, the reader's small batches), so a second core helps one photo little; two
photos at once use both. The workers are threads of this process sharing one set of models:
onnxruntime and OpenCV, where a photo's time goes, run without the GIL, and one session may be
run from several threads at once. Side by side with a process per core this was as fast, with
one copy of the models and libraries in memory instead of one per process (benchmarks/speed.md).
The caller hands out the inputs a few ahead of the one it prints, prints each photo's line in
input order, and reads videos itself, in their place, as `edge read` always has.

Each session gets cores / workers onnxruntime threads (one on a 2-core machine with two
workers), OpenCV as many; the reads are the same as with one worker (the models give the same
outputs whatever their thread count).

Memory: each worker holds one photo at a time; a 24 MP photo peaks at about 235 MB in one
process (edge.recognition.stills), so the default number of workers is also bounded by the memory the
system says is available (MEMORY_PER_WORKER_MB each).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.recognition.models.loading import Models

# inputs handed out ahead of the one being printed, per worker (bounded memory)
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


def worker_threads(workers: int) -> int:
    """The onnxruntime / OpenCV threads each worker's steps get."""
    return max(1, cores() // workers)


def in_workers(paths: list[Path], models: Models, workers: int, is_video) \
        -> Iterator[tuple[Path, Future | None]]:
    """Each input in order with the future of its photo's (line, cut short); None for a video."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read")
    try:
        pending: deque[tuple[Path, Future | None]] = deque()
        for path in paths:
            while len(pending) >= workers * AHEAD_PER_WORKER:
                yield pending.popleft()
            pending.append((path, None if is_video(path) else pool.submit(read_photo, path, models)))
        while pending:
            yield pending.popleft()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def read_photo(path: Path, models: Models) -> tuple[dict, bool]:
    """One photo's JSON line and whether its JPEG ended early (InputError for a photo that
    cannot be read)."""
    from edge.commands.read import _decode, _read_image

    still = _decode(path)
    return _read_image(path, still, models), still.cut_short
