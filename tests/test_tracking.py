from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest

from edge.configuration.validation import ConfigError, from_mapping
from edge.formats import FormatRules
from edge.ids import uuid7_time_ms
from edge.records import BoundingBox, CharConfidence, PlateRead
from edge.tracking import PlateTracker, TrackerConfig
from tests.helpers import FrameClock as Clock, Located, drain, new_tracker as make, plate_read as read

RULES = FormatRules.for_regions(None)


def test_one_event_per_pass_with_noisy_reads():
    clock, loc = Clock(), Located()
    tr = make(locate=loc)
    noise = {3: "AB128CD", 7: "A8123CD", 12: "AB123C0", 15: "AB23CD", 16: "A8I23CD"}
    events = []
    for i in range(20):
        f = clock.frame()
        text = noise.get(i, "AB123CD")
        p = 0.99 if i == 9 else (0.6 if i in noise else 0.9)
        events += tr.update(f, [read(text, 100 + 15 * i, 300 - 2 * i, f, p=p)])
    assert events == []  # the pass is still going on
    events += drain(tr, clock)
    assert len(events) == 1
    ev = events[0]
    assert ev.text == "AB123CD"
    assert ev.region is None  # FR and IT share this layout: no region is guessed
    assert [c.c for c in ev.chars] == list("AB123CD")
    assert ev.first_seen == clock.t(0) and ev.last_seen == clock.t(19)
    assert ev.best_seen == clock.t(9) and ev.best_frame_seq == 9
    assert ev.box == BoundingBox(100 + 15 * 9, 300 - 18, 100, 25)
    assert ev.frame_count == 20
    assert ev.clock == "ntp"
    assert loc.asked == [clock.t(9)] and ev.location.fix_utc == clock.t(9)
    assert ev.candidates[0].text == "AB123CD" and ev.candidates[0].confidence == ev.confidence
    assert {"AB128CD", "AB23CD"} <= {c.text for c in ev.candidates}
    assert 0.5 < ev.confidence < 0.9  # honest: below the reads' 0.9, since some reads disagree
    assert all(a.confidence >= b.confidence for a, b in zip(ev.candidates[1:], ev.candidates[2:]))


def test_consensus_needs_agreement_not_just_one_confident_read():
    clock = Clock()
    tr = make()
    for i in range(9):
        f = clock.frame()
        text, p = ("XY987ZW", 0.99) if i == 4 else ("XY981ZW", 0.8)
        tr.update(f, [read(text, 10 * i, 50, f, p=p)])
    (ev,) = tr.flush()
    assert ev.text == "XY981ZW"
    assert ev.best_frame_seq == 4  # the best frame is still the most confident read
    assert "XY987ZW" in [c.text for c in ev.candidates]


def test_format_rules_fix_the_consensus():
    clock = Clock()
    tr = make()
    for i in range(6):  # every frame hesitates between O and 0 in a digit slot
        f = clock.frame()
        text = "SB9OTZI" if i % 2 else "SB9OTZI"
        tr.update(f, [read(text, 300, 200, f, p=0.95, low={3: 0.55})])
    (ev,) = tr.flush()
    assert ev.text == "SB90TZI" and ev.region == "RO"
    assert ev.chars[3].c == "0"


def test_length_vote_picks_the_most_weighted_length():
    clock = Clock()
    tr = make(rules=None)
    texts = ["ABC1234", "ABC1234", "AB1234", "ABC1234", "ABC12345", "ABC1234"]
    for i, t in enumerate(texts):
        f = clock.frame()
        tr.update(f, [read(t, 100 + i, 100, f)])
    (ev,) = tr.flush()
    assert ev.text == "ABC1234" and ev.region is None
    assert ev.confidence == pytest.approx(4 / 6 * 0.95)


def test_two_vehicles_crossing_stay_apart():
    clock = Clock()
    tr = make()
    events = []
    for i in range(30):
        f = clock.frame()
        a = read("AB123CD", 100 + 30 * i, 400, f)  # left to right
        b = read("XY987ZW", 970 - 30 * i, 405, f)  # right to left, crossing at i = 14.5
        reads = [b, a] if i % 2 else [a, b]
        events += tr.update(f, reads)
    events += drain(tr, clock)
    assert sorted(e.text for e in events) == ["AB123CD", "XY987ZW"]
    for e in events:
        assert e.frame_count == 30
        assert e.first_seen == clock.t(0) and e.last_seen == clock.t(29)
        assert [c.text for c in e.candidates] == [e.text]  # no read of the other plate leaked in


def test_fast_plate_and_zooming_camera_keep_one_track():
    clock = Clock()
    tr = make()
    for i in range(12):  # three box widths per frame, growing 15% per frame
        f = clock.frame()
        w = 60 * 1.15**i
        tr.update(f, [read("KA05MN4321", 50 + 180 * i if i < 6 else 1000 - 150 * (i - 6), 300, f, w=w, h=w / 4)])
    events = tr.flush()
    assert [e.text for e in events] == ["KA05MN4321"] and events[0].frame_count == 12


def test_short_gap_keeps_one_track_long_gap_splits():
    clock = Clock()
    tr = make(TrackerConfig(max_gap_s=1.0, repeat_suppress_s=0))
    events = []
    for i in range(60):
        f = clock.frame()
        visible = i < 10 or 30 <= i < 40  # 20 missing frames = 0.8 s < max_gap_s
        events += tr.update(f, [read("AB123CD", 100 + 5 * i, 300, f)] if visible else [])
    assert events == []
    for i in range(60, 120):
        f = clock.frame()
        visible = i >= 80  # 40 missing frames = 1.6 s > max_gap_s: the first pass ends
        events += tr.update(f, [read("AB123CD", 100 + 5 * i, 300, f)] if visible else [])
    assert [e.frame_count for e in events] == [20]
    assert events[0].first_seen == clock.t(0) and events[0].last_seen == clock.t(39)
    events += tr.flush()
    assert [e.frame_count for e in events] == [20, 40]


def test_max_gap_frames_ends_tracks_by_count():
    clock = Clock(fps=1000)
    tr = make(TrackerConfig(max_gap_s=60, max_gap_frames=3))
    for i in range(5):
        f = clock.frame()
        assert tr.update(f, [read("AB123CD", 100, 100, f)]) == []
    out = []
    for _ in range(4):
        out += tr.update(clock.frame(), [])
    assert [e.text for e in out] == ["AB123CD"]


def test_parked_car_for_ten_minutes_is_one_event():
    clock = Clock(fps=2)
    loc = Located()
    tr = make(TrackerConfig(max_gap_s=1.0), locate=loc)
    events = []
    for i in range(1200):  # 10 minutes at 2 fps
        f = clock.frame()
        dropout = (i % 120) >= 110  # the detector loses it for 5 s every minute
        jitter = (i * 7) % 5 - 2
        text = "AB123CD" if i % 13 else "AB123C0"
        events += tr.update(f, [] if dropout else [read(text, 500 + jitter, 400 - jitter, f)])
    events += drain(tr, clock, 10)
    assert [e.text for e in events] == ["AB123CD"]
    assert tr.stats["suppressed"] == 9
    # the car leaves, another one parks at the same place: that one is reported
    for _ in range(10):
        f = clock.frame()
        events += tr.update(f, [read("XY987ZW", 500, 400, f)])
    events += tr.flush()
    assert [e.text for e in events] == ["AB123CD", "XY987ZW"]


def test_parked_car_with_early_event_is_reported_early_and_once():
    clock = Clock(fps=2)
    tr = make(TrackerConfig(early_event=True, early_reads=5))
    events = []
    first_at = None
    for i in range(1200):
        f = clock.frame()
        dropout = (i % 120) >= 110
        new = tr.update(f, [] if dropout else [read("AB123CD", 500, 400, f)])
        if new and first_at is None:
            first_at = i
        events += new
    events += tr.flush()
    assert [e.text for e in events] == ["AB123CD"]
    assert first_at == 4  # at the fifth read
    assert events[0].frame_count == 5 and events[0].last_seen == clock.t(4)


def test_same_text_far_away_is_a_new_sighting_for_a_moving_camera():
    clock = Clock(fps=10)
    loc = Located()
    tr = make(locate=loc)
    events = []
    for i in range(10):
        f = clock.frame()
        events += tr.update(f, [read("AB123CD", 500, 400, f)])
    events += drain(tr, clock, 20)
    loc.lat += 0.01  # about 1.1 km north: the camera drove on and met the car again
    for i in range(10):
        f = clock.frame()
        events += tr.update(f, [read("AB123CD", 500, 400, f)])
    events += tr.flush()
    assert [e.text for e in events] == ["AB123CD", "AB123CD"]
    assert events[0].id != events[1].id


def test_early_event_then_final_only_if_the_text_changed():
    clock = Clock()
    tr = make(TrackerConfig(early_event=True, early_reads=3))
    events = []
    for i in range(3):
        f = clock.frame()
        events += tr.update(f, [read("AB123CD", 100 + 10 * i, 300, f, p=0.9)])
    assert [e.text for e in events] == ["AB123CD"] and events[0].frame_count == 3
    for i in range(3, 20):
        f = clock.frame()
        events += tr.update(f, [read("AB123CD", 100 + 10 * i, 300, f, p=0.9)])
    events += drain(tr, clock)
    assert len(events) == 1  # same text at the end: nothing more

    clock2 = Clock()
    tr2 = make(TrackerConfig(early_event=True, early_reads=3))
    out = []
    for i in range(3):
        f = clock2.frame()
        out += tr2.update(f, [read("AB128CD", 100 + 10 * i, 300, f, p=0.7)])
    for i in range(3, 20):  # closer, sharper: the real text emerges
        f = clock2.frame()
        out += tr2.update(f, [read("AB123CD", 100 + 10 * i, 300, f, p=0.95)])
    out += tr2.flush()
    assert [e.text for e in out] == ["AB128CD", "AB123CD"]
    assert out[0].id != out[1].id and out[1].frame_count == 20 and out[1].first_seen == clock2.t(0)


def test_flush_emits_open_tracks_and_single_reads_are_not_events():
    clock = Clock()
    tr = make()
    f = clock.frame()
    tr.update(f, [read("AB123CD", 100, 100, f), read("ZZ999", 800, 100, f)])
    f = clock.frame()
    tr.update(f, [read("AB123CD", 105, 100, f)])
    assert tr.open_tracks == 2
    events = tr.flush()
    assert [e.text for e in events] == ["AB123CD"]
    assert tr.open_tracks == 0 and tr.flush() == []
    assert tr.stats["discarded"] == 1


def _photos_passes(config: TrackerConfig, photos: bool, texts: list[str]) -> list[str]:
    """Event texts for one read per photo, each at the same place, photos at a nominal 1 fps."""
    clock = Clock(fps=1.0)
    tr = PlateTracker(config, RULES, Located(), lambda: "video", photos=photos)
    out = []
    for text in texts:
        f = clock.frame()
        out += tr.update(f, [read(text, 100, 100, f)])
    return [e.text for e in out + tr.flush()]


def test_in_a_folder_of_photos_one_read_is_a_pass_unless_min_reads_is_set():
    assert _photos_passes(TrackerConfig(), True, ["AB123CD"]) == ["AB123CD"]
    assert _photos_passes(TrackerConfig(), False, ["AB123CD"]) == []
    assert _photos_passes(TrackerConfig(min_reads=2), True, ["AB123CD"]) == []
    assert _photos_passes(TrackerConfig(min_reads=1), False, ["AB123CD"]) == ["AB123CD"]


def test_in_a_folder_of_photos_cars_taken_at_the_same_place_are_passes_of_their_own():
    # a trigger camera at a gate: every car at the same place, one photo each; a plate misread
    # in one of its photos still joins its pass by text
    cars = ["AB123CD", "KX70ZZP", "KX70ZZF", "WE5TR01"]
    assert _photos_passes(TrackerConfig(), True, cars) == ["AB123CD", "KX70ZZP", "WE5TR01"]


def test_min_confidence_and_clock_state_at_creation():
    clock = Clock()
    states = iter(["unsynced", "gps"])
    tr = PlateTracker(TrackerConfig(min_confidence=0.5), RULES, lambda t: None, lambda: next(states))
    for i in range(4):
        f = clock.frame()
        tr.update(f, [read("AB123CD", 100, 100, f, p=0.9), read("QQ1", 600, 100, f, p=0.3)])
    events = tr.flush()
    assert [(e.text, e.clock, e.location) for e in events] == [("AB123CD", "unsynced", None)]


def test_short_texts_are_not_plate_passes_unless_configured():
    def run(config):
        clock = Clock()
        tr = PlateTracker(config, RULES, lambda t: None, lambda: "ntp")
        for _ in range(4):
            f = clock.frame()
            tr.update(f, [read("AB123CD", 100, 100, f), read("AI", 600, 100, f)])
        return sorted(e.text for e in tr.flush())

    assert run(TrackerConfig()) == ["AB123CD"]
    assert run(TrackerConfig(min_text_length=2)) == ["AB123CD", "AI"]


def test_event_ids_are_uuid7_in_creation_order():
    clock = Clock()
    tr = make()
    texts = ["AB123CD", "XY987ZW", "KA05MN4321", "SB90TZI"]
    events = []
    for k, t in enumerate(texts):
        for _ in range(3):
            f = clock.frame()
            events += tr.update(f, [read(t, 100 + 200 * k, 100, f)])
        events += drain(tr, clock, 30)
    assert [e.text for e in events] == texts
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert all(len(i) == 36 and i[14] == "7" for i in ids)
    assert uuid7_time_ms(ids[0]) <= uuid7_time_ms(ids[-1])


def test_reads_without_text_extend_the_track_but_do_not_vote():
    clock = Clock()
    tr = make()
    for i in range(8):
        f = clock.frame()
        r = read("AB123CD", 100 + 10 * i, 100, f)
        if i % 2:
            r = replace(r, text="", chars=(), confidence=0.0)
        tr.update(f, [r])
    (ev,) = tr.flush()
    assert ev.text == "AB123CD" and ev.frame_count == 8 and ev.last_seen == clock.t(7)


def test_config_from_toml_mapping():
    cfg = from_mapping(TrackerConfig, {"max_gap_s": 2, "early_event": True}, "tracking")
    assert cfg.max_gap_s == 2.0 and cfg.early_event
    with pytest.raises(ConfigError, match=r"^tracking\.max_gap: unknown key \(did you mean 'max_gap_s'\?\)$"):
        from_mapping(TrackerConfig, {"max_gap": 2}, "tracking")
    with pytest.raises(ConfigError, match=r"^tracking\.min_reads: must be at least 1$"):
        from_mapping(TrackerConfig, {"min_reads": 0}, "tracking")


def test_car_parked_in_full_view_is_reported_after_max_wait_and_never_again():
    clock = Clock(fps=2)
    tr = make(TrackerConfig(max_wait_s=60.0))
    events, when = [], []
    for i in range(1200):  # ten minutes, never lost
        f = clock.frame()
        new = tr.update(f, [read("AB123CD", 500, 400, f)])
        when += [i] * len(new)
        events += new
    events += tr.flush()
    assert [e.text for e in events] == ["AB123CD"] and when == [120]
    assert events[0].first_seen == clock.t(0) and events[0].last_seen == clock.t(120)
    never = make(TrackerConfig(max_wait_s=0))
    clock = Clock(fps=2)
    for i in range(300):
        f = clock.frame()
        assert never.update(f, [read("AB123CD", 500, 400, f)]) == []
    (ev,) = never.flush()
    assert ev.frame_count == 300 and ev.last_seen == clock.t(299)


def test_second_track_of_a_car_still_in_view_is_not_a_new_event():
    clock = Clock(fps=2)
    tr = make()
    events = []
    for i in range(1200):  # parked in view for 10 minutes; reported after max_wait_s
        f = clock.frame()
        reads = [read("AB123CD", 500, 400, f)]
        if 960 <= i < 970:  # at minute 8 a mirror image of the plate is read elsewhere
            reads.append(read("AB123CD", 1500, 100, f))
        events += tr.update(f, reads)
    events += tr.flush()
    assert [e.text for e in events] == ["AB123CD"]
    assert tr.stats["tracks"] == 2 and tr.stats["suppressed"] == 1


@pytest.mark.parametrize("sure, expected", [(0.5, [("AB123CD", 20)]), (0.0, [("XX9", 4), ("AB123CD", 16)])])
def test_poor_early_reads_do_not_split_the_track_when_the_plate_comes_closer(sure, expected):
    clock = Clock()
    tr = make(TrackerConfig(conflict_min_confidence=sure))
    events = []
    for i in range(20):  # a shaky zooming camera: small and unreadable first, then sharp
        f = clock.frame()
        w = 40 * 1.1**i
        x = 600 - w / 2 + (0.7 * w if i % 2 else 0.0)
        r = read("XX9", x, 300, f, p=0.3, w=w, h=w / 4) if i < 4 else read(
            "AB123CD", x, 300, f, p=0.9, w=w, h=w / 4)
        events += tr.update(f, [r])
    events += tr.flush()
    assert [(e.text, e.frame_count) for e in events] == expected


def test_busy_road_with_noisy_reads_gives_one_correct_event_per_vehicle():
    """60 s of traffic: 25 vehicles, up to a few in view at once, crossing each other, with
    missed detections, wrong and hesitant characters, dropped characters and box jitter."""
    rng = np.random.default_rng(7)  # also checked with seeds 1-40
    letters, digits = "ABCDEFGHJKLMNPRSTVWXYZ", "0123456789"
    confusable = {"0": "O", "1": "I", "8": "B", "5": "S", "2": "Z", "B": "8", "S": "5", "Z": "2"}

    def plate():  # Italian layout: letters never I, O, Q, U
        pick = lambda s, n: "".join(rng.choice(list(s), n))  # noqa: E731
        return pick(letters, 2) + pick(digits, 3) + pick(letters, 2)

    fps, seconds = 25, 60
    vehicles = []
    for k in range(25):
        start = int(rng.uniform(0, seconds - 5) * fps)
        duration = int(rng.uniform(1.0, 4.0) * fps)
        lane = int(rng.integers(0, 3))
        direction = 1 if k % 2 else -1
        vehicles.append((plate(), start, duration, lane, direction))
    assert len({v[0] for v in vehicles}) == 25

    clock = Clock(fps=fps)
    tr = make(TrackerConfig())
    events = []
    for i in range(seconds * fps + 3 * fps):
        f = clock.frame()
        reads = []
        for text, start, duration, lane, direction in vehicles:
            if not start <= i < start + duration or rng.random() < 0.1:  # 10% missed
                continue
            u = (i - start) / duration
            x = 100 + 1000 * (u if direction > 0 else 1 - u) + rng.normal(0, 3)
            y = 250 + 120 * lane + 40 * u + rng.normal(0, 3)
            w = 90 + 40 * u
            chars = []
            for c in text:
                r = rng.random()
                if r < 0.05:
                    chars.append(CharConfidence(confusable.get(c, c), float(rng.uniform(0.4, 0.7))))
                elif r < 0.08:
                    chars.append(CharConfidence(str(rng.choice(list(letters + digits))), float(rng.uniform(0.3, 0.6))))
                else:
                    chars.append(CharConfidence(c, float(rng.uniform(0.85, 0.99))))
            if rng.random() < 0.03:
                del chars[int(rng.integers(0, len(chars)))]
            t = "".join(ch.c for ch in chars)
            reads.append(PlateRead(t, tuple(chars), min(ch.p for ch in chars),
                                   BoundingBox(x, y, w, w / 4.5), 0.9, f.seq))
        rng.shuffle(reads)
        events += tr.update(f, reads)
    events += tr.flush()
    assert sorted(e.text for e in events) == sorted(v[0] for v in vehicles)
    for e in events:
        text, start, duration, _, _ = next(v for v in vehicles if v[0] == e.text)
        assert clock.t(start) <= e.first_seen <= clock.t(start + 5)
        assert clock.t(start + duration - 6) <= e.last_seen < clock.t(start + duration)
        assert e.region is None and e.confidence > 0.5  # FR/IT layout: ambiguous


def _passes(tracker, clock, n: int) -> int:
    """n vehicle passes of two reads each, ended by two empty frames; returns the events."""
    events = 0
    for i in range(n):
        # consecutive texts differ everywhere (not repeats); 26 distinct ones, so the format
        # rules' cache of texts (bounded, 4096) is warm after the first passes
        text = "".join(chr(65 + i * k % 26) for k in (1, 3, 5, 7, 9, 11, 15))
        for _ in range(2):
            f = clock.frame()
            events += len(tracker.update(f, [read(text, 300, 300, f, p=0.95)]))
        for _ in range(3):
            events += len(tracker.update(clock.frame(), []))
    return events


def test_memory_stays_flat_per_event_with_repeat_suppression_off():
    """Issue 17, defect 5: with repeat_suppress_s = 0 every event was remembered (with its whole
    track) for a comparison that never happens."""
    import gc
    import tracemalloc

    clock = Clock()
    tracker = make(TrackerConfig(repeat_suppress_s=0, max_gap_frames=2, max_wait_s=0), locate=lambda t: None)
    tracemalloc.start()
    try:
        assert _passes(tracker, clock, 300) == 300
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        assert _passes(tracker, clock, 3000) == 3000
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64_000, f"{grown} bytes more after 3000 events"
    assert tracker.remembered_sightings == 0


def test_sightings_stay_bounded_with_repeat_suppression_on():
    clock = Clock()
    tracker = make(TrackerConfig(repeat_suppress_s=1.0, max_gap_frames=2, max_wait_s=0))
    assert _passes(tracker, clock, 2000) == 2000
    # one pass lasts 5 frames (0.2 s): a 1 s window holds ~5 plates, plus the 64 kept before pruning
    assert tracker.remembered_sightings <= 70
