"""Where each millisecond of a frame goes: finer stages than the pipeline's own latency record.

`edge bench` wraps a running Pipeline's parts with timers (`StageTimer.instrument`): nothing
in the pipeline, the detector or the reader knows about it, and a part this version does not
have (a plugin detector without letterbox passes) is simply not timed. Per frame, each stage's
time is the sum of its calls during that frame; a stage that did not run in a frame (the
detector on a frame the motion gate skipped) is not counted for it. Stages:

  decode           the source producing one frame (capture thread: video decode, JPEG decode)
  downscale ahead  the same shrink done by the capture thread while the detector works on the
                   frame before (edge.shrink_ahead; per call, off the inference thread)
  downscale        the pipeline's shrink of the frame to the detector's input side, where it
                   was not done ahead
  letterbox        the detector's own resize + pad + float blob, summed over its passes
  pass <side>      one detector pass at that side (letterbox + onnxruntime + peak decoding);
                   `pass fine` is the tiled fine pass of big stills, `pass framed` the second
                   look at a plate that fills a still (its own passes are counted inside it)
  detector onnx    onnxruntime alone, summed over the passes
  crops            cutting plate crops (views) out of the frame
  reader batch     one reader call (per call, not per frame: `batches` says how many a frame
                   made and `crops` how many crops each held)
  reader           all reader calls of the frame (resize into the batch + onnxruntime + decode)
  reader onnx      onnxruntime alone, summed over the reader's calls
  tilt             measuring a plate's tilt and turning its crop level
  sharpness        the sharpness of each read's crop (for the best view of a pass)
  event            turning a closed track into its event (JSON dict): the sink's work
The pipeline's own stages (motion, detect, read, track, sink, total) are reported beside these
by `edge bench` as before.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

# the order the stages are printed in (any other stage follows, sorted)
ORDER = ("decode", "downscale ahead", "downscale", "letterbox", "pass 512", "pass 320", "pass fine", "pass framed",
         "detector onnx", "crops", "reader batch", "reader", "reader onnx", "tilt", "sharpness", "event")
# per-call stages (every call is a sample); the others are summed per frame
PER_CALL = frozenset({"decode", "downscale ahead", "reader batch", "event"})


def _summary(values: deque | list) -> dict[str, float]:
    arr = np.fromiter(values, float)
    return {"n": int(arr.size), "p50": round(float(np.percentile(arr, 50)), 3),
            "p95": round(float(np.percentile(arr, 95)), 3), "mean": round(float(arr.mean()), 3)}


class StageTimer:
    """Collects per-stage milliseconds; `instrument(pipeline)` wires it, `restore()` unwires."""

    def __init__(self, keep: int = 20000) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, deque] = defaultdict(lambda: deque(maxlen=keep))
        self._frame: dict[str, float] = {}
        self._counts: dict[str, deque] = defaultdict(lambda: deque(maxlen=keep))
        self._frame_counts: dict[str, int] = {}
        self._undo: list[Callable[[], None]] = []
        self._depth = threading.local()

    # -- recording ----------------------------------------------------------------------
    def add(self, stage: str, ms: float) -> None:
        if stage in PER_CALL:
            with self._lock:
                self._samples[stage].append(ms)
        else:  # summed over the frame being processed (inference thread)
            self._frame[stage] = self._frame.get(stage, 0.0) + ms

    def count(self, what: str, n: int = 1) -> None:
        self._frame_counts[what] = self._frame_counts.get(what, 0) + n

    def end_frame(self) -> None:
        with self._lock:
            for stage, ms in self._frame.items():
                self._samples[stage].append(ms)
            for what, n in self._frame_counts.items():
                self._counts[what].append(n)
        self._frame = {}
        self._frame_counts = {}

    def timed(self, stage: str, fn: Callable, label: Callable[..., str] | None = None) -> Callable:
        """`fn` timed into `stage` (or `label(*args)`, the stage named from the call's args)."""
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(label(*args) if label else stage, (time.perf_counter() - t0) * 1e3)

        wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
        return wrapper

    def summary(self) -> dict[str, dict[str, float]]:
        with self._lock:
            stages = {s: _summary(v) for s, v in self._samples.items() if v}
            counts = {w: _summary(v) for w, v in self._counts.items() if v}
        order = {s: i for i, s in enumerate(ORDER)}
        out = {s: stages[s] for s in sorted(stages, key=lambda s: (order.get(s, len(order)), s))}
        for what, v in counts.items():  # per frame: reader batches, crops read
            out.setdefault("per frame", {})[what] = {"p50": v["p50"], "p95": v["p95"], "mean": v["mean"]}
        return out

    # -- wiring -------------------------------------------------------------------------
    def _patch(self, owner: Any, name: str, make: Callable[[Callable], Callable]) -> bool:
        """Replace owner.name (an instance's or a module's) by make(original); False if absent."""
        original = getattr(owner, name, None)
        if not callable(original):
            return False
        had_own = isinstance(owner, type(time)) or name in getattr(owner, "__dict__", {})
        setattr(owner, name, make(original))

        def undo() -> None:
            if had_own:
                setattr(owner, name, original)
            else:
                try:
                    delattr(owner, name)
                except AttributeError:
                    pass

        self._undo.append(undo)
        return True

    def instrument(self, pipeline: Any) -> StageTimer:
        import edge.pipeline as pipeline_module
        import edge.recognition.reading as reading

        timer = self
        source = pipeline.source

        def frames(original: Callable[[], Iterator]) -> Callable[[], Iterator]:
            def gen() -> Iterator:
                it = iter(original())
                while True:
                    t0 = time.perf_counter()
                    try:
                        frame = next(it)
                    except StopIteration:
                        return
                    timer.add("decode", (time.perf_counter() - t0) * 1e3)
                    yield frame
                    frame = None  # noqa: F841 - not kept alive while the next one decodes
            return gen

        self._patch(source, "frames", frames)

        def process(original: Callable) -> Callable:
            def run(frame: Any) -> Any:
                try:
                    return original(frame)
                finally:
                    timer.end_frame()
            return run

        self._patch(pipeline, "process", process)
        self._patch(pipeline_module, "downscale_for_detection", lambda f: self.timed("downscale", f))
        if getattr(pipeline, "shrink_ahead", None) is not None:
            self._patch(pipeline.shrink_ahead, "prepare", lambda f: self.timed("downscale ahead", f))
        self._patch(reading, "crop_plate", lambda f: self.timed("crops", f))
        self._patch(reading, "_turned", lambda f: self.timed("tilt", f))
        self._patch(reading, "sharpness", lambda f: self.timed("sharpness", f))
        self._instrument_detector(pipeline.detector)
        self._instrument_reader(pipeline.reader)
        if hasattr(pipeline.sink, "submit"):
            self._patch(pipeline.sink, "submit", lambda f: self.timed("event", f))
        return self

    def _instrument_detector(self, det: Any) -> None:
        self._patch(det, "_letterbox", lambda f: self.timed("letterbox", f))
        self._patch(det, "_peaks", lambda f: self.timed("", f, label=lambda image, side, *a: f"pass {side}"))
        self._patch(det, "_tiled_peaks", lambda f: self.timed("pass fine", f))
        self._patch(det, "_detect_framed", lambda f: self.timed("pass framed", f))
        session = getattr(det, "_session", None)
        if session is not None:
            self._patch(session, "run", lambda f: self.timed("detector onnx", f))

    def _instrument_reader(self, reader: Any) -> None:
        timer = self

        def predict(original: Callable) -> Callable:
            def run(crops: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return original(crops)
                finally:
                    ms = (time.perf_counter() - t0) * 1e3
                    timer.add("reader batch", ms)
                    timer.add("reader", ms)
                    timer.count("reader batches")
                    timer.count("crops read", len(crops))
            return run

        self._patch(reader, "predict", predict)
        session = getattr(reader, "_sess", None)
        if session is not None:
            self._patch(session, "run", lambda f: self.timed("reader onnx", f))

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


@contextmanager
def timing(pipeline: Any) -> Iterator[StageTimer]:
    """`with timing(pipeline) as stages: pipeline.run()`, then `stages.summary()`."""
    timer = StageTimer().instrument(pipeline)
    try:
        yield timer
    finally:
        timer.restore()
