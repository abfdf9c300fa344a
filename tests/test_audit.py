"""Audit lines: their shape, journald's native socket (a real datagram socket), and one line for
each access the issue lists: preview visits (a real HTTP server), `edge outbox list/replay/purge`,
watchlist reloads (tests/test_watchlist.py) and the config at start-up with what changed."""

from __future__ import annotations

import json
import logging
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest

from edge.audit import AuditLog, JournalSink, LogSink
from edge.cli import main as edge_main
from edge.configuration.audit import SNAPSHOT_NAME, audit_startup
from edge.delivery.event_json import EventEncoder
from edge.delivery.outbox import Outbox, OutboxConfig
from edge.preview import PreviewConfig, PreviewHub, PreviewServer
from edge.configuration.settings import build_config
from tests.helpers import make_event


def audited(caplog) -> list[dict]:
    out = []
    for r in caplog.records:
        if r.name == "edge.audit" and r.getMessage().startswith("audit "):
            out.append(json.loads(r.getMessage()[len("audit "):]))
    return out


@pytest.fixture
def audit_log(caplog):
    caplog.set_level(logging.INFO, logger="edge.audit")
    return caplog


def test_a_line_is_one_json_object_and_reaches_the_journal_socket(tmp_path, audit_log):
    path = tmp_path / "journal.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(5)
    try:
        line = AuditLog([LogSink(), JournalSink(path)]).record("outbox.list", user="edge", db="/x\ny", rows=3)
        datagram = server.recv(65536).decode()
    finally:
        server.close()
    assert "\n" not in line and json.loads(line[6:]) == {"event": "outbox.list", "user": "edge",
                                                          "db": "/x\ny", "rows": 3}
    fields = dict(l.split("=", 1) for l in datagram.strip().split("\n"))
    assert fields["SYSLOG_IDENTIFIER"] == "edge-audit" and fields["EDGE_AUDIT_EVENT"] == "outbox.list"
    assert fields["EDGE_AUDIT_ROWS"] == "3" and fields["EDGE_AUDIT_DB"] == "/x y"
    assert audited(audit_log)[-1]["event"] == "outbox.list"


def test_a_missing_journal_does_not_stop_the_caller(tmp_path, audit_log):
    log = AuditLog([JournalSink(tmp_path / "nobody.sock")])
    log.record("x")
    log.record("y")  # warned once
    assert sum("cannot write to the journal" in r.getMessage() for r in audit_log.records) == 1


def test_outbox_list_replay_purge_are_audited(tmp_path, audit_log, capsys):
    db = tmp_path / "outbox.db"
    with Outbox(OutboxConfig(), path=db) as ob:
        enc = EventEncoder("dev", "cam", {})
        for _ in range(3):
            ob.append(make_event(), enc)
        ob.mark_sent([1, 2])
    assert edge_main(["outbox", "list", "--db", str(db)]) == 0
    assert edge_main(["outbox", "replay", "--db", str(db), "--from", "2"]) == 0
    assert edge_main(["outbox", "purge", "--db", str(db), "--sent-only"]) == 0
    assert edge_main(["outbox", "stats", "--db", str(db)]) == 0  # counters only: not audited
    lines = audited(audit_log)
    assert [l["event"] for l in lines] == ["outbox.list", "outbox.replay", "outbox.purge"]
    for line in lines:
        assert line["db"] == str(db) and isinstance(line["uid"], int) and line["user"] and line["pid"]
    assert (lines[0]["rows"], lines[1]["rows"], lines[2]["rows"]) == (3, 1, 1)
    assert lines[2]["sent_only"] is True and lines[2]["older_than_s"] is None
    assert "AB12CDE" not in json.dumps(lines)


def test_config_at_start_up_says_what_changed(tmp_path, audit_log):
    first = build_config({"privacy": {"plates": "clear"}, "mqtt": {"host": "a"}})
    assert audit_startup(first, tmp_path) == {}
    second = build_config({"privacy": {"publish": "matches", "keep_sent_h": 2},
                           "watchlist": [{"name": "stolen", "path": "/l.txt"}],
                           "source": {"kind": "rtsp", "url": "rtsp://cam:secret@10.0.0.2/s"}, "mqtt": {"host": "a"}})
    changed = audit_startup(second, tmp_path)
    assert changed["privacy.publish"] == ["all", "matches"]
    assert changed["privacy.keep_sent_h"] == [24.0, 2.0]
    assert changed["watchlist[0].name"] == [None, "stolen"]
    assert changed["source.url"] == ["", "rtsp://cam:***@10.0.0.2/s"]  # a password is never logged
    assert audit_startup(second, tmp_path) == {}  # the same config again: nothing changed
    lines = [l for l in audited(audit_log) if l["event"] == "config.start"]
    assert [l["first_start"] for l in lines] == [True, False, False]
    assert lines[1]["privacy"] == "clear/matches" and lines[1]["watchlists"] == ["stolen"]
    assert lines[1]["changed"] == changed and lines[1]["previous_digest"] == lines[0]["digest"]
    assert "secret" not in (tmp_path / SNAPSHOT_NAME).read_text()
    assert (tmp_path / SNAPSHOT_NAME).stat().st_mode & 0o077 == 0


def _get(url: str, headers: dict | None = None) -> int:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_every_preview_visit_is_audited_with_who_and_from_where(audit_log):
    hub = PreviewHub()
    hub.publish(np.zeros((90, 160, 3), np.uint8))
    server = PreviewServer(hub, PreviewConfig(enabled=True, bind="127.0.0.1:0"), token="s3cret-token").start()
    try:
        base = server.url
        assert _get(base) == 401
        assert _get(base, {"Authorization": "Bearer s3cret-token", "User-Agent": "aimer/1"}) == 200
        assert _get(base + "frame.jpg?token=s3cret-token") == 200
        for _ in range(5):  # the page polls four times a second: audited once a minute
            assert _get(base + "detections.json", {"Authorization": "Bearer s3cret-token"}) == 200
    finally:
        server.stop()
    lines = [l for l in audited(audit_log) if l["event"] == "preview.access"]
    assert [(l["path"], l["allowed"], l["who"]) for l in lines] == [
        ("/", False, "refused: no valid token"), ("/", True, "token"), ("/frame.jpg", True, "token"),
        ("/detections.json", True, "token")]
    assert all(l["client"] == "127.0.0.1" and l["port"] > 0 for l in lines)
    assert lines[1]["user_agent"] == "aimer/1"
    assert "s3cret" not in json.dumps(lines)  # the token in the query is not logged
