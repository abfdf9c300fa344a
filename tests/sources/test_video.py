from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from edge.sources import VIDEO_EPOCH, SourceConfig, SourceError, open_source, source_from_uri
from edge.sources.video import VideoFileSource
from tests.sources.videos import write_video


def _frames(path: Path, **cfg):
    source = open_source(SourceConfig(kind="video", path=str(path), **cfg))
    return source, list(source.frames())


def test_replay_times_are_start_plus_pts_and_deterministic(tmp_path):
    video = write_video(tmp_path / "v.mp4", frames=12, fps=25.0)
    start = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    _, first = _frames(video, start_time="2026-03-01T12:00:00Z")
    _, again = _frames(video, start_time="2026-03-01T12:00:00Z")
    assert [f.seq for f in first] == list(range(12))
    assert [f.t_utc for f in first] == [start + timedelta(milliseconds=40 * i) for i in range(12)]
    assert [f.t_mono_ns for f in first] == [40_000_000 * i for i in range(12)]
    assert [(f.t_utc, f.t_mono_ns) for f in again] == [(f.t_utc, f.t_mono_ns) for f in first]
    assert first[0].image.shape == (240, 320, 3)
    # the frames are the file's frames, in order (grey level encodes the index)
    levels = [int(f.image[120:, :, :].mean()) for f in first]
    assert levels == sorted(levels)


def test_default_start_is_the_documented_epoch(tmp_path):
    video = write_video(tmp_path / "v.avi", frames=3, fps=10.0, fourcc="MJPG")
    _, frames = _frames(video)
    assert frames[0].t_utc == VIDEO_EPOCH == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert frames[2].t_utc == VIDEO_EPOCH + timedelta(milliseconds=200)


def test_loop_keeps_times_increasing(tmp_path):
    video = write_video(tmp_path / "v.mp4", frames=5, fps=25.0)
    source = open_source(SourceConfig(kind="video", path=str(video), loop=True))
    frames = []
    for f in source.frames():
        frames.append(f)
        if len(frames) == 12:
            source.close()
    assert len(frames) == 12
    assert [f.t_mono_ns for f in frames] == [40_000_000 * i for i in range(12)]
    assert source.stats()["loops"] == 2


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 300])
def test_corrupt_video_is_a_one_line_error(tmp_path, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(SourceError) as info:
        open_source(SourceConfig(kind="video", path=str(bad)))
    message = str(info.value)
    assert "\n" not in message and str(bad) in message


def test_missing_video_is_a_one_line_error(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        open_source(SourceConfig(kind="video", path=str(tmp_path / "nope.mp4")))


def test_truncated_mp4_without_index_is_a_clear_error(tmp_path):
    video = write_video(tmp_path / "v.mp4", frames=30)
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])  # the moov index is at the end: cut away
    with pytest.raises(SourceError, match="cannot open"):
        open_source(SourceConfig(kind="video", path=str(video)))


def test_truncated_midway_stops_cleanly_and_keeps_what_was_read(tmp_path, caplog):
    video = write_video(tmp_path / "v.avi", frames=40, fourcc="MJPG")
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="edge.sources.video"):
        source, frames = _frames(video)
    assert 5 < len(frames) < 40
    assert [f.seq for f in frames] == list(range(len(frames)))
    assert source.stats()["truncated"] is True
    assert any("truncated" in r.getMessage() for r in caplog.records)


def test_realtime_pacing_follows_the_timeline(tmp_path):
    import time

    video = write_video(tmp_path / "v.mp4", frames=6, fps=25.0)
    t0 = time.monotonic()
    _, frames = _frames(video, pacing="realtime")
    elapsed = time.monotonic() - t0
    assert len(frames) == 6
    assert elapsed >= 0.19  # last frame at 200 ms


def test_video_file_source_is_not_live(tmp_path):
    video = write_video(tmp_path / "v.mp4", frames=2)
    assert VideoFileSource(video).live is False


def test_source_uri_shorthands(tmp_path):
    assert source_from_uri("rtsp://u:p@cam/stream").kind == "rtsp"
    assert source_from_uri("usb:1").device == "1"
    assert source_from_uri("/dev/video2").kind == "usb"
    assert source_from_uri("picamera").kind == "picamera"
    assert source_from_uri(str(tmp_path)).kind == "images"
    cfg = source_from_uri("clip.mp4", SourceConfig(start_time="2026-01-02T00:00:00Z"))
    assert (cfg.kind, cfg.path, cfg.start_time) == ("video", "clip.mp4", "2026-01-02T00:00:00Z")


@pytest.mark.parametrize("bad", ["2026-01-01T00:00:00", "yesterday"])
def test_start_time_must_be_rfc3339_with_zone(bad):
    with pytest.raises(ValueError, match="start_time"):
        SourceConfig(start_time=bad)


# --- the renderer's committed fixtures (tests/fixtures/video/broken) ---------------------

BROKEN = Path(__file__).resolve().parents[1] / "fixtures" / "video" / "broken"


@pytest.mark.parametrize("name", ["truncated.mp4", "not_a_video.mp4"])
def test_fixture_unopenable_videos_fail_in_one_line(name):
    with pytest.raises(SourceError) as info:
        open_source(SourceConfig(kind="video", path=str(BROKEN / name)))
    assert "\n" not in str(info.value) and name in str(info.value)


def test_fixture_corrupt_video_skips_damaged_frames_with_true_times(caplog):
    with caplog.at_level(logging.WARNING, logger="edge.sources.video"):
        source, frames = _frames(BROKEN / "corrupt.mp4")
    clean = [f.t_mono_ns for f in _frames(BROKEN / "clean.mp4")[1]]
    got = [f.t_mono_ns for f in frames]
    assert 16 < len(got) < len(clean)
    assert set(got) <= set(clean)  # every kept frame keeps its own timestamp
    assert source.stats()["damaged_frames"] == len(clean) - len(got)
    assert any("damaged" in r.getMessage() for r in caplog.records)
