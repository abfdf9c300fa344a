"""The capture loop: source -> motion gate -> detector -> crops -> reader -> formats -> tracker -> sink.

Threads (see docs/design.md):

- a capture thread pulls frames from the source into a small bounded queue (1-2 slots);
- one inference thread takes frames from it and runs every stage after capture, so the
  tracker and the sink are only ever touched by one thread.

Live cameras: when the models are slower than the camera, the capture thread drops the
OLDEST queued frame (the newest is the most useful) and counts it; a slow model therefore
never blocks the camera. Files (video, images): nothing is dropped — the capture thread
waits for a free slot instead. A file is not a live camera: it can always be read a little
later, and dropping frames from it would make the result depend on the machine's speed
(non-deterministic events and times).

On the source's end, on `stop()` or on an error, the tracker is flushed (every open track is
closed) and each resulting event is submitted to the sink — which returns only once it is
durably committed — before `run()` returns. A vehicle still in view is not lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from edge.recognition.imaging import fast_resize
from edge.motion import MotionConfig, MotionGate, roi_contains
from edge.ports import EventSink, FrameSource, PlateDetector, PlateReader, ServiceNotifier
from edge.recognition.reading import CONTEXT, DEFAULT_POLICY, CropMargin, crop_bounds, read_detections
from edge.records import BoundingBox, Frame, PlateDetection, PlateEvent, PlateRead
from edge.service import NullNotifier
from edge.recognition.stills import BIG_PHOTO_BYTES
from edge.shrink_ahead import ShrinkAhead

if TYPE_CHECKING:
    from edge.formats import FormatRules

log = logging.getLogger(__name__)

# Optional geometric correction from calibration (undistort / prewarp): full BGR frame in,
# corrected BGR frame out. Detection, crops and boxes are then in the corrected image.
FrameTransform = Callable[[np.ndarray], np.ndarray]


@runtime_checkable
class RegionTransform(Protocol):
    """A FrameTransform that can also transform part of a frame (edge.calibration.transform's
    CalibratedTransform). With one, the pipeline never transforms a whole full-resolution
    frame: it transforms the small detection frame, and cuts each plate crop from the
    full-resolution frame through `crop`. Boxes stay in full-resolution transformed pixels."""

    def __call__(self, image: np.ndarray) -> np.ndarray: ...

    def output_size(self, input_size: tuple[int, int]) -> tuple[int, int]: ...

    def crop(self, image: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray: ...


@runtime_checkable
class ReversibleTransform(Protocol):
    """A FrameTransform whose output points map back to the raw frame (edge.calibration.transform's
    CalibratedTransform): the preview then shows the raw frame, with the boxes mapped back."""

    def output_to_input(self, points: np.ndarray, input_size: tuple[int, int]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class PreparedFrame:
    """What the stages after capture work on, once the calibration transform is applied.

    image:        the (transformed) full-resolution frame, or None when only its plate regions
                  are computed (through `crop`);
    detect_image: a smaller frame for the motion gate and the detector, or None;
    size:         (w, h) of the full-resolution (transformed) frame: boxes are in its pixels;
    crop:         cuts a plate out of the transformed frame, given its box and a margin.
    """

    image: np.ndarray | None
    detect_image: np.ndarray | None
    size: tuple[int, int]
    crop: Callable[[BoundingBox, CropMargin], np.ndarray] | None = None

STAGES = ("transform", "motion", "detect", "read", "track", "sink", "total")
_END = object()
MAX_FAILURES_IN_ROW = 25  # frames failing in a row before the pipeline gives up


def downscale_for_detection(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink `image` so its longest side is `max_side` (the detector's input), fast; never upscale.

    Same size as the detector's own letterbox would make, so it does no second resize.
    """
    h, w = image.shape[:2]
    if max_side <= 0 or max(h, w) <= max_side:
        return image
    r = max_side / max(h, w)
    return fast_resize(image, max(1, round(w * r)), max(1, round(h * r)))


def _same_aspect(image: np.ndarray, w: int, h: int) -> bool:
    ih, iw = image.shape[:2]
    return abs(iw / ih - w / h) <= 0.01 * (w / h)


def _plate_pixels(prepared: PreparedFrame, box: BoundingBox) -> np.ndarray | None:
    """A copy of just the plate (no margin), from the whole frame or through `crop`."""
    from edge.plate_image import MARGIN, cut_plate

    if prepared.image is not None:
        return cut_plate(prepared.image, box)
    if prepared.crop is not None:
        crop = prepared.crop(box, MARGIN)
        return crop.copy() if crop.size else None
    return None


def _plate_context(prepared: PreparedFrame, box: BoundingBox) -> Any:
    """A small copy of the plate's surroundings (edge.vehicle_colour), from the whole frame or
    through `crop` with a margin as wide as that region."""
    from edge.vehicle_colour import LEFT, UP, cut_context

    if prepared.image is not None:
        return cut_context(prepared.image, box)
    if prepared.crop is None:
        return None
    margin = CropMargin(LEFT, UP)
    x1, y1, _, _ = crop_bounds(box, prepared.size[0], prepared.size[1], margin)
    region = prepared.crop(box, margin)
    if region.size == 0:
        return None
    return cut_context(region, BoundingBox(box.x - x1, box.y - y1, box.w, box.h))


class Tracker(Protocol):
    def update(self, frame: Frame, reads: Sequence[PlateRead]) -> list[PlateEvent]: ...

    def flush(self) -> list[PlateEvent]: ...

    @property
    def open_tracks(self) -> int:
        """Vehicles being followed now (the motion gate keeps detecting while there are any)."""
        ...


class FrameQueue:
    """Bounded queue between capture and inference.

    `put_drop_oldest` never blocks (live cameras) and returns how many frames it dropped;
    `put_wait` blocks until there is room or `stop` is set (files).
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._items: deque = deque()
        self._cond = threading.Condition()
        self.dropped = 0

    def put_drop_oldest(self, item: object) -> int:
        with self._cond:
            dropped = 0
            while len(self._items) >= self.size:
                old = self._items.popleft()
                if old is not _END:
                    dropped += 1
            self._items.append(item)
            self.dropped += dropped
            self._cond.notify()
            return dropped

    def put_wait(self, item: object, stop: threading.Event) -> bool:
        with self._cond:
            while len(self._items) >= self.size:
                if stop.is_set():
                    return False
                self._cond.wait(0.1)
            self._items.append(item)
            self._cond.notify()
            return True

    def put_end(self) -> None:
        """The end marker always gets in (it never displaces a frame)."""
        with self._cond:
            self._items.append(_END)
            self._cond.notify()

    def get(self, timeout: float) -> object | None:
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify()
            return item

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class LatencyStats:
    """Recent per-stage latencies (ms) for health; all of them for bench (bounded)."""

    def __init__(self, keep: int = 20000) -> None:
        self._data = {s: deque(maxlen=keep) for s in STAGES}
        self._lock = threading.Lock()

    def add(self, stage: str, ms: float) -> None:
        with self._lock:
            self._data[stage].append(ms)

    def summary(self) -> dict[str, dict[str, float]]:
        with self._lock:
            out = {}
            for stage, values in self._data.items():
                if not values:
                    continue
                arr = np.fromiter(values, float)
                out[stage] = {"n": int(arr.size), "p50": round(float(np.percentile(arr, 50)), 3),
                              "p95": round(float(np.percentile(arr, 95)), 3),
                              "mean": round(float(arr.mean()), 3)}
            return out

    def values(self, stage: str) -> list[float]:
        """The kept latencies of one stage in ms, oldest first (for histograms)."""
        with self._lock:
            return list(self._data.get(stage, ()))


@dataclass(frozen=True)
class PipelineOptions:
    queue_size: int = 2
    drop_when_full: bool | None = None  # None = drop for live sources, wait for files
    watchdog_interval_s: float = 5.0
    max_frames: int = 0  # stop after this many frames (bench); 0 = no limit
    detect_side: int | None = None  # shrink frames to this longest side before detection
    # (None = the detector's `input_side`, or 0 when it has a fine pass; 0 = never)
    keep_crops: bool = False  # reads carry their plate's pixels (`[privacy] image`)
    keep_context: bool = False  # reads carry a small copy of the plate's surroundings (`[vehicle] colour`)


class Pipeline:
    def __init__(
        self,
        source: FrameSource,
        detector: PlateDetector,
        reader: PlateReader,
        tracker: Tracker,
        sink: EventSink,
        *,
        rules: FormatRules | None = None,
        motion: MotionConfig | None = None,
        transform: FrameTransform | None = None,
        notifier: ServiceNotifier | None = None,
        options: PipelineOptions | None = None,
        on_stored: Callable[[Any], None] | None = None,
        on_frame: Callable[[np.ndarray, Sequence[PlateRead], Any], Any] | None = None,
    ) -> None:
        self.source = source
        self.detector = detector
        self.reader = reader
        self.tracker = tracker
        self.sink = sink
        self.rules = rules
        self.motion_config = motion or MotionConfig(enabled=False)
        self.gate = MotionGate(self.motion_config)
        self.roi = self.motion_config.roi
        self.transform = transform
        self.notifier = notifier or NullNotifier()
        self.options = options or PipelineOptions()
        self.on_stored = on_stored
        self.on_frame = on_frame  # e.g. the live preview: (image, reads, t_utc), must be cheap
        drop = self.options.drop_when_full
        self.drop_when_full = source.live if drop is None else drop
        # The detector's input size (OnnxPlateDetector.input_side): frames are shrunk to it here,
        # fast (see downscale_for_detection); boxes are scaled back to the full frame. Not for a
        # detector with a fine pass (stills: a folder of photos): that pass needs the full frame.
        side = self.options.detect_side
        if side is None:
            side = 0 if detector.fine_side > 0 else detector.input_side
        self.detect_side = int(side or 0)
        # the capture thread shrinks frames for the detector ahead (edge.shrink_ahead)
        self.shrink_ahead = ShrinkAhead(self.detect_side, downscale_for_detection, self.options.queue_size + 2) \
            if self.detect_side and transform is None else None
        self.queue = FrameQueue(self.options.queue_size)
        # A folder of big photos (stills): the next photo is decoded only once the last big one
        # has been processed, as `edge read` does, so a 24 MP photo (72 MB) is not held three or
        # four times over in the queue and the capture thread.
        self.one_big_photo_at_a_time = source.stills
        self._big_photo_done = threading.Event()
        self._big_photo_done.set()
        self._big_photo_seq = -1
        self.latency = LatencyStats()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._errors: list[BaseException] = []
        self._unsubmitted: list[PlateEvent] = []
        self._last_sink_error: str | None = None
        self.counts = {"captured": 0, "processed": 0, "detected_frames": 0, "gated_frames": 0,
                       "detections": 0, "reads": 0, "events": 0, "sink_errors": 0, "frame_errors": 0}
        self._failures_in_row = 0
        self._t_start: float | None = None
        self._t_end: float | None = None
        self._last_watchdog = 0.0
        self._recent: deque[float] = deque(maxlen=120)  # completion times, for the current fps

    # -- control ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask for a graceful stop (thread- and signal-safe): open tracks are still flushed."""
        self._stop.set()
        try:
            self.source.close()
        except Exception:  # closing is best effort; the capture thread also checks _stop
            log.debug("source.close failed", exc_info=True)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> dict:
        """Run until the source ends or stop() is called; flush and submit; return the summary.

        Raises the first capture/inference error after flushing what was already tracked.
        """
        self._t_start = time.perf_counter()
        capture = threading.Thread(target=self._capture_loop, name="capture", daemon=True)
        infer = threading.Thread(target=self._inference_loop, name="inference", daemon=True)
        capture.start()
        infer.start()
        while infer.is_alive():
            infer.join(0.2)  # short joins keep the main thread free for signal handlers
        self._stop.set()
        capture.join(2.0)
        self._t_end = time.perf_counter()
        if self._errors:
            raise self._errors[0]
        return self.summary()

    # -- threads ------------------------------------------------------------------------

    def _capture_loop(self) -> None:
        try:
            for frame in self.source.frames():
                if self._stop.is_set():
                    break
                with self._lock:
                    self.counts["captured"] += 1
                if self.shrink_ahead is not None and frame.detect_image is None:
                    self.shrink_ahead.prepare(frame.image)
                big = self.one_big_photo_at_a_time and frame.image.nbytes > BIG_PHOTO_BYTES
                if big:
                    self._big_photo_done.clear()
                    self._big_photo_seq = frame.seq
                if self.drop_when_full:
                    dropped = self.queue.put_drop_oldest(frame)
                    if dropped:
                        log.debug("capture queue full: dropped %d oldest frame(s)", dropped)
                elif not self.queue.put_wait(frame, self._stop):
                    break
                if self.options.max_frames and self.counts["captured"] >= self.options.max_frames:
                    break
                if big:  # the source decodes the next photo only once this one is processed
                    frame = None  # noqa: F841 - and this one is not kept alive meanwhile
                    while not self._big_photo_done.wait(0.1) and not self._stop.is_set():
                        pass
        except BaseException as exc:  # noqa: BLE001 - reported by run() after the flush
            self._errors.append(exc)
        finally:
            self.queue.put_end()

    def _inference_loop(self) -> None:
        try:
            while not self._stop.is_set():
                item = self.queue.get(timeout=0.5)
                if item is None:
                    self._ping_watchdog()  # alive, just waiting for the camera
                    continue
                if item is _END:
                    break
                self._process_guarded(item)
                done_seq, item = item.seq, None
                if done_seq >= self._big_photo_seq:
                    self._big_photo_done.set()
                self._ping_watchdog()
        except BaseException as exc:  # noqa: BLE001
            self._errors.append(exc)
        finally:
            self._big_photo_done.set()  # the capture thread never waits on a pipeline that ended
            try:
                self.finish()
            except BaseException as exc:  # noqa: BLE001
                self._errors.append(exc)

    def _process_guarded(self, frame: Frame) -> None:
        """One bad frame (a model error on odd pixels) is logged, counted and skipped; only a
        run of failures (a broken model) stops the pipeline, which then flushes and raises."""
        try:
            self.process(frame)
        except Exception as exc:  # noqa: BLE001
            self._failures_in_row += 1
            with self._lock:
                self.counts["frame_errors"] += 1
            if self._failures_in_row >= MAX_FAILURES_IN_ROW:
                raise
            if self.counts["frame_errors"] <= 5:
                log.warning("frame %d skipped: %s: %s", frame.seq, type(exc).__name__,
                            str(exc).splitlines()[0] if str(exc) else "")
            return
        self._failures_in_row = 0

    def _ping_watchdog(self) -> None:
        now = time.monotonic()
        if now - self._last_watchdog >= self.options.watchdog_interval_s:
            self._last_watchdog = now
            self.notifier.watchdog()

    # -- the stages ---------------------------------------------------------------------

    def prepare(self, frame: Frame) -> PreparedFrame:
        """Apply the calibration transform, if any, the cheap way.

        With a RegionTransform and a smaller detection frame (the detector's input size, or
        picamera2's lores stream), only that small frame is transformed (maps built once at
        its size) and plate crops are later cut from the full-resolution frame through
        `crop` — never a whole-frame remap. Boxes are in the full-resolution transformed
        frame's pixels either way. With a plain callable the whole frame is transformed (as
        `edge calibrate apply`). The live preview shows the raw frame (see `_preview_image`).
        """
        image = frame.image
        h, w = image.shape[:2]
        transform = self.transform
        if transform is None:
            return PreparedFrame(image, frame.detect_image, (w, h))
        if isinstance(transform, RegionTransform):
            small = frame.detect_image
            if small is not None and not _same_aspect(small, w, h):
                small = None  # a lores stream of another shape: the calibration does not fit it
            if self.detect_side:
                small = downscale_for_detection(small if small is not None else image, self.detect_side)
            if small is not None and small is not image:
                size = tuple(transform.output_size((w, h)))

                def crop(box: BoundingBox, margin: CropMargin = CONTEXT) -> np.ndarray:
                    return transform.crop(image, *crop_bounds(box, size[0], size[1], margin))

                return PreparedFrame(None, transform(small), size, crop)
        out = transform(image)
        return PreparedFrame(out, None, (out.shape[1], out.shape[0]))

    def process(self, frame: Frame) -> None:
        """All stages for one frame (inference thread only)."""
        t_frame = t0 = time.perf_counter()
        prepared = self.prepare(frame)
        if self.transform is not None:
            t = time.perf_counter()
            self.latency.add("transform", (t - t0) * 1e3)
            t0 = t
        image, detect_image = prepared.image, prepared.detect_image
        gate_image = detect_image if detect_image is not None else image
        # The ROI is in full-frame pixels, whatever size the gate looks at.
        run_detector = self.gate.should_detect(gate_image, self._tracks_open(), prepared.size)
        if self.shrink_ahead is not None:
            self.shrink_ahead.decided(frame.image, run_detector)
        t1 = time.perf_counter()
        self.latency.add("motion", (t1 - t0) * 1e3)
        reads: list[PlateRead] = []
        if run_detector:
            detections = self._detect(prepared)
            t2 = time.perf_counter()
            self.latency.add("detect", (t2 - t1) * 1e3)
            self.gate.saw_plates(bool(detections))
            if detections:
                reads = self._read(prepared, detections, frame.seq, t2)
        if self.on_frame is not None:
            self.on_frame(self._preview_image(frame, prepared), reads, frame.t_utc)
        if reads and frame.photo_scale != (1.0, 1.0):  # a big photo decoded reduced
            reads = [replace(r, box=r.box.scaled(*frame.photo_scale)) for r in reads]
        # Every frame goes to the tracker, with no reads when the gate skipped detection, so
        # tracks end on time (the tracker's gap is measured on the frames' own timeline).
        t3 = time.perf_counter()
        events = self.tracker.update(frame, reads)
        self.latency.add("track", (time.perf_counter() - t3) * 1e3)
        t4 = time.perf_counter()
        self._submit(events)
        t5 = time.perf_counter()
        if events or self._unsubmitted:
            self.latency.add("sink", (t5 - t4) * 1e3)
        self.latency.add("total", (t5 - t_frame) * 1e3)
        self._recent.append(t5)
        with self._lock:
            self.counts["processed"] += 1
            self.counts["detected_frames" if run_detector else "gated_frames"] += 1
            self.counts["reads"] += len(reads)

    def _preview_image(self, frame: Frame, prepared: PreparedFrame) -> np.ndarray:
        """The picture the preview shows: the raw frame when the transform can map boxes back
        to it (edge.preview.geometry), else the transformed one the boxes are in."""
        if self.transform is None or isinstance(self.transform, ReversibleTransform):
            return frame.image
        return prepared.image if prepared.image is not None else frame.image

    def _tracks_open(self) -> bool:
        return self.tracker.open_tracks > 0

    def _detect(self, prepared: PreparedFrame) -> list[PlateDetection]:
        image, detect_image = prepared.image, prepared.detect_image
        if self.detect_side:
            ahead = self.shrink_ahead.take(image) if self.shrink_ahead is not None and detect_image is None \
                else None
            detect_image = ahead if ahead is not None else downscale_for_detection(
                detect_image if detect_image is not None else image, self.detect_side)
            if detect_image is image:
                detect_image = None
        if detect_image is None:
            detections = list(self.detector.predict(image))
        else:
            sx = prepared.size[0] / detect_image.shape[1]
            sy = prepared.size[1] / detect_image.shape[0]
            detections = [PlateDetection(d.box.scaled(sx, sy), d.score, d.confirm)
                          for d in self.detector.predict(detect_image)]
        if self.roi:
            detections = [d for d in detections if roi_contains(self.roi, *d.box.center)]
        with self._lock:
            self.counts["detections"] += len(detections)
        return detections

    def _read(self, prepared: PreparedFrame, detections: list[PlateDetection], seq: int,
              t_start: float) -> list[PlateRead]:
        reads = read_detections(prepared.image, detections, self.reader, self.rules, seq, crop=prepared.crop,
                                frame_size=prepared.size, policy=DEFAULT_POLICY.for_detector(self.detector))
        self.latency.add("read", (time.perf_counter() - t_start) * 1e3)
        # A plate with no readable character (cut by the frame edge, too far) is not yet seen.
        reads = [r for r in reads if r.text]
        if self.options.keep_crops:
            reads = [replace(r, crop=_plate_pixels(prepared, r.box)) for r in reads]
        if self.options.keep_context:
            reads = [replace(r, context=_plate_context(prepared, r.box)) for r in reads]
        return reads

    def _submit(self, events: Sequence[PlateEvent], final: bool = False) -> None:
        """Commit events; if the sink fails (full disk...), keep them and retry on the next frame."""
        pending = self._unsubmitted + list(events)
        self._unsubmitted = []
        for i, event in enumerate(pending):
            try:
                stored = self.sink.submit(event)
            except Exception as exc:  # noqa: BLE001 - kept in memory, retried, reported
                self._unsubmitted = pending[i:]
                with self._lock:
                    self.counts["sink_errors"] += 1
                msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
                if msg != self._last_sink_error:
                    log.warning("cannot store event (%s); %d event(s) held in memory and retried",
                                msg, len(self._unsubmitted))
                self._last_sink_error = msg
                if final:
                    raise RuntimeError(f"cannot store {len(self._unsubmitted)} event(s): {msg}") from exc
                return
            self._last_sink_error = None
            with self._lock:
                self.counts["events"] += 1
            if self.on_stored is not None:
                self.on_stored(stored)

    def finish(self) -> None:
        """Close every open track and commit the events (end of video, stop, error)."""
        t0 = time.perf_counter()
        events = self.tracker.flush()
        self._submit(events)
        for attempt in range(5):  # a full disk may free up; then fail loudly, not silently
            if not self._unsubmitted:
                break
            time.sleep(0.5)
            self._submit([], final=attempt == 4)
        self.latency.add("sink", (time.perf_counter() - t0) * 1e3)

    # -- reporting ----------------------------------------------------------------------

    def fps(self) -> float:
        if self._t_start is None:
            return 0.0
        end = self._t_end or time.perf_counter()
        elapsed = end - self._t_start
        return self.counts["processed"] / elapsed if elapsed > 0 else 0.0

    def current_fps(self) -> float:
        """Frames per second over the last ~120 frames (0 when idle for 5 s)."""
        recent = list(self._recent)
        if len(recent) < 2 or time.perf_counter() - recent[-1] > 5.0:
            return 0.0
        span = recent[-1] - recent[0]
        return (len(recent) - 1) / span if span > 0 else 0.0

    def summary(self) -> dict:
        with self._lock:
            counts = dict(self.counts)
        counts["dropped"] = self.queue.dropped
        return {
            "fps": round(self.fps(), 2),
            "elapsed_s": round(((self._t_end or time.perf_counter()) - (self._t_start or 0)), 3)
            if self._t_start else 0.0,
            "frames": counts,
            "motion": dict(self.gate.counts),
            "latency_ms": self.latency.summary(),
            "source": self.source.stats(),
            "unsubmitted": len(self._unsubmitted),
        }

    def health(self) -> dict:
        """Fields for the periodic health message (edge.health/1: fps, latency_ms, drops, warnings)."""
        lat = self.latency.summary()
        latency = {}
        for stage, v in lat.items():
            latency[stage] = v["p50"]
            latency[f"{stage}_p95"] = v["p95"]
        src_stats = self.source.stats()
        drops = {"capture_queue": int(self.queue.dropped)}
        for key in ("read_failures", "disconnects", "reconnects", "unreadable"):
            if isinstance(src_stats.get(key), int):
                drops[f"source_{key}"] = int(src_stats[key])
        warnings = []
        if self._last_sink_error:
            warnings.append(f"events held in memory ({len(self._unsubmitted)}): {self._last_sink_error}")
        if src_stats.get("connected") is False and src_stats.get("disconnects", 0):
            warnings.append("camera disconnected; reconnecting")
        if src_stats.get("truncated"):
            warnings.append("video ended early (truncated or damaged file)")
        return {"fps": round(self.current_fps(), 2), "latency_ms": latency, "drops": drops,
                "warnings": warnings}
