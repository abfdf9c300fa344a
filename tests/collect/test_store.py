"""The collector's database on real SQLite and a real PostgreSQL: one row per id, seq ranges
merged in any order, gaps and duplicates in the report, bad payloads refused."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from edge.collect import BadRead, StoreError, open_store, parse_read
from edge.collect.ranges import format_ranges, gaps
from edge.collect.report import as_json, as_table
from tests.helpers import collected_read, make_event


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    target = str(tmp_path / "reads.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = open_store(target)
    yield s
    s.close()


def test_seqs_in_any_order_merge_into_ranges_and_the_report_shows_the_holes(store):
    seqs = [s for s in range(1, 41) if s not in (7, 8, 9, 30)]
    random.Random(4).shuffle(seqs)
    for i in range(0, len(seqs), 5):
        store.write([collected_read("gate-1", s) for s in seqs[i:i + 5]], "c1")
    store.write([collected_read("gate-2", s) for s in (3, 4)], "c1")
    [one, two] = store.report()
    assert (one.device, one.received, one.duplicates, one.first_seq, one.last_seq) == ("gate-1", 36, 0, 1, 40)
    assert one.missing == ((7, 9), (30, 30)) and one.missing_count == 4
    assert two.missing == ((1, 2),) and two.received == 2  # before the first received is missing too
    store.write([collected_read("gate-1", 30), collected_read("gate-1", 8), collected_read("gate-1", 7), collected_read("gate-1", 9)], "c1")
    assert store.report()[0].missing == () and store.count() == 42


def test_an_id_is_stored_once_and_its_redeliveries_are_counted(store):
    first = [collected_read("d", s) for s in (1, 2, 3)]
    assert store.write(first, "c1").stored == 3
    result = store.write(first[1:] + [first[1], collected_read("d", 4)], "c2")  # same ids again, one twice in a batch
    assert (result.stored, result.duplicates) == (1, 3)
    [r] = store.report()
    assert (r.received, r.duplicates, r.missing, r.seq_reused) == (4, 3, (), 0)
    assert store.count() == 4


def test_a_new_id_on_a_seq_already_stored_is_kept_and_counted_as_reused(store):
    store.write([collected_read("d", 1), collected_read("d", 2)], "c1")
    store.write([collected_read("d", 2, text="ZZ99ZZZ")], "c1")  # a device whose outbox was deleted starts at 1 again
    [r] = store.report()
    assert (r.received, r.seq_reused, r.missing) == (3, 1, ())
    assert "1 seq reused" in as_table([r], "x")


def test_location_time_and_payload_columns(store):
    from datetime import datetime, timezone

    from edge.records import GeoFix

    fix = GeoFix(52.3702, 4.8952, 2.0, 1.5, 90.0, 3.2, datetime(2026, 11, 27, 20, 0, tzinfo=timezone.utc), "gpsd")
    r = collected_read("d", 5, event=make_event("XY12ABC", location=fix))
    store.write([r], "c1")
    sql = ("SELECT plate, lat, lon, alt, accuracy_m, heading_deg, speed_mps, location_source, time_best, "
           "received_by, payload FROM edge_reads")
    if store.kind == "postgresql":
        import psycopg

        with psycopg.connect(store.target) as conn:
            row = conn.execute(sql).fetchone()
    else:
        row = sqlite3.connect(store.target).execute(sql).fetchone()
    plate, lat, lon, alt, acc, heading, speed, source, best, by, body = row
    assert (plate, lat, lon, alt, acc, heading, speed, source, by) == \
        ("XY12ABC", 52.3702, 4.8952, 2.0, 3.2, 90.0, 1.5, "gpsd", "c1")
    assert str(best).startswith("2026-11-27") and "20:00:00.623" in str(best).replace("T", " ")
    body = body if isinstance(body, dict) else json.loads(body)
    assert body["id"] == r.id and body["location"]["source"] == "gpsd"


def test_indexes_on_plate_device_and_time(tmp_path):
    s = open_store(str(tmp_path / "r.db"))
    s.close()
    names = {row[0] for row in sqlite3.connect(tmp_path / "r.db").execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'edge_reads'")}
    assert {"edge_reads_plate", "edge_reads_device", "edge_reads_time"} <= names


@pytest.mark.parametrize("body, message", [
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"schema": "other/1"}', "schema 'other/1'"),
    (b'{"schema": "edge.read/1", "id": "nope"}', "id 'nope' is not a UUID"),
    (b'{"schema": "edge.read/1", "id": "0192f6a8-3c1e-7b2a-9d4e-5f6a7b8c9d0e", "seq": 0}', "seq 0"),
    (b'{"schema": "edge.read/1", "id": "0192f6a8-3c1e-7b2a-9d4e-5f6a7b8c9d0e", "seq": 1}', "device.id is missing"),
    (b'{"schema": "edge.read/1", "id": "0192f6a8-3c1e-7b2a-9d4e-5f6a7b8c9d0e", "seq": 1, "device": {"id": "d"},'
     b' "time": {"best": "yesterday"}}', "time.best 'yesterday'"),
])
def test_a_payload_that_cannot_be_stored_says_why_in_one_line(body, message):
    with pytest.raises(BadRead, match=message) as info:
        parse_read("alpr/d/read", body)
    assert "\n" not in str(info.value) and str(info.value).startswith("alpr/d/read: ")


def test_gaps_and_their_text():
    assert gaps([(1, 3), (5, 5), (9, 12)]) == [(4, 4), (6, 8)]
    assert gaps([(4, 6)]) == [(1, 3)] and gaps([]) == []
    assert format_ranges([(4, 4), (6, 8)]) == "4, 6-8" and format_ranges([]) == "none"
    assert format_ranges([(i, i) for i in range(1, 40, 2)], limit=3) == "1, 3, 5, ... (+17 more)"


def test_report_as_json_and_an_empty_database(tmp_path):
    s = open_store(str(tmp_path / "r.db"))
    assert s.report() == [] and "no events stored yet" in as_table([], s.describe())
    s.write([collected_read("d", 2)], "c")
    data = json.loads(as_json(s.report()))
    assert data["missing_total"] == 1 and data["devices"][0]["missing"] == [[1, 1]]
    s.close()


def test_unusable_targets_give_one_line_errors(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        open_store(str(tmp_path / "no" / "such" / "dir.db"))
    with pytest.raises(StoreError, match="is a folder"):
        open_store(str(tmp_path))
    with pytest.raises(StoreError, match="sqlite:///path"):
        open_store("sqlite:relative.db")
    assert open_store(f"sqlite:///{tmp_path}/x.db").target == f"{tmp_path}/x.db"


def test_an_unreachable_postgresql_names_the_server_without_the_password():
    pytest.importorskip("psycopg")
    from tests.helpers import free_port

    with pytest.raises(StoreError) as info:
        open_store(f"postgresql://edge:s3cret@127.0.0.1:{free_port()}/x")
    text = str(info.value)
    assert "cannot connect to PostgreSQL" in text and "s3cret" not in text and "\n" not in text
