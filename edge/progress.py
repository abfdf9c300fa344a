"""Progress bars for long commands (`edge bench`, `edge calibrate intrinsics`): tqdm on stderr
when it is installed (the `bench` or `train` extra) and stderr is a terminal; otherwise
nothing, so logs, pipes and CI stay clean and tqdm stays an optional dependency."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def _tqdm() -> Any:
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """`iterable`, with a bar when one can be shown."""
    tqdm = _tqdm()
    if tqdm is None:
        yield from iterable
        return
    with tqdm(iterable, desc=desc, total=total, unit=unit, mininterval=0.5, leave=False) as bar:
        yield from bar


class CounterBar:
    """A bar that follows a counter another thread advances (the pipeline's frame count)."""

    def __init__(self, read: Callable[[], int], *, desc: str, total: int | None = None, unit: str = "it") -> None:
        self._read = read
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        tqdm = _tqdm()
        self._bar = tqdm(desc=desc, total=total, unit=unit, leave=False) if tqdm is not None else None

    def __enter__(self) -> CounterBar:
        if self._bar is not None:
            self._thread = threading.Thread(target=self._follow, name="progress", daemon=True)
            self._thread.start()
        return self

    def _follow(self) -> None:
        while not self._stop.wait(0.5):
            self._bar.n = self._read()
            self._bar.refresh()

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._bar is not None:
            self._bar.close()
