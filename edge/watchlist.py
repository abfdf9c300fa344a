"""Watchlists: plates the operator is lawfully looking for, matched against every read.

A list is a text file, one entry per line, '#' starts a comment:

    # stolen vehicles, 2026-12-07
    7ABC123
    AB12 CDE            # separators and case do not matter: matched as AB12CDE
    3f1c...64 hex...    # an HMAC line: HMAC-SHA256(plate key, normalised plate), lowercase hex

Plain entries match within `max_distance` (edge.plate_distance: look-alike glyphs cost less);
HMAC lines match exactly only (a hash has no distance), and let a device match without ever
holding the plain list. `Watchlists` holds the loaded lists; `reload()` (SIGHUP) and
`reload_changed()` (a file's size, mtime or inode changed) swap in a new copy of a list, or keep
the old one when the new file is broken, and audit each attempt. A bad line is reported by its
line number only, never by its content (it may be a plate).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from edge.audit import audit
from edge.plate_distance import CharCountIndex, distance, neighbourhood
from edge.privacy import PlateHasher, normalise
from edge.records import WatchlistMatch

HEX_LINE = re.compile(r"[0-9a-fA-F]{64}")
MAX_PLATE_CHARS = 12
NEIGHBOURHOOD_BUDGET = 1.0  # above this, scanning the list is cheaper than listing variants


class WatchlistError(ValueError):
    """A list cannot be loaded; one line naming the list, the file and the line number."""


@dataclass(frozen=True)
class WatchlistConfig:
    """One `[[watchlist]]` table: a name (in `match.list` of events), a file, the edit distance."""

    name: str
    path: str
    max_distance: float = 1.0

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", self.name):
            raise ValueError(f"name: {self.name!r} must be 1-64 of A-Z a-z 0-9 . _ -")
        if not self.path:
            raise ValueError("path: the list's file is required")
        if not 0 <= self.max_distance <= 2:
            raise ValueError(f"max_distance: must be 0-2 edits, got {self.max_distance}")


@dataclass(frozen=True)
class Watchlist:
    """One loaded list: immutable, replaced as a whole on reload."""

    name: str
    path: Path
    max_distance: float
    plates: frozenset[str]
    hashes: frozenset[str]
    stamp: tuple[int, int, int]  # (inode, size, mtime_ns) when read
    # made at load for max_distance above NEIGHBOURHOOD_BUDGET (the scan path)
    index: CharCountIndex | None = field(default=None, compare=False, repr=False)

    @property
    def entries(self) -> int:
        return len(self.plates) + len(self.hashes)

    def match(self, text: str, digest: str | None) -> WatchlistMatch | None:
        """The closest entry to normalised `text` (with its HMAC `digest`), within max_distance."""
        if text in self.plates:
            return WatchlistMatch(self.name, text, 0.0)
        if digest is not None and digest in self.hashes:
            return WatchlistMatch(self.name, digest, 0.0, entry_hmac=True)
        if self.max_distance <= 0 or not self.plates:
            return None
        if self.max_distance <= NEIGHBOURHOOD_BUDGET:
            near = [p for p in neighbourhood(text, self.max_distance) if p in self.plates]
        else:
            index = self.index if self.index is not None else CharCountIndex(self.plates)
            near = index.candidates(text, self.max_distance)
        scored = sorted((d, p) for p in near if (d := distance(text, p, self.max_distance)) <= self.max_distance)
        return WatchlistMatch(self.name, scored[0][1], scored[0][0]) if scored else None


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def parse_lines(text: str, where: str) -> tuple[frozenset[str], frozenset[str]]:
    """(plain plates, HMAC hex lines) of a list file's text."""
    plates: set[str] = set()
    hashes: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if HEX_LINE.fullmatch(line):
            hashes.add(line.lower())
            continue
        plate = normalise(line)
        if not plate or len(plate) > MAX_PLATE_CHARS:
            raise WatchlistError(f"{where} line {number}: neither a plate (1-{MAX_PLATE_CHARS} letters "
                                 "and digits) nor an HMAC line (64 hex digits)")
        plates.add(plate)
    return frozenset(plates), frozenset(hashes)


def load_watchlist(config: WatchlistConfig, can_hash: bool) -> Watchlist:
    path = Path(config.path)
    where = f"watchlist {config.name!r}: {path}"
    try:
        stamp = _stamp(path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WatchlistError(f"{where}: file not found") from None
    except UnicodeDecodeError:
        raise WatchlistError(f"{where}: not a UTF-8 text file") from None
    except OSError as exc:
        raise WatchlistError(f"{where}: cannot read: {exc.strerror or exc}") from None
    plates, hashes = parse_lines(text, where)
    if hashes and not can_hash:
        raise WatchlistError(f"{where}: has HMAC lines, which need the plate key "
                             "(set privacy.key_file or the systemd credential plate-key)")
    index = CharCountIndex(plates) if config.max_distance > NEIGHBOURHOOD_BUDGET else None
    return Watchlist(config.name, path, config.max_distance, plates, hashes, stamp, index)


class Watchlists:
    """Every configured list; `match` is safe from any thread while another reloads."""

    def __init__(self, configs: Sequence[WatchlistConfig], hasher: PlateHasher | None) -> None:
        self.configs = tuple(configs)
        self.hasher = hasher
        self._lock = threading.Lock()
        self._lists: tuple[Watchlist, ...] = tuple(load_watchlist(c, hasher is not None) for c in self.configs)
        self.reloads = 0
        self.reload_errors = 0
        for wl in self._lists:
            self._audit(wl, "start")

    def __bool__(self) -> bool:
        return bool(self.configs)

    @property
    def lists(self) -> tuple[Watchlist, ...]:
        return self._lists

    def match(self, text: str) -> WatchlistMatch | None:
        """The closest match over all lists (smallest distance; first list on a tie), or None."""
        text = normalise(text)
        if not text or not self._lists:
            return None
        digest = self.hasher.digest(text) if self.hasher is not None else None
        found = [m for wl in self._lists if (m := wl.match(text, digest)) is not None]
        return min(found, key=lambda m: m.distance) if found else None

    def reload(self, reason: str = "sighup") -> int:
        """Load every list again; returns how many loaded (a broken one keeps its old copy)."""
        return self._reload(range(len(self.configs)), reason)

    def reload_changed(self) -> int:
        """Reload the lists whose file changed since it was read (or appeared/vanished)."""
        changed = []
        for i, wl in enumerate(self._lists):
            try:
                if _stamp(wl.path) != wl.stamp:
                    changed.append(i)
            except OSError:
                if wl.stamp != (0, 0, 0):  # gone: say so once, keep matching the old copy
                    changed.append(i)
        return self._reload(changed, "changed") if changed else 0

    def _reload(self, indexes: Sequence[int] | range, reason: str) -> int:
        loaded = 0
        with self._lock:
            lists = list(self._lists)
            for i in indexes:
                try:
                    lists[i] = load_watchlist(self.configs[i], self.hasher is not None)
                except WatchlistError as exc:
                    self.reload_errors += 1
                    old = lists[i]
                    # remember the failure's stamp so a broken file is reported once, not every poll
                    try:
                        stamp = _stamp(old.path)
                    except OSError:
                        stamp = (0, 0, 0)
                    lists[i] = replace(old, stamp=stamp)
                    audit("watchlist.reload", list=old.name, path=str(old.path), reason=reason, ok=False,
                          error=str(exc), kept_entries=old.entries)
                    continue
                loaded += 1
                self.reloads += 1
                self._audit(lists[i], reason)
            self._lists = tuple(lists)
        return loaded

    @staticmethod
    def _audit(wl: Watchlist, reason: str) -> None:
        audit("watchlist.load" if reason == "start" else "watchlist.reload", list=wl.name,
              path=str(wl.path), reason=reason, ok=True, plates=len(wl.plates), hmac_lines=len(wl.hashes),
              max_distance=wl.max_distance)

    def summary(self) -> dict[str, int]:
        return {wl.name: wl.entries for wl in self._lists}


class WatchlistWatcher:
    """A daemon thread that reloads changed lists every `interval_s`, and all of them soon after
    `request_reload()` (which only sets a flag, so a signal handler may call it)."""

    def __init__(self, lists: Watchlists, interval_s: float = 2.0) -> None:
        self.lists = lists
        self.interval_s = interval_s
        self._requested = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WatchlistWatcher:
        self._thread = threading.Thread(target=self._loop, name="watchlists", daemon=True)
        self._thread.start()
        return self

    def request_reload(self) -> None:
        self._requested = True

    def _loop(self) -> None:
        waited = 0.0
        while not self._stop.wait(0.2):
            waited += 0.2
            if self._requested:
                self._requested = False
                self.lists.reload("sighup")
                waited = 0.0
            elif waited >= self.interval_s:
                waited = 0.0
                self.lists.reload_changed()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)


def anchored(configs: Sequence[WatchlistConfig], base: Path | None) -> tuple[WatchlistConfig, ...]:
    """Lists with relative paths taken from the config file's folder (`base`)."""
    if base is None:
        return tuple(configs)
    return tuple(c if os.path.isabs(os.path.expanduser(c.path))
                 else replace(c, path=str(base / os.path.expanduser(c.path))) for c in configs)
