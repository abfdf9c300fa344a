"""Writes NMEA 0183 logs for tests: a vehicle driving a known track, with correct checksums
computed here (independently of edge.gps.nmea), so the parser can be checked against truth."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

R = 6371008.8
KNOT = 1852.0 / 3600.0


def cs(body: str) -> str:
    x = 0
    for b in body.encode("ascii"):
        x ^= b
    return f"${body}*{x:02X}"


def ddmm(value: float, lat: bool, decimals: int = 6) -> tuple[str, str]:
    hemi = ("N" if value >= 0 else "S") if lat else ("E" if value >= 0 else "W")
    v = abs(value)
    deg = int(v)
    minutes = (v - deg) * 60.0
    text = f"{minutes:0{3 + decimals}.{decimals}f}"
    if text.startswith("60"):
        deg, text = deg + 1, f"{0:0{3 + decimals}.{decimals}f}"
    return (f"{deg:02d}" if lat else f"{deg:03d}") + text, hemi


def hms(t: datetime) -> str:
    return t.strftime("%H%M%S") + f".{t.microsecond // 10000:02d}"


@dataclass
class Truth:
    t: datetime
    lat: float
    lon: float
    alt: float
    speed: float
    heading: float


def drive(start: datetime, n: int, dt: float = 1.0, lat0: float = 52.5, lon0: float = 13.4,
          speed: float = 15.0, heading0: float = 80.0, turn_dps: float = 5.0,
          alt0: float = 40.0) -> list[Truth]:
    """A vehicle at constant speed, turning gently (heading crosses 360/0 when asked)."""
    out = []
    lat, lon, heading = lat0, lon0, heading0
    for i in range(n):
        t = start + timedelta(seconds=i * dt)
        out.append(Truth(t, lat, lon, alt0 + 0.1 * i, speed, heading % 360.0))
        d = speed * dt
        h = math.radians(heading)
        lat += math.degrees(d * math.cos(h) / R)
        lon += math.degrees(d * math.sin(h) / (R * math.cos(math.radians(lat))))
        heading += turn_dps * dt
    return out


def rmc(p: Truth, talker: str = "GN", status: str = "A") -> str:
    la, ns = ddmm(p.lat, True)
    lo, ew = ddmm(p.lon, False)
    return cs(f"{talker}RMC,{hms(p.t)},{status},{la},{ns},{lo},{ew},{p.speed / KNOT:.3f},"
              f"{p.heading:.2f},{p.t:%d%m%y},,,A")


def gga(p: Truth, talker: str = "GN", quality: int = 1, hdop: float = 0.9,
        alt: bool = True) -> str:
    la, ns = ddmm(p.lat, True)
    lo, ew = ddmm(p.lon, False)
    a = f"{p.alt:.1f}" if alt else ""
    return cs(f"{talker}GGA,{hms(p.t)},{la},{ns},{lo},{ew},{quality},12,{hdop:.1f},{a},M,47.0,M,,")


def gll(p: Truth, talker: str = "GN") -> str:
    la, ns = ddmm(p.lat, True)
    lo, ew = ddmm(p.lon, False)
    return cs(f"{talker}GLL,{la},{ns},{lo},{ew},{hms(p.t)},A,A")


def gsa(talker: str = "GN", mode: int = 3, hdop: float = 0.9) -> str:
    return cs(f"{talker}GSA,A,{mode},05,07,13,15,18,,,,,,,,1.6,{hdop:.1f},1.3")


def vtg(p: Truth, talker: str = "GN") -> str:
    return cs(f"{talker}VTG,{p.heading:.2f},T,,M,{p.speed / KNOT:.3f},N,{p.speed * 3.6:.3f},K,A")


def gst(p: Truth, s_lat: float, s_lon: float, talker: str = "GN") -> str:
    return cs(f"{talker}GST,{hms(p.t)},1.0,{s_lat:.2f},{s_lon:.2f},0.0,{s_lat:.2f},{s_lon:.2f},3.0")


def zda(t: datetime, talker: str = "GN") -> str:
    return cs(f"{talker}ZDA,{hms(t)},{t:%d},{t:%m},{t:%Y},00,00")


def gsv() -> str:
    return cs("GPGSV,1,1,04,05,45,120,40,07,30,200,38,13,60,080,44,15,10,300,30")


def epoch_lines(p: Truth, i: int) -> list[str]:
    """A u-blox-like cycle; the talkers vary (GN/GP/GB/GL) as multi-GNSS receivers do."""
    talker = ("GN", "GP", "GN", "GN")[i % 4]
    lines = [rmc(p, talker), vtg(p, talker), gga(p, talker, hdop=0.9), gsa("GN"), gsa("GB"),
             gsv()]
    if i % 2 == 0:
        lines.append(gst(p, 1.2, 0.8, talker))
    lines.append(gll(p, talker))
    return lines


def start_time() -> datetime:
    return datetime(2025, 6, 14, 10, 0, 0, tzinfo=timezone.utc)
