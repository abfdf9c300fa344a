#!/usr/bin/env python3
"""Check our NMEA reader against gpsd on a corpus of real receiver captures.

For every NAME.log in the corpus directory (default /work/shared/nmea, or $NMEA_CORPUS) that
has a NAME.log.chk (gpsd's JSON output for it), parse the log with edge.gps.nmea and compare
our fixes with gpsd's TPV reports that carry a time and a position (mode >= 2):

- matched: gpsd TPV times for which we produced a fix with the same time;
- missed: gpsd TPV times we produced no fix for; extra: our fix times gpsd never reported;
- max/median position error (metres, haversine) and max altitude difference on matched times
  (against gpsd's last TPV for that time);
- tod_only: gpsd times matched only on time of day (gpsd got the date wrong, see below);
- date_shift: matched times whose date differs by a multiple of 1024 GPS weeks (gpsd 3.x moves
  dates it considers too old forward by 1024 weeks; we keep the receiver's date by default).

Any exception in the parser is a failure (exit status 1). Never commit the corpus files.
Usage: python scripts/check_nmea_corpus.py [DIR] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.gps.nmea import parse_bytes  # noqa: E402

ROLLOVER_S = 1024 * 7 * 86400


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


def time_key(t: datetime) -> int:
    """Milliseconds since the GPS epoch, modulo 1024 weeks (rollover-insensitive)."""
    gps0 = datetime(1980, 1, 6, tzinfo=timezone.utc)
    ms = round((t - gps0) / timedelta(milliseconds=1))
    return ms % (ROLLOVER_S * 1000)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def gpsd_tpvs(chk: Path) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for line in chk.read_text("latin-1").splitlines():
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if obj.get("class") != "TPV" or "time" not in obj or "lat" not in obj:
            continue
        if obj.get("mode", 0) < 2:
            continue
        t = parse_time(obj["time"])
        obj["_t"] = t
        out[time_key(t)] = obj  # the last report for a time is gpsd's final merge
    return out


def check_one(log: Path, verbose: bool) -> dict:
    data = log.read_bytes()
    fixes, stats = parse_bytes(data)
    ours: dict[int, object] = {}
    for fix in fixes:
        ours[time_key(fix.time)] = fix
    chk = log.with_name(log.name + ".chk")
    theirs = gpsd_tpvs(chk) if chk.exists() else {}
    matched = sorted(set(ours) & set(theirs))
    errors = []
    alt_diffs = []
    speed_diffs: list[float] = []
    track_diffs: list[float] = []
    date_shift = 0
    worst = None
    for k in matched:
        a, b = ours[k], theirs[k]
        e = haversine_m(a.lat, a.lon, b["lat"], b["lon"])
        errors.append(e)
        if worst is None or e > worst[0]:
            worst = (e, a, b)
        if a.time != b["_t"]:
            date_shift += 1
        if a.speed_mps is not None and isinstance(b.get("speed"), (int, float)):
            speed_diffs.append(abs(a.speed_mps - b["speed"]))
        if a.heading_deg is not None and isinstance(b.get("track"), (int, float)):
            track_diffs.append(abs((a.heading_deg - b["track"] + 180) % 360 - 180))
        if a.alt is not None and b.get("altMSL", b.get("alt")) is not None:
            alt_diffs.append(abs(a.alt - b.get("altMSL", b.get("alt"))))
    # gpsd sometimes dates the first fix of a capture a day off (seen in bt451.log: ZDA says
    # 2009-12-09, gpsd says 2029-07-26 = +1024 weeks +1 day): match those on time of day.
    tod_only = 0
    day_ms = 86400 * 1000
    spare = {k % day_ms: k for k in set(ours) - set(theirs)}
    for k in sorted(set(theirs) - set(ours)):
        ko = spare.get(k % day_ms)
        if ko is not None:
            e = haversine_m(ours[ko].lat, ours[ko].lon, theirs[k]["lat"], theirs[k]["lon"])
            if e < 1.0:
                tod_only += 1
                errors.append(e)
                ours[k] = ours.pop(ko)
    row = {
        "log": log.name, "tod_only": tod_only, "our_fixes": len(ours), "gpsd_tpv_times": len(theirs),
        "matched": len(matched), "missed": len(set(theirs) - set(ours)),
        "extra": len(set(ours) - set(theirs)),
        "max_err_m": max(errors) if errors else None,
        "median_err_m": statistics.median(errors) if errors else None,
        "max_alt_diff_m": max(alt_diffs) if alt_diffs else None,
        "max_speed_diff_mps": max(speed_diffs) if speed_diffs else None,
        "max_track_diff_deg": max(track_diffs) if track_diffs else None,
        "date_shift": date_shift, "stats": stats.as_dict(),
    }
    if verbose:
        missed = sorted(set(theirs) - set(ours))[:3]
        extra = sorted(set(ours) - set(theirs))[:3]
        row["examples_missed"] = [theirs[k]["time"] for k in missed]
        row["examples_extra"] = [ours[k].time.isoformat() for k in extra]
        if worst is not None and worst[0] > 1.0:
            row["worst"] = {"ours": [worst[1].time.isoformat(), worst[1].lat, worst[1].lon],
                            "gpsd": [worst[2]["time"], worst[2]["lat"], worst[2]["lon"]]}
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default=os.environ.get("NMEA_CORPUS", "/work/shared/nmea"))
    ap.add_argument("--verbose", "-v", action="store_true", help="per-log details")
    ap.add_argument("--json", action="store_true", help="one JSON line per log")
    args = ap.parse_args(argv)
    logs = sorted(Path(args.corpus).glob("*.log"))
    if not logs:
        print(f"no *.log files in {args.corpus}", file=sys.stderr)
        return 2
    failures = 0
    tot = {"logs": 0, "our_fixes": 0, "gpsd_tpv_times": 0, "matched": 0, "missed": 0,
           "extra": 0, "date_shift": 0, "tod_only": 0, "bad_checksum": 0, "malformed": 0}
    max_err = 0.0
    max_alt = 0.0
    max_speed = 0.0
    max_track = 0.0
    all_err: list[float] = []
    for log in logs:
        try:
            row = check_one(log, args.verbose)
        except Exception:  # the point of this script: report, never crash
            failures += 1
            print(f"EXCEPTION in {log.name}:\n{traceback.format_exc()}", file=sys.stderr)
            continue
        tot["logs"] += 1
        for k in ("our_fixes", "gpsd_tpv_times", "matched", "missed", "extra", "date_shift", "tod_only"):
            tot[k] += row[k]
        tot["bad_checksum"] += row["stats"]["bad_checksum"]
        tot["malformed"] += row["stats"]["malformed"]
        if row["max_err_m"] is not None:
            max_err = max(max_err, row["max_err_m"])
        if row["max_speed_diff_mps"] is not None:
            max_speed = max(max_speed, row["max_speed_diff_mps"])
        if row["max_track_diff_deg"] is not None:
            max_track = max(max_track, row["max_track_diff_deg"])
        if row["max_alt_diff_m"] is not None:
            max_alt = max(max_alt, row["max_alt_diff_m"])
        if args.json:
            print(json.dumps(row, default=str))
        else:
            err = "-" if row["max_err_m"] is None else f"{row['max_err_m']:.3f}"
            print(f"{row['log']:40s} fixes={row['our_fixes']:4d} gpsd={row['gpsd_tpv_times']:4d} "
                  f"matched={row['matched']:4d} missed={row['missed']:3d} extra={row['extra']:3d} "
                  f"max_err_m={err:>8s} date_shift={row['date_shift']:3d} "
                  f"badsum={row['stats']['bad_checksum']} malformed={row['stats']['malformed']}")
            if args.verbose:
                for k in ("examples_missed", "examples_extra", "worst"):
                    if row.get(k):
                        print(f"    {k}: {row[k]}")
    print(f"TOTAL logs={tot['logs']}/{len(logs)} exceptions={failures} our_fixes={tot['our_fixes']} "
          f"gpsd_tpv_times={tot['gpsd_tpv_times']} matched={tot['matched']} missed={tot['missed']} "
          f"extra={tot['extra']} max_pos_err_m={max_err:.3f} max_alt_diff_m={max_alt:.3f} "
          f"max_speed_diff_mps={max_speed:.3f} max_track_diff_deg={max_track:.2f} "
          f"date_shift(1024wk)={tot['date_shift']} matched_on_time_of_day_only={tot['tod_only']} bad_checksum={tot['bad_checksum']} "
          f"malformed={tot['malformed']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
