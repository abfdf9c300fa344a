"""Retention on the real SQLite outbox: delivered rows deleted after keep_sent_h, their bytes
gone from the files (secure_delete + WAL checkpoint), `edge outbox purge --older-than`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.cli import main as edge_main
from edge.delivery.event_json import EventEncoder
from edge.delivery.outbox import Outbox, OutboxConfig
from edge.retention import RetentionSweeper, sweep_interval_s
from tests.helpers import make_event, wait_until

ENC = EventEncoder("dev", "cam", {})
TEXTS = ("RET0001", "RET0002", "RET0003")


def file_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def test_sqlite_keeps_deleted_text_in_the_file_unless_told_not_to(tmp_path):
    """Why secure_delete: a plain DELETE leaves the row's bytes in a free page."""
    db = tmp_path / "plain.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA secure_delete=OFF")
    conn.execute("CREATE TABLE t (payload BLOB)")
    conn.execute("INSERT INTO t VALUES (?)", (b"plate RET0001 " * 50,))
    conn.execute("DELETE FROM t")
    conn.close()
    assert b"RET0001" in db.read_bytes()


def test_expired_delivered_rows_leave_no_bytes_even_while_open(tmp_path):
    db = tmp_path / "outbox.db"
    with Outbox(OutboxConfig(), path=db, keep_sent_s=3600.0) as ob:
        for text in TEXTS:
            ob.append(make_event(text), ENC)
        assert all(t.encode() in file_bytes(db) for t in TEXTS)
        ob.mark_sent([1, 2])
        assert ob.expire_sent() == 0  # delivered just now: kept for the hour
        raw = sqlite3.connect(db)
        with raw:
            raw.execute("UPDATE events SET sent_at = sent_at - 7200 WHERE seq = 1")
        raw.close()
        assert ob.expire_sent() == 1
        ob.checkpoint()
        data = file_bytes(db)  # the database, its -wal and -shm, with the connection still open
        assert b"RET0001" not in data
        assert b"RET0002" in data and b"RET0003" in data  # delivered 0 s ago / never delivered
        assert [r.seq for r in ob.rows()] == [2, 3]


def test_zero_hours_deletes_on_delivery_and_never_the_undelivered(tmp_path):
    with Outbox(OutboxConfig(max_age_s=0), path=tmp_path / "o.db", keep_sent_s=0.0) as ob:
        for text in TEXTS:
            ob.append(make_event(text), ENC)
        ob.mark_sent([1, 3])
        assert [r.seq for r in ob.rows()] == [2]
        assert ob.expire_sent() == 0 and ob.stats()["sent"] == 2


def test_without_keep_sent_s_only_the_count_limit_applies(tmp_path):
    with Outbox(OutboxConfig(keep_sent=1), path=tmp_path / "o.db") as ob:
        for text in TEXTS:
            ob.append(make_event(text), ENC)
        ob.mark_sent([1, 2, 3])
        assert [r.seq for r in ob.rows()] == [3]


def test_the_sweeper_deletes_rows_that_age_while_idle(tmp_path):
    db = tmp_path / "o.db"
    with Outbox(OutboxConfig(), path=db, keep_sent_s=0.4) as ob:
        for text in TEXTS:
            ob.append(make_event(text), ENC)
        ob.mark_sent([1, 2, 3])
        sweeper = RetentionSweeper(ob, 0.4).start()
        try:
            assert wait_until(lambda: not ob.rows(), 5)
        finally:
            sweeper.stop()
        assert sweeper.deleted == 3
        assert not any(t.encode() in file_bytes(db) for t in TEXTS)
    assert sweep_interval_s(24 * 3600) == 60.0 and sweep_interval_s(0.0) == 0.5


def test_purge_older_than(tmp_path, capsys):
    db = tmp_path / "outbox.db"
    with Outbox(OutboxConfig(), path=db) as ob:
        for text in TEXTS + ("RET0004",):
            ob.append(make_event(text), ENC)
        ob.mark_sent([1, 3])
    raw = sqlite3.connect(db)
    with raw:  # seq 1 (sent) and 2 (unsent) were stored two days ago
        raw.execute("UPDATE events SET created = created - 2 * 86400 WHERE seq IN (1, 2)")
    raw.close()
    assert edge_main(["outbox", "purge", "--db", str(db), "--older-than", "1d"]) == 0
    assert "deleted 1 acknowledged event(s) stored more than 86400 s ago" in capsys.readouterr().out
    assert edge_main(["outbox", "purge", "--db", str(db), "--older-than", "36h", "--yes"]) == 0
    assert "deleted 1 event(s)" in capsys.readouterr().out
    with Outbox(OutboxConfig(), path=db) as ob:
        assert [r.seq for r in ob.rows()] == [3, 4] and ob.stats()["purged"] == 1
    data = file_bytes(db)
    assert b"RET0001" not in data and b"RET0002" not in data and b"RET0003" in data


@pytest.mark.parametrize("age", ["24", "1w", "-3h", "h"])
def test_purge_older_than_needs_a_number_and_a_unit(tmp_path, capsys, age):
    with pytest.raises(SystemExit) as exc:
        edge_main(["outbox", "purge", "--db", str(tmp_path / "o.db"), f"--older-than={age}"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--older-than" in err and ("use a number and a unit" in err or "must not be negative" in err)


def test_purge_says_what_to_delete(tmp_path, capsys):
    Outbox(OutboxConfig(), path=tmp_path / "o.db").close()
    with pytest.raises(SystemExit):
        edge_main(["outbox", "purge", "--db", str(tmp_path / "o.db")])
    assert "--older-than AGE" in capsys.readouterr().err


def test_rows_deleted_on_delivery_leave_the_wal_at_the_next_sweep(tmp_path):
    """keep_sent_h = 0 deletes on the PUBACK; the sweeper then empties the -wal file, while the
    service still runs."""
    db = tmp_path / "o.db"
    with Outbox(OutboxConfig(), path=db, keep_sent_s=0.0) as ob:
        sweeper = RetentionSweeper(ob, 0.0).start()
        try:
            for text in TEXTS:
                ob.append(make_event(text), ENC)
            ob.mark_sent([1, 2, 3])
            assert not ob.rows()
            assert wait_until(lambda: not any(t.encode() in file_bytes(db) for t in TEXTS), 5)
        finally:
            sweeper.stop()


def test_a_retention_under_a_second_is_honoured_at_the_stop(tmp_path):
    """Rows acknowledged just before the stop, with keep_sent_s 0.2: gone when stop() returns."""
    with Outbox(OutboxConfig(), path=tmp_path / "o.db", keep_sent_s=0.2) as ob:
        sweeper = RetentionSweeper(ob, 0.2).start()
        for text in TEXTS:
            ob.append(make_event(text), ENC)
        ob.mark_sent([1, 2, 3])
        assert len(ob.rows()) == 3  # not yet old enough
        sweeper.stop()
        assert ob.rows() == []
