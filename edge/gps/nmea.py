"""A small, defensive NMEA 0183 reader: bytes in, one fix per receiver epoch out.

Why our own parser rather than pynmea2: pynmea2 is not a runtime dependency (numpy, opencv,
onnxruntime, paho-mqtt only), it parses one sentence at a time (assembling an epoch from
GGA+RMC+GSA+GST+VTG, resolving the date for GGA-only receivers, midnight rollover and
GPS-week rollover would still be ours to write), and it raises on several kinds of malformed
input that real receivers emit. What we need is ~400 lines, tested against 67 real captures
(scripts/check_nmea_corpus.py).

Robustness rules (real receivers send all of these):
- A line may carry binary noise before the sentence, or two sentences glued together: each
  `$`/`!` starts a candidate sentence; anything that is not printable ASCII is rejected.
- Bad checksum -> skipped and counted (`stats.bad_checksum`), never an exception.
- No checksum at all (some old receivers, e.g. HP 58534A) -> accepted only when the sentence
  has every field its type needs (a truncated line is rejected), counted `no_checksum`;
  `require_checksum=True` rejects them.
- Missing or unparsable fields -> that value is None; the fix uses what is left.
- Talker IDs are ignored for decoding (GP, GN, GL, GA, GB, BD, QZ, GI, ... all decode alike).

Epochs: a receiver sends several sentences per fix (RMC, GGA, GSA, GST, VTG, GLL, ZDA...).
Sentences carrying a time of day (RMC, GGA, GNS, GLL) open an epoch; a new time closes the
previous one, which is then emitted as a `NmeaFix`. Timeless sentences (GSA, VTG, HDT) belong
to the epoch open when they arrive. GST and ZDA carry a time but do not open epochs (some
receivers stamp ZDA with a different second): GST attaches to the epoch with its time, ZDA
only supplies the date. The date comes from RMC or ZDA; for epochs without one (GGA-only
receivers) it is carried forward from the last known date, with midnight rollover; epochs
seen before any date are held (bounded) and dated once a date arrives. A live receiver that
never sends a date is dated from `date_hint` (the system clock); a log without any date
gives no fixes (counted `undated_dropped`) rather than invented dates. Dates before 1990
(an unset receiver clock) are ignored; with `min_date`, dates before it are moved forward
by 1024-week steps (receivers hit by the GPS week-number rollover).

Accuracy (`accuracy_m`): a ~95 % horizontal error radius (the same sense as gpsd's `eph`).
From GST's per-axis 1-sigma errors: 2.45 * sqrt((s_lat^2 + s_lon^2) / 2). Otherwise
HDOP x UERE, with `uere_m` = 5 m by default (a modern single-frequency receiver).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

KNOT_MPS = 1852.0 / 3600.0
KMH_MPS = 1000.0 / 3600.0
GPS_WEEK_ROLLOVER = timedelta(weeks=1024)
GST_95 = 2.4477  # sqrt(-2 ln 0.05): 95 % radius of a circular 2-D Gaussian, in sigmas
DEFAULT_UERE_M = 5.0

# Minimum field count (after the address field) for a sentence without checksum to be trusted.
_MIN_FIELDS = {"RMC": 11, "GGA": 14, "GLL": 6, "GNS": 12, "GSA": 17, "VTG": 8, "ZDA": 6,
               "GST": 8, "HDT": 2}


@dataclass
class NmeaStats:
    lines: int = 0
    sentences: int = 0  # checksum-valid (or accepted checksumless) sentences
    bad_checksum: int = 0
    no_checksum: int = 0
    malformed: int = 0  # not printable ASCII, unparsable checksum field, too few fields
    unknown: int = 0  # valid sentence of a type we do not decode (GSV, proprietary, AIS...)
    bad_fields: int = 0  # sentences with a field we could not parse (value dropped)
    fixes: int = 0
    no_fix_epochs: int = 0
    undated_dropped: int = 0
    week_rollover_fixed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True, slots=True)
class Sentence:
    talker: str  # "GP", "GN", ... ("P" for proprietary)
    kind: str  # "RMC", "GGA", ...
    fields: tuple[str, ...]  # fields after the address field
    checksummed: bool


@dataclass(frozen=True, slots=True)
class NmeaFix:
    """One receiver epoch merged from its sentences."""

    time: datetime  # UTC
    lat: float
    lon: float
    alt: float | None  # metres above mean sea level (GGA/GNS)
    speed_mps: float | None
    heading_deg: float | None  # course over ground, true
    accuracy_m: float | None  # ~95 % horizontal radius
    mode: int  # 2 = 2D, 3 = 3D
    quality: int | None  # GGA fix quality (1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float, 6 DR)
    satellites: int | None
    hdop: float | None
    sentences: tuple[str, ...]  # kinds merged into this fix, e.g. ("GGA", "RMC")
    received_ns: int | None = None  # monotonic ns when the epoch's first sentence was read


def checksum(body: str) -> int:
    """XOR of the characters between `$` and `*`."""
    value = 0
    for ch in body.encode("ascii", "replace"):
        value ^= ch
    return value


def with_checksum(body: str) -> str:
    """`GPGGA,...` -> `$GPGGA,...*hh` (handy for writing test logs)."""
    body = body.lstrip("$")
    return f"${body}*{checksum(body):02X}"


def _printable(text: str) -> bool:
    return all(" " <= ch <= "~" for ch in text)


def split_candidates(line: str) -> list[str]:
    """Every `$...`/`!...` piece of a line (noise before the first one is dropped)."""
    out = []
    start = -1
    for i, ch in enumerate(line):
        if ch in "$!":
            if start >= 0:
                out.append(line[start:i])
            start = i
    if start >= 0:
        out.append(line[start:])
    return out


def parse_sentence(text: str, stats: NmeaStats | None = None,
                   require_checksum: bool = False) -> Sentence | None:
    """One sentence (starting with `$` or `!`), or None when it must not be trusted."""
    st = stats if stats is not None else NmeaStats()
    text = text.strip(" \r\n\t\x00")
    if len(text) < 6 or text[0] not in "$!":
        st.malformed += 1
        return None
    star = text.rfind("*")
    checksummed = star >= 0
    if checksummed:
        body, given = text[1:star], text[star + 1:].strip()
        if len(given) != 2 or not _printable(body):
            st.malformed += 1
            return None
        try:
            expected = int(given, 16)
        except ValueError:
            st.malformed += 1
            return None
        if checksum(body) != expected:
            st.bad_checksum += 1
            return None
    else:
        body = text[1:]
        if require_checksum or not _printable(body):
            st.malformed += 1
            return None
    parts = body.split(",")
    address = parts[0]
    if not address.isalnum() or not address.isascii():
        st.malformed += 1
        return None
    if address.startswith("P"):
        talker, kind = "P", address[1:]
    elif len(address) == 5:
        talker, kind = address[:2], address[2:]
    else:
        talker, kind = address[:-3], address[-3:]
    fields = tuple(parts[1:])
    if not checksummed:
        need = _MIN_FIELDS.get(kind)
        if need is None or len(fields) < need:
            st.malformed += 1
            return None
        st.no_checksum += 1
    st.sentences += 1
    return Sentence(talker, kind, fields, checksummed)


# ---- field decoders: return None for empty/invalid, never raise ------------------------

def _f(fields: tuple[str, ...], i: int) -> str:
    return fields[i].strip() if i < len(fields) else ""


def _float(text: str) -> float | None:
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _int(text: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        v = _float(text)
        return int(v) if v is not None and v == int(v) else None


def parse_tod(text: str) -> tuple[int, int] | None:
    """hhmmss[.sss] -> (seconds of day, microseconds)."""
    if len(text) < 6 or not text[:6].isdigit():
        return None
    hh, mm, ss = int(text[0:2]), int(text[2:4]), int(text[4:6])
    if hh > 23 or mm > 59 or ss > 60:
        return None
    frac = 0
    if len(text) > 6:
        if text[6] != "." or not (text[7:].isdigit() or text[7:] == ""):
            return None
        digits = (text[7:] + "000000")[:6]
        frac = int(digits)
    return hh * 3600 + mm * 60 + min(ss, 59), frac  # a leap second is folded into :59


def _coord(value: str, hemi: str, max_deg: int) -> tuple[float, int] | None:
    """ddmm.mmmm + N/S/E/W -> (degrees, number of decimals). None if invalid."""
    if not value or hemi not in ("N", "S", "E", "W"):
        return None
    if (max_deg == 90) != (hemi in ("N", "S")):
        return None
    try:
        raw = float(value)
    except ValueError:
        return None
    if not math.isfinite(raw) or raw < 0:
        return None
    deg = int(raw // 100)
    minutes = raw - deg * 100
    if minutes >= 60.0 or deg > max_deg:
        return None
    out = deg + minutes / 60.0
    if out > max_deg:
        return None
    decimals = len(value.split(".", 1)[1]) if "." in value else 0
    return (-out if hemi in ("S", "W") else out), decimals


def _latlon(fields, i_lat: int) -> tuple[float, float, int] | None:
    lat = _coord(_f(fields, i_lat), _f(fields, i_lat + 1), 90)
    lon = _coord(_f(fields, i_lat + 2), _f(fields, i_lat + 3), 180)
    if lat is None or lon is None:
        return None
    return lat[0], lon[0], min(lat[1], lon[1])


def _ddmmyy(text: str) -> date | None:
    if len(text) != 6 or not text.isdigit():
        return None
    dd, mm, yy = int(text[0:2]), int(text[2:4]), int(text[4:6])
    year = 2000 + yy if yy < 80 else 1900 + yy
    try:
        return date(year, mm, dd)
    except ValueError:
        return None


# ---- epoch assembly --------------------------------------------------------------------

_POS_PRIORITY = {"GGA": 4, "GNS": 3, "RMC": 2, "GLL": 1}


@dataclass
class _Epoch:
    tod: tuple[int, int]
    date: date | None = None
    pos: tuple[float, float] | None = None
    pos_rank: tuple[int, int] = (-1, -1)
    invalid: bool = False  # a sentence said "no fix" for this epoch
    alt: float | None = None
    speed: float | None = None
    course: float | None = None
    heading_true: float | None = None  # HDT (vehicle heading), used if no course
    quality: int | None = None
    sats: int | None = None
    hdop: float | None = None
    gsa_mode: int | None = None
    gst_sigma: tuple[float, float] | None = None
    kinds: list[str] = field(default_factory=list)
    received_ns: int | None = None
    emitted: bool = False


class NmeaParser:
    """Feed bytes (or lines); get `NmeaFix`es. Never raises on input content."""

    def __init__(self, *, uere_m: float = DEFAULT_UERE_M, require_checksum: bool = False,
                 min_date: date | None = None, max_undated: int = 64,
                 date_hint: Callable[[], datetime] | None = None) -> None:
        self.uere_m = uere_m
        # For live receivers that never send a date (GGA-only): the current UTC time; an
        # epoch's time of day is placed on the day that puts it nearest to that instant.
        self.date_hint = date_hint
        self.require_checksum = require_checksum
        self.min_date = min_date  # dates before this are GPS-week-rollover victims
        self.stats = NmeaStats()
        self._buf = b""
        self._epoch: _Epoch | None = None
        self._idle_closed: _Epoch | None = None  # closed by close_epoch(); may be reopened
        self._now_ns: int | None = None
        self._date_ref: tuple[date, int] | None = None  # (date, seconds of day) last known
        self._undated: deque[_Epoch] = deque(maxlen=max_undated)
        self._gst: dict[tuple[int, int], tuple[float, float]] = {}
        self._last_gsa: int | None = None
        self._last_hdop: float | None = None

    # -- input ---------------------------------------------------------------------------
    def feed(self, data: bytes, t_mono_ns: int | None = None) -> list[NmeaFix]:
        """Raw bytes from a serial port or file; partial lines are kept for the next call.
        `t_mono_ns`: when these bytes were read (stamps the epochs they open)."""
        if t_mono_ns is not None:
            self._now_ns = t_mono_ns
        self._buf += data
        out: list[NmeaFix] = []
        # Split on CR or LF; keep the unterminated tail.
        lines = self._buf.replace(b"\r", b"\n").split(b"\n")
        self._buf = lines.pop()
        if len(self._buf) > 4096:  # binary junk without newlines: do not grow forever
            self._buf = self._buf[-256:]
        for raw in lines:
            out.extend(self.feed_line(raw))
        return out

    def feed_line(self, raw: bytes | str) -> list[NmeaFix]:
        if isinstance(raw, bytes):
            raw = raw.decode("latin-1")
        if not raw.strip():
            return []
        self.stats.lines += 1
        out: list[NmeaFix] = []
        for piece in split_candidates(raw):
            sentence = parse_sentence(piece, self.stats, self.require_checksum)
            if sentence is not None:
                out.extend(self.handle(sentence))
        return out

    def feed_lines(self, lines: Iterable[bytes | str]) -> Iterator[NmeaFix]:
        for line in lines:
            yield from self.feed_line(line)

    def close_epoch(self) -> list[NmeaFix]:
        """The line went quiet: emit the open epoch now rather than when the next one starts
        (a live reader calls this after ~0.2 s of silence). A sentence of the same epoch
        arriving later reopens it, and it is emitted again, completed."""
        if self._epoch is None:
            return []
        ep, self._epoch = self._epoch, None
        self._idle_closed = ep
        return self._close(ep)

    def _current(self) -> _Epoch | None:
        if self._epoch is None and self._idle_closed is not None:
            self._epoch, self._idle_closed = self._idle_closed, None
        return self._epoch

    def flush(self) -> list[NmeaFix]:
        """End of input: emit the epoch still open (and any tail bytes)."""
        out: list[NmeaFix] = []
        if self._buf:
            tail, self._buf = self._buf, b""
            out.extend(self.feed_line(tail))
        if self._epoch is not None:
            out.extend(self._close(self._epoch))
            self._epoch = None
        self.stats.undated_dropped += len(self._undated)
        self._undated.clear()
        return out

    # -- sentences -----------------------------------------------------------------------
    def handle(self, s: Sentence) -> list[NmeaFix]:
        decoder = getattr(self, f"_do_{s.kind}", None)
        if decoder is None or s.talker == "P":
            self.stats.unknown += 1
            return []
        return decoder(s.fields)

    def _open(self, tod: tuple[int, int] | None) -> tuple[list[NmeaFix], _Epoch | None]:
        if tod is None:
            return [], self._epoch
        out: list[NmeaFix] = []
        if self._epoch is None and self._idle_closed is not None:
            if self._idle_closed.tod == tod:
                self._epoch = self._idle_closed
            self._idle_closed = None
        if self._epoch is None or self._epoch.tod != tod:
            if self._epoch is not None:
                out = self._close(self._epoch)
            self._epoch = _Epoch(tod, received_ns=self._now_ns)
            sigma = self._gst.pop(tod, None)
            if sigma is not None:
                self._epoch.gst_sigma = sigma
        return out, self._epoch

    def _set_pos(self, ep: _Epoch, kind: str, ll: tuple[float, float, int] | None,
                 valid: bool) -> None:
        ep.kinds.append(kind)
        if not valid:
            ep.invalid = True
            return
        if ll is None:
            return
        rank = (ll[2], _POS_PRIORITY[kind])
        if rank > ep.pos_rank:
            ep.pos, ep.pos_rank = (ll[0], ll[1]), rank

    def _do_RMC(self, f) -> list[NmeaFix]:
        out, ep = self._open(parse_tod(_f(f, 0)))
        if ep is None:
            return out
        status = _f(f, 1)
        mode = _f(f, 11)  # NMEA 2.3+: A/D/E/F/R valid, N invalid
        valid = status == "A" and mode not in ("N", "S")
        self._set_pos(ep, "RMC", _latlon(f, 2), valid)
        d = _ddmmyy(_f(f, 8))
        if d is not None and d.year >= 1990:  # 1980-01-06 etc.: an unset receiver clock
            ep.date = d
        if valid:
            speed = _float(_f(f, 6))
            course = _float(_f(f, 7))
            if speed is not None and speed >= 0:
                ep.speed = speed * KNOT_MPS
            if course is not None and 0 <= course <= 360:
                ep.course = course % 360.0
        return out

    def _do_GGA(self, f) -> list[NmeaFix]:
        out, ep = self._open(parse_tod(_f(f, 0)))
        if ep is None:
            return out
        quality = _int(_f(f, 5))
        # 0 = no fix, 7 = manual input, 8 = simulator: not a position we measured
        valid = quality is not None and quality not in (0, 7, 8)
        self._set_pos(ep, "GGA", _latlon(f, 1), valid)
        if not valid:
            return out
        ep.quality = quality
        ep.sats = _int(_f(f, 6))
        hdop = _float(_f(f, 7))
        if hdop is not None and 0 < hdop < 99:
            ep.hdop = hdop
        alt = _float(_f(f, 8))
        if alt is not None and -1000 < alt < 100000:
            ep.alt = alt
        return out

    def _do_GNS(self, f) -> list[NmeaFix]:
        out, ep = self._open(parse_tod(_f(f, 0)))
        if ep is None:
            return out
        modes = _f(f, 5)
        valid = bool(modes) and any(m not in "N" for m in modes)
        self._set_pos(ep, "GNS", _latlon(f, 1), valid)
        if valid:
            if ep.sats is None:
                ep.sats = _int(_f(f, 6))
            hdop = _float(_f(f, 7))
            if ep.hdop is None and hdop is not None and 0 < hdop < 99:
                ep.hdop = hdop
            alt = _float(_f(f, 8))
            if ep.alt is None and alt is not None and -1000 < alt < 100000:
                ep.alt = alt
        return out

    def _do_GLL(self, f) -> list[NmeaFix]:
        out, ep = self._open(parse_tod(_f(f, 4)))
        if ep is None:
            return out  # old GLL without time: cannot be placed in time
        status = _f(f, 5)
        mode = _f(f, 6)
        valid = status == "A" and mode not in ("N", "S")
        self._set_pos(ep, "GLL", _latlon(f, 0), valid)
        return out

    def _do_GSA(self, f) -> list[NmeaFix]:
        mode = _int(_f(f, 1))
        if mode in (1, 2, 3):
            self._last_gsa = mode
            if self._current() is not None:
                self._epoch.gsa_mode = mode
        hdop = _float(_f(f, 15))
        if hdop is not None and 0 < hdop < 99:
            self._last_hdop = hdop
            if self._epoch is not None and self._epoch.hdop is None:
                self._epoch.hdop = hdop
        return []

    def _do_VTG(self, f) -> list[NmeaFix]:
        ep = self._current()
        if ep is None:
            return []
        # NMEA 2.3+: course,T,course,M,knots,N,kmh,K,mode ; very old: course,course,knots,kmh
        if len(f) >= 8 and _f(f, 1) in ("T", ""):
            course, knots, kmh, mode = _float(_f(f, 0)), _float(_f(f, 4)), _float(_f(f, 6)), _f(f, 8)
        else:
            course, knots, kmh, mode = _float(_f(f, 0)), _float(_f(f, 2)), _float(_f(f, 3)), ""
        if mode == "N":
            return []
        if ep.course is None and course is not None and 0 <= course <= 360:
            ep.course = course % 360.0
        if ep.speed is None:
            if kmh is not None and kmh >= 0:
                ep.speed = kmh * KMH_MPS
            elif knots is not None and knots >= 0:
                ep.speed = knots * KNOT_MPS
        return []

    def _do_HDT(self, f) -> list[NmeaFix]:
        heading = _float(_f(f, 0))
        if self._current() is not None and heading is not None and 0 <= heading <= 360:
            self._epoch.heading_true = heading % 360.0
        return []

    def _do_GST(self, f) -> list[NmeaFix]:
        tod = parse_tod(_f(f, 0))
        s_lat, s_lon = _float(_f(f, 5)), _float(_f(f, 6))
        if tod is None or s_lat is None or s_lon is None or s_lat < 0 or s_lon < 0:
            return []
        ep = self._epoch or self._idle_closed
        if ep is not None and ep.tod == tod:
            self._current().gst_sigma = (s_lat, s_lon)
        else:
            self._gst[tod] = (s_lat, s_lon)
            while len(self._gst) > 4:
                self._gst.pop(next(iter(self._gst)))
        return []

    def _do_ZDA(self, f) -> list[NmeaFix]:
        tod = parse_tod(_f(f, 0))
        dd, mm, yyyy = _int(_f(f, 1)), _int(_f(f, 2)), _int(_f(f, 3))
        if tod is None or dd is None or mm is None or yyyy is None:
            return []
        try:
            d = date(yyyy, mm, dd)
        except ValueError:
            return []
        if yyyy < 1990:
            return []
        self._set_date_ref(d, tod[0])
        return self._date_pending()

    # -- closing an epoch ----------------------------------------------------------------
    def _set_date_ref(self, d: date, sod: int) -> None:
        self._date_ref = (d, sod)

    def _resolve_date(self, sod: int) -> date | None:
        if self._date_ref is None:
            return None
        d, ref_sod = self._date_ref
        if sod < ref_sod - 43200:
            return d + timedelta(days=1)  # crossed midnight since the last dated sentence
        if sod > ref_sod + 43200:
            return d - timedelta(days=1)
        return d

    def _hinted_date(self, sod: int) -> date | None:
        try:
            now = self.date_hint()
        except Exception:
            return None
        now_sod = now.hour * 3600 + now.minute * 60 + now.second
        d = now.date()
        if sod - now_sod > 43200:
            return d - timedelta(days=1)
        if now_sod - sod > 43200:
            return d + timedelta(days=1)
        return d

    def _date_pending(self) -> list[NmeaFix]:
        out: list[NmeaFix] = []
        while self._undated and self._date_ref is not None:
            ep = self._undated.popleft()
            out.extend(self._close(ep))
        return out

    def _close(self, ep: _Epoch) -> list[NmeaFix]:
        out: list[NmeaFix] = []
        if ep.date is not None:
            self._set_date_ref(ep.date, ep.tod[0])
            out.extend(self._date_pending())
        d = ep.date or self._resolve_date(ep.tod[0])
        if d is None and self.date_hint is not None and ep.pos is not None:
            d = self._hinted_date(ep.tod[0])
        if d is None:
            if ep.pos is not None and not ep.invalid:
                if len(self._undated) == self._undated.maxlen:
                    self.stats.undated_dropped += 1
                self._undated.append(ep)
            return out
        if ep.pos is None or ep.invalid:  # any sentence of the epoch saying "no fix" wins
            self.stats.no_fix_epochs += 1
            return out
        mode = ep.gsa_mode if ep.gsa_mode is not None else self._last_gsa
        if mode not in (2, 3):  # unknown, or GSA's "no fix" contradicted by a valid position
            mode = 3 if ep.alt is not None else 2
        sod, usec = ep.tod
        t = datetime(d.year, d.month, d.day, tzinfo=timezone.utc) + timedelta(
            seconds=sod, microseconds=usec)
        if self.min_date is not None and t.date() < self.min_date:
            while t.date() < self.min_date:
                t += GPS_WEEK_ROLLOVER
            self.stats.week_rollover_fixed += 1
        hdop = ep.hdop if ep.hdop is not None else self._last_hdop
        if ep.gst_sigma is not None and (ep.gst_sigma[0] > 0 or ep.gst_sigma[1] > 0):
            s_lat, s_lon = ep.gst_sigma
            accuracy = GST_95 * math.sqrt((s_lat * s_lat + s_lon * s_lon) / 2.0)
        elif hdop is not None:
            accuracy = hdop * self.uere_m
        else:
            accuracy = None
        heading = ep.course if ep.course is not None else ep.heading_true
        if not ep.emitted:
            self.stats.fixes += 1
            ep.emitted = True
        out.append(NmeaFix(
            time=t, lat=ep.pos[0], lon=ep.pos[1], alt=ep.alt if mode == 3 else None,
            speed_mps=ep.speed, heading_deg=heading, accuracy_m=accuracy, mode=mode,
            quality=ep.quality, satellites=ep.sats, hdop=hdop, sentences=tuple(ep.kinds),
            received_ns=ep.received_ns))
        return out


def parse_bytes(data: bytes, **kwargs) -> tuple[list[NmeaFix], NmeaStats]:
    """Parse a whole capture; returns its fixes in order and the parser's counters."""
    parser = NmeaParser(**kwargs)
    fixes = parser.feed(data)
    fixes.extend(parser.flush())
    return fixes, parser.stats

