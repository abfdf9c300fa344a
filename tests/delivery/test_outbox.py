"""The durable outbox on real SQLite files: gap-free seq across restarts and crashes, bounds with
counted drops, clear errors for unwritable/full storage, and the `edge outbox` command."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.cli import main as edge_main
from edge.delivery.event_json import EventEncoder
from edge.delivery.durable import DurableSink
from edge.delivery.outbox import Outbox, OutboxConfig, OutboxError, OutboxFullError
from tests.helpers import REPO, make_event

ENC = EventEncoder("dev1", "cam", {"detector": "d", "reader": "r"})


def fill(outbox: Outbox, n: int) -> list[int]:
    return [outbox.append(make_event(f"AB{i:04d}"), ENC).seq for i in range(n)]


def test_append_commits_seq_inside_payload_and_is_durable_in_wal(tmp_path):
    db = tmp_path / "state" / "outbox.db"  # the state directory is created
    with Outbox(OutboxConfig(path=db)) as ob:
        stored = ob.append(make_event(), ENC)
        assert stored.seq == 1 and stored.topic == "alpr/dev1/read"
        assert json.loads(stored.payload)["seq"] == 1 and json.loads(stored.payload)["id"] == stored.id
        # Another connection (another process would see the same) sees the committed row at once.
        other = sqlite3.connect(db)
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("SELECT seq, id FROM events").fetchall() == [(1, stored.id)]
        other.close()
        assert ob._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_seq_gap_free_across_restarts_and_purges(tmp_path):
    db = tmp_path / "outbox.db"
    with Outbox(path=db) as ob:
        assert fill(ob, 5) == [1, 2, 3, 4, 5]
    with Outbox(path=db) as ob:
        assert fill(ob, 3) == [6, 7, 8]
        ob.mark_sent([6, 7, 8, 1, 2, 3, 4, 5])
        assert ob.purge(sent_only=False) == 8
    with Outbox(path=db) as ob:
        assert fill(ob, 2) == [9, 10]  # never reused, even after every row was deleted
        assert ob.stats()["last_seq"] == 10


def test_pending_mark_sent_and_kept_acknowledged_rows(tmp_path):
    with Outbox(OutboxConfig(keep_sent=3), path=tmp_path / "o.db") as ob:
        fill(ob, 10)
        assert [r.seq for r in ob.pending(4)] == [1, 2, 3, 4]
        assert ob.mark_sent([2, 1, 3]) == 3
        assert ob.mark_sent(3) == 0  # already acknowledged: not counted twice
        assert [r.seq for r in ob.pending(3)] == [4, 5, 6]
        ob.mark_sent(range(4, 9))
        st = ob.stats()
        assert st["depth"] == 2 and st["sent"] == 8 and st["dropped"] == 0
        assert st["rows"] == 2 + 3  # 2 unsent + the newest 3 acknowledged kept for replay
        assert ob.mark_unsent() == 3  # replay
        assert [r.seq for r in ob.pending(10)] == [6, 7, 8, 9, 10]


def test_bounded_by_rows_drops_oldest_and_counts_persistently(tmp_path):
    db = tmp_path / "o.db"
    with Outbox(OutboxConfig(max_rows=5), path=db) as ob:
        fill(ob, 12)
        assert [r.seq for r in ob.pending(100)] == [8, 9, 10, 11, 12]  # the newest survive
        assert ob.stats()["dropped"] == 7
    with Outbox(OutboxConfig(max_rows=5), path=db) as ob:
        st = ob.stats()
        assert st["dropped"] == 7 and st["depth"] == 5 and st["last_seq"] == 12


def test_bounded_by_age(tmp_path):
    with Outbox(OutboxConfig(max_age_s=0.3), path=tmp_path / "o.db") as ob:
        fill(ob, 3)
        time.sleep(0.4)
        assert ob.enforce_limits() == 3
        fill(ob, 1)
        st = ob.stats()
        assert st["dropped"] == 3 and st["depth"] == 1 and st["oldest_age_s"] < 0.3


def test_age_survives_a_wall_clock_set_after_boot(tmp_path):
    """A Pi boots with no RTC: rows stored before NTP/GPS set the clock must not look decades
    old. Age comes from the monotonic clock within a boot, from the wall clock across boots
    (unless it was unset then)."""
    db = tmp_path / "o.db"
    hour = 3600.0
    with Outbox(OutboxConfig(max_age_s=hour), path=db) as ob:
        fill(ob, 3)
        raw = sqlite3.connect(db)
        now = time.time()
        with raw:
            raw.execute("UPDATE events SET boot='previous-boot', created=100 WHERE seq=1")  # clock unset then
            raw.execute("UPDATE events SET boot='previous-boot', created=? WHERE seq=2", (now - 2 * hour,))
            raw.execute("UPDATE events SET created=100 WHERE seq=3")  # this boot; the clock was set later
        raw.close()
        assert ob.enforce_limits() == 1
        assert [r.seq for r in ob.pending(10)] == [1, 3]
        st = ob.stats()
        assert st["dropped"] == 1 and st["oldest_age_s"] is None  # seq 1: age unknowable
        ob.mark_sent(1)
        assert ob.stats()["oldest_age_s"] < 60  # seq 3: monotonic age, not 56 years


def test_bounded_by_size_drops_oldest_to_make_room(tmp_path):
    big = b"\xff\xd8" + os.urandom(20_000) + b"\xff\xd9"  # ~27 kB of base64 per event
    with Outbox(OutboxConfig(max_mb=0.5, keep_sent=0), path=tmp_path / "o.db") as ob:
        seqs = [ob.append(make_event(crop_jpeg=big), ENC).seq for _ in range(60)]
        assert seqs == list(range(1, 61))  # every append succeeded
        st = ob.stats()
        assert st["dropped"] > 0 and st["depth"] + st["dropped"] == 60
        assert st["db_bytes"] <= 0.5 * 1024 * 1024
        assert ob.pending(1)[0].seq == st["dropped"] + 1  # the oldest went first


CHILD = r"""
import sys
sys.path.insert(0, sys.argv[2])
from edge.delivery.event_json import EventEncoder
from edge.delivery.outbox import Outbox
from tests.helpers import make_event
enc = EventEncoder("dev1", "cam", {})
ob = Outbox(path=sys.argv[1])
while True:
    s = ob.append(make_event(), enc)
    print(s.seq, s.id, flush=True)
"""


def test_sigkill_mid_append_loses_no_committed_event(tmp_path):
    """Kill -9 a process appending in a loop, three times: every seq it reported committed is
    in the file afterwards, seq stays gap-free and continues after the crash."""
    db = tmp_path / "o.db"
    reported: dict[int, str] = {}
    for _round in range(3):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(REPO)], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None
        for _ in range(40 + 17 * _round):
            seq, eid = proc.stdout.readline().split()
            reported[int(seq)] = eid
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for line in proc.stdout:  # lines printed before the kill landed
            if line.strip():
                seq, eid = line.split()
                reported[int(seq)] = eid
    with Outbox(path=db) as ob:
        rows = {r.seq: r.id for r in ob.rows(limit=10_000)}
        assert all(rows.get(seq) == eid for seq, eid in reported.items())
        assert sorted(rows) == list(range(1, max(rows) + 1))  # gap-free
        assert ob.stats()["last_seq"] == max(rows)
        assert ob.append(make_event(), ENC).seq == max(rows) + 1


def test_unwritable_state_directory_is_one_clear_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(OutboxError) as exc:
        Outbox(path=blocker / "state" / "outbox.db")
    msg = str(exc.value)
    assert "\n" not in msg and "cannot create state directory" in msg and str(blocker) in msg


def test_read_only_state_directory_is_one_clear_error(tiny_fs):
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    with pytest.raises(OutboxError) as exc:
        Outbox(path=tiny_fs / "outbox.db")
    assert "\n" not in str(exc.value) and str(tiny_fs) in str(exc.value)


def test_disk_full_keeps_events_in_memory_and_stores_them_when_space_returns(tiny_fs):
    ob = Outbox(path=tiny_fs / "outbox.db")
    sink = DurableSink(ob, ENC)
    big = b"\xff\xd8" + os.urandom(6000) + b"\xff\xd9"
    stored, unstored = [], 0
    for i in range(200):
        s = sink.submit(make_event(f"X{i:04d}", crop_jpeg=big))
        if s is None:
            unstored += 1
            if unstored == 5:
                break
        else:
            stored.append(s.seq)
    assert stored and unstored == 5, "the 320 kB volume never filled up"
    st = ob.stats()
    assert st["unstored"] == 5 and "disk full" in st["error"] and "\n" not in st["error"]
    with pytest.raises(OutboxFullError):
        ob.append(make_event(crop_jpeg=big), ENC)
    # space comes back: the waiting events are stored in order, seq stays gap-free
    subprocess.run(["mount", "-o", "remount,size=4m", str(tiny_fs)], check=True)
    assert sink.retry() is True
    st = ob.stats()
    assert st["unstored"] == 0 and st["error"] is None
    seqs = [r.seq for r in ob.pending(1000)]
    assert seqs == list(range(1, len(stored) + 5 + 1))
    texts = [json.loads(r.payload)["plate"]["text"] for r in ob.pending(1000)]
    assert texts == [f"X{i:04d}" for i in range(len(stored) + 5)]
    ob.close()


def test_edge_outbox_command(tmp_path, capsys):
    db = tmp_path / "outbox.db"
    with Outbox(path=db) as ob:
        fill(ob, 4)
        ob.mark_sent([1, 2])
    assert edge_main(["outbox", "stats", "--db", str(db), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["depth"] == 2 and st["sent"] == 2 and st["last_seq"] == 4
    assert edge_main(["outbox", "list", "--state-dir", str(tmp_path), "--unsent"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[0]) for line in lines] == [3, 4] and "PENDING" in lines[0]
    assert edge_main(["outbox", "replay", "--db", str(db), "--from", "2"]) == 0
    assert "1 event(s)" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # purge needs --yes or --sent-only
        edge_main(["outbox", "purge", "--db", str(db)])
    assert edge_main(["outbox", "purge", "--db", str(db), "--sent-only"]) == 0
    assert "deleted 1 acknowledged" in capsys.readouterr().out
    assert edge_main(["outbox", "purge", "--db", str(db), "--yes"]) == 0
    assert "continues at 5" in capsys.readouterr().out
    assert edge_main(["outbox", "stats", "--db", str(tmp_path / "missing.db")]) == 1
    assert "no outbox at" in capsys.readouterr().err
