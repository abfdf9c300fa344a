"""`edge collect`: the reference receiver that turns published reads into database rows.

    records.py     a received `edge.read/1` payload -> CollectedRead (validated, flat columns)
    ranges.py      per-device `seq` ranges: merging a new seq in, and the gaps between ranges
    store.py       the shared SQL (one row per event id, ranges, per-device counters, report)
    sqlite_store.py / pg_store.py   the two databases (PostgreSQL through psycopg 3, optional)
    subscriber.py  the MQTT side: QoS 1, persistent session, PUBACK only after the commit
    report.py      the per-device report (received, missing seq ranges, duplicates)

Nothing here is imported by the device's own code path (`edge run`).
"""

from edge.collect.records import BadRead, CollectedRead, parse_read
from edge.collect.store import StoreError, open_store

__all__ = ["BadRead", "CollectedRead", "StoreError", "open_store", "parse_read"]
