"""edge/sources/picamera.py against a stand-in picamera2 library (tests/sources/fakes): the
real module cannot be exercised without a Raspberry Pi camera."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
import sys
from pathlib import Path

import pytest

from edge.sources import SourceConfig, SourceError

FAKES = Path(__file__).resolve().parent / "fakes"


class FixedOffsetClock:
    def monotonic_ns(self) -> int:
        return 0

    def utc_from_monotonic(self, t_mono_ns: int) -> datetime:
        return datetime(2026, 6, 1, tzinfo=timezone.utc) + timedelta(microseconds=t_mono_ns // 1000)

    def state(self) -> str:
        return "ntp"


@pytest.fixture
def picamera2(monkeypatch):
    sys.modules.pop("picamera2", None)
    monkeypatch.syspath_prepend(str(FAKES))
    import picamera2

    picamera2.Picamera2.instances.clear()
    yield picamera2
    sys.modules.pop("picamera2", None)  # the stand-in must not outlive the test


def test_two_streams_sensor_time_and_every_request_released(picamera2):
    from edge.sources.picamera import PiCameraSource

    cfg = SourceConfig(kind="picamera", width=1920, height=1080, lores_width=640, lores_height=360)
    source = PiCameraSource(cfg, FixedOffsetClock())
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 3:
            source.close()
    cam = picamera2.Picamera2.instances[-1]
    assert cam.config["main"]["format"] == "RGB888" and cam.config["lores"]["format"] == "YUV420"
    assert [f.image.shape for f in frames] == [(1080, 1920, 3)] * 3
    assert [f.detect_image.shape for f in frames] == [(360, 640, 3)] * 3
    assert int(frames[2].detect_image.mean()) == 2  # the lores stream of the same request, as BGR
    assert [f.t_mono_ns for f in frames] == [1_000_000_000 + i * 33_333_333 for i in range(3)]
    assert frames[1].t_utc == datetime(2026, 6, 1, 0, 0, 1, 33333, tzinfo=timezone.utc)
    assert cam.released == cam.requests  # including the request of the last frame
    assert cam.stopped and cam.closed


def test_exposure_and_gain_are_sent_as_libcamera_controls_at_start(picamera2):
    from edge.sources.picamera import PiCameraSource

    cfg = SourceConfig(kind="picamera", fps=25, exposure_us=800, analogue_gain=2.5)
    PiCameraSource(cfg, FixedOffsetClock())
    cam = picamera2.Picamera2.instances[-1]
    assert cam.started and cam.config["controls"] == {"FrameRate": 25.0, "ExposureTime": 800, "AnalogueGain": 2.5}
    assert isinstance(cam.config["controls"]["ExposureTime"], int)  # libcamera's ExposureTime is int32
    # 0 = automatic: the controls are not sent at all (no fixed shutter, no fixed gain)
    PiCameraSource(SourceConfig(kind="picamera"), FixedOffsetClock())
    assert picamera2.Picamera2.instances[-1].config["controls"] == {}


def test_request_is_released_when_reading_it_fails(picamera2):
    from edge.sources.picamera import PiCameraSource

    source = PiCameraSource(SourceConfig(kind="picamera"), FixedOffsetClock())
    cam = picamera2.Picamera2.instances[-1]
    cam.fail_on = 1
    got = []
    with pytest.raises(RuntimeError, match="buffer went away"):
        for frame in source.frames():
            got.append(frame)
    assert len(got) == 1
    assert cam.released == cam.requests == 2
    assert cam.closed


def test_without_picamera2_installed_the_error_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))  # an empty folder: no picamera2 anywhere
    try:
        import picamera2  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("a real picamera2 is installed here")
    from edge.sources.picamera import PiCameraSource

    with pytest.raises(SourceError, match="apt install python3-picamera2"):
        PiCameraSource(SourceConfig(kind="picamera"), FixedOffsetClock())
