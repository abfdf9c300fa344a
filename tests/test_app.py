"""The whole wiring (edge.app's Application, as `edge run` uses it): a video and an NMEA log on
one timeline, and a folder of photos read as stills (the detector's fine pass, big photos
decoded reduced), with the colour-plate models or the shipped ones, and no broker."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2

from edge.records import BoundingBox
from tests.helpers import FRAME, VEHICLES, photo_of_small_scenes


def _nmea(body: str) -> str:
    cs = 0
    for ch in body:
        cs ^= ord(ch)
    return f"${body}*{cs:02X}"


def write_nmea_log(path: Path, start: datetime, seconds: int, lat0: float = 52.0, lon0: float = 5.0,
                   north_mps: float = 10.0) -> list[tuple[datetime, float, float]]:
    """A 1 Hz RMC+GGA log of a receiver moving north; returns the true track."""
    track, lines = [], []
    for s in range(seconds):
        t = start + timedelta(seconds=s)
        lat = lat0 + north_mps * s / 111_320.0
        lat_txt = f"{int(lat):02d}{(lat - int(lat)) * 60:07.4f}"
        lon_txt = f"{int(lon0):03d}{(lon0 - int(lon0)) * 60:07.4f}"
        hms, dmy = t.strftime("%H%M%S.00"), t.strftime("%d%m%y")
        knots = north_mps / 0.514444
        lines.append(_nmea(f"GPRMC,{hms},A,{lat_txt},N,{lon_txt},E,{knots:.2f},0.0,{dmy},,,A"))
        lines.append(_nmea(f"GPGGA,{hms},{lat_txt},N,{lon_txt},E,1,09,0.8,10.0,M,46.0,M,,"))
        track.append((t, lat, lon0))
    path.write_text("\r\n".join(lines) + "\r\n")
    return track


class PrintedEvents:
    """The `out` an Application prints its events to (one JSON line each)."""

    def __init__(self) -> None:
        self.chunks: list[str] = []

    def write(self, text: str) -> None:
        self.chunks.append(text)

    def flush(self) -> None:
        pass

    def events(self) -> list[dict]:
        import json

        return [json.loads(line) for line in "".join(self.chunks).splitlines()]


def test_application_video_plus_nmea_log_on_one_timeline(tmp_path, clip):
    """The whole wiring (edge.app): video times start at the log's first fix; each event is
    placed where the log says the camera was at that frame's time."""
    import dataclasses
    import math

    from edge.app import Application
    from edge.configuration.settings import build_config

    log_start = datetime(2025, 9, 14, 16, 20, tzinfo=timezone.utc)
    track = write_nmea_log(tmp_path / "drive.nmea", log_start, seconds=10)
    config = build_config({
        "device": {"id": "app-test"},
        "source": {"kind": "video", "path": str(clip), "start_time": "gps"},
        "detector": {"plugin": "tests.helpers:detector_plugin"},
        "reader": {"plugin": "tests.helpers:reader_plugin"},
        "gps": {"kind": "nmea", "path": str(tmp_path / "drive.nmea")},
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "mqtt": {"enabled": False},
    })
    out = PrintedEvents()

    app = Application(config, print_events=True, out=out)
    try:
        app.open()
        summary = app.run()
    finally:
        app.close()
    assert summary["frames"]["events"] == 3
    events = out.events()
    assert [e["seq"] for e in events] == [1, 2, 3]
    for e in events:
        v = next(v for v in VEHICLES if v[0] == e["plate"]["text"])
        best = datetime.fromisoformat(e["time"]["best"].replace("Z", "+00:00"))
        first = datetime.fromisoformat(e["time"]["first_seen"].replace("Z", "+00:00"))
        assert abs(first - (log_start + v[2] * FRAME)) <= FRAME
        # true position at the best frame's time (the receiver moves north at 10 m/s)
        s = (best - log_start).total_seconds()
        lat_true = 52.0 + 10.0 * s / 111_320.0
        loc = e["location"]
        assert loc["source"] == "nmea"
        err_m = math.hypot((loc["lat"] - lat_true) * 111_320.0,
                           (loc["lon"] - 5.0) * 111_320.0 * math.cos(math.radians(52.0)))
        assert err_m < 3.0, (e["plate"]["text"], err_m)
    assert dataclasses.asdict(app.config.source)["start_time"] == "2025-09-14T16:20:00.000Z"


def _edge_run_events(tmp_path: Path, source: dict) -> list[dict]:
    """The events `edge run` makes of `source` (the [source] table), without a broker."""
    from edge.app import Application
    from edge.configuration.settings import build_config

    out = PrintedEvents()
    config = build_config({
        "device": {"id": "stills-test"},
        "source": source,
        "outbox": {"path": str(tmp_path / f"outbox-{source['kind']}.db")},
        "mqtt": {"enabled": False},
    })
    app = Application(config, print_events=True, out=out)
    try:
        app.open()
        app.run()
    finally:
        app.close()
    return out.events()


def test_edge_run_on_a_folder_of_big_photos_uses_the_fine_pass(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    plates = photo_of_small_scenes(folder / "big_0.jpg")  # one photo: a pass of its own

    def run(source: dict) -> set[str]:
        return {e["plate"]["text"] for e in _edge_run_events(tmp_path, source)}

    want = {text for _, text in plates}
    texts = run({"kind": "images", "path": str(folder), "fps": 1.0})
    assert len(texts & want) >= len(want) - 1, texts
    # the same photo as a video gets no fine pass, and loses plates (3 of 7 read, 2026-12-06);
    # two frames of it, as a video needs two reads of a plate (min_reads) for an event
    video = tmp_path / "big.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 1.0, (4000, 3000))
    frame = cv2.imread(str(folder / "big_0.jpg"))
    for _ in range(2):
        writer.write(frame)
    writer.release()
    assert len(run({"kind": "video", "path": str(video)}) & want) < len(texts & want)


def test_edge_run_on_a_photo_over_24_mp_decodes_it_reduced_and_gives_boxes_in_its_pixels(tmp_path):
    from edge.recognition.stills import MAX_STILL_PIXELS
    from edge.synth.big_photo import compose_big_photo, read_scene_labels

    scenes_dir = Path(__file__).parent / "fixtures" / "scenes"
    scenes = [(cv2.imread(str(scenes_dir / name)), labelled)
              for name, labelled in sorted(read_scene_labels(scenes_dir / "labels.tsv").items())]
    image, plates = compose_big_photo(scenes, 6400, 4000, scale=1.0)
    assert image.shape[0] * image.shape[1] > MAX_STILL_PIXELS  # decoded at 3200x2000
    folder = tmp_path / "photos"
    folder.mkdir()
    assert cv2.imwrite(str(folder / "26mp.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    events = _edge_run_events(tmp_path, {"kind": "images", "path": str(folder)})
    read = [(BoundingBox(*e["box"]), e["plate"]["text"]) for e in events]
    found = sum(any(t == text and b.iou(box) >= 0.5 for b, t in read) for box, text in plates)
    assert found >= len(plates) - 1, (found, read, plates)

