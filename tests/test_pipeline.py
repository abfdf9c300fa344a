"""End to end through the real Pipeline on a real video file: capture thread, queue, motion gate,
detector, crops, reader, format rules, the real PlateTracker, and the real SQLite outbox.

The detector and reader are real fakes satisfying the protocols: they look at the pixels
(colour-coded plates) and read the text from the ground-truth table of the clip they render.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.recognition.reading import CONTEXT, DEFAULT_POLICY, crop_bounds
from edge.delivery.event_json import EventEncoder
from edge.formats import FormatRules, FormatsConfig
from edge.motion import MotionConfig
from edge.delivery.durable import DurableSink
from edge.delivery.outbox import Outbox, OutboxConfig
from edge.pipeline import FrameQueue, Pipeline, PipelineOptions
from edge.records import BoundingBox, CharConfidence, Frame, PlateDetection, PlateText
from edge.sources import SourceConfig, open_source
from edge.sources.stream import StreamSource
from edge.tracking import PlateTracker, TrackerConfig
from tests.helpers import FRAME, START, VEHICLES, ColourPlateDetector, HueTableReader, NoFrames

MIN_CROP_H, MIN_CROP_W, READ_CROPS, TILT_BAND = (DEFAULT_POLICY.min_crop_h, DEFAULT_POLICY.min_crop_w,
                                                 DEFAULT_POLICY.read_crops, DEFAULT_POLICY.tilt_band)


def truth_times(vehicle) -> tuple[datetime, datetime]:
    return START + vehicle[2] * FRAME, START + vehicle[3] * FRAME


def build(tmp_path: Path, clip: Path, motion: MotionConfig, source=None, detector=None):
    outbox = Outbox(OutboxConfig(), tmp_path / "outbox.db")
    encoder = EventEncoder("test-box", "cam0", {"detector": "colour", "reader": "hue"})
    sink = DurableSink(outbox, encoder)
    rules = FormatRules.from_config(FormatsConfig())
    tracker = PlateTracker(TrackerConfig(), rules, lambda t: None, lambda: "video")
    source = source or open_source(SourceConfig(kind="video", path=str(clip),
                                                start_time="2026-05-04T07:30:00Z"))
    reader = HueTableReader()
    pipeline = Pipeline(source, detector or ColourPlateDetector(), reader, tracker, sink,
                        rules=rules, motion=motion)
    return pipeline, outbox, reader


@pytest.mark.parametrize("gated", [True, False], ids=["motion-gate", "detect-every-frame"])
def test_one_event_per_vehicle_with_video_times(tmp_path, clip, gated):
    import json

    motion = MotionConfig(enabled=gated)
    pipeline, outbox, reader = build(tmp_path, clip, motion)
    summary = pipeline.run()
    rows = outbox.rows(limit=10)
    events = [json.loads(r.payload) for r in rows]
    assert [e["seq"] for e in events] == [1, 2, 3]
    by_text = {e["plate"]["text"]: e for e in events}
    assert sorted(by_text) == sorted(v[0] for v in VEHICLES)
    for v in VEHICLES:
        e = by_text[v[0]]
        first, last = truth_times(v)
        got_first = datetime.fromisoformat(e["time"]["first_seen"].replace("Z", "+00:00"))
        got_last = datetime.fromisoformat(e["time"]["last_seen"].replace("Z", "+00:00"))
        assert abs(got_first - first) <= FRAME, (v[0], got_first, first)
        assert abs(got_last - last) <= FRAME, (v[0], got_last, last)
        assert e["time"]["clock"] == "video"
    frames = summary["frames"]
    assert frames["processed"] == frames["captured"] == 150
    assert frames["dropped"] == 0  # a file is never dropped from
    assert frames["events"] == 3
    if gated:
        assert frames["gated_frames"] > 20  # the empty road between vehicles costs nothing
    else:
        assert frames["gated_frames"] == 0
    assert max(reader.batches) >= 1
    assert summary["latency_ms"]["detect"]["n"] == frames["detected_frames"]


def test_slow_model_on_a_live_camera_drops_oldest_and_counts(tmp_path, clip):
    class Clock:
        def monotonic_ns(self):
            return time.monotonic_ns()

        def utc_from_monotonic(self, t):
            return START + timedelta(microseconds=t // 1000)

        def state(self):
            return "ntp"

    cam = StreamSource(SourceConfig(kind="rtsp", url=str(clip), reconnect_initial_s=0.01,
                                    reconnect_max_s=0.01), Clock())
    pipeline, outbox, _ = build(tmp_path, clip, MotionConfig(enabled=False), source=cam,
                                detector=ColourPlateDetector(delay_s=0.02))
    threading.Timer(1.0, pipeline.stop).start()
    summary = pipeline.run()
    frames = summary["frames"]
    assert frames["dropped"] > 0
    # nothing silent: every captured frame was processed, dropped, or still queued at stop
    assert frames["captured"] - frames["processed"] - frames["dropped"] in (0, 1, 2)
    assert pipeline.health()["drops"]["capture_queue"] == frames["dropped"]


def test_stop_mid_video_flushes_open_tracks(tmp_path, clip):
    import json

    source = open_source(SourceConfig(kind="video", path=str(clip), pacing="realtime",
                                      start_time="2026-05-04T07:30:00Z"))
    pipeline, outbox, _ = build(tmp_path, clip, MotionConfig(), source=source)
    threading.Timer(1.2, pipeline.stop).start()  # frame ~30: ABC123 is in view
    summary = pipeline.run()
    assert summary["frames"]["processed"] < 80
    texts = [json.loads(r.payload)["plate"]["text"] for r in outbox.rows(limit=10)]
    assert texts == ["ABC123"]


def test_events_survive_a_sink_that_fails_for_a_while(tmp_path, clip):
    class FlakySink:
        """Fails the first submits (like a full disk), then stores."""

        def __init__(self) -> None:
            self.failures = 2
            self.stored = []

        def submit(self, event):
            if self.failures:
                self.failures -= 1
                raise OSError("database or disk is full")
            self.stored.append(event)
            return event

    rules = FormatRules.from_config(FormatsConfig())
    sink = FlakySink()
    pipeline = Pipeline(open_source(SourceConfig(kind="video", path=str(clip))),
                        ColourPlateDetector(), HueTableReader(),
                        PlateTracker(TrackerConfig(), rules, lambda t: None, lambda: "video"),
                        sink, rules=rules, motion=MotionConfig())
    summary = pipeline.run()
    assert sorted(e.text for e in sink.stored) == sorted(v[0] for v in VEHICLES)
    assert summary["frames"]["sink_errors"] == 2 and summary["unsubmitted"] == 0


def test_frame_queue_drop_oldest_counts():
    q = FrameQueue(2)
    assert q.put_drop_oldest(1) == 0
    assert q.put_drop_oldest(2) == 0
    assert q.put_drop_oldest(3) == 1
    assert q.dropped == 1
    assert [q.get(0.01), q.get(0.01), q.get(0.01)] == [2, 3, None]


def test_motion_roi_is_in_full_frame_pixels_when_the_gate_sees_a_small_detection_frame():
    # picamera2's lores stream (and the calibrated pipeline) gate on a ~416-640 px copy; the ROI
    # is still in full-frame pixels: motion in the right half of the full frame is outside it.
    from edge.records import Frame

    roi = ((0, 0), (960, 0), (960, 1080), (0, 1080))  # left half of a 1920x1080 frame
    detector = ColourPlateDetector()

    class NoTracks:
        open_tracks = 0

        def update(self, frame, reads):
            return []

        def flush(self):
            return []

    pipeline = Pipeline(NoFrames(), detector, HueTableReader(), NoTracks(), object(),
                        motion=MotionConfig(roi=roi, detect_every_n=0, hold_frames=0),
                        options=PipelineOptions(detect_side=0))
    still = np.full((1080, 1920, 3), 90, np.uint8)
    right, left = still.copy(), still.copy()
    cv2.rectangle(right, (1300, 300), (1700, 700), (255, 255, 255), -1)
    cv2.rectangle(left, (200, 300), (600, 700), (255, 255, 255), -1)
    calls = []
    for i, image in enumerate((still, right, left)):
        lores = cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA)
        pipeline.process(Frame(i, image, i, START, "cam", detect_image=lores))
        calls.append(detector.calls)
    assert calls == [1, 1, 2]  # first frame: no background yet; right: ignored; left: detected


# --- the renderer's fixture video, with a ground-truth replay detector/reader --------------

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "video" / "passes.mp4"


class GroundTruthModels:
    """Detector + reader that answer from the fixture's ground truth. The frame is recognised by
    its pixels (a fingerprint of the decoded image), so the motion gate may skip any frame."""

    def __init__(self, video: Path) -> None:
        import json

        truth = json.loads(video.with_suffix(".json").read_text())
        self.truth = truth
        per_frame = {p["frame"]: p["plates"] for p in truth["per_frame"]}
        cap = cv2.VideoCapture(str(video))
        self.by_print: dict[bytes, list[dict]] = {}
        i = 0
        while True:
            ok, image = cap.read()
            if not ok:
                break
            self.by_print[self._print(image)] = per_frame.get(i, [])
            i += 1
        cap.release()
        self._last: list[dict] = []
        self.detector = self._Detector(self)
        self.reader = self._Reader(self)

    @staticmethod
    def _print(image: np.ndarray) -> bytes:
        return image[::16, ::16].tobytes()

    class _Detector:
        name = "ground-truth"
        input_side = 0
        fine_side = 0

        def __init__(self, outer: GroundTruthModels) -> None:
            self.outer = outer

        def predict(self, image: np.ndarray) -> list[PlateDetection]:
            plates = self.outer.by_print[self.outer._print(image)]
            self.outer._last = plates
            self.outer._size = (image.shape[1], image.shape[0])
            return [PlateDetection(BoundingBox(*p["box"]), 0.9) for p in plates]

    class _Reader:
        name = "ground-truth"

        def __init__(self, outer: GroundTruthModels) -> None:
            self.outer = outer

        def predict(self, crops: Sequence[np.ndarray]) -> list[PlateText]:
            plates = self.outer._last
            # every crop must be one that edge.recognition.reading cuts from one of this frame's plates (one
            # of READ_CROPS, big enough to read): recognised by its size
            width, height = self.outer._size
            owner: dict[tuple[int, int], int] = {}
            for i, p in enumerate(plates):
                for margin in READ_CROPS:
                    x1, y1, x2, y2 = crop_bounds(BoundingBox(*p["box"]), width, height, margin)
                    if x2 - x1 >= MIN_CROP_W and y2 - y1 >= MIN_CROP_H:
                        assert plates[owner.setdefault((x2 - x1, y2 - y1), i)]["text"] == p["text"]
                        if margin == CONTEXT:  # and turned (unsure reads), cut to TILT_BAND
                            band = max(MIN_CROP_H, round((y2 - y1) * TILT_BAND))
                            assert plates[owner.setdefault((x2 - x1, band), i)]["text"] == p["text"]
            answers = []
            for crop in crops:
                p = plates[owner[(crop.shape[1], crop.shape[0])]]
                answers.append(PlateText(p["text"], tuple(CharConfidence(c, 0.95) for c in p["text"]))
                               if p["full"] else PlateText("", ()))
            return answers


def test_fixture_video_one_event_per_vehicle_within_one_frame(tmp_path):
    import json

    gt = GroundTruthModels(FIXTURE)
    fps = gt.truth["fps"]
    outbox = Outbox(OutboxConfig(), tmp_path / "outbox.db")
    sink = DurableSink(outbox, EventEncoder("fixture", "cam0", {"detector": "gt", "reader": "gt"}))
    rules = FormatRules.from_config(FormatsConfig())
    pipeline = Pipeline(open_source(SourceConfig(kind="video", path=str(FIXTURE),
                                                 start_time="2026-05-04T07:30:00Z")),
                        gt.detector, gt.reader,
                        PlateTracker(TrackerConfig(), rules, lambda t: None, lambda: "video"),
                        sink, rules=rules, motion=MotionConfig())
    summary = pipeline.run()
    events = [json.loads(r.payload) for r in outbox.rows(limit=50)]
    assert sorted(e["plate"]["text"] for e in events) == sorted(v["text"] for v in gt.truth["vehicles"])
    one_frame = timedelta(seconds=1 / fps)
    for v in gt.truth["vehicles"]:
        e = next(e for e in events if e["plate"]["text"] == v["text"])
        for key, frame_no in (("first_seen", v["first_full_frame"]), ("last_seen", v["last_full_frame"])):
            got = datetime.fromisoformat(e["time"][key].replace("Z", "+00:00"))
            want = START + timedelta(seconds=frame_no / fps)
            assert abs(got - want) <= one_frame, (v["text"], key, got, want)
    assert summary["frames"]["processed"] == gt.truth["frames"]
    assert summary["frames"]["gated_frames"] > 0  # the static stretches were skipped


def test_downscale_for_detection_is_the_detector_letterbox_size_and_close_to_inter_area():
    from edge.pipeline import downscale_for_detection

    cap = cv2.VideoCapture(str(FIXTURE.with_name("passes_1080p.mp4")))
    ok, image = cap.read()
    cap.release()
    assert ok and image.shape == (1080, 1920, 3)
    small = downscale_for_detection(image, 416)
    assert small.shape == (234, 416, 3)
    reference = cv2.resize(image, (416, 234), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - reference.astype(int)).mean() < 1.5
    assert downscale_for_detection(image[:300, :400], 416).shape == (300, 400, 3)  # never upscaled


def test_boxes_from_a_downscaled_detection_image_are_in_full_frame_pixels(tmp_path, clip):
    import json

    class SmallInputDetector(ColourPlateDetector):
        input_side = 240  # the pipeline hands it 240x135 images

        def predict(self, image):
            assert max(image.shape[:2]) == 240
            return super().predict(image)

    pipeline, outbox, _ = build(tmp_path, clip, MotionConfig(), detector=SmallInputDetector())
    pipeline.run()
    events = {json.loads(r.payload)["plate"]["text"]: json.loads(r.payload) for r in outbox.rows(limit=10)}
    assert sorted(events) == sorted(v[0] for v in VEHICLES)
    for v in VEHICLES:
        x, y, w, h = events[v[0]]["box"]
        assert abs(y - 170) <= 3 and abs(w - 72) <= 4 and abs(h - 24) <= 3, (v[0], events[v[0]]["box"])


def test_candidates_from_a_downscaled_detection_image_still_need_the_readers_confirmation(tmp_path, clip):
    class CandidateDetector(ColourPlateDetector):
        """Every plate is a candidate (`confirm`), as from scores between the two thresholds."""

        input_side = 240

        def predict(self, image):
            assert max(image.shape[:2]) == 240
            return [PlateDetection(d.box, 0.45, confirm=True) for d in super().predict(image)]

    class UnsureReader(HueTableReader):
        def predict(self, crops):
            return [PlateText(p.text, tuple(CharConfidence(c.c, 0.3) for c in p.chars))
                    for p in super().predict(crops)]

    pipeline, outbox, _ = build(tmp_path, clip, MotionConfig(), detector=CandidateDetector())
    pipeline.reader = UnsureReader()
    summary = pipeline.run()
    assert summary["frames"]["detections"] > 0
    # read at 0.3 < the 0.5 a candidate needs: dropped, as edge read drops them
    assert summary["frames"]["reads"] == 0 and outbox.rows(limit=10) == []


def test_a_bad_frame_is_skipped_but_a_broken_model_stops_the_run(tmp_path, clip):
    import json

    class Flaky(ColourPlateDetector):
        def predict(self, image):
            if self.calls == 20:
                self.calls += 1
                raise RuntimeError("odd pixels")
            return super().predict(image)

    pipeline, outbox, _ = build(tmp_path, clip, MotionConfig(enabled=False), detector=Flaky())
    summary = pipeline.run()
    assert summary["frames"]["frame_errors"] == 1
    assert len(outbox.rows(limit=10)) == 3

    class Broken(ColourPlateDetector):
        def predict(self, image):
            self.calls += 1
            if self.calls > 15:
                raise RuntimeError("model crashed")
            return super().predict(image)

    (tmp_path / "b").mkdir()
    pipeline, outbox, _ = build(tmp_path / "b", clip, MotionConfig(enabled=False), detector=Broken())
    with pytest.raises(RuntimeError, match="model crashed"):
        pipeline.run()
    # the vehicle tracked before the crash was still flushed and committed
    assert [json.loads(r.payload)["plate"]["text"] for r in outbox.rows(limit=10)] == ["ABC123"]


# --- the shipped models on the fixture video -----------------------------------------------


def test_shipped_models_one_event_per_vehicle_on_the_video_timeline():
    """The real detector + reader through the whole pipeline: exactly one event per vehicle,
    with its text, and its times inside that vehicle's pass on the video timeline (± 1 frame)."""
    import json

    from edge.recognition.models.loading import load_readers, model_paths
    from edge.sinks import MemorySink
    from edge.configuration.settings import AppConfig

    config = AppConfig()
    det, rdr = model_paths(config)
    if not (det.is_file() and rdr.is_file()):
        pytest.skip(f"shipped models not in this checkout ({det.name}, {rdr.name})")
    truth = json.loads(FIXTURE.with_suffix(".json").read_text())
    fps = truth["fps"]
    models = load_readers(config)
    sink = MemorySink(EventEncoder("fixture", "cam0", models.names))
    pipeline = Pipeline(open_source(SourceConfig(kind="video", path=str(FIXTURE),
                                                 start_time="2026-05-04T07:30:00Z")),
                        models.detector, models.reader,
                        PlateTracker(TrackerConfig(), models.rules, lambda t: None, lambda: "video"),
                        sink, rules=models.rules, motion=MotionConfig())
    pipeline.run()
    texts = sorted(e["plate"]["text"] for e in sink.events)
    assert texts == sorted(v["text"] for v in truth["vehicles"])
    one_frame = timedelta(seconds=1 / fps)
    for v in truth["vehicles"]:
        e = next(e for e in sink.events if e["plate"]["text"] == v["text"])
        start = START + timedelta(seconds=v["first_frame"] / fps) - one_frame
        end = START + timedelta(seconds=v["last_frame"] / fps) + one_frame
        for key in ("first_seen", "best", "last_seen"):
            t = datetime.fromisoformat(e["time"][key].replace("Z", "+00:00"))
            assert start <= t <= end, (v["text"], key, t, start, end)


class BigPhotos:
    """A source of photos over BIG_PHOTO_BYTES that logs when it decodes each one."""

    name = "big-photos"
    live = False

    def __init__(self, log: list[str], n: int, stills: bool) -> None:
        self.log, self.n, self.stills = log, n, stills

    def frames(self):
        for i in range(self.n):
            self.log.append(f"decode {i}")
            image = np.zeros((3000, 2000, 3), np.uint8)  # 18 MB, over BIG_PHOTO_BYTES
            yield Frame(i, image, i * 10**9, START + timedelta(seconds=i), f"images:{i}.jpg")

    def stats(self) -> dict:
        return {}

    def close(self) -> None:
        pass


class LoggingDetector:
    name = "logging"
    input_side = 0
    fine_side = 0

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def predict(self, image):
        self.log.append("detect")
        time.sleep(0.05)  # long enough for a free capture thread to decode ahead
        return []


@pytest.mark.parametrize("stills", [True, False])
def test_big_photos_are_decoded_one_at_a_time_but_video_frames_ahead(stills, tmp_path):
    from edge.recognition.stills import BIG_PHOTO_BYTES

    assert 3000 * 2000 * 3 > BIG_PHOTO_BYTES
    log: list[str] = []
    pipeline, _, _ = build(tmp_path, Path("unused"), MotionConfig(enabled=False),
                           source=BigPhotos(log, 4, stills), detector=LoggingDetector(log))
    pipeline.run()
    one_at_a_time = ["decode 0", "detect", "decode 1", "detect", "decode 2", "detect", "decode 3", "detect"]
    assert (log == one_at_a_time) == stills, log
