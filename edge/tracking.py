"""Plate tracker: group the reads of one vehicle pass, vote on the text, emit one event per pass.

How it works (per `update(frame, reads)`, O(open tracks x reads), no pixels needed):

1. **End tracks** that have had no read for `max_gap_s` (monotonic frame time; or for
   `max_gap_frames` updates when that is set). An ended track becomes an event (below).
2. **Associate** each read with an open track, greedily by score. A pair is allowed when the
   read's box is near where the track is expected now (its last box moved by its velocity):
   IoU >= `iou_min` or centre distance <= `max_center_distance` box widths, with box widths
   within `max_size_ratio`; or, when the read's text is similar to the track's text
   (>= `text_min_similarity`), within `text_max_center_distance` box widths and any size — so a
   fast plate, or a parked car under a panning and zooming camera, stays one track. A confident
   read whose text clearly differs (< `text_conflict_similarity`) from a track's text, read
   confidently at least twice, joins it only if the boxes overlap strongly (`conflict_iou`):
   two vehicles crossing stay apart, while garbage reads of a small, far plate do not split
   its track when it comes closer and reads well.
   Score = IoU + 0.5 * closeness + text similarity. Reads left over start new tracks.
   In a folder of photos (`photos=True`) only the similar-text rule joins: photos are seconds
   apart, and a trigger camera takes each car at the same place.
3. **Early event**: (optional, `early_event`) once `early_reads` reads of a track agree
   exactly with its current consensus text and the consensus confidence is at least
   `early_min_confidence`; and (by default) for any pass still in view `max_wait_s` after its
   first read — a parked car is reported after a minute, not when it finally drives away.

**Consensus** (when an event is made): reads are grouped by text length; each group's weight
is the sum of its reads' confidences. In each of the heaviest groups every position is voted
on, each read adding its character's confidence to that character. A position's confidence is
(the winner's share of that position's votes) x (mean confidence of the reads that voted for
it). The group's text then goes through the format rules (confusable fixes where a region's
layout makes them unambiguous), and its confidence is
``(group weight / all weight) x (weakest character's confidence)`` — the probability-like
figure a consumer can threshold. The heaviest group wins unless a lighter one fits a known
format and the heavier one does not (a miss costs a factor `format_miss_penalty`).
Candidates are the consensus of each length group plus the most frequent raw reads.

**Events**: one per vehicle pass, made when the track ends (or at `flush()`), with times from
the frames (first/last read, and the best read = the best view: sharpest, largest, most
confident, not cut by the picture's edge; `edge.sighting.view_score`), the best read's box and
frame, `locate(best_seen)` and `clock_state()` at creation, and a fresh UUIDv7. A track needs
`min_reads` reads, `min_confidence` and `min_text_length` characters to be emitted.

**Early-event semantics**: an event is one immutable record. A track that emitted an early
event (its times, frame count and best frame are those up to that moment) emits *nothing more*
when it ends, unless its final consensus text differs from the early one: then the final event
is emitted as well (a new record with its own id, the corrected text and the whole pass's
times). So a consumer receives one event per pass, or two when the early read turned out wrong.

**Parked cars**: a vehicle that stays visible is one track, however long. When a track would be
emitted with the same text (or one substitution away, for texts of 5+ characters) as an event
emitted or suppressed at about the same place whose vehicle was last seen less than
`repeat_suppress_s` before this track's first read, it is not emitted; the remembered sighting
is refreshed instead, so a car parked for hours, whose detection flickers, is reported once.
"Same place": both event locations within `repeat_suppress_m` metres when both are known
(a moving camera), otherwise the same camera is the same place; with
`repeat_suppress_same_box`, the boxes must also overlap or be near in the image. The price: a
car that really passes the same fixed camera twice within the window is reported once
(`repeat_suppress_s = 0` turns suppression off).

`stats` counts tracks, events, early events, suppressed repeats and discarded tracks (for health).

Call `update` for every frame, with an empty `reads` when nothing was read (or the motion gate
skipped detection), so tracks end on time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from edge.formats import FormatRules
from edge.ids import uuid7
from edge.records import BoundingBox, Candidate, CharConfidence, Frame, GeoFix, PlateEvent, PlateRead
from edge.sighting import view_score
from edge.travel import Sample, TravelEstimator, thin

__all__ = ["PlateTracker", "TrackerConfig"]

_RETRY_NS = 250_000_000  # after an early event was not yet possible, wait this long to retry


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """`[tracking]` section. Distances are in box widths, times in seconds."""

    iou_min: float = 0.05
    max_center_distance: float = 1.5  # from the motion-predicted box, in box widths
    max_size_ratio: float = 2.5  # box width ratio allowed for a geometry-only match
    text_min_similarity: float = 0.6  # text this close widens the gate ...
    text_max_center_distance: float = 8.0  # ... to this many box widths, any size
    text_conflict_similarity: float = 0.3  # text this different needs ...
    conflict_iou: float = 0.5  # ... this much overlap to join an established track,
    conflict_min_confidence: float = 0.5  # when both were read this confidently (mean char p)
    max_gap_s: float = 1.0  # a track ends after this long without a read
    max_gap_frames: int = 0  # ... or after this many updates without a read (0 = time only)
    # Fewer reads: not a plate pass, no event. Unset: 2, or 1 for a folder of photos, where a
    # vehicle is often in one photo only (a trigger camera, a parking patrol's pictures).
    min_reads: int | None = None
    # A pass whose consensus is this unsure, or this short, is a detector false positive
    # (a sign, a window) far more often than a plate: measured on the fixture video, such
    # tracks read 1-2 characters at confidence 0.10-0.32 while real passes read >= 0.35.
    min_confidence: float = 0.25  # events below this confidence are dropped
    min_text_length: int = 3  # shorter consensus texts are dropped (1-2 char vanity plates too)
    early_event: bool = False
    early_reads: int = 5  # reads agreeing with the consensus before the early event
    early_min_confidence: float = 0.6
    max_wait_s: float = 60.0  # a pass still in view after this long is reported now (0 = never)
    repeat_suppress_s: float = 300.0  # parked cars: same text, same place, within this window
    repeat_suppress_m: float = 30.0
    repeat_suppress_same_box: bool = False
    format_miss_penalty: float = 0.5
    max_candidates: int = 5
    max_variants: int = 32  # distinct raw texts remembered per track
    max_tracks: int = 64  # open tracks; beyond this the stalest is ended

    def __post_init__(self) -> None:
        for name in ("iou_min", "text_min_similarity", "text_conflict_similarity", "conflict_iou",
                     "conflict_min_confidence",
                     "min_confidence", "early_min_confidence", "format_miss_penalty"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: must be between 0 and 1")
        for name in ("max_center_distance", "text_max_center_distance", "max_gap_s", "max_wait_s",
                     "repeat_suppress_s", "repeat_suppress_m"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative")
        if self.max_size_ratio < 1.0:
            raise ValueError("max_size_ratio: must be at least 1")
        for name in ("min_reads", "min_text_length", "early_reads", "max_candidates", "max_variants",
                     "max_tracks"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        if self.max_gap_frames < 0:
            raise ValueError("max_gap_frames: must not be negative")


# ----------------------------------------------------------------------------- track state


class _LengthGroup:
    __slots__ = ("weight", "count", "votes")

    def __init__(self, length: int) -> None:
        self.weight = 0.0
        self.count = 0
        self.votes: list[dict[str, list[float]]] = [{} for _ in range(length)]  # c -> [sum p, n]


class _Track:
    __slots__ = (
        "first_utc", "first_mono", "last_utc", "last_mono", "last_update", "box", "cx", "cy",
        "vx", "vy", "reads", "groups", "variants", "key_text", "key_weight", "best_read",
        "best_utc", "best_score", "total_weight", "early_text", "suppressed", "serial", "next_check",
        "samples", "frame_size",
    )

    def __init__(self, frame: Frame, read: PlateRead, update_no: int, serial: int) -> None:
        self.serial = serial
        self.first_utc = frame.t_utc
        self.first_mono = frame.t_mono_ns
        self.last_utc = frame.t_utc
        self.last_mono = frame.t_mono_ns
        self.last_update = update_no
        self.box = read.box
        self.cx, self.cy = read.box.center
        self.vx = 0.0  # px per second
        self.vy = 0.0
        self.reads = 0
        self.groups: dict[int, _LengthGroup] = {}
        self.variants: dict[str, list[float]] = {}  # text -> [weight, count]
        self.key_text = ""
        self.key_weight = -1.0
        self.best_read: PlateRead = read
        self.best_utc = frame.t_utc
        self.best_score = -1.0
        self.total_weight = 0.0
        self.early_text: str | None = None
        self.suppressed = False
        self.next_check = 0  # monotonic ns before which no early event is attempted
        self.samples: list[Sample] = []  # box over time, for the direction of travel (edge.travel)
        self.frame_size = (frame.image.shape[1], frame.image.shape[0])

    def add(self, frame: Frame, read: PlateRead, update_no: int, max_variants: int) -> None:
        box = read.box
        cx, cy = box.center
        if self.reads:
            dt = (frame.t_mono_ns - self.last_mono) / 1e9
            if dt > 0:
                vx, vy = (cx - self.cx) / dt, (cy - self.cy) / dt
                if self.reads == 1:
                    self.vx, self.vy = vx, vy
                else:
                    self.vx = 0.5 * self.vx + 0.5 * vx
                    self.vy = 0.5 * self.vy + 0.5 * vy
        self.box, self.cx, self.cy = box, cx, cy
        self.samples = thin(self.samples)
        self.samples.append(Sample(frame.t_mono_ns / 1e9, cx, cy, box.w, box.h, read.text))
        self.last_utc = frame.t_utc
        self.last_mono = frame.t_mono_ns
        self.last_update = update_no
        self.reads += 1
        score = view_score(read)
        if score > self.best_score:
            self.best_read, self.best_utc, self.best_score = read, frame.t_utc, score
        text = read.text
        if not text:
            return
        weight = read.confidence if read.confidence > 0 else 1e-3
        self.total_weight += weight
        n = len(text)
        group = self.groups.get(n)
        if group is None:
            group = self.groups[n] = _LengthGroup(n)
        group.weight += weight
        group.count += 1
        chars = read.chars if len(read.chars) == n else None
        for i, c in enumerate(text):
            p = chars[i].p if chars is not None else weight
            slot = group.votes[i].get(c)
            if slot is None:
                group.votes[i][c] = [p, 1.0]
            else:
                slot[0] += p
                slot[1] += 1.0
        var = self.variants.get(text)
        if var is None:
            if len(self.variants) >= max_variants:  # forget the lightest, keep memory bounded
                lightest = min(self.variants, key=lambda t: self.variants[t][0])
                if lightest == self.key_text:
                    self.key_weight = -1.0
                del self.variants[lightest]
            var = self.variants[text] = [0.0, 0.0]
        var[0] += weight
        var[1] += 1.0
        if var[0] > self.key_weight or text == self.key_text:
            self.key_text, self.key_weight = text, var[0]


@dataclass(frozen=True, slots=True)
class _Consensus:
    text: str
    confidence: float
    chars: tuple[CharConfidence, ...]
    region: str | None
    candidates: tuple[Candidate, ...]
    raw: str  # the voted text before the format rules


@dataclass(slots=True)
class _Sighting:
    """An emitted (or suppressed) plate, remembered for parked-car suppression."""

    text: str
    last_mono: int
    location: GeoFix | None
    box: BoundingBox
    track: _Track  # the track that made it: still being seen while it is open


@dataclass(frozen=True, slots=True)
class _Extent:
    """A box as association compares boxes: corners, width, area, centre."""

    x1: float
    y1: float
    x2: float
    y2: float
    w: float
    area: float
    cx: float
    cy: float


@dataclass(frozen=True, slots=True)
class _ReadBox(_Extent):
    """A read's box and text."""

    text: str
    confident: bool  # its mean character confidence is at least `conflict_min_confidence`

    @classmethod
    def of(cls, rd: PlateRead, sure: float) -> _ReadBox:
        b = rd.box
        ch = rd.chars
        mean_p = sum(c.p for c in ch) / len(ch) if ch else rd.confidence
        return cls(b.x, b.y, b.x + b.w, b.y + b.h, b.w, b.w * b.h,
                   b.x + b.w * 0.5, b.y + b.h * 0.5, rd.text, mean_p >= sure)


@dataclass(frozen=True, slots=True)
class _ExpectedBox(_Extent):
    """Where a track's plate is expected now (its last box moved by its velocity), with the
    track's text and whether that text is established (read twice, confidently): such a text
    is not given up for a clearly different one."""

    key: str
    established: bool

    @classmethod
    def of(cls, tr: _Track, now: int, sure: float) -> _ExpectedBox:
        dt = (now - tr.last_mono) * 1e-9
        pcx = tr.cx + tr.vx * dt
        pcy = tr.cy + tr.vy * dt
        pw, ph = tr.box.w, tr.box.h
        px1, py1 = pcx - pw * 0.5, pcy - ph * 0.5
        var = tr.variants.get(tr.key_text)
        established = var is not None and var[1] >= 2 and var[0] >= sure * var[1]
        return cls(px1, py1, px1 + pw, py1 + ph, pw, pw * ph, pcx, pcy, tr.key_text, established)


# ----------------------------------------------------------------------------- tracker


class PlateTracker:
    """Groups plate reads into vehicle passes and turns each pass into one `PlateEvent`."""

    def __init__(
        self,
        config: TrackerConfig,
        rules: FormatRules | None,
        locate: Callable[[datetime], GeoFix | None],
        clock_state: Callable[[], str],
        *,
        new_id: Callable[[], str] = uuid7,
        photos: bool = False,
        travel: TravelEstimator | None = None,
    ) -> None:
        """`photos`: the frames are a folder of photos, not video (see TrackerConfig.min_reads).
        `travel`: gives each event its direction (and speed, when calibrated); not for photos."""
        self.config = config
        self.photos = photos
        self.travel = None if photos else travel
        self.min_reads = config.min_reads if config.min_reads is not None else 1 if photos else 2
        self.rules = rules
        self._locate = locate
        self._clock_state = clock_state
        self._new_id = new_id
        self._tracks: list[_Track] = []
        self._sightings: list[_Sighting] = []
        self._updates = 0
        self._gap_ns = int(config.max_gap_s * 1e9)
        self._suppress_ns = int(config.repeat_suppress_s * 1e9)
        self._wait_ns = int(config.max_wait_s * 1e9)
        self.stats = {"tracks": 0, "events": 0, "early_events": 0, "suppressed": 0, "discarded": 0}

    @property
    def open_tracks(self) -> int:
        return len(self._tracks)

    def update(self, frame: Frame, reads: Sequence[PlateRead]) -> list[PlateEvent]:
        """Feed one frame's reads (possibly none); returns events of passes that ended."""
        self._updates += 1
        now = frame.t_mono_ns
        events: list[PlateEvent] = []
        # 1. end tracks whose gap is over (before associating: a late read starts a new pass)
        self._end_quiet_tracks(now, events)
        if not reads:
            return events
        # 2. associate greedily by score
        touched = self._associate(frame, reads, now)
        # 3. early events, and passes that stay in view (a parked car is reported after a while)
        if self.config.early_event or self._wait_ns:
            self._early_events(touched, now, events)
        # bound the number of open tracks: end the stalest
        if len(self._tracks) > self.config.max_tracks:
            self._tracks.sort(key=lambda t: t.last_mono)
            while len(self._tracks) > self.config.max_tracks:
                self._close(self._tracks.pop(0), events)
        return events

    def _end_quiet_tracks(self, now: int, events: list[PlateEvent]) -> None:
        """End the tracks with no read for `max_gap_s` (or `max_gap_frames` updates)."""
        if not self._tracks:
            return
        max_gap_frames = self.config.max_gap_frames
        keep = []
        for tr in self._tracks:
            if now - tr.last_mono > self._gap_ns or (
                max_gap_frames and self._updates - tr.last_update > max_gap_frames
            ):
                self._close(tr, events)
            else:
                keep.append(tr)
        self._tracks = keep

    def _associate(self, frame: Frame, reads: Sequence[PlateRead], now: int) -> list[_Track]:
        """Give each read to the open track it pairs with best (greedily, by score), start a track
        for each read left over; returns the tracks that got a read."""
        cfg = self.config
        tracks = self._tracks
        pairs = self._pairs(reads, now) if tracks else []
        used_t: set[int] = set()
        used_r: set[int] = set()
        touched: list[_Track] = []
        for _score, ti, ri in pairs:
            if ti in used_t or ri in used_r:
                continue
            used_t.add(ti)
            used_r.add(ri)
            tr = tracks[ti]
            tr.add(frame, reads[ri], self._updates, cfg.max_variants)
            touched.append(tr)
        for ri, rd in enumerate(reads):
            if ri in used_r:
                continue
            tr = _Track(frame, rd, self._updates, self.stats["tracks"])
            tr.add(frame, rd, self._updates, cfg.max_variants)
            self._tracks.append(tr)
            touched.append(tr)
            self.stats["tracks"] += 1
        return touched

    def _pairs(self, reads: Sequence[PlateRead], now: int) -> list[tuple[float, int, int]]:
        """(score, track index, read index) of every allowed pair, best first."""
        sure = self.config.conflict_min_confidence
        boxes = [_ReadBox.of(rd, sure) for rd in reads]
        pairs: list[tuple[float, int, int]] = []
        for ti, tr in enumerate(self._tracks):
            expected = _ExpectedBox.of(tr, now, sure)
            for ri, box in enumerate(boxes):
                score = self._pair_score(expected, box)
                if score is not None:
                    pairs.append((score, ti, ri))
        pairs.sort(reverse=True)
        return pairs

    def _pair_score(self, t: _ExpectedBox, r: _ReadBox) -> float | None:
        """How well a read fits a track (IoU + 0.5 x closeness + text similarity), or None when
        the pair is not allowed (the gates of the module docstring, step 2)."""
        cfg = self.config
        near, far = cfg.max_center_distance, cfg.text_max_center_distance
        reach = far if far > near else near
        scale = t.w if t.w > r.w else r.w
        if scale < 1.0:
            scale = 1.0
        dist = math.hypot(r.cx - t.cx, r.cy - t.cy) / scale
        if dist > reach:
            return None
        ix = (t.x2 if t.x2 < r.x2 else r.x2) - (t.x1 if t.x1 > r.x1 else r.x1)
        iy = (t.y2 if t.y2 < r.y2 else r.y2) - (t.y1 if t.y1 > r.y1 else r.y1)
        inter = ix * iy if ix > 0 and iy > 0 else 0.0
        union = t.area + r.area - inter
        iou = inter / union if union > 0 else 0.0
        if r.text and t.key:
            sim = 1.0 if r.text == t.key else _similarity(r.text, t.key)
        else:
            sim = -1.0
        small = t.w if t.w < r.w else r.w
        geo_ok = (scale <= cfg.max_size_ratio * small) and (iou >= cfg.iou_min or dist <= near)
        text_ok = sim >= cfg.text_min_similarity and dist <= far
        # Photos are seconds apart, and a trigger camera takes every car at the same place:
        # only the same text (a plate in the next photo too) continues a track there.
        if not (text_ok if self.photos else geo_ok or text_ok):
            return None
        if t.established and r.confident and 0.0 <= sim < cfg.text_conflict_similarity \
                and iou < cfg.conflict_iou:
            return None
        gate = far if text_ok else near
        closeness = 1.0 - dist / gate if gate > 0 and dist < gate else 0.0
        return iou + 0.5 * closeness + (sim if sim > 0 else 0.0)

    def _early_events(self, touched: list[_Track], now: int, events: list[PlateEvent]) -> None:
        """The early event of each touched track whose reads agree (`early_event`), and the event
        of each pass still in view after `max_wait_s`."""
        cfg = self.config
        for tr in touched:
            if tr.early_text is not None or tr.suppressed or now < tr.next_check:
                continue
            stays = bool(self._wait_ns) and now - tr.first_mono >= self._wait_ns \
                and tr.reads >= self.min_reads
            consistent = False
            if cfg.early_event and tr.reads >= cfg.early_reads:
                var = tr.variants.get(tr.key_text)
                consistent = var is not None and var[1] >= cfg.early_reads
            if not (consistent or stays):
                continue
            cons = self._consensus(tr)
            if (stays and cons.confidence >= cfg.min_confidence) or (
                consistent and cons.raw == tr.key_text
                and cons.confidence >= cfg.early_min_confidence
            ):
                ev = self._emit(tr, cons, early=True)
                if ev is not None:
                    events.append(ev)
            if tr.early_text is None and not tr.suppressed:
                tr.next_check = now + _RETRY_NS  # not yet: look again a little later

    def flush(self) -> list[PlateEvent]:
        """End every open track (end of video, shutdown) and return their events."""
        events: list[PlateEvent] = []
        for tr in sorted(self._tracks, key=lambda t: t.first_mono):
            self._close(tr, events)
        self._tracks = []
        return events

    # -- events

    def _close(self, tr: _Track, events: list[PlateEvent]) -> None:
        if tr.suppressed:
            self._refresh(tr, tr.early_text or tr.key_text)
            return
        if tr.reads < self.min_reads or tr.total_weight <= 0:
            self.stats["discarded"] += 1
            return
        cons = self._consensus(tr)
        if tr.early_text is not None:
            self._refresh(tr, tr.early_text)
            if cons.text == tr.early_text:
                return  # the early event already told it
        ev = self._emit(tr, cons, early=False)
        if ev is not None:
            events.append(ev)

    def _emit(self, tr: _Track, cons: _Consensus, *, early: bool) -> PlateEvent | None:
        cfg = self.config
        if cons.confidence < cfg.min_confidence or len(cons.text) < max(1, cfg.min_text_length):
            if not early:
                self.stats["discarded"] += 1
            return None
        location = self._locate(tr.best_utc)
        if self._is_repeat(tr, cons.text, location):
            tr.suppressed = True
            self.stats["suppressed"] += 1
            return None
        best = tr.best_read
        event = PlateEvent(
            id=self._new_id(),
            text=cons.text,
            confidence=cons.confidence,
            chars=cons.chars,
            candidates=cons.candidates,
            region=cons.region,
            first_seen=tr.first_utc,
            last_seen=tr.last_utc,
            best_seen=tr.best_utc,
            clock=self._clock_state(),
            location=location,
            frame_count=tr.reads,
            best_frame_seq=best.frame_seq,
            box=best.box,
            crop=best.crop,  # None unless the pipeline keeps crops ([privacy] image)
            context=best.context,  # None unless [vehicle] colour is on
        )
        if self.travel is not None:
            samples = _own_samples(tr.samples, cons.raw)
            direction = self.travel.direction(samples, tr.frame_size)
            event = replace(event, direction=direction,
                            speed=self.travel.speed(samples, tr.frame_size, cons.region, direction))
        if early:
            tr.early_text = cons.text
            self.stats["early_events"] += 1
        self.stats["events"] += 1
        self._remember(_Sighting(cons.text, tr.last_mono, location, best.box, tr))
        return event

    @property
    def remembered_sightings(self) -> int:
        """Plates kept for parked-car suppression (bounded: none when suppression is off)."""
        return len(self._sightings)

    def _remember(self, sighting: _Sighting) -> None:
        if self._suppress_ns <= 0:
            return  # nothing to compare with later: keeping it would only grow memory
        self._sightings.append(sighting)
        if len(self._sightings) > 64:  # forget what no open track can repeat any more
            oldest = min((t.first_mono for t in self._tracks), default=sighting.last_mono)
            horizon = min(oldest, sighting.track.first_mono) - self._suppress_ns
            self._sightings = [
                s for s in self._sightings if max(s.last_mono, s.track.last_mono) >= horizon
            ]

    def _is_repeat(self, tr: _Track, text: str, location: GeoFix | None) -> bool:
        if self._suppress_ns <= 0:
            return False
        cfg = self.config
        for s in self._sightings:
            if s.track is tr:
                continue
            last = s.last_mono if s.last_mono > s.track.last_mono else s.track.last_mono
            if tr.first_mono - last > self._suppress_ns:
                continue
            if not _same_text(text, s.text):
                continue
            if location is not None and s.location is not None:
                if _distance_m(location, s.location) > cfg.repeat_suppress_m:
                    continue
            if cfg.repeat_suppress_same_box:
                b = tr.best_read.box
                near = math.hypot(b.center[0] - s.box.center[0], b.center[1] - s.box.center[1])
                if b.iou(s.box) < 0.3 and near > cfg.max_center_distance * max(b.w, s.box.w):
                    continue
            s.last_mono = max(last, tr.last_mono)
            return True
        return False

    def _refresh(self, tr: _Track, text: str) -> None:
        for s in self._sightings:
            if _same_text(text, s.text) and tr.first_mono - s.last_mono <= self._suppress_ns:
                s.last_mono = max(s.last_mono, tr.last_mono)

    # -- consensus

    def _consensus(self, tr: _Track) -> _Consensus:
        cfg = self.config
        total = tr.total_weight or 1.0
        scored: list[tuple[float, str, float, tuple[CharConfidence, ...], str | None, str]] = []
        for length, group in sorted(tr.groups.items(), key=lambda kv: -kv[1].weight)[:3]:
            text_chars: list[str] = []
            confs: list[CharConfidence] = []
            for votes in group.votes:
                c, (w, k) = max(votes.items(), key=lambda kv: kv[1][0])
                all_w = sum(v[0] for v in votes.values())
                p = (w / all_w if all_w > 0 else 0.0) * (w / k)
                text_chars.append(c)
                confs.append(CharConfidence(c, min(max(p, 0.0), 1.0)))
            raw = text = "".join(text_chars)
            chars = tuple(confs)
            region = None
            fits = True
            if self.rules is not None:
                m = self.rules.best(text, chars)
                text, chars, region = m.text, m.chars or chars, m.region
                fits = m.region is not None
            share = group.weight / total
            conf = share * min((c.p for c in chars), default=0.0)
            rank = conf * (1.0 if fits else cfg.format_miss_penalty)
            scored.append((rank, text, conf, chars, region, raw))
        scored.sort(key=lambda s: -s[0])
        _, text, conf, chars, region, raw = scored[0]
        cands: dict[str, float] = {}
        for _, t, c, _, _, _ in scored:
            cands[t] = max(cands.get(t, 0.0), c)
        for t, (w, k) in sorted(tr.variants.items(), key=lambda kv: -kv[1][0])[: cfg.max_candidates]:
            c = (w / total) * (w / k)
            if c > cands.get(t, -1.0):
                cands[t] = c
        ordered = sorted(((t, c) for t, c in cands.items() if t != text), key=lambda tc: -tc[1])
        candidates = (Candidate(text, conf),) + tuple(
            Candidate(t, c) for t, c in ordered[: cfg.max_candidates - 1]
        )
        return _Consensus(text, conf, chars, region, candidates, raw)


# ----------------------------------------------------------------------------- helpers


def _similarity(a: str, b: str) -> float:
    """1 - edit distance / longer length (Hamming when the lengths are equal: cheap)."""
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if la == lb:
        return 1.0 - sum(map(str.__ne__, a, b)) / la
    if abs(la - lb) > 3:
        return 0.0
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        ca = a[i - 1]
        for j in range(1, lb + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != b[j - 1]))
        prev = cur
    return 1.0 - prev[lb] / max(la, lb)


def _own_samples(samples: list[Sample], text: str) -> list[Sample]:
    """The samples of reads like the event's text: where two passes crossed, a track can hold a
    few reads of the other plate, which moved another way (all of them if too few are left)."""
    own = [s for s in samples if _similarity(s.text, text) >= 0.5]
    return own if len(own) >= 3 else samples


def _same_text(a: str, b: str) -> bool:
    if a == b:
        return True
    if len(a) != len(b) or len(a) < 5:
        return False
    return sum(1 for x, y in zip(a, b) if x != y) <= 1


def _distance_m(a: GeoFix, b: GeoFix) -> float:
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))
