"""The live-camera source, driven by real FFmpeg inputs (a file served as a 'camera' that ends)."""

from __future__ import annotations

import time

import pytest

from edge.sources import SourceConfig, SourceError
from edge.sources.stream import StreamSource, _redact, exposure_properties
from tests.sources.videos import write_video


class StepClock:
    """A real Clock implementation with a fixed UTC offset (deterministic conversion)."""

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def utc_from_monotonic(self, t_mono_ns: int):
        from datetime import datetime, timezone

        return datetime.fromtimestamp(1_800_000_000 + t_mono_ns / 1e9, tz=timezone.utc)

    def state(self) -> str:
        return "ntp"


def test_camera_that_drops_is_reconnected_and_counted(tmp_path):
    video = write_video(tmp_path / "cam.mp4", frames=5)
    cfg = SourceConfig(kind="rtsp", url=str(video), reconnect_initial_s=0.01, reconnect_max_s=0.02)
    source = StreamSource(cfg, StepClock())
    assert source.live is True
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 12:
            source.close()
    stats = source.stats()
    assert len(frames) == 12
    assert [f.seq for f in frames] == list(range(12))
    assert stats["disconnects"] >= 2 and stats["reconnects"] >= 2
    assert all(b.t_mono_ns >= a.t_mono_ns for a, b in zip(frames, frames[1:]))
    assert frames[0].t_utc.year == 2027  # converted through the clock


def test_unreachable_camera_gives_up_after_max_reconnects(tmp_path):
    cfg = SourceConfig(kind="rtsp", url=str(tmp_path / "no-such-camera.mp4"),
                       reconnect_initial_s=0.01, reconnect_max_s=0.02, max_reconnects=2)
    source = StreamSource(cfg, StepClock())
    with pytest.raises(SourceError, match="unreachable after 2 retries"):
        list(source.frames())
    assert source.stats()["open_failures"] == 3


def test_close_stops_a_camera_waiting_to_reconnect(tmp_path):
    import threading

    cfg = SourceConfig(kind="rtsp", url=str(tmp_path / "down.mp4"), reconnect_initial_s=5.0,
                       reconnect_max_s=10.0)
    source = StreamSource(cfg, StepClock())
    threading.Timer(0.2, source.close).start()
    t0 = time.monotonic()
    assert list(source.frames()) == []
    assert time.monotonic() - t0 < 3.0


def test_passwords_are_not_logged():
    assert _redact("rtsp://admin:s3cret@10.0.0.5/stream") == "rtsp://admin:***@10.0.0.5/stream"


def test_exposure_us_becomes_v4l2_manual_exposure_in_100_us_steps_for_usb_only():
    import cv2

    assert exposure_properties(SourceConfig(kind="usb", exposure_us=800)) == [
        (cv2.CAP_PROP_AUTO_EXPOSURE, 1.0), (cv2.CAP_PROP_EXPOSURE, 8)]
    assert exposure_properties(SourceConfig(kind="usb", exposure_us=30)) == [
        (cv2.CAP_PROP_AUTO_EXPOSURE, 1.0), (cv2.CAP_PROP_EXPOSURE, 1.0)]  # shortest V4L2 step
    assert exposure_properties(SourceConfig(kind="usb")) == []  # automatic
    assert exposure_properties(SourceConfig(kind="rtsp", url="rtsp://cam/s", exposure_us=800)) == []
