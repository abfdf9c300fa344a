"""Watchlists: confusable-aware distance, list files (plain and HMAC lines), reload on a file
change (a real file, the real watcher thread) and on SIGHUP (a real `edge run` process)."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.plate_distance import distance, neighbourhood
from edge.privacy import PlateHasher
from edge.watchlist import (Watchlist, WatchlistConfig, WatchlistError, Watchlists, WatchlistWatcher,
                            load_watchlist, parse_lines)
from tests.helpers import wait_until

REPO = Path(__file__).resolve().parents[1]
KEY = b"watchlist-test-key-0123456789"


def audit_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "edge.audit"]


@pytest.mark.parametrize("a, b, d", [
    ("7ABC123", "7ABC123", 0.0),
    ("7ABC128", "7ABC123", 1.0),   # 8/3: an ordinary substitution
    ("7ABC12B", "7ABC128", 0.5),   # B/8: look-alikes cost less
    ("AB12CDE", "A812CDE", 0.5),
    ("0O1I", "O0I1", 2.0),          # four look-alike swaps
    ("B123ABC", "B123AB", 1.0),     # a missed character
    ("B123ABC", "XB123ABC", 1.0),   # an extra one
    ("ABC", "XYZ", 3.0),
])
def test_distance(a, b, d):
    assert distance(a, b) == d == distance(b, a)


def test_distance_gives_up_past_its_limit():
    assert distance("AAAAAAA", "BBBBBBB", limit=1.0) == float("inf")
    assert distance("AB", "ABCDEF", limit=2.0) == float("inf")


def test_neighbourhood_finds_exactly_the_texts_within_the_budget():
    rng = random.Random(7)
    alphabet = "0O1I8B5S2Z3A"
    pool = {"".join(rng.choice(alphabet) for _ in range(rng.randint(4, 6))) for _ in range(3000)}
    for text in ("8O1Z5", "B0IS2A"):
        near = neighbourhood(text, 1.0)
        for other in pool:
            d = distance(text, other)
            assert (other in near) == (d <= 1.0), (text, other, d)
            if other in near:
                assert near[other] == d


def _list(tmp_path: Path, text: str, name: str = "stolen", max_distance: float = 1.0) -> WatchlistConfig:
    path = tmp_path / f"{name}.txt"
    path.write_text(text)
    return WatchlistConfig(name, str(path), max_distance)


def test_list_file_comments_separators_and_hmac_lines(tmp_path):
    hasher = PlateHasher(KEY)
    hmac_line = hasher.digest("BRA2E19").upper()
    cfg = _list(tmp_path, f"# stolen\n7abc123   # case does not matter\nAB-12 CDE\n\n{hmac_line}\n")
    wl = load_watchlist(cfg, can_hash=True)
    assert wl.plates == {"7ABC123", "AB12CDE"} and wl.hashes == {hasher.digest("BRA2E19")}
    lists = Watchlists([cfg], hasher)
    assert lists.match("BRA2E19").entry == hasher.digest("BRA2E19")
    assert lists.match("BRA2E19").entry_hmac
    assert lists.match("BRA2E18") is None  # an HMAC line matches exactly only
    assert lists.match("AB12CDE").distance == 0.0
    assert lists.match("ab 12 cde").entry == "AB12CDE"  # a read is normalised too
    assert lists.match("A812CDE").distance == 0.5


def test_a_bad_line_is_named_by_its_number_not_its_content(tmp_path):
    cfg = _list(tmp_path, "7ABC123\nTHIS-IS-NOT-A-PLATE-AT-ALL\n")
    with pytest.raises(WatchlistError) as exc:
        load_watchlist(cfg, can_hash=False)
    assert str(exc.value) == (f"watchlist 'stolen': {cfg.path} line 2: neither a plate (1-12 letters "
                              "and digits) nor an HMAC line (64 hex digits)")
    assert "THIS" not in str(exc.value)
    with pytest.raises(WatchlistError, match="has HMAC lines, which need the plate key"):
        load_watchlist(_list(tmp_path, "a" * 64 + "\n", "h"), can_hash=False)
    with pytest.raises(WatchlistError, match="file not found"):
        load_watchlist(WatchlistConfig("gone", str(tmp_path / "missing.txt")), can_hash=False)


def test_closest_match_over_lists_and_the_scan_path_for_larger_distances(tmp_path):
    near = _list(tmp_path, "7ABC128\n", "near", 1.0)
    far = _list(tmp_path, "7ABZ1Z8\n7XYZ999\n", "far", 2.0)
    lists = Watchlists([far, near], None)
    m = lists.match("7ABC123")
    assert (m.list, m.entry, m.distance) == ("near", "7ABC128", 1.0)
    # 1.5 from near's entry (2/Z look alike: 0.5, 3/8: 1), more than near allows; 2 from far's
    m = lists.match("7ABC1Z3")
    assert (m.list, m.entry, m.distance) == ("far", "7ABZ1Z8", 2.0)
    assert lists.match("QQQQQQQ") is None
    strict = Watchlists([_list(tmp_path, "7ABC128\n", "strict", 0.0)], None)
    assert strict.match("7ABC123") is None and strict.match("7ABC128").distance == 0.0


def test_the_watcher_reloads_a_changed_file_and_keeps_the_old_list_when_it_breaks(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge.audit")
    cfg = _list(tmp_path, "7ABC123\n")
    lists = Watchlists([cfg], None)
    watcher = WatchlistWatcher(lists, interval_s=0.2).start()
    try:
        assert lists.match("B123ABC") is None
        Path(cfg.path).write_text("7ABC123\nB123ABC\n")
        assert wait_until(lambda: lists.match("B123ABC") is not None, 5)
        Path(cfg.path).write_text("7ABC123\nnot a plate, not at all\n")
        assert wait_until(lambda: lists.reload_errors == 1, 5)
        time.sleep(0.6)  # reported once, not on every poll
        assert lists.reload_errors == 1
        assert lists.match("B123ABC") is not None  # the last good copy is still used
    finally:
        watcher.stop()
    lines = audit_lines(caplog)
    assert any('"event": "watchlist.load"' in l and '"plates": 1' in l for l in lines)
    assert any('"event": "watchlist.reload"' in l and '"reason": "changed"' in l and '"plates": 2' in l
               for l in lines)
    assert any('"ok": false' in l and "line 2" in l for l in lines)
    assert not any("B123ABC" in l or "7ABC123" in l for l in lines)  # counts, never entries


def test_request_reload_reloads_every_list_soon(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge.audit")
    lists = Watchlists([_list(tmp_path, "7ABC123\n", "a"), _list(tmp_path, "B123ABC\n", "b")], None)
    watcher = WatchlistWatcher(lists, interval_s=60).start()
    try:
        watcher.request_reload()
        assert wait_until(lambda: lists.reloads == 2, 5)
    finally:
        watcher.stop()
    assert sum('"reason": "sighup"' in l for l in audit_lines(caplog)) == 2


def test_sighup_reloads_the_watchlists_of_a_running_service(tmp_path):
    """A real `edge run` (video paced in real time, so it is still running), a real SIGHUP."""
    from tests.helpers import NotifyListener

    from tests.helpers import make_clip

    wl = tmp_path / "stolen.txt"
    wl.write_text("7ABC123\n")
    cfg = tmp_path / "edge.toml"
    cfg.write_text(f"""
[source]
kind = "video"
path = "{make_clip(tmp_path / 'clip.avi')}"
pacing = "realtime"
[detector]
plugin = "tests.helpers:detector_plugin"
[reader]
plugin = "tests.helpers:reader_plugin"
[outbox]
path = "{tmp_path / 'outbox.db'}"
[mqtt]
enabled = false
[[watchlist]]
name = "stolen"
path = "{wl}"
""")
    listener = NotifyListener(tmp_path / "notify.sock")
    env = dict(os.environ, PYTHONPATH=str(REPO), NOTIFY_SOCKET=str(tmp_path / "notify.sock"))
    proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(cfg)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        listener.wait_for("READY=1", timeout=60)
        wl.write_text("7ABC123\nB123ABC\n# two now\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert proc.poll() is None  # SIGHUP does not end the service
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
    assert proc.returncode == 0, err
    reloads = [l for l in err.splitlines() if '"event": "watchlist.reload"' in l]
    assert any('"reason": "sighup"' in l and '"plates": 2' in l for l in reloads), err


def test_watchlist_config_is_validated_like_the_rest():
    from edge.configuration.validation import ConfigError
    from edge.configuration.settings import build_config

    bad = [({"watchlist": [{"name": "a b", "path": "x"}]}, r"^watchlist\[0\]\.name: 'a b' must be 1-64 of"),
           ({"watchlist": [{"name": "a", "path": "x", "max_distance": 4}]},
            r"^watchlist\[0\]\.max_distance: must be 0-2 edits, got 4"),
           ({"watchlist": [{"name": "a", "path": "x", "distance": 1}]},
            r"^watchlist\[0\]\.distance: unknown key \(did you mean 'max_distance'\?\)$"),
           ({"watchlist": {"name": "a", "path": "x"}}, r"^watchlist: write each list as a \[\[watchlist\]\] table"),
           ({"watchlist": [{"name": "a", "path": "x"}, {"name": "a", "path": "y"}]},
            r"^watchlist\[1\]\.name: 'a' is used by another watchlist$")]
    for data, message in bad:
        with pytest.raises(ConfigError, match=message):
            build_config(data)


def test_the_scan_path_finds_what_a_full_search_finds(tmp_path):
    rng = random.Random(3)
    alphabet = "0O1I8B2Z7A"
    entries = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(5, 7))) for _ in range(2000)})
    wl = load_watchlist(_list(tmp_path, "\n".join(entries) + "\n", "scan", 2.0), can_hash=False)
    assert wl.index is not None
    for _ in range(40):
        probe = "".join(rng.choice(alphabet) for _ in range(6))
        want = min(((distance(probe, e), e) for e in entries), default=(9.0, ""))
        got = wl.match(probe, None)
        if want[0] <= 2.0:
            assert got is not None and (got.distance, got.entry) == want, probe
        else:
            assert got is None, probe


def test_relative_list_paths_are_taken_from_the_config_folder(tmp_path):
    from edge.configuration.settings import load_config

    (tmp_path / "edge.toml").write_text('[[watchlist]]\nname = "a"\npath = "lists/a.txt"\n')
    assert load_config(tmp_path / "edge.toml").watchlist[0].path == str(tmp_path / "lists" / "a.txt")


def test_a_read_one_off_an_entry_of_a_large_list_matches(tmp_path):
    """A 100 000-entry list: a read within distance 1 is found by its few hundred look-ups."""
    rng = random.Random(1)
    chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    entries = {"".join(rng.choice(chars) for _ in range(7)) for _ in range(100_000)}
    cfg = _list(tmp_path, "\n".join(entries) + "\n")
    lists = Watchlists([cfg], None)
    probe = next(iter(entries))
    probe = probe[:3] + ("Q" if probe[3] != "Q" else "W") + probe[4:]
    m = lists.match(probe)
    assert m is not None and m.distance <= 1.0
    assert isinstance(lists.lists[0], Watchlist) and lists.summary() == {"stolen": len(entries)}
